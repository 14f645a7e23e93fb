//! The circuit breaker's I/O: what `lanes.rs` decides about a stalled endpoint, carried out in
//! the database (parking its backlog, making probes and, once it answers, the backlog due).

use super::dispatcher::{Dispatcher, now};
use super::lanes::Step;
use crate::clock::now_ms;
use crate::model::DeliveryStatus;
use crate::store::{Claimed, StoreError};

/// Parked deliveries made due per statement when an endpoint answers again.
const UNPARK_CHUNK: usize = 2000;

impl Dispatcher {
    /// The circuit breaker's round (see `lanes.rs`): parks newly stalled endpoints, their
    /// queued work and backlog, and makes a few parked deliveries due as probes.
    pub(super) async fn check_stalls(&self) -> Result<(), StoreError> {
        let t = now();
        let steps = self.lanes().check_stalls(t);
        for (endpoint, step) in steps {
            match step {
                Step::Park { until, back } => {
                    self.pipeline.parked().park(&endpoint, t.wall_ms, until);
                    if !back.is_empty() {
                        self.room.notify_one();
                        let back: Vec<Claimed> = back.into_iter().map(|w| w.claimed).collect();
                        self.store
                            .release_many(&back, until, DeliveryStatus::Pending)
                            .await?;
                    }
                    self.store.park(&endpoint, t.wall_ms, until).await?;
                }
                Step::Probe { until, n } => {
                    if self
                        .store
                        .unpark_some(&endpoint, until, t.wall_ms, n)
                        .await?
                        > 0
                    {
                        self.wake.notify_one();
                    }
                }
            }
        }
        Ok(())
    }

    /// Makes an endpoint's parked backlog due, a part at a time so that claims start on the
    /// first part at once, and no statement holds the writer for long (SQLite) or updates a
    /// whole backlog in one go.
    pub(super) async fn unpark(&self, endpoint: &str, until: i64) {
        loop {
            match self
                .store
                .unpark_some(endpoint, until, now_ms(), UNPARK_CHUNK)
                .await
            {
                Ok(n) => {
                    if n > 0 {
                        self.wake.notify_one();
                    }
                    if (n as usize) < UNPARK_CHUNK {
                        return;
                    }
                }
                Err(e) => {
                    // What is left becomes due at the parking's horizon.
                    tracing::warn!(error = %e, "unparking an endpoint's deliveries failed");
                    return;
                }
            }
        }
    }
}
