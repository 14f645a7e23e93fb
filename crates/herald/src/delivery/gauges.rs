//! The gauges the dispatcher samples for `/metrics`: queue depth, age of the oldest due
//! delivery, parked endpoints. Read from the database every few seconds, so that scrapes read
//! the last sample and cost no query however often they come.

use std::time::Duration;

use super::dispatcher::Dispatcher;
use crate::clock::now_ms;

/// How often the queue's gauges are read from the database.
pub(super) const SAMPLE_EVERY: Duration = Duration::from_secs(5);

impl Dispatcher {
    /// Sets the gauges that need a look at the lanes or the queue.
    pub(super) async fn sample_gauges(&self) {
        let m = self.pipeline.metrics();
        m.parked_endpoints.set(self.lanes().stalled() as i64);
        match self.store.queue_stats(now_ms()).await {
            Ok(q) => {
                m.queue_depth.set(q.depth);
                m.oldest_due_age_ms.set(q.oldest_due_age_ms);
            }
            Err(e) => tracing::warn!(error = %e, "sampling the queue for metrics failed"),
        }
    }
}
