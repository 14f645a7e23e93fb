//! A lane's task: it sends a job, then the next one the lanes give its slot, while there is
//! one; a throttled job first waits for its throttle slot (`throttle.rs`), taken in memory on
//! SQLite and from the shared row on PostgreSQL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::aimd::Answer;
use super::dispatcher::{Dispatcher, now};
use super::fanout::Work;
use super::throttle;

impl Dispatcher {
    /// Sends `job`, then the next one the lanes give its slot, while there is one.
    pub(super) async fn run_lane(self: Arc<Self>, first: Work) {
        let mut job = first;
        loop {
            if let Some(rate) = job.rate {
                self.wait_for_slot(&job.ep.id, rate).await;
            }
            let started = Instant::now();
            let answer = if self.lease_held(&mut job).await {
                self.attempt(&job).await
            } else {
                Answer::Other
            };
            let f = self
                .lanes()
                .finished(&job.ep.id, answer, started.elapsed(), now());
            for extra in f.extra {
                self.tasks
                    .spawn_on(self.clone().lane_task(extra), &self.runtime);
            }
            if job.claimed.ordered {
                // The next delivery of its ordering key is claimable now.
                self.wake.notify_one();
            }
            if let Some(until) = f.unpark {
                // The endpoint answers again: its parked work is due.
                self.pipeline.parked().unpark(&job.ep.id);
                let this = self.clone();
                let endpoint = job.ep.id.clone();
                self.tasks
                    .spawn(async move { this.unpark(&endpoint, until).await });
            }
            if f.room {
                self.room.notify_one();
            }
            match f.next {
                Some(j) => job = j,
                None => return,
            }
        }
    }

    /// [`Dispatcher::run_lane`] as a task of its own (boxed: a lane starts others).
    fn lane_task(
        self: Arc<Self>,
        first: Work,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(self.run_lane(first))
    }

    /// Waits for the next throttle slot of `endpoint` (its lane counts the wait as such, not as
    /// a request that could hang).
    async fn wait_for_slot(&self, endpoint: &str, rate: u32) {
        self.lanes().slot_wait(endpoint, true);
        let now = crate::clock::now_us();
        let slot = if self.store.throttles_shared() {
            let interval = throttle::interval_us(rate);
            match self.store.take_throttle_slot(endpoint, interval, now).await {
                Ok(slot) => slot,
                Err(e) => {
                    // The database is out of reach: keep this node's share of the rate at least.
                    tracing::warn!(error = %e, "taking a throttle slot failed");
                    self.gcra
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .take(endpoint, rate, now)
                }
            }
        } else {
            self.gcra
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(endpoint, rate, now)
        };
        let wait = slot - crate::clock::now_us();
        if wait > 0 {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_micros(wait as u64)) => {}
                _ = self.cut.cancelled() => {}
            }
        }
        self.lanes().slot_wait(endpoint, false);
    }
}
