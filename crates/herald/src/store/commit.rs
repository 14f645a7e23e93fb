//! Group commit. Publishes, attempt records and idempotency keys are queued to one writer (a
//! thread of its own on SQLite, a task on PostgreSQL), which applies whatever has queued up
//! atomically with one commit (one fsync), then hands the new deliveries it leased to this
//! node's dispatcher and answers every caller. Under load, hundreds of writes share a commit;
//! when idle, a write commits alone at once: there is no timer. A caller hears back only after
//! its commit, so an accepted message is always durable.
//!
//! If a batch fails (say a publish to an application deleted meanwhile, a foreign-key error), it
//! is rolled back and its writes are retried alone, so one bad write fails alone.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::batch;
use super::db::{Arg, Db, Row, Sql, Tx, marks, q};
use super::idempotency::{self, ClaimArgs, KeyClaim, Respond};
use super::rows::{self, to_json};
use super::{
    Claimed, Handoff, HandoffSlot, NewMessage, NextStep, Parked, Store, StoreError, StoreResult,
    Work, first_try,
};
use crate::ids;
use crate::model::{Attempt, DeliveryStatus, Endpoint, Message};

/// Most writes in one transaction.
const MAX_BATCH: usize = 1024;
/// Most ids in one IN list.
const ROWS_PER_STATEMENT: usize = 500;
/// Writes waiting for the writer before callers wait to enqueue (back-pressure).
const QUEUE: usize = 8192;

/// A handle to the writer task; cheap to clone.
#[derive(Clone)]
pub(super) struct Writer {
    tx: mpsc::Sender<Pending>,
}

enum Request {
    Publish {
        app_id: String,
        msg: NewMessage,
        only_endpoint: Option<String>,
        /// Store the response under an idempotency key in the same transaction.
        respond: Option<Respond>,
    },
    Finish {
        claimed: Claimed,
        attempt: Attempt,
        next: NextStep,
    },
    Remember {
        key: String,
        status: u16,
        body: Vec<u8>,
    },
    Claim(ClaimArgs),
    /// Stop once everything queued before this is committed.
    Close,
    /// Answered once everything queued before it is committed (a readiness check).
    Ping,
}

enum Reply {
    Publish(oneshot::Sender<StoreResult<Message>>),
    Finish(oneshot::Sender<StoreResult<bool>>),
    Remember(oneshot::Sender<StoreResult<()>>),
    Claim(oneshot::Sender<StoreResult<KeyClaim>>),
    Close(oneshot::Sender<()>),
    Ping(oneshot::Sender<StoreResult<()>>),
}

/// The outcome of one write inside a transaction that went on (a refused duplicate `eventId`
/// is an outcome, not a failure of the batch).
enum Done {
    Published(StoreResult<Message>),
    Finished(bool),
    Remembered,
    Claim(KeyClaim),
}

struct Pending {
    req: Request,
    reply: Reply,
}

impl Pending {
    fn answer(self, r: StoreResult<Done>) {
        // A caller that went away (its HTTP client hung up) no longer needs the answer; the
        // write itself stands.
        match (self.reply, r) {
            (Reply::Publish(s), Ok(Done::Published(m))) => drop(s.send(m)),
            (Reply::Finish(s), Ok(Done::Finished(b))) => drop(s.send(Ok(b))),
            (Reply::Remember(s), Ok(Done::Remembered)) => drop(s.send(Ok(()))),
            (Reply::Claim(s), Ok(Done::Claim(c))) => drop(s.send(Ok(c))),
            (Reply::Claim(s), Err(e)) => drop(s.send(Err(e))),
            (Reply::Close(s), _) => drop(s.send(())),
            (Reply::Ping(s), _) => drop(s.send(Ok(()))),
            (Reply::Publish(s), Err(e)) => drop(s.send(Err(e))),
            (Reply::Finish(s), Err(e)) => drop(s.send(Err(e))),
            (Reply::Remember(s), Err(e)) => drop(s.send(Err(e))),
            (_, Ok(_)) => tracing::error!("group commit: mismatched reply"),
        }
    }
}

