//! The dispatcher: the I/O shell around the lanes (`lanes.rs`). It takes deliveries handed over
//! at publish and claims the others (retries, resends, other nodes' work) in batches under a
//! lease, runs each lane's requests (`attempt.rs`), carries out the circuit breaker's steps
//! (parking, probes, unparking) in the database, and stops gracefully. It never holds a
//! transaction across an HTTP call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::fanout::{Handoff, Work};
use super::gauges::SAMPLE_EVERY;
use super::health::Health;
use super::lanes::{Job, Lanes, Limits, Now};
use super::pipeline::Pipeline;
use super::throttle::{self, Gcra};
use crate::clock::now_ms;
use crate::config::Config;
use crate::ids::EndpointId;
use crate::model::{DeliveryStatus, Endpoint};
use crate::net::client::Client;
use crate::store::{Claimed, Store, StoreError};

/// How much longer than the request timeout a lease lasts.
pub(super) const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// Most deliveries claimed in one go.
const CLAIM_BATCH: usize = 256;
/// How long a woken dispatcher lets publishes gather before it claims.
const CLAIM_GATHER: Duration = Duration::from_millis(1);
/// How long an idle dispatcher sleeps before looking at the queue again without being woken.
const IDLE_POLL: Duration = Duration::from_millis(1000);
/// Most claimed deliveries waiting on this node for a free slot, over all endpoints.
const MAX_WAITING: usize = 1024;
/// How often the circuit breaker looks at the lanes.
const STALL_CHECK: Duration = Duration::from_millis(250);
/// How often leases that expired (a dead or stalled node's) are returned to the queue.
const RECLAIM_EVERY: Duration = Duration::from_secs(1);
/// How often throttles whose time has passed are deleted (PostgreSQL).
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Most saturated endpoints a claim skips by name (beyond that their deliveries are claimed and
/// queued or put back).
const MAX_EXCLUDED: usize = 500;

pub struct Dispatcher {
    pub(super) store: Store,
    pub(super) pipeline: Pipeline,
    pub(super) client: Client,
    pub(super) schedule: Vec<u64>,
    /// The try of a delivery whose failure raises `message.attempt.failing`.
    pub(super) failing_event_after: i64,
    /// The request timeout of endpoints without their own.
    pub(super) timeout: Duration,
    /// Publishes: new work may be due.
    pub(super) wake: Arc<Notify>,
    /// Finished requests: this node has room for more work.
    pub(super) room: Notify,
    lanes: Mutex<Lanes<Work>>,
    /// What throttles endpoints besides their own rate (`--default-throttle`, loop flags).
    pub(super) throttle: throttle::Policy,
    /// Throttle slots counted in memory (SQLite: one node); PostgreSQL nodes share theirs.
    pub(super) gcra: Mutex<Gcra>,
    /// Endpoints' runs of failures as this node knows them (`health.rs`).
    health: Mutex<Health>,
    /// Where lanes run: work is also handed over from the SQLite committer's own thread.
    pub(super) runtime: tokio::runtime::Handle,
    /// Itself, for work handed over through [`Handoff`].
    me: Weak<Dispatcher>,
    /// The claim loop is waiting for room: work the committer stores for want of it will be
    /// claimed when room is made, so it need not wake the loop.
    waiting_for_room: AtomicBool,
    /// Every lane and unpark task, so that shutdown can wait for them.
    pub(super) tasks: TaskTracker,
    /// Cancelled when shutdown runs out of time: requests still in flight are abandoned and
    /// their deliveries released.
    pub(super) cut: CancellationToken,
}

impl Job for Work {
    fn endpoint(&self) -> &str {
        &self.ep.id
    }

    fn timeout(&self) -> Option<Duration> {
        self.ep.options.timeout_ms.map(Duration::from_millis)
    }

    fn rate(&self) -> Option<u32> {
        self.rate
    }
}

impl Handoff for Dispatcher {
    fn room(&self, ep: &Endpoint) -> usize {
        self.lanes().room(&ep.id, self.rate(ep))
    }

    fn rate(&self, ep: &Endpoint) -> Option<u32> {
        self.throttle.rate(ep, now_ms())
    }

    fn lease_until(&self, ep: &Endpoint, now: i64) -> i64 {
        now + (self.timeout_of(ep) + LEASE_MARGIN).as_millis() as i64
    }

    fn take(&self, work: Vec<Work>) {
        if let Some(this) = self.me.upgrade() {
            this.enqueue(work);
        }
    }

    fn wake(&self) {
        if !self.waiting_for_room.load(Ordering::Relaxed) {
            self.wake.notify_one();
        }
    }
}

/// What a claim round found.
enum Tick {
    /// Claimed work; `more` if a full batch came and no endpoint filled up.
    Claimed { more: bool },
    /// Nothing claimable is due.
    Idle,
    /// As much work is claimed as may wait here.
    Full,
}

pub(super) fn now() -> Now {
    Now {
        at: Instant::now(),
        wall_ms: now_ms(),
    }
}

impl Dispatcher {
    pub fn new(
        store: Store,
        pipeline: Pipeline,
        cfg: &Config,
        wake: Arc<Notify>,
        transport: crate::net::transport::Transport,
    ) -> Result<Arc<Self>, crate::net::transport::TransportError> {
        let timeout = cfg.request_timeout();
        let max_in_flight = cfg.max_in_flight.max(1);
        let limits = Limits {
            max_in_flight,
            per_endpoint: cfg.max_in_flight_per_endpoint.max(1),
            max_waiting: MAX_WAITING,
            lane_queue: CLAIM_BATCH,
            default_timeout: timeout,
        };
        let client = Client::new(
            crate::net::guard::AddressPolicy::new(cfg.allow_targets.clone())
                .https_only(cfg.https_only),
            max_in_flight,
            transport,
        )?;
        Ok(Arc::new_cyclic(|me| Dispatcher {
            me: me.clone(),
            store,
            pipeline,
            client,
            schedule: cfg.retry_schedule.clone(),
            failing_event_after: cfg.failing_event_after.into(),
            timeout,
            wake,
            room: Notify::new(),
            lanes: Mutex::new(Lanes::new(limits)),
            throttle: throttle::Policy {
                default: cfg.default_throttle,
                loop_rate: cfg.loop_throttle,
                loop_hold_ms: cfg.loop_hold.as_millis() as i64,
            },
            gcra: Mutex::new(Gcra::default()),
            health: Mutex::new(Health::new(cfg.disable_after.as_millis() as i64)),
            runtime: tokio::runtime::Handle::current(),
            waiting_for_room: Default::default(),
            tasks: TaskTracker::new(),
            cut: CancellationToken::new(),
        }))
    }

    pub(super) fn lanes(&self) -> MutexGuard<'_, Lanes<Work>> {
        self.lanes.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn health(&self) -> MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn timeout_of(&self, ep: &Endpoint) -> Duration {
        ep.options
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(self.timeout)
    }

    /// The claim loop: runs until `shutdown` completes (then `drain` stops the rest).
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut last_reclaim = Instant::now() - RECLAIM_EVERY;
        let mut last_stall_check = Instant::now();
        let mut last_prune = Instant::now();
        let mut last_sample = Instant::now() - SAMPLE_EVERY;
        loop {
            if last_sample.elapsed() >= SAMPLE_EVERY {
                last_sample = Instant::now();
                self.sample_gauges().await;
            }
            if last_reclaim.elapsed() >= RECLAIM_EVERY {
                last_reclaim = Instant::now();
                if let Err(e) = self.store.reclaim_expired(now_ms()).await {
                    tracing::warn!(error = %e, "reclaiming expired leases failed");
                }
            }
            if self.store.throttles_shared() && last_prune.elapsed() >= PRUNE_EVERY {
                last_prune = Instant::now();
                let past = crate::clock::now_us() - PRUNE_EVERY.as_micros() as i64;
                if let Err(e) = self.store.prune_throttles(past).await {
                    tracing::warn!(error = %e, "pruning throttles failed");
                }
            }
            if last_stall_check.elapsed() >= STALL_CHECK {
                last_stall_check = Instant::now();
                if let Err(e) = self.check_stalls().await {
                    tracing::warn!(error = %e, "parking a stalled endpoint's work failed");
                }
            }
            let tick = self.tick().await;
            // Freed room matters only when work was left in the database for want of it.
            let saturated = matches!(tick, Ok(Tick::Full)) || self.lanes().any_saturated();
            let wait = match tick {
                Ok(Tick::Claimed { more: true }) => Duration::ZERO,
                Ok(Tick::Claimed { more: false }) | Ok(Tick::Full) => IDLE_POLL,
                Ok(Tick::Idle) => match self.store.next_due().await {
                    Ok(Some(due)) if due > now_ms() => {
                        Duration::from_millis((due - now_ms()).min(1000) as u64)
                    }
                    _ => IDLE_POLL,
                },
                Err(e) => {
                    tracing::error!(error = %e, "dispatch round failed");
                    IDLE_POLL
                }
            };
            if wait.is_zero() {
                tokio::select! {
                    biased;
                    _ = &mut shutdown => return,
                    _ = std::future::ready(()) => {}
                }
            } else if saturated {
                // Work left for want of room is claimed when room is made; a wake means other
                // work (a resend, another node's).
                self.waiting_for_room.store(true, Ordering::Relaxed);
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = self.room.notified() => {}
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
                self.waiting_for_room.store(false, Ordering::Relaxed);
            } else {
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
                // Under a stream of publishes, let a few gather so one claim takes them all.
                tokio::time::sleep(CLAIM_GATHER).await;
            }
        }
    }

    /// Claims one batch, queues it by endpoint and starts what may start.
    async fn tick(self: &Arc<Self>) -> Result<Tick, StoreError> {
        let (limit, saturated) = {
            let l = self.lanes();
            (l.claim_limit(CLAIM_BATCH), l.saturated(MAX_EXCLUDED))
        };
        if limit == 0 {
            return Ok(Tick::Full);
        }
        let now = now_ms();
        let lease_until = now + (self.timeout + LEASE_MARGIN).as_millis() as i64;
        let claimed = self
            .store
            .claim(now, limit as i64, lease_until, &saturated)
            .await?;
        if claimed.is_empty() {
            return Ok(Tick::Idle);
        }
        let full_batch = claimed.len() == limit;
        let messages = self.messages_of(&claimed).await?;
        let mut ep_ids: Vec<&EndpointId> = claimed.iter().map(|c| &c.endpoint_id).collect();
        ep_ids.sort_unstable();
        ep_ids.dedup();
        let endpoints: HashMap<EndpointId, Arc<Endpoint>> = self
            .store
            .endpoints_by_ids(&ep_ids)
            .await?
            .into_iter()
            .map(|e| (e.id.clone(), Arc::new(e)))
            .collect();
        let mut skipped = Vec::new();
        let mut orphans = Vec::new();
        let mut work = Vec::with_capacity(claimed.len());
        for c in claimed {
            let (Some(msg), Some(ep)) = (messages.get(&c.msg_id), endpoints.get(&c.endpoint_id))
            else {
                // Its endpoint or message was deleted; the row should have gone with it.
                orphans.push(c);
                continue;
            };
            if ep.disabled {
                skipped.push(c);
                continue;
            }
            work.push(Work {
                claimed: c,
                msg: msg.clone(),
                ep: ep.clone(),
                lease_until,
                rate: self.throttle.rate(ep, now),
            });
        }
        let filled = self.enqueue(work);
        self.store.drop_deliveries(&orphans).await?;
        self.store
            .release_many(&skipped, now, DeliveryStatus::Skipped)
            .await?;
        Ok(Tick::Claimed {
            more: full_batch && !filled,
        })
    }

    /// Queues `work` in its lanes and starts what may start; what a stalled lane (or a stopping
    /// node) cannot take goes back to the database. Returns whether some lane filled up.
    pub(super) fn enqueue(self: &Arc<Self>, work: Vec<Work>) -> bool {
        let e = self.lanes().enqueue(work, now());
        for w in e.start {
            let this = self.clone();
            self.tasks
                .spawn_on(async move { this.run_lane(w).await }, &self.runtime);
        }
        if !e.back.is_empty() {
            let this = self.clone();
            self.tasks.spawn_on(
                async move {
                    if let Err(e) = this.put_back(e.back).await {
                        tracing::warn!(error = %e, "putting back a stalled endpoint's work failed");
                    }
                },
                &self.runtime,
            );
        }
        e.filled
    }

    /// Puts deliveries back, pending until the time each goes with.
    async fn put_back(&self, back: Vec<(Work, i64)>) -> Result<(), StoreError> {
        let mut by_time: HashMap<i64, Vec<Claimed>> = HashMap::new();
        for (w, until) in back {
            by_time.entry(until).or_default().push(w.claimed);
        }
        for (until, claimed) in by_time {
            self.store
                .release_many(&claimed, until, DeliveryStatus::Pending)
                .await?;
        }
        Ok(())
    }
}
