//! The publish pipeline as the API and the dispatcher see it: one handle (cheap to clone) for
//! the writes that go through the group committer, the messages published here lately, the
//! stalled endpoints whose new deliveries are stored parked, and where new deliveries are
//! handed over.

use std::sync::{Arc, Mutex, Weak};

use super::commit::Committer;
use super::fanout::{Handoff, HandoffSlot, Parked};
use super::loops::{self, LoopGuard};
use super::recent::Recent;
use super::writes::{Ctx, Done, Write};
use crate::ids::{AppId, EndpointId};
use crate::metrics::Metrics;
use crate::model::{Attempt, Message};
use crate::store::{
    ClaimArgs, Claimed, KeyClaim, NewMessage, NextStep, Respond, Store, StoreError, StoreResult,
};

#[derive(Clone)]
pub struct Pipeline {
    committer: Committer<Write>,
    recent: Arc<Mutex<Recent>>,
    parked: Parked,
    handoff: HandoffSlot,
    /// Publishes caused by deliveries, by endpoint (loop protection).
    loops: Arc<Mutex<LoopGuard>>,
    store: Store,
    metrics: Arc<Metrics>,
}

impl Pipeline {
    /// Starts the group committer on `store`'s writer connection. On PostgreSQL its task is
    /// returned, for shutdown to wait on (on SQLite it is a thread, which ends with `close`).
    /// `loop_rate`: publishes per second caused by one endpoint's deliveries that flag a loop.
    pub fn start(
        store: &Store,
        loop_rate: u32,
        metrics: Arc<Metrics>,
        payload_retention_ms: i64,
    ) -> StoreResult<(Self, Option<tokio::task::JoinHandle<()>>)> {
        let writer = store.writer();
        let own_thread = writer.blocks();
        let parked = Parked::default();
        let handoff = HandoffSlot::default();
        let ctx = Ctx {
            writer,
            parked: parked.clone(),
            handoff: handoff.clone(),
            payload_retention_ms,
        };
        let (committer, task) = Committer::start(ctx, own_thread, metrics.clone())?;
        let pipeline = Pipeline {
            committer,
            recent: Default::default(),
            parked,
            handoff,
            loops: Arc::new(Mutex::new(LoopGuard::new(loop_rate))),
            store: store.clone(),
            metrics,
        };
        Ok((pipeline, task))
    }

    fn unexpected(&self) -> StoreError {
        StoreError::Corrupt("the committer answered with another write's outcome".into())
    }

    /// Stores a message and one delivery per matching endpoint in one transaction: once this
    /// returns, the message is durable and will be delivered. `only_endpoint` limits the
    /// fan-out to one endpoint (example messages); `respond` is the response to store under an
    /// idempotency key, in the same transaction.
    pub async fn publish(
        &self,
        app_id: &AppId,
        m: &NewMessage,
        only_endpoint: Option<&EndpointId>,
        respond: Option<Respond>,
    ) -> StoreResult<Message> {
        let write = Write::Publish {
            app_id: app_id.clone(),
            msg: m.clone(),
            only_endpoint: only_endpoint.cloned(),
            respond,
        };
        match self.committer.submit(write).await {
            Ok(Done::Published(Ok(m))) => {
                self.metrics.published.inc();
                self.recent
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(m.clone());
                Ok(m)
            }
            Ok(Done::Published(Err(e))) => Err(e),
            Ok(_) => Err(self.unexpected()),
            // The application was deleted after the (cached) lookup.
            Err(e) if crate::store::is_foreign_key_violation(&e) => {
                Err(StoreError::NotFound("application"))
            }
            Err(e) => Err(e),
        }
    }

    /// Records an attempt and the delivery's next state in one transaction; false if the lease
    /// was lost (the state was left alone; the attempt is recorded either way: it happened).
    pub async fn finish(
        &self,
        c: &Claimed,
        attempt: &Attempt,
        next: NextStep,
    ) -> StoreResult<bool> {
        let write = Write::Finish {
            claimed: c.clone(),
            attempt: attempt.clone(),
            next,
        };
        match self.committer.submit(write).await? {
            Done::Finished(set) => Ok(set),
            _ => Err(self.unexpected()),
        }
    }

    /// Claims an idempotency key for a request about to run (see `store/idempotency.rs`).
    pub async fn claim_idempotency_key(&self, args: ClaimArgs) -> StoreResult<KeyClaim> {
        match self.committer.submit(Write::Claim(args)).await? {
            Done::Claimed(c) => Ok(c),
            _ => Err(self.unexpected()),
        }
    }

    /// Stores the response to an idempotency key.
    pub async fn save_idempotent_response(
        &self,
        key: &str,
        status: u16,
        body: &[u8],
    ) -> StoreResult<()> {
        let write = Write::Remember {
            key: key.to_string(),
            status,
            body: body.to_vec(),
        };
        match self.committer.submit(write).await? {
            Done::Remembered => Ok(()),
            _ => Err(self.unexpected()),
        }
    }

    /// Whether the group committer runs and keeps up (a readiness check bounds the wait).
    pub async fn ping(&self) -> StoreResult<()> {
        self.committer.ping().await
    }

    /// Stops the group committer after what is queued (shutdown, after the last writer).
    pub async fn close(&self) {
        self.committer.close().await
    }

    /// Hands new deliveries to `h` from now on (the dispatcher, while it runs); `None` stops.
    pub fn set_handoff(&self, h: Option<Weak<dyn Handoff>>) {
        self.handoff.set(h)
    }

    /// A message published here lately, from memory.
    pub fn recent(&self, id: &str) -> Option<Arc<Message>> {
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
    }

    /// Forgets a message's payload held in memory (it was expunged).
    pub fn forget(&self, id: &str) {
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
    }

    /// A publish into `app_id` came with an `x-herald-caused-by` header (`caused_by`): it
    /// counts against the endpoint it names, and an endpoint whose deliveries cause publishes
    /// into its own application faster than the loop rate is flagged (see `loops.rs`).
    pub async fn caused_by(&self, app_id: &AppId, caused_by: &str) {
        let Some(endpoint) = loops::endpoint_of(caused_by) else {
            return;
        };
        let now = crate::clock::now_ms();
        let looping = self
            .loops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(app_id, endpoint, now);
        if !looping {
            return;
        }
        match self.store.flag_loop(app_id, endpoint, now).await {
            Ok(true) => tracing::warn!(
                app = %app_id,
                endpoint,
                "delivery loop: this endpoint's deliveries cause publishes into its own \
                 application faster than --loop-rate; it is flagged (loopDetectedAt) and \
                 throttled to --loop-throttle for --loop-hold"
            ),
            Ok(false) => {}
            Err(e) => tracing::error!(endpoint, error = %e, "flagging a delivery loop failed"),
        }
    }

    /// The endpoints whose new deliveries are stored parked.
    pub fn parked(&self) -> &Parked {
        &self.parked
    }

    /// The node's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
}
