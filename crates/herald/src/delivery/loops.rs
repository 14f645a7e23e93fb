//! Loop protection. Every delivery carries `x-herald-caused-by: <endpoint id>/<message id>`; a
//! receiver that publishes in reaction to a delivery echoes it on its publish (as a header of
//! the publish request). A publish that names an endpoint of the application it is published
//! to counts against that endpoint; more than `--loop-rate` such publishes per second over
//! [`WINDOW_MS`] flags the endpoint (`loopDetectedAt`), which throttles its deliveries to
//! `--loop-throttle` for `--loop-hold`, logs a warning, and shows on the endpoint in the API.
//! Pure: [`LoopGuard`] counts, the pipeline writes the flag.

use std::collections::{HashMap, VecDeque};

/// The header a delivery carries and a publish echoes.
pub const CAUSED_BY: &str = "x-herald-caused-by";
/// The window the loop rate is measured over.
pub const WINDOW_MS: i64 = 10_000;
/// Endpoints counted at once before the counts start afresh.
const MAX_TRACKED: usize = 10_000;

/// The header's value on a delivery of `msg` to `endpoint`.
pub fn caused_by(endpoint: &str, msg: &str) -> String {
    format!("{endpoint}/{msg}")
}

/// The endpoint id an echoed header names, if it names one.
pub fn endpoint_of(value: &str) -> Option<&str> {
    let ep = value.trim().split('/').next()?;
    crate::ids::is_id(crate::ids::ENDPOINT, ep).then_some(ep)
}

/// Publishes caused by each endpoint's deliveries, per application.
#[derive(Debug)]
pub struct LoopGuard {
    /// Most caused publishes in a window before the endpoint is flagged.
    threshold: usize,
    seen: HashMap<(String, String), VecDeque<i64>>,
}

impl LoopGuard {
    /// `rate`: caused publishes per second that make a loop (0: never flag).
    pub fn new(rate: u32) -> Self {
        LoopGuard {
            threshold: (rate as usize).saturating_mul((WINDOW_MS / 1000) as usize),
            seen: HashMap::new(),
        }
    }

    /// A publish into `app` caused by a delivery to `endpoint`, at `now_ms`: true if this one
    /// makes it a loop (the endpoint is to be flagged; counting starts afresh).
    pub fn record(&mut self, app: &str, endpoint: &str, now_ms: i64) -> bool {
        if self.threshold == 0 {
            return false;
        }
        if self.seen.len() >= MAX_TRACKED {
            self.seen.clear();
        }
        let times = self
            .seen
            .entry((app.to_string(), endpoint.to_string()))
            .or_default();
        while times.front().is_some_and(|t| *t <= now_ms - WINDOW_MS) {
            times.pop_front();
        }
        times.push_back(now_ms);
        if times.len() > self.threshold {
            times.clear();
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fast_loop_is_flagged_and_a_slow_one_is_not() {
        let mut g = LoopGuard::new(2);
        // 2/s over 10 s is 20 in a window: the 21st within 10 s flags it.
        for i in 0..20 {
            assert!(!g.record("app", "ep_a", i * 10));
        }
        assert!(g.record("app", "ep_a", 200));
        assert!(!g.record("app", "ep_a", 210), "counting starts afresh");
        // One a second never is.
        for i in 0..100 {
            assert!(!g.record("app", "ep_b", 1_000_000 + i * 1000));
        }
        // Applications are apart.
        for i in 0..20 {
            assert!(!g.record("other", "ep_a", 300 + i));
        }
        assert!(!LoopGuard::new(0).record("app", "ep_a", 0));
    }

    #[test]
    fn the_header_names_the_endpoint() {
        let ep = crate::ids::EndpointId::new();
        let v = caused_by(&ep, "msg_1");
        assert_eq!(endpoint_of(&v), Some(ep.as_str()));
        assert_eq!(endpoint_of(&format!(" {ep} ")), Some(ep.as_str()));
        assert_eq!(endpoint_of("ep_2bc/msg_1"), None, "not an endpoint id");
        assert_eq!(endpoint_of("msg_1"), None);
        assert_eq!(endpoint_of(""), None);
    }
}
