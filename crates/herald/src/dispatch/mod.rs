//! The dispatcher: claims due deliveries in batches under a lease, sends them with bounded
//! concurrency (in total and per endpoint), and records each attempt with the delivery's next
//! state in one transaction. It never holds a transaction across an HTTP call.

pub mod guard;
pub mod schedule;
pub mod sender;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::now_ms;
use crate::config::Config;
use crate::formats;
use crate::ids;
use crate::model::{Attempt, DeliveryStatus, Endpoint, Message};
use crate::store::{Claimed, Handoff, NextStep, Store, Work};
use sender::{DEFAULT_USER_AGENT, Outcome, Sender};

/// How much longer than the request timeout a lease lasts.
const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// Most deliveries claimed in one go.
const CLAIM_BATCH: usize = 256;
/// How long a woken dispatcher lets publishes gather before it claims.
const CLAIM_GATHER: Duration = Duration::from_millis(1);
/// How long an idle dispatcher sleeps before looking at the queue again without being woken.
const IDLE_POLL: Duration = Duration::from_millis(1000);
/// Most claimed deliveries waiting on this node for a free slot, over all endpoints.
const MAX_WAITING: usize = 1024;
/// An endpoint whose every slot is busy and none of whose requests finished quickly for this
/// long is stalled (hanging, or timing out): it keeps its slots but queues nothing more here.
const STALL_MS: i64 = 1000;
/// How long a stalled endpoint's backlog is parked for at a time. Probes, not the backlog, try
/// it meanwhile, so this only bounds how long a node that dies leaves the backlog parked for
/// the other nodes, and how often a long outage moves it (once per horizon).
const PARK_HORIZON_MS: i64 = 10 * 60_000;
/// Longest between probes of a stalled endpoint. The wait starts at its request timeout and
/// doubles each time the probes hang too; it bounds how long a recovered endpoint waits for its
/// backlog (everything is unparked as soon as one request succeeds).
const MAX_PROBE_MS: i64 = 60_000;
/// The least wait between probes.
const MIN_PROBE_MS: i64 = 1000;
/// Parked deliveries made due per statement when an endpoint answers again.
const UNPARK_CHUNK: usize = 2000;
/// Most saturated endpoints a claim skips by name (beyond that their deliveries are claimed and
/// queued or put back).
const MAX_EXCLUDED: usize = 500;

pub struct Dispatcher {
    store: Store,
    sender: Sender,
    schedule: Vec<u64>,
    timeout: Duration,
    /// A lease outlasts the request timeout, so a slow delivery is never sent twice.
    lease: Duration,
    /// Publishes: new work may be due.
    wake: Arc<Notify>,
    /// Finished requests: this node has room for more work.
    room: Notify,
    max_in_flight: usize,
    per_endpoint_cap: usize,
    lanes: Mutex<Lanes>,
    /// Where lanes run: work is also handed over from the SQLite committer's own thread.
    runtime: tokio::runtime::Handle,
    /// Itself, for work handed over through [`Handoff`].
    me: std::sync::Weak<Dispatcher>,
    /// The claim loop is waiting for room: work the committer stores for want of it will be
    /// claimed when room is made, so it need not wake the loop.
    waiting_for_room: std::sync::atomic::AtomicBool,
    /// Every lane and unpark task, so that shutdown can wait for them.
    tasks: TaskTracker,
    /// Cancelled when shutdown runs out of time: requests still in flight are abandoned and
    /// their deliveries released.
    cut: CancellationToken,
}

impl Handoff for Dispatcher {
    fn room(&self, endpoint_id: &str) -> usize {
        let l = self.lanes();
        let node = MAX_WAITING.saturating_sub(l.waiting);
        let lane = match l.by_endpoint.get(endpoint_id) {
            Some(lane) if lane.stalled => 0,
            Some(lane) => self
                .lane_limit(lane)
                .saturating_sub(lane.in_flight + lane.waiting.len()),
            None => self.per_endpoint_cap + CLAIM_BATCH,
        };
        node.min(lane)
    }

    fn lease_until(&self, ep: &Endpoint, now: i64) -> i64 {
        now + (self.timeout_of(ep) + LEASE_MARGIN).as_millis() as i64
    }

    fn take(&self, work: Vec<Work>) {
        let Some(this) = self.me.upgrade() else {
            return;
        };
        let (parked, _) = this.enqueue(work, now_ms());
        if !parked.is_empty() {
            // Its endpoint stalled since the commit asked for room (or the node is stopping):
            // put the rest back.
            self.tasks.spawn_on(
                async move {
                    if let Err(e) = this.put_back(parked).await {
                        tracing::warn!(error = %e, "parking a stalled endpoint's work failed");
                    }
                },
                &self.runtime,
            );
        }
    }