impl Writer {
    pub fn start(
        db: Db,
        parked: Parked,
        handoff: HandoffSlot,
        node: std::sync::Arc<str>,
    ) -> StoreResult<Self> {
        // One committer per node. SQLite has one writer anyway; on PostgreSQL two or four
        // concurrent committers were measured slower with the server on the same 2 cores
        // (3.4-3.9k/s against 4.1k/s, and several times the latency).
        let (tx, rx) = mpsc::channel(QUEUE);
        let c = Committer {
            db,
            parked,
            handoff,
            node,
        };
        if c.db.is_pg() {
            tokio::spawn(run(c, rx));
        } else {
            // SQLite statements run on the calling thread, and a commit waits for its fsync:
            // on a thread of its own, that wait holds up no async worker. It ends when the last
            // `Writer` is dropped (the channel closes).
            std::thread::Builder::new()
                .name("herald-commit".into())
                .spawn(move || block_on(run(c, rx)))
                .map_err(StoreError::Thread)?;
        }
        Ok(Writer { tx })
    }

    async fn submit(&self, req: Request, reply: Reply) -> StoreResult<()> {
        self.tx
            .send(Pending { req, reply })
            .await
            .map_err(|_| StoreError::Closed)
    }
}

/// Runs `fut` to completion on the current thread. The SQLite committer's awaits are a channel
/// receive and the writer lock, which need no runtime, only a wake-up.
fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let std::task::Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// What the writer task works with.
struct Committer {
    db: Db,
    parked: Parked,
    handoff: HandoffSlot,
    /// This node's name in wake-ups (see `Store::node`).
    node: std::sync::Arc<str>,
}

async fn run(c: Committer, mut rx: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut closers = Vec::new();
    let mut pings = Vec::new();
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let closed = closers.len();
        // Closes and pings write nothing: they are answered after the batch they came with.
        batch.retain_mut(|p| {
            match &mut p.reply {
                Reply::Close(s) => {
                    let (placeholder, _) = oneshot::channel();
                    closers.push(std::mem::replace(s, placeholder))
                }
                Reply::Ping(s) => {
                    let (placeholder, _) = oneshot::channel();
                    pings.push(std::mem::replace(s, placeholder))
                }
                _ => return true,
            }
            false
        });
        if closers.len() > closed {
            // Writes sent from now on are refused; those queued already are committed.
            rx.close();
        }
        if !batch.is_empty() {
            commit_batch(&c, std::mem::take(&mut batch)).await;
        }
        if !pings.is_empty() {
            // On PostgreSQL the committer has a connection of its own: check that one (and
            // have it replaced if the server dropped it), not just the pool's.
            let ok = match c.db.is_pg() {
                true => c.db.exec_rows(q("SELECT 1 AS one")).await.map(drop),
                false => Ok(()),
            };
            for s in pings.drain(..) {
                let _ = s.send(match &ok {
                    Ok(()) => Ok(()),
                    Err(e) => Err(StoreError::Busy(e.to_string())),
                });
            }
        }
    }
    for s in closers {
        let _ = s.send(());
    }
}

