//! The retry schedule: after the n-th failed try, wait `schedule[n-1]` seconds (with a little
//! jitter) or give up once the schedule is exhausted.

/// When to try again after `tries_done` failed tries, or `None` when the schedule is exhausted.
pub fn next_delay_ms(schedule: &[u64], tries_done: i64) -> Option<i64> {
    let idx = usize::try_from(tries_done.checked_sub(1)?).ok()?;
    let secs = *schedule.get(idx)?;
    let base = (secs as i64).saturating_mul(1000);
    // Up to 10% later, never earlier: spreads retries of a burst without breaking a contract.
    let jitter = if base > 0 {
        fastrand::i64(0..=base / 10)
    } else {
        0
    };
    Some(base + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_the_schedule_then_stops() {
        let s = [1, 60];
        let d1 = next_delay_ms(&s, 1).unwrap();
        assert!((1000..=1100).contains(&d1), "{d1}");
        let d2 = next_delay_ms(&s, 2).unwrap();
        assert!((60_000..=66_000).contains(&d2), "{d2}");
        assert_eq!(next_delay_ms(&s, 3), None);
        assert_eq!(next_delay_ms(&[], 1), None);
        assert_eq!(next_delay_ms(&s, 0), None);
    }
}