    fn wake(&self) {
        if !self
            .waiting_for_room
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            self.wake.notify_one();
        }
    }
}

/// Claimed work, by endpoint. Each endpoint is a lane with at most `per_endpoint_cap` requests in
/// flight and a local queue; a finished request starts the next one of its lane, so there is no
/// task per delivery and a slow endpoint only ever holds its own lane.
#[derive(Default)]
struct Lanes {
    in_flight: usize,
    waiting: usize,
    by_endpoint: HashMap<String, Lane>,
    /// The node is stopping: nothing new starts, new work goes back to the database.
    draining: bool,
}

struct Lane {
    in_flight: usize,
    waiting: VecDeque<Work>,
    /// When a request of this lane last finished quickly (or the lane began).
    last_progress: i64,
    stalled: bool,
    /// While stalled: its backlog is parked until then (see `PARK_HORIZON_MS`).
    parked_until: i64,
    /// While stalled: when the next probes go, and the wait before the ones after.
    probe_at: i64,
    probe_ms: i64,
    /// The endpoint's request timeout.
    timeout_ms: i64,
}

/// What a dispatch round found.
enum Tick {
    /// Claimed work; `more` if a full batch came and no endpoint filled up.
    Claimed { more: bool },
    /// Nothing claimable is due.
    Idle,
    /// As much work is claimed as may wait here.
    Full,
}

impl Lanes {
    /// Moves jobs of `endpoint` from its queue to in flight while both limits allow.
    fn start_ready(&mut self, endpoint: &str, cap: usize, max: usize, out: &mut Vec<Work>) {
        let Some(lane) = self.by_endpoint.get_mut(endpoint) else {
            return;
        };
        while lane.in_flight < cap && self.in_flight < max {
            let Some(job) = lane.waiting.pop_front() else {
                break;
            };
            lane.in_flight += 1;
            self.in_flight += 1;
            self.waiting -= 1;
            out.push(job);
        }
    }

    /// A job of any lane that may start (the total limit was what held them back).
    fn start_any(&mut self, cap: usize, max: usize) -> Option<Work> {
        if self.waiting == 0 || self.in_flight >= max {
            return None;
        }
        let id = self
            .by_endpoint
            .iter()
            .find(|(_, lane)| lane.in_flight < cap && !lane.waiting.is_empty())
            .map(|(id, _)| id.clone())?;
        let mut out = Vec::new();
        self.start_ready(&id, cap, self.in_flight + 1, &mut out);
        out.pop()
    }
}

impl Dispatcher {
    pub fn new(store: Store, cfg: &Config, wake: Arc<Notify>) -> Arc<Self> {
        let timeout = cfg.request_timeout();
        Arc::new_cyclic(|me| Dispatcher {
            me: me.clone(),
            store,
            sender: Sender::new(
                guard::AddressPolicy::new(cfg.allow_targets.clone()),
                cfg.max_in_flight.max(1),
            ),
            schedule: cfg.retry_schedule.clone(),
            timeout,
            lease: timeout + LEASE_MARGIN,
            wake,
            room: Notify::new(),
            max_in_flight: cfg.max_in_flight.max(1),
            per_endpoint_cap: cfg.max_in_flight_per_endpoint.max(1),
            lanes: Mutex::new(Lanes::default()),
            runtime: tokio::runtime::Handle::current(),
            waiting_for_room: Default::default(),
            tasks: TaskTracker::new(),
            cut: CancellationToken::new(),
        })
    }

    fn lanes(&self) -> std::sync::MutexGuard<'_, Lanes> {
        self.lanes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Most deliveries a lane may hold (in flight plus queued) before claims skip its endpoint:
    /// a stalled one gets no queue, a healthy one about a batch beyond its slots.
    fn lane_limit(&self, lane: &Lane) -> usize {
        if lane.stalled {
            self.per_endpoint_cap
        } else {
            self.per_endpoint_cap + CLAIM_BATCH
        }
    }