async fn commit_batch(c: &Committer, batch: Vec<Pending>) {
    let mut first = apply(c, &batch).await;
    // A connection the server dropped while idle (a restart, a failover, an administrator)
    // fails the next statement before it runs: run the batch again on a new one.
    for wait_ms in [0, 100, 500] {
        match &first {
            Err(e) if super::is_connection_lost(e) => {
                tracing::warn!(error = %e, "the committer's database connection was lost; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(wait_ms)).await;
                first = apply(c, &batch).await;
            }
            _ => break,
        }
    }
    match first {
        Ok(done) => {
            for (p, d) in batch.into_iter().zip(done) {
                p.answer(Ok(d));
            }
        }
        Err(e) if batch.len() == 1 => {
            if let Some(p) = batch.into_iter().next() {
                p.answer(Err(e));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, writes = batch.len(), "group commit failed; retrying each write alone");
            for p in batch {
                let r = apply(c, std::slice::from_ref(&p)).await;
                p.answer(r.map(|mut d| d.remove(0)));
            }
        }
    }
}

/// Applies `batch` atomically. SQLite: in one transaction (statements are plain calls; the
/// commit's fsync is the cost). PostgreSQL: one read of the endpoints it publishes to, then one
/// statement (see `batch.rs`), in a transaction only when the batch stores idempotency keys too.
/// A message whose eventId was published in the last 24 hours is refused (409) by that write's
/// claim of the eventId; two in one batch, by the second's.
async fn apply(c: &Committer, batch: &[Pending]) -> StoreResult<Vec<Done>> {
    let db = &c.db;
    let needs_tx = !db.is_pg()
        || batch.iter().any(|p| {
            matches!(
                p.req,
                Request::Remember { .. }
                    | Request::Claim(_)
                    | Request::Publish {
                        respond: Some(_),
                        ..
                    }
            )
        });
    let mut tx = if needs_tx {
        Some(db.begin().await?)
    } else {
        None
    };
    let now = crate::clock::now_ms();
    let mut done: Vec<Option<Done>> = batch.iter().map(|_| None).collect();

    // Publishes: messages and their fan-out.
    let endpoints = endpoints_of(db, &mut tx, batch).await?;
    let handoff = c
        .handoff
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .and_then(std::sync::Weak::upgrade);
    let mut fanout = Fanout {
        parked: &c.parked,
        handoff: handoff.as_deref(),
        room: HashMap::new(),
        token: fastrand::i64(1..i64::MAX),
        now,
        handed: Vec::new(),
        queued: false,
    };
    let mut seen_event_ids = HashSet::new();
    let mut rows = batch::Rows::default();
    for (i, p) in batch.iter().enumerate() {
        let Request::Publish {
            app_id,
            msg: m,
            only_endpoint,
            ..
        } = &p.req
        else {
            continue;
        };
        if let Some(eid) = &m.event_id
            && !seen_event_ids.insert((app_id, eid))
        {
            done[i] = Some(Done::Published(Err(duplicate(Some(eid)))));
            continue;
        }
        let message = Arc::new(Message {
            id: ids::new_id(ids::MESSAGE),
            app_id: app_id.clone(),
            event_id: m.event_id.clone(),
            event_type: m.event_type.clone(),
            payload: Some(m.payload.clone()),
            channels: m.channels.clone(),
            tags: m.tags.clone(),
            created_at: now,
        });
        let id = &message.id;
        if let Some(eid) = &m.event_id {
            rows.event_ids.push(vec![
                Arg::from(app_id),
                Arg::from(eid),
                Arg::from(id),
                Arg::from(now),
            ]);
        }
        rows.messages.push(vec![
            Arg::from(id),
            Arg::from(app_id),
            Arg::from(&m.event_id),
            Arg::from(&m.event_type),
            Arg::from(&m.payload),
            Arg::from(m.channels.as_ref().map(to_json)),
            Arg::from(m.tags.as_ref().map(to_json)),
            Arg::from(now),
        ]);
        let targets = endpoints.get(app_id).map(Vec::as_slice).unwrap_or_default();
        for ep in targets.iter().filter(|ep| match only_endpoint {
            Some(only) => *only == ep.id,
            None => ep.matches(&m.event_type, m.channels.as_deref()),
        }) {
            rows.deliveries.push(fanout.delivery(&message, ep));
        }
        done[i] = Some(Done::Published(Ok(Message::clone(&message))));
    }

    finish_rows(batch, &mut rows);
    // Deliveries stored pending and due now: other nodes may have room for them.
    let Fanout {
        mut handed, queued, ..
    } = fanout;
    let notify = queued.then_some(&*c.node);
    let written = batch::write(db, &mut tx, rows, now, notify).await?;
    let updated = written.finished;
    if let Some(stored) = written.stored {
        handed.retain(|w| stored.contains(&w.claimed.delivery_id));
    }
    if !written.refused.is_empty() {
        handed.retain(|w| !written.refused.contains(&w.claimed.msg_id));
        for d in done.iter_mut() {
            if let Some(Done::Published(Ok(m))) = d
                && written.refused.contains(&m.id)
            {
                *d = Some(Done::Published(Err(duplicate(m.event_id.as_deref()))));
            }
        }
    }
    for (i, p) in batch.iter().enumerate() {
        match &p.req {
            Request::Finish { claimed, .. } => {
                done[i] = Some(Done::Finished(updated.contains(&claimed.delivery_id)));
            }
            Request::Remember { key, status, body } => {
                idempotency::store_response(db, &mut tx, key, *status, body).await?;
                done[i] = Some(Done::Remembered);
            }
            Request::Claim(args) => {
                done[i] = Some(Done::Claim(idempotency::claim(db, &mut tx, args).await?));
            }
            Request::Publish {
                respond: Some(r), ..
            } => {
                // A publish's response is stored with its message: a retry after any crash
                // gets it, never a second message.
                if let Some(Done::Published(Ok(m))) = &done[i] {
                    idempotency::store_response(db, &mut tx, &r.key, r.status, &(r.body)(m))
                        .await?;
                }
            }
            Request::Publish { .. } | Request::Close | Request::Ping => {}
        }
    }
    if let Some(t) = tx {
        t.commit().await?;
    }
    if let Some(h) = handoff {
        if !handed.is_empty() {
            h.take(handed);
        }
        if queued {
            h.wake();
        }
    }
    done.into_iter()
        .map(|d| {
            d.ok_or_else(|| StoreError::Corrupt("group commit: a write had no outcome".into()))
        })
        .collect()
}

/// The fan-out of a batch's publishes: for each new delivery, whether this node's dispatcher
/// takes it at once (stored leased to this node, handed over after the commit) or it is stored
/// pending (skipped if its endpoint is disabled, parked if it is stalled).
struct Fanout<'a> {
    parked: &'a Parked,
    handoff: Option<&'a dyn Handoff>,
    /// Room the dispatcher has left, by endpoint.
    room: HashMap<String, usize>,
    /// The lease token of every delivery the batch hands over.
    token: i64,
    now: i64,
    handed: Vec<Work>,
    /// Some delivery was stored pending and due now (for claims, here or on other nodes).
    queued: bool,
}

