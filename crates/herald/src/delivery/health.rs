//! Endpoint health, the decisions (pure; the dispatcher's `health_steps` carries them out):
//! when an attempt's outcome must be written to the endpoint's run of failures in the
//! database, and when to try disabling the endpoint.
//!
//! The database holds each run's start (`endpoints.failing_since`), shared by all nodes; this
//! node remembers the runs it has written, so that an endpoint failing a thousand times a
//! second costs one write per run, not one per failure. A run is cleared on success only if
//! one is known (from the endpoint as read for the delivery, or from memory): healthy
//! endpoints cost nothing. Memory may be stale (another node's success cleared the run): the
//! disabling step itself checks the database, and its answer corrects memory.

use std::collections::HashMap;

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Write the run's start (if none is there) and come back with the database's answer.
    Record,
    /// Try to disable the endpoint: its run began at `since`, long enough ago.
    Disable { since: i64 },
    /// Nothing yet.
    Nothing,
}

/// The node's view of its endpoints' runs of failures.
pub struct Health {
    /// 0: never disable.
    disable_after_ms: i64,
    /// Runs this node wrote or read back: endpoint -> when the run began.
    runs: HashMap<String, i64>,
}

impl Health {
    pub fn new(disable_after_ms: i64) -> Self {
        Health {
            disable_after_ms,
            runs: HashMap::new(),
        }
    }

    /// An attempt of `endpoint` failed at `now`.
    pub fn failed(&mut self, endpoint: &str, now: i64) -> OnFailure {
        match self.runs.get(endpoint) {
            None => OnFailure::Record,
            Some(&since) => self.verdict(since, now),
        }
    }

    /// The database says `endpoint`'s run began at `since` (None: the endpoint is gone or
    /// not failing); what follows at `now`.
    pub fn recorded(&mut self, endpoint: &str, since: Option<i64>, now: i64) -> OnFailure {
        match since {
            Some(since) => {
                self.runs.insert(endpoint.to_string(), since);
                self.verdict(since, now)
            }
            None => {
                self.runs.remove(endpoint);
                OnFailure::Nothing
            }
        }
    }

    fn verdict(&self, since: i64, now: i64) -> OnFailure {
        if self.disable_after_ms > 0 && now - since >= self.disable_after_ms {
            OnFailure::Disable { since }
        } else {
            OnFailure::Nothing
        }
    }

    /// The latest start of a run that may be disabled at `now`.
    pub fn cutoff(&self, now: i64) -> i64 {
        now - self.disable_after_ms
    }

    /// An attempt of `endpoint` succeeded; `read_since` is its run as read with the delivery.
    /// True if the database's run must be cleared.
    pub fn succeeded(&mut self, endpoint: &str, read_since: Option<i64>) -> bool {
        self.runs.remove(endpoint).is_some() || read_since.is_some()
    }

    /// The endpoint was disabled, is gone, or its run is `since` as the database has it now.
    pub fn settled(&mut self, endpoint: &str, since: Option<i64>) {
        match since {
            Some(s) => {
                self.runs.insert(endpoint.to_string(), s);
            }
            None => {
                self.runs.remove(endpoint);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn a_run_is_written_once_then_disabled_when_old_enough() {
        let mut h = Health::new(5 * DAY);
        assert_eq!(h.failed("ep", 1000), OnFailure::Record);
        assert_eq!(h.recorded("ep", Some(1000), 1000), OnFailure::Nothing);
        // Later failures of the run cost no write.
        assert_eq!(h.failed("ep", 1000 + DAY), OnFailure::Nothing);
        assert_eq!(
            h.failed("ep", 1000 + 5 * DAY),
            OnFailure::Disable { since: 1000 }
        );
        assert_eq!(h.cutoff(1000 + 5 * DAY), 1000);
    }

    #[test]
    fn another_nodes_older_run_counts() {
        let mut h = Health::new(5 * DAY);
        assert_eq!(h.failed("ep", 6 * DAY), OnFailure::Record);
        // The database had a run from another node, begun six days ago.
        assert_eq!(
            h.recorded("ep", Some(0), 6 * DAY),
            OnFailure::Disable { since: 0 }
        );
    }

    #[test]
    fn a_success_ends_the_run_and_healthy_endpoints_cost_nothing() {
        let mut h = Health::new(5 * DAY);
        assert!(!h.succeeded("ep", None), "no run known: no write");
        assert!(h.succeeded("ep", Some(5)), "a run read with the delivery");
        h.recorded("ep", Some(10), 10);
        assert!(h.succeeded("ep", None), "a run this node wrote");
        assert_eq!(h.failed("ep", 20), OnFailure::Record, "a new run");
    }

    #[test]
    fn the_databases_answer_corrects_memory() {
        let mut h = Health::new(5 * DAY);
        h.recorded("ep", Some(0), 0);
        // Disabling found a success since: the run restarts now.
        h.settled("ep", Some(5 * DAY));
        assert_eq!(h.failed("ep", 6 * DAY), OnFailure::Nothing);
        h.settled("ep", None);
        assert_eq!(h.failed("ep", 6 * DAY), OnFailure::Record);
        assert_eq!(h.recorded("ep", None, 6 * DAY), OnFailure::Nothing);
    }

    #[test]
    fn zero_never_disables() {
        let mut h = Health::new(0);
        h.recorded("ep", Some(0), 0);
        assert_eq!(h.failed("ep", 1000 * DAY), OnFailure::Nothing);
    }
}