    /// Runs until `shutdown` completes. Deliveries in flight then are left to their leases.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut last_reclaim = 0;
        let mut last_stall_check = 0;
        loop {
            let now = now_ms();
            if now - last_reclaim > 1000 {
                last_reclaim = now;
                if let Err(e) = self.store.reclaim_expired(now).await {
                    tracing::warn!(error = %e, "reclaiming expired leases failed");
                }
            }
            if now - last_stall_check > 250 {
                last_stall_check = now;
                if let Err(e) = self.check_stalls(now).await {
                    tracing::warn!(error = %e, "putting back a stalled endpoint's work failed");
                }
            }
            let tick = self.tick().await;
            // Freed room matters only when work was left in the database for want of it.
            let saturated = matches!(tick, Ok(Tick::Full)) || self.any_saturated();
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
                use std::sync::atomic::Ordering::Relaxed;
                self.waiting_for_room.store(true, Relaxed);
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = self.room.notified() => {}
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
                self.waiting_for_room.store(false, Relaxed);
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

    /// Stops this node's deliveries for shutdown. Nothing new starts; queued work goes back to
    /// the database, due at once (another PostgreSQL node takes it now, not when its lease runs
    /// out), and so does the parked backlog of stalled endpoints; requests in flight finish and
    /// are recorded until `deadline`, when those left are abandoned and released. Call after the
    /// claim loop has stopped and new deliveries are no longer handed over.
    pub async fn drain(&self, deadline: tokio::time::Instant) {
        let now = now_ms();
        let (queued, stalled, in_flight) = {
            let mut l = self.lanes();
            l.draining = true;
            let mut queued = Vec::new();
            let mut stalled = Vec::new();
            for (id, lane) in l.by_endpoint.iter_mut() {
                queued.extend(lane.waiting.drain(..).map(|w| w.claimed));
                if lane.stalled {
                    stalled.push((id.clone(), lane.parked_until));
                }
            }
            l.waiting = 0;
            (queued, stalled, l.in_flight)
        };
        tracing::info!(
            in_flight,
            released = queued.len(),
            "stopping deliveries: waiting for requests in flight"
        );
        if let Err(e) = self
            .store
            .release_many(&queued, now, DeliveryStatus::Pending)
            .await
        {
            tracing::warn!(error = %e, "releasing queued deliveries failed");
        }
        for (endpoint, until) in stalled {
            self.store.stop_parking(&endpoint);
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
            let left = self.lanes().in_flight;
            tracing::warn!(
                in_flight = left,
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

    fn any_saturated(&self) -> bool {
        let l = self.lanes();
        l.by_endpoint
            .values()
            .any(|lane| lane.in_flight + lane.waiting.len() >= self.lane_limit(lane))
    }

    /// Parks the work of endpoints that stopped answering (a circuit breaker). A lane whose
    /// slots are all busy without progress for `STALL_MS` is stalled: its queued work goes back
    /// to the database and its backlog is parked (made due only at a far horizon), so claims
    /// neither take nor wade through it. Meanwhile probes try the endpoint: its own retries, on
    /// their schedule, and a few parked deliveries made due at growing intervals when it has
    /// slots free. The first request that succeeds unparks everything (`run_lane`). At the
    /// horizon a lane still hung is parked again; one idle is forgotten (its backlog is due, and
    /// claims find out afresh).
    async fn check_stalls(&self, now: i64) -> Result<(), crate::store::StoreError> {
        enum Step {
            Park(i64, Vec<Claimed>),
            Probe(i64, usize),
        }
        let mut steps = Vec::new();
        {
            let mut l = self.lanes();
            let mut released = 0;
            let cap = self.per_endpoint_cap;
            for (id, lane) in l.by_endpoint.iter_mut() {
                let hung = lane.in_flight >= cap && now - lane.last_progress >= STALL_MS;
                if hung && (!lane.stalled || now >= lane.parked_until) {
                    if !lane.stalled {
                        lane.stalled = true;
                        lane.probe_ms = lane.timeout_ms.clamp(MIN_PROBE_MS, MAX_PROBE_MS);
                        lane.probe_at = now + lane.probe_ms;
                    }
                    lane.parked_until = now + PARK_HORIZON_MS;
                    released += lane.waiting.len();
                    let back = lane.waiting.drain(..).map(|j| j.claimed).collect();
                    steps.push((id.clone(), Step::Park(lane.parked_until, back)));
                } else if lane.stalled && now >= lane.probe_at && lane.in_flight < cap {
                    steps.push((
                        id.clone(),
                        Step::Probe(lane.parked_until, cap - lane.in_flight),
                    ));
                    lane.probe_ms = (lane.probe_ms * 2).clamp(MIN_PROBE_MS, MAX_PROBE_MS);
                    lane.probe_at = now + lane.probe_ms;
                }
            }
            l.waiting -= released;
            l.by_endpoint.retain(|_, lane| {
                !(lane.stalled
                    && lane.in_flight + lane.waiting.len() == 0
                    && now >= lane.parked_until)
            });
        }
        for (endpoint, step) in steps {
            match step {
                Step::Park(until, back) => {
                    if !back.is_empty() {
                        self.room.notify_one();
                        self.store
                            .release_many(&back, until, DeliveryStatus::Pending)
                            .await?;
                    }
                    self.store.park(&endpoint, now, until).await?;
                }
                Step::Probe(until, n) => {
                    if self.store.unpark_some(&endpoint, until, now, n).await? > 0 {
                        self.wake.notify_one();
                    }
                }
            }
        }
        Ok(())
    }

    /// Claims one batch, queues it by endpoint and starts what may start.
    async fn tick(self: &Arc<Self>) -> Result<Tick, crate::store::StoreError> {
        let (limit, saturated) = {
            let l = self.lanes();
            let saturated: Vec<String> = l
                .by_endpoint
                .iter()
                .filter(|(_, lane)| lane.in_flight + lane.waiting.len() >= self.lane_limit(lane))
                .map(|(id, _)| id.clone())
                .take(MAX_EXCLUDED)
                .collect();
            (
                MAX_WAITING.saturating_sub(l.waiting).min(CLAIM_BATCH),
                saturated,
            )
        };
        if limit == 0 {
            return Ok(Tick::Full);
        }
        let now = now_ms();
        let lease_until = now + self.lease.as_millis() as i64;
        let claimed = self
            .store
            .claim(now, limit as i64, lease_until, &saturated)
            .await?;
        if claimed.is_empty() {
            return Ok(Tick::Idle);
        }
        let full_batch = claimed.len() == limit;
        let msg_ids: Vec<String> = claimed.iter().map(|c| c.msg_id.clone()).collect();
        let ep_ids: Vec<String> = claimed.iter().map(|c| c.endpoint_id.clone()).collect();
        let messages: HashMap<String, Arc<Message>> = self
            .store
            .messages_by_ids(&dedup(msg_ids))
            .await?
            .into_iter()
            .map(|m| (m.id.clone(), m))
            .collect();
        let endpoints: HashMap<String, Arc<Endpoint>> = self
            .store
            .endpoints_by_ids(&dedup(ep_ids))
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
            });
        }
        let (parked, filled) = self.enqueue(work, now);
        self.store.drop_deliveries(&orphans).await?;
        self.store
            .release_many(&skipped, now, DeliveryStatus::Skipped)
            .await?;
        self.put_back(parked).await?;
        Ok(Tick::Claimed {
            more: full_batch && !filled,
        })
    }

    /// Puts deliveries back, pending until the time each goes with (its endpoint's parking).
    async fn put_back(&self, parked: Vec<(Claimed, i64)>) -> Result<(), crate::store::StoreError> {
        let mut by_time: HashMap<i64, Vec<Claimed>> = HashMap::new();
        for (c, until) in parked {
            by_time.entry(until).or_default().push(c);
        }
        for (until, claimed) in by_time {
            self.store
                .release_many(&claimed, until, DeliveryStatus::Pending)
                .await?;
        }
        Ok(())
    }

    /// Queues `work` in the lanes of its endpoints and starts what may start. Returns the
    /// deliveries a stalled lane cannot take, with until when it is parked, and whether some
    /// lane filled up.
    fn enqueue(self: &Arc<Self>, work: Vec<Work>, now: i64) -> (Vec<(Claimed, i64)>, bool) {
        let mut parked = Vec::new();
        let mut ready = Vec::new();
        let mut filled = false;
        {
            let mut l = self.lanes();
            if l.draining {
                return (work.into_iter().map(|w| (w.claimed, now)).collect(), false);
            }
            let mut touched = Vec::new();
            for w in work {
                let lane = l
                    .by_endpoint
                    .entry(w.ep.id.clone())
                    .or_insert_with(|| Lane {
                        in_flight: 0,
                        waiting: VecDeque::new(),
                        last_progress: now,
                        stalled: false,
                        parked_until: 0,
                        probe_at: 0,
                        probe_ms: 0,
                        timeout_ms: self.timeout_of(&w.ep).as_millis() as i64,
                    });
                let held = lane.in_flight + lane.waiting.len();
                if lane.stalled && held >= self.per_endpoint_cap {
                    parked.push((w.claimed, lane.parked_until.max(now + MIN_PROBE_MS)));
                    continue;
                }
                if lane.waiting.is_empty() {
                    touched.push(w.ep.id.clone());
                }
                let id = w.ep.id.clone();
                lane.waiting.push_back(w);
                l.waiting += 1;
                let lane = &l.by_endpoint[&id];
                filled |= lane.in_flight + lane.waiting.len() >= self.lane_limit(lane);
            }
            for id in touched {
                l.start_ready(&id, self.per_endpoint_cap, self.max_in_flight, &mut ready);
            }
        }
        for w in ready {
            let this = self.clone();
            self.tasks
                .spawn_on(async move { this.run_lane(w).await }, &self.runtime);
        }
        (parked, filled)
    }

    /// Sends `job`, then the next queued jobs of the same endpoint while there are any.
    async fn run_lane(self: Arc<Self>, first: Work) {
        let mut job = first;
        loop {
            let started = now_ms();
            let succeeded = self.lease_held(&mut job).await
                && self.deliver(&job.claimed, &job.msg, &job.ep).await;
            let finished = now_ms();
            let mut unpark = None;
            let (next, notify) = {
                let mut l = self.lanes();
                l.in_flight -= 1;
                let id = job.ep.id.as_str();
                let mut notify = false;
                if let Some(lane) = l.by_endpoint.get_mut(id) {
                    lane.in_flight -= 1;
                    let held = lane.in_flight + lane.waiting.len();
                    if succeeded || finished - started < STALL_MS {
                        lane.last_progress = finished;
                        if lane.stalled {
                            lane.stalled = false;
                            unpark = Some(lane.parked_until);
                        }
                    }
                    let limit = self.lane_limit(lane);
                    // Room for a good part of a batch again: claim more.
                    notify = held + 1 == limit / 2 || held == 0;
                    // A stalled lane is kept while its work is parked: requests that time out
                    // do not end its parking (see `check_stalls`).
                    if held == 0 && !lane.stalled {
                        l.by_endpoint.remove(id);
                    }
                }
                let mut next = Vec::new();
                if l.draining {
                    return;
                }
                l.start_ready(id, self.per_endpoint_cap, self.max_in_flight, &mut next);
                let next = next
                    .pop()
                    .or_else(|| l.start_any(self.per_endpoint_cap, self.max_in_flight));
                notify |= l.waiting + 1 == MAX_WAITING / 2;
                (next, notify)
            };
            if let Some(until) = unpark {
                // The endpoint answers again: its parked work is due.
                self.store.stop_parking(&job.ep.id);
                let this = self.clone();
                let endpoint = job.ep.id.clone();
                self.tasks
                    .spawn(async move { this.unpark(&endpoint, until).await });
            }
            if notify {
                self.room.notify_one();
            }
            match next {
                Some(j) => job = j,
                None => return,
            }
        }
    }

    /// Makes an endpoint's parked backlog due, a part at a time so that claims start on the
    /// first part at once, and no statement holds the writer for long (SQLite) or updates a
    /// whole backlog in one go.
    async fn unpark(&self, endpoint: &str, until: i64) {
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

    /// Makes sure the lease outlasts the request about to be sent: a job that waited in its
    /// lane's queue, or whose endpoint has a longer timeout, extends it first. False if the lease
    /// was lost meanwhile (it expired and was reclaimed): the delivery is not ours to send.
    async fn lease_held(&self, job: &mut Work) -> bool {
        let timeout = self.timeout_of(&job.ep);
        let needed = now_ms() + (timeout + LEASE_MARGIN / 2).as_millis() as i64;
        if needed <= job.lease_until {
            return true;
        }
        let until = now_ms() + (timeout + LEASE_MARGIN).as_millis() as i64;
        match self.store.extend_lease(&job.claimed, until).await {
            Ok(true) => {
                job.lease_until = until;
                true
            }
            Ok(false) => false,
            Err(e) => {
                tracing::warn!(error = %e, "extending a lease failed");
                false
            }
        }
    }

    /// One attempt: build the request, send it, record the outcome.
    /// True if the endpoint accepted it.
    async fn deliver(&self, c: &Claimed, msg: &Message, ep: &Endpoint) -> bool {
        let started = now_ms();
        let timeout = self.timeout_of(ep);
        let outcome = match &msg.payload {
            None => Outcome {
                status_code: 0,
                body: None,
                error: Some("the message payload was expunged".into()),
                duration: Duration::ZERO,
                retry_after: None,
            },
            Some(payload) => {
                let (body, headers) = build_request(msg, payload, ep, started);
                tokio::select! {
                    o = self.sender.send(&ep.url, &headers, body, timeout) => o,
                    _ = self.cut.cancelled() => {
                        // Shutdown ran out of time: no attempt to record, the delivery is due
                        // again at once (for another node, or this one's restart).
                        let released = self
                            .store
                            .release_many(std::slice::from_ref(c), now_ms(), DeliveryStatus::Pending)
                            .await;
                        if let Err(e) = released {
                            tracing::warn!(delivery = %c.delivery_id, error = %e, "releasing an abandoned delivery failed");
                        }
                        return false;
                    }
                }
            }
        };
        let schedule = ep
            .options
            .retry_schedule
            .as_deref()
            .unwrap_or(&self.schedule);
        let tries_done = c.tries + 1;
        let next = if outcome.success() {
            NextStep::Delivered
        } else if outcome.status_code == 410 {
            NextStep::Failed
        } else {
            match schedule::next_delay_ms(schedule, tries_done) {
                None => NextStep::Failed,
                Some(delay) => {
                    let delay = honour_retry_after(schedule, &outcome, delay);
                    NextStep::RetryAt(now_ms() + delay)
                }
            }
        };
        let attempt = Attempt {
            id: ids::new_id(ids::ATTEMPT),
            app_id: c.app_id.clone(),
            msg_id: c.msg_id.clone(),
            endpoint_id: c.endpoint_id.clone(),
            url: ep.url.clone(),
            status: if outcome.success() { 0 } else { 2 },
            status_code: outcome.status_code as i64,
            response: outcome.body.clone().or_else(|| outcome.error.clone()),
            duration_ms: outcome.duration.as_millis() as i64,
            error: outcome.error.clone(),
            trigger_type: c.trigger,
            created_at: started,
        };
        match self.store.finish(c, &attempt, next).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(delivery = %c.delivery_id, "lease lost before the attempt was recorded")
            }
            Err(e) => {
                tracing::error!(delivery = %c.delivery_id, error = %e, "recording an attempt failed")
            }
        }
        if outcome.status_code == 410 {
            let reason = "the endpoint answered 410 Gone";
            if let Err(e) = self.store.disable_endpoint(&ep.id, reason).await {
                tracing::error!(endpoint = %ep.id, error = %e, "disabling a gone endpoint failed");
            } else {
                tracing::info!(endpoint = %ep.id, "endpoint disabled: {reason}");
            }
        }
        outcome.success()
    }