impl Fanout<'_> {
    /// The row of a new delivery of `msg` to `ep`.
    fn delivery(&mut self, msg: &Arc<Message>, ep: &Arc<Endpoint>) -> Vec<Arg> {
        let now = self.now;
        let id = ids::new_id(ids::DELIVERY);
        let (status, next, lease) = if ep.disabled {
            // Kept so that the message can be replayed to it later.
            (DeliveryStatus::Skipped, None, None)
        } else {
            let due = first_try(self.parked, &ep.id, now);
            match self
                .handoff
                .filter(|h| due <= now && self.take_room(*h, &ep.id))
            {
                Some(h) => {
                    let lease_until = h.lease_until(ep, now);
                    self.handed.push(Work {
                        claimed: Claimed {
                            delivery_id: id.clone(),
                            app_id: msg.app_id.clone(),
                            msg_id: msg.id.clone(),
                            endpoint_id: ep.id.clone(),
                            tries: 0,
                            trigger: 0,
                            lease_token: self.token,
                        },
                        msg: msg.clone(),
                        ep: ep.clone(),
                        lease_until,
                    });
                    (DeliveryStatus::Sending, Some(due), Some(lease_until))
                }
                None => {
                    self.queued |= due <= now;
                    (DeliveryStatus::Pending, Some(due), None)
                }
            }
        };
        vec![
            Arg::from(id),
            Arg::from(&msg.app_id),
            Arg::from(&msg.id),
            Arg::from(&ep.id),
            Arg::from(status as i64),
            Arg::from(next),
            Arg::from(lease),
            Arg::from(lease.map(|_| self.token)),
            Arg::from(now),
            Arg::from(now),
        ]
    }

    /// Takes one place of the dispatcher's room for `endpoint`, if it has any.
    fn take_room(&mut self, h: &dyn Handoff, endpoint: &str) -> bool {
        let room = self
            .room
            .entry(endpoint.to_string())
            .or_insert_with(|| h.room(endpoint));
        let took = *room > 0;
        *room = room.saturating_sub(1);
        took
    }
}

/// The attempt rows and the deliveries' next states of the batch's finished attempts.
fn finish_rows(batch: &[Pending], rows: &mut batch::Rows) {
    for p in batch {
        let Request::Finish {
            claimed: c,
            attempt: a,
            next,
        } = &p.req
        else {
            continue;
        };
        rows.attempts.push(vec![
            Arg::from(&a.id),
            Arg::from(&a.app_id),
            Arg::from(&a.msg_id),
            Arg::from(&a.endpoint_id),
            Arg::from(&a.url),
            Arg::from(a.status),
            Arg::from(a.status_code),
            Arg::from(&a.response),
            Arg::from(a.duration_ms),
            Arg::from(&a.error),
            Arg::from(a.trigger_type),
            Arg::from(a.created_at),
        ]);
        let (status, next_at) = match next {
            NextStep::Delivered => (DeliveryStatus::Success, None),
            NextStep::RetryAt(t) => (DeliveryStatus::Pending, Some(*t)),
            NextStep::Failed => (DeliveryStatus::Failed, None),
        };
        rows.states.push(vec![
            Arg::from(&c.delivery_id),
            Arg::from(c.lease_token),
            Arg::from(status as i64),
            Arg::from(next_at),
        ]);
    }
}

/// The endpoints of every application the batch publishes to.
async fn endpoints_of(
    db: &Db,
    tx: &mut Option<Tx>,
    batch: &[Pending],
) -> StoreResult<HashMap<String, Vec<Arc<Endpoint>>>> {
    let mut apps: Vec<&String> = batch
        .iter()
        .filter_map(|p| match &p.req {
            Request::Publish { app_id, .. } => Some(app_id),
            _ => None,
        })
        .collect();
    apps.sort_unstable();
    apps.dedup();
    let mut out: HashMap<String, Vec<Arc<Endpoint>>> = HashMap::new();
    for chunk in apps.chunks(ROWS_PER_STATEMENT) {
        let mut sql = q(&format!(
            "SELECT * FROM endpoints WHERE app_id IN ({})",
            marks(chunk.len())
        ));
        for a in chunk {
            sql.arg(*a);
        }
        for row in all(db, tx, sql).await? {
            let ep = rows::endpoint(&row)?;
            out.entry(ep.app_id.clone()).or_default().push(Arc::new(ep));
        }
    }
    Ok(out)
}

