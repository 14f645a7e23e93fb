//! The lanes' and the circuit breaker's unit tests: no I/O, time passed in.

use super::*;
use crate::delivery::aimd::Answer;

#[derive(Debug, PartialEq)]
struct T(&'static str, u32);

impl Job for T {
    fn endpoint(&self) -> &str {
        self.0
    }
    fn timeout(&self) -> Option<Duration> {
        None
    }
}

const LIMITS: Limits = Limits {
    max_in_flight: 4,
    per_endpoint: 2,
    max_waiting: 10,
    lane_queue: 3,
    default_timeout: Duration::from_secs(15),
};

fn clock() -> impl FnMut(u64) -> Now {
    let start = Instant::now();
    move |ms| Now {
        at: start + Duration::from_millis(ms),
        wall_ms: 1_000_000 + ms as i64,
    }
}

fn jobs(ep: &'static str, n: u32) -> Vec<T> {
    (0..n).map(|i| T(ep, i)).collect()
}

/// A job of a throttled endpoint.
#[derive(Debug, PartialEq)]
struct R(&'static str, u32);

impl Job for R {
    fn endpoint(&self) -> &str {
        self.0
    }
    fn timeout(&self) -> Option<Duration> {
        None
    }
    fn rate(&self) -> Option<u32> {
        Some(1)
    }
}

#[test]
fn lanes_start_within_their_slots_and_the_node_limit() {
    let mut t = clock();
    let mut l = Lanes::new(LIMITS);
    let e = l.enqueue(jobs("a", 4), t(0));
    assert_eq!(
        e.start,
        vec![T("a", 0), T("a", 1)],
        "two slots per endpoint"
    );
    let e = l.enqueue(jobs("b", 3), t(0));
    assert_eq!(e.start.len(), 2, "b gets its two slots: four in flight");
    let e = l.enqueue(jobs("c", 1), t(0));
    assert!(e.start.is_empty(), "the node-wide limit holds c back");
    // A finished request of a starts a's next one.
    let f = l.finished("a", Answer::Success, Duration::from_millis(5), t(10));
    assert_eq!(f.next, Some(T("a", 2)));
    let f = l.finished("a", Answer::Success, Duration::from_millis(5), t(10));
    assert_eq!(f.next, Some(T("a", 3)));
    // a's queue is empty: its freed slot goes to c, which the node-wide limit held back
    // (b's slots are full).
    let f = l.finished("a", Answer::Success, Duration::from_millis(5), t(10));
    assert_eq!(f.next, Some(T("c", 0)));
}

#[test]
fn a_full_lane_is_saturated_and_gets_no_room() {
    let mut t = clock();
    let mut l = Lanes::new(LIMITS);
    assert_eq!(
        l.room("a", None),
        5,
        "slots plus a lane queue for a new endpoint"
    );
    let e = l.enqueue(jobs("a", 5), t(0));
    assert!(e.filled);
    assert_eq!(l.room("a", None), 0);
    assert_eq!(l.saturated(10), vec!["a".to_string()]);
    assert!(l.any_saturated());
    assert_eq!(l.claim_limit(256), 7, "ten may wait, three do");
}

#[test]
fn a_hung_lane_stalls_parks_its_queue_and_is_probed() {
    let mut t = clock();
    let mut l = Lanes::new(LIMITS);
    l.enqueue(jobs("a", 5), t(0));
    // Every slot busy, nothing finished: not stalled before a second...
    assert!(l.check_stalls(t(999)).is_empty());
    // ...stalled after: the queue goes back, parked.
    let steps = l.check_stalls(t(1000));
    let [(ep, Step::Park { until, back })] = steps.as_slice() else {
        panic!("one park step");
    };
    assert_eq!(ep, "a");
    assert_eq!(*until, t(1000).wall_ms + PARK_HORIZON_MS);
    assert_eq!(back.len(), 3);
    assert_eq!(l.room("a", None), 0, "a stalled lane takes nothing new");
    // New work for it goes back at once.
    let e = l.enqueue(jobs("a", 1), t(1100));
    assert_eq!(e.back.len(), 1);
    // A timed-out request frees a slot without closing the breaker.
    let f = l.finished("a", Answer::Other, Duration::from_secs(15), t(16_000));
    assert_eq!((f.next, f.unpark), (None, None));
    // Probes go once the wait (its timeout, 15 s) has passed, into the free slots.
    let steps = l.check_stalls(t(16_000));
    assert!(matches!(steps.as_slice(), [(_, Step::Probe { n: 1, .. })]));
    // The next probes wait twice as long.
    assert!(l.check_stalls(t(30_000)).is_empty());
    assert!(!l.check_stalls(t(46_100)).is_empty());
}

#[test]
fn the_first_quick_answer_closes_the_breaker() {
    let mut t = clock();
    let mut l = Lanes::new(LIMITS);
    l.enqueue(jobs("a", 2), t(0));
    let steps = l.check_stalls(t(1500));
    let until = match steps.as_slice() {
        [(_, Step::Park { until, .. })] => *until,
        _ => panic!("parked"),
    };
    let f = l.finished("a", Answer::Success, Duration::from_secs(3), t(3000));
    assert_eq!(f.unpark, Some(until), "its backlog is due again");
    assert_eq!(l.room("a", None), 4, "and it takes new work");
}

#[test]
fn an_idle_stalled_lane_is_forgotten_at_its_horizon() {
    let mut t = clock();
    let mut l = Lanes::new(LIMITS);
    l.enqueue(jobs("a", 2), t(0));
    l.check_stalls(t(1000));
    l.finished("a", Answer::Other, Duration::from_secs(15), t(15_000));
    l.finished("a", Answer::Other, Duration::from_secs(15), t(15_000));
    assert_eq!(l.room("a", None), 0, "kept while parked");
    let horizon = 1000 + PARK_HORIZON_MS as u64;
    l.check_stalls(t(horizon));
    assert_eq!(l.room("a", None), 5, "forgotten: claims find out afresh");
}

#[test]
fn a_lane_still_hung_at_its_horizon_is_parked_again() {
    let mut t = clock();
    let mut l = Lanes::new(LIMITS);
    l.enqueue(jobs("a", 2), t(0));
    l.check_stalls(t(1000));
    let later = 1000 + PARK_HORIZON_MS as u64;
    let steps = l.check_stalls(t(later));
    assert!(matches!(steps.as_slice(), [(_, Step::Park { .. })]));
}

#[test]
fn draining_takes_the_queue_and_starts_nothing() {
    let mut t = clock();
    let mut l = Lanes::new(LIMITS);
    l.enqueue(jobs("a", 4), t(0));
    l.enqueue(jobs("b", 2), t(0));
    l.check_stalls(t(2000));
    let d = l.drain();
    assert_eq!(d.in_flight, 4);
    assert!(
        d.queued.is_empty(),
        "a stalled lane's queue went back at its park"
    );
    assert_eq!(d.stalled.len(), 2);
    let f = l.finished("a", Answer::Success, Duration::from_millis(1), t(2100));
    assert!(f.next.is_none());
    assert_eq!(l.room("c", None), 0);
    let e = l.enqueue(jobs("c", 1), t(2100));
    assert_eq!(e.back.len(), 1);
    assert!(e.start.is_empty());
}

#[test]
fn an_overloaded_endpoint_gets_fewer_slots_then_more_again() {
    let mut t = clock();
    let limits = Limits {
        max_in_flight: 64,
        per_endpoint: 8,
        max_waiting: 100,
        ..LIMITS
    };
    let mut l = Lanes::new(limits);
    assert_eq!(l.enqueue(jobs("a", 20), t(0)).start.len(), 8);
    // All eight answer 429: one cut (they were sent under the same window), to four slots.
    for _ in 0..8 {
        let f = l.finished("a", Answer::Overloaded, Duration::from_millis(5), t(10));
        assert!(f.next.is_none() || l.in_flight() <= 4);
    }
    assert_eq!(
        l.in_flight(),
        4,
        "four started again of the queue, not eight"
    );
    // The lane is remembered while its window is cut, even with nothing to send.
    let mut l2 = Lanes::new(limits);
    l2.enqueue(jobs("b", 1), t(0));
    l2.finished("b", Answer::Overloaded, Duration::from_millis(5), t(10));
    assert_eq!(l2.room("b", None), 4 + 3, "four slots and the lane queue");
    // Forgotten once idle for a minute.
    l2.check_stalls(t(70_000));
    assert_eq!(l2.room("b", None), 8 + 3);
    // Successes grow it back by one per window; the slot gained starts a job of its own.
    let mut extra = 0;
    for i in 0..4 {
        let f = l.finished("a", Answer::Success, Duration::from_millis(5), t(20 + i));
        extra += f.extra.len();
    }
    assert_eq!(l.in_flight(), 5, "one more slot after four successes");
    assert_eq!(extra, 1);
}

#[test]
fn a_throttled_lane_holds_its_rate_in_slots_and_no_queue_and_waits_are_not_hangs() {
    let mut t = clock();
    let mut l = Lanes::new(LIMITS);
    assert_eq!(l.room("r", Some(1)), 1, "a rate of 1/s: one slot, no queue");
    let e = l.enqueue(vec![R("r", 0), R("r", 1)], t(0));
    assert_eq!(e.start.len(), 1);
    assert_eq!(
        e.back.len(),
        1,
        "beyond its slots, work goes back to wait pending"
    );
    assert_eq!(l.room("r", Some(1)), 0);
    assert_eq!(l.saturated(10), vec!["r".to_string()]);
    // Waiting for its throttle slot for seconds is not a hung request.
    l.slot_wait("r", true);
    assert!(l.check_stalls(t(5000)).is_empty());
    l.slot_wait("r", false);
    assert!(
        !l.check_stalls(t(6000)).is_empty(),
        "a request that hangs is"
    );
}