    fn timeout_of(&self, ep: &Endpoint) -> Duration {
        ep.options
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(self.timeout)
    }
}

/// A `Retry-After` on 429 or 503 delays the retry to at least that long, capped at the largest
/// gap of the schedule.
fn honour_retry_after(schedule: &[u64], o: &Outcome, delay_ms: i64) -> i64 {
    match (o.status_code, o.retry_after) {
        (429 | 503, Some(secs)) => {
            let cap = schedule.iter().copied().max().unwrap_or(0) as i64 * 1000;
            delay_ms.max((secs as i64 * 1000).min(cap))
        }
        _ => delay_ms,
    }
}

/// The body and headers of a delivery request: the endpoint's own headers, then Herald's
/// (which win), then the format's signature headers.
fn build_request(
    msg: &Message,
    payload: &str,
    ep: &Endpoint,
    now: i64,
) -> (Vec<u8>, Vec<(String, String)>) {
    let created_at = crate::clock::rfc3339(msg.created_at);
    let secrets = ep.signing_secrets(now);
    let rendered = formats::render(
        &formats::Outgoing {
            msg_id: &msg.id,
            event_id: msg.event_id.as_deref(),
            created_at: &created_at,
            payload,
            timestamp: now / 1000,
        },
        &formats::Signing {
            format: ep.options.format,
            secrets: &secrets,
            header: ep.options.signature_header.as_deref(),
            prefix: ep.options.signature_prefix.as_deref(),
        },
    );
    let mut h: Vec<(String, String)> = ep
        .headers
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.to_ascii_lowercase(), v.to_string())))
        .collect();
    h.push(("content-type".into(), "application/json".into()));
    let ua = ep
        .options
        .user_agent
        .as_deref()
        .unwrap_or(DEFAULT_USER_AGENT);
    h.push(("user-agent".into(), ua.to_string()));
    h.extend(rendered.headers);
    (rendered.body, h)
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort_unstable();
    v.dedup();
    v
}