/// The refusal of a message whose eventId was published in the last 24 hours.
fn duplicate(event_id: Option<&str>) -> StoreError {
    StoreError::Conflict(format!(
        "A message with eventId {} was already published in the last 24 hours",
        event_id.unwrap_or_default()
    ))
}

/// Runs `sql` in `tx` if there is one, else as a statement of its own.
pub(super) async fn all(db: &Db, tx: &mut Option<Tx>, sql: Sql) -> StoreResult<Vec<Row>> {
    match tx {
        Some(t) => t.all(sql).await,
        None => db.exec_rows(sql).await,
    }
}

impl Store {
    /// Stores a message and one delivery per matching endpoint in one transaction: once this
    /// returns, the message is durable and will be delivered. `only_endpoint` limits the
    /// fan-out to one endpoint (example messages).
    ///
    /// `respond`: the response to store under an idempotency key, in the same transaction.
    pub async fn publish(
        &self,
        app_id: &str,
        m: &NewMessage,
        only_endpoint: Option<&str>,
        respond: Option<Respond>,
    ) -> StoreResult<Message> {
        let (reply, rx) = oneshot::channel();
        let req = Request::Publish {
            app_id: app_id.to_string(),
            msg: m.clone(),
            only_endpoint: only_endpoint.map(str::to_string),
            respond,
        };
        self.writer.submit(req, Reply::Publish(reply)).await?;
        match rx.await.map_err(|_| StoreError::Closed)? {
            Ok(m) => {
                self.recent
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(m.clone());
                Ok(m)
            }
            // The application was deleted after the (cached) lookup.
            Err(e) if super::is_foreign_key_violation(&e) => {
                Err(StoreError::NotFound("application"))
            }
            Err(e) => Err(e),
        }
    }

    /// Records an attempt and the delivery's next state in one transaction; false if the lease
    /// was lost (the state was left alone).
    pub async fn finish(
        &self,
        c: &Claimed,
        attempt: &Attempt,
        next: NextStep,
    ) -> StoreResult<bool> {
        let (reply, rx) = oneshot::channel();
        let req = Request::Finish {
            claimed: c.clone(),
            attempt: attempt.clone(),
            next,
        };
        self.writer.submit(req, Reply::Finish(reply)).await?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Claims an idempotency key for a request about to run (see `idempotency.rs`): the claim
    /// holds until `locked_until` unless released or answered first; a response stored before
    /// `fresh_after` no longer counts.
    pub async fn claim_idempotency_key(
        &self,
        key: &str,
        now: i64,
        locked_until: i64,
        fresh_after: i64,
    ) -> StoreResult<KeyClaim> {
        let (reply, rx) = oneshot::channel();
        let req = Request::Claim(ClaimArgs {
            key: key.to_string(),
            now,
            locked_until,
            fresh_after,
        });
        self.writer.submit(req, Reply::Claim(reply)).await?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Stops the group committer once everything queued so far is committed; writes sent
    /// after that fail with [`StoreError::Closed`]. For shutdown, after the last writer.
    pub async fn close(&self) {
        let (reply, rx) = oneshot::channel();
        if self
            .writer
            .submit(Request::Close, Reply::Close(reply))
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
    }

    /// Whether the group committer is running and keeping up: answers once everything queued
    /// before it is committed. A readiness check bounds the wait.
    pub async fn ping_committer(&self) -> StoreResult<()> {
        let (reply, rx) = oneshot::channel();
        self.writer
            .submit(Request::Ping, Reply::Ping(reply))
            .await?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Whether the database answers a query.
    pub async fn ping_database(&self) -> StoreResult<()> {
        self.db.all(super::db::q("SELECT 1 AS one")).await?;
        Ok(())
    }

    /// Stores the response to an idempotency key.
    pub async fn save_idempotent_response(
        &self,
        key: &str,
        status: u16,
        body: &[u8],
    ) -> StoreResult<()> {
        let (reply, rx) = oneshot::channel();
        let req = Request::Remember {
            key: key.to_string(),
            status,
            body: body.to_vec(),
        };
        self.writer.submit(req, Reply::Remember(reply)).await?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}
