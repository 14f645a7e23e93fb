//! Adaptive concurrency per endpoint (AIMD, as TCP does it): an endpoint that answers 429 Too
//! Many Requests or 503 Service Unavailable gets half as many requests in flight at once; each
//! window's worth of successes gives it one more, up to the configured limit. Pure: the lanes
//! (`lanes.rs`) hold one window per endpoint and pass the time in.

use std::time::Instant;

/// How an answer counts for the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A 2xx.
    Success,
    /// 429 or 503: the endpoint asks for less.
    Overloaded,
    /// Anything else (an error, a timeout, another status): the window stays.
    Other,
}

impl Answer {
    pub fn of_status(status: u16) -> Answer {
        match status {
            200..=299 => Answer::Success,
            429 | 503 => Answer::Overloaded,
            _ => Answer::Other,
        }
    }
}

/// One endpoint's concurrency window.
#[derive(Debug, Clone)]
pub struct Window {
    limit: usize,
    max: usize,
    /// Successes since the limit last grew.
    acked: usize,
    /// When the limit was last cut: answers to requests sent before then were sent under the
    /// old window and do not cut it again (one cut per round trip, however many answered).
    cut_at: Option<Instant>,
}

impl Window {
    pub fn new(max: usize) -> Self {
        Window {
            limit: max.max(1),
            max: max.max(1),
            acked: 0,
            cut_at: None,
        }
    }

    /// Requests this endpoint may have in flight now.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Whether the window is back at its maximum (nothing to remember about the endpoint).
    pub fn is_full(&self) -> bool {
        self.limit >= self.max
    }

    /// A request sent at `sent_at` was answered at `now` with `answer`.
    pub fn answered(&mut self, answer: Answer, sent_at: Instant, now: Instant) {
        match answer {
            Answer::Overloaded => {
                if self.cut_at.is_none_or(|cut| sent_at >= cut) {
                    self.limit = (self.limit / 2).max(1);
                    self.acked = 0;
                    self.cut_at = Some(now);
                }
            }
            Answer::Success if self.limit < self.max => {
                self.acked += 1;
                if self.acked >= self.limit {
                    self.limit += 1;
                    self.acked = 0;
                }
            }
            Answer::Success | Answer::Other => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn overload_halves_once_per_round_trip_and_successes_grow_it_back() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut w = Window::new(32);
        assert_eq!(w.limit(), 32);
        w.answered(Answer::Overloaded, ms(0), ms(100));
        assert_eq!(w.limit(), 16);
        // Other requests of the same round (sent before the cut) answer 429 too: no new cut.
        for _ in 0..20 {
            w.answered(Answer::Overloaded, ms(50), ms(110));
        }
        assert_eq!(w.limit(), 16);
        // Sent after the cut and refused again: another halving, down to one at least.
        w.answered(Answer::Overloaded, ms(120), ms(200));
        assert_eq!(w.limit(), 8);
        for i in 0..10 {
            w.answered(Answer::Overloaded, ms(300 + i * 100), ms(350 + i * 100));
        }
        assert_eq!(w.limit(), 1);
        assert!(!w.is_full());
        // Additive increase: one more per window of successes.
        w.answered(Answer::Success, ms(2000), ms(2010));
        assert_eq!(w.limit(), 2);
        w.answered(Answer::Success, ms(2000), ms(2010));
        assert_eq!(w.limit(), 2);
        w.answered(Answer::Success, ms(2000), ms(2010));
        assert_eq!(w.limit(), 3);
        for _ in 0..1000 {
            w.answered(Answer::Success, ms(3000), ms(3010));
        }
        assert_eq!(w.limit(), 32, "never beyond the configured limit");
        assert!(w.is_full());
        w.answered(Answer::Other, ms(4000), ms(4010));
        assert_eq!(
            w.limit(),
            32,
            "a 500 or a timeout is not a request to slow down"
        );
    }

    #[test]
    fn statuses_classify() {
        assert_eq!(Answer::of_status(204), Answer::Success);
        assert_eq!(Answer::of_status(429), Answer::Overloaded);
        assert_eq!(Answer::of_status(503), Answer::Overloaded);
        assert_eq!(Answer::of_status(500), Answer::Other);
        assert_eq!(Answer::of_status(0), Answer::Other);
    }
}
