//! Stopping a node's deliveries gracefully (SIGTERM): see [`Dispatcher::drain`].

use std::time::Duration;

use super::dispatcher::Dispatcher;
use crate::clock::now_ms;
use crate::model::DeliveryStatus;
use crate::store::Claimed;

impl Dispatcher {
    /// Stops this node's deliveries for shutdown. Nothing new starts; queued work goes back to
    /// the database, due at once (another PostgreSQL node takes it now, not when its lease runs
    /// out), and so does the parked backlog of stalled endpoints; requests in flight finish and
    /// are recorded until `deadline`, when those left are abandoned and released. Call after the
    /// claim loop has stopped and new deliveries are no longer handed over.
    pub async fn drain(&self, deadline: tokio::time::Instant) {
        let d = self.lanes().drain();
        tracing::info!(
            in_flight = d.in_flight,
            released = d.queued.len(),
            "stopping deliveries: waiting for requests in flight"
        );
        let queued: Vec<Claimed> = d.queued.into_iter().map(|w| w.claimed).collect();
        if let Err(e) = self
            .store
            .release_many(&queued, now_ms(), DeliveryStatus::Pending)
            .await
        {
            tracing::warn!(error = %e, "releasing queued deliveries failed");
        }
        for (endpoint, until) in d.stalled {
            self.pipeline.parked().unpark(&endpoint);
            self.unpark(&endpoint, until).await;
        }
        if let Err(e) = self.store.notify_nodes().await {
            tracing::warn!(error = %e, "telling other nodes about released work failed");
        }
        self.tasks.close();
        if tokio::time::timeout_at(deadline, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                in_flight = self.lanes().in_flight(),
                "shutdown timeout: abandoning requests still in flight"
            );
            self.cut.cancel();
            // Each abandoned request releases its delivery: a statement, not a request's wait.
            let _ = tokio::time::timeout(Duration::from_secs(5), self.tasks.wait()).await;
            if let Err(e) = self.store.notify_nodes().await {
                tracing::warn!(error = %e, "telling other nodes about released work failed");
            }
        }
    }
}
