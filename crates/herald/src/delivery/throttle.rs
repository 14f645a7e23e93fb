//! Throttling: an endpoint's `throttleRate` (messages per second; else its application's, else
//! `--default-throttle`) spaces its requests evenly with GCRA, the generic cell rate algorithm:
//! each send takes the next slot at or after the key's *theoretical arrival time* (TAT), and
//! moves the TAT one interval on. No burst beyond one request: a rate of 20/s is a request
//! every 50 ms. Pure: on SQLite (one node) the TATs live in [`Gcra`], in memory; on PostgreSQL
//! the same step runs as one atomic upsert of the key's row in `throttles`
//! (`Store::take_throttle_slot`), so that all the nodes together keep the rate.
//!
//! A delivery waits for its slot inside its lane (it is claimed, so it holds no attempt): a
//! throttled lane holds at most a second's worth of deliveries (see `lanes.rs`), the rest stay
//! pending in the database.

use std::collections::HashMap;

use crate::model::Endpoint;

/// What sets the rate of an endpoint besides its own and its application's `throttleRate`.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// `--default-throttle`: the rate of endpoints with none of their own or their app's.
    pub default: Option<u32>,
    /// The rate an endpoint is held to while flagged for a delivery loop (`--loop-throttle`).
    pub loop_rate: u32,
    /// How long a loop flag holds, in ms (`--loop-hold`).
    pub loop_hold_ms: i64,
}

impl Policy {
    /// The rate that applies to deliveries to `ep` at `now_ms`, if any.
    pub fn rate(&self, ep: &Endpoint, now_ms: i64) -> Option<u32> {
        let own = ep
            .throttle_rate
            .or(ep.app_throttle_rate)
            .and_then(|r| u32::try_from(r).ok())
            .filter(|r| *r > 0)
            .or(self.default);
        let looped = ep
            .loop_detected_at
            .filter(|t| now_ms - t < self.loop_hold_ms)
            .map(|_| self.loop_rate.max(1));
        match (own, looped) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The spacing of a rate, in microseconds.
pub fn interval_us(rate: u32) -> i64 {
    1_000_000 / i64::from(rate.max(1))
}

/// One GCRA step: the slot a send at `now` gets, and the TAT after it.
pub fn step(tat: Option<i64>, now: i64, interval: i64) -> (i64, i64) {
    let slot = tat.unwrap_or(now).max(now);
    (slot, slot + interval)
}

/// TATs by key, in memory (one node).
#[derive(Debug, Default)]
pub struct Gcra {
    tat: HashMap<String, i64>,
}

/// Keys kept before those in the past are forgotten.
const MAX_KEYS: usize = 10_000;

impl Gcra {
    /// The slot (µs) of a send to `key` at `now_us` at `rate` per second.
    pub fn take(&mut self, key: &str, rate: u32, now_us: i64) -> i64 {
        if self.tat.len() >= MAX_KEYS {
            self.tat.retain(|_, t| *t > now_us);
        }
        let (slot, tat) = step(self.tat.get(key).copied(), now_us, interval_us(rate));
        self.tat.insert(key.to_string(), tat);
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_spaced_by_the_interval_and_idle_time_gives_no_burst() {
        let mut g = Gcra::default();
        assert_eq!(
            g.take("e", 20, 1_000_000),
            1_000_000,
            "the first goes at once"
        );
        assert_eq!(g.take("e", 20, 1_000_000), 1_050_000);
        assert_eq!(g.take("e", 20, 1_010_000), 1_100_000);
        assert_eq!(g.take("other", 20, 1_010_000), 1_010_000, "keys are apart");
        // Idle for a while: the next goes at once, the one after a full interval later.
        assert_eq!(g.take("e", 20, 5_000_000), 5_000_000);
        assert_eq!(g.take("e", 20, 5_000_000), 5_050_000);
        // 1,000 sends asked for at once take 1,000 intervals: the rate holds exactly.
        let last = (0..1000).map(|_| g.take("n", 100, 0)).last().unwrap();
        assert_eq!(last, 999 * 10_000);
    }

    fn ep(own: Option<i64>, app: Option<i64>, looped: Option<i64>) -> Endpoint {
        let mut e = crate::model::tests_support::endpoint();
        e.throttle_rate = own;
        e.app_throttle_rate = app;
        e.loop_detected_at = looped;
        e
    }

    #[test]
    fn the_endpoint_then_the_application_then_the_default_and_a_loop_flag_caps_them() {
        let p = Policy {
            default: Some(50),
            loop_rate: 1,
            loop_hold_ms: 600_000,
        };
        assert_eq!(p.rate(&ep(Some(20), Some(5), None), 0), Some(20));
        assert_eq!(p.rate(&ep(None, Some(5), None), 0), Some(5));
        assert_eq!(p.rate(&ep(None, None, None), 0), Some(50));
        assert_eq!(p.rate(&ep(Some(20), None, Some(1000)), 2000), Some(1));
        assert_eq!(
            p.rate(&ep(Some(20), None, Some(1000)), 700_000),
            Some(20),
            "the flag expires"
        );
        let none = Policy { default: None, ..p };
        assert_eq!(none.rate(&ep(None, None, None), 0), None);
        assert_eq!(none.rate(&ep(None, None, Some(0)), 10), Some(1));
    }
}
