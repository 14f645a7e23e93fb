//! Group commit. Publishes, attempt records and idempotency keys are queued to one writer task,
//! which applies whatever has queued up in one transaction and one commit (one fsync), then
//! answers every caller. Under load, hundreds of writes share a commit; when idle, a write
//! commits alone at once: there is no timer. A caller hears back only after its commit, so an
//! accepted message is always durable.
//!
//! If a batch fails (say an endpoint was deleted under an attempt record, a foreign-key error),
//! it is rolled back and its writes are retried one transaction each, so one bad write fails
//! alone.

use std::collections::HashMap;

use tokio::sync::{mpsc, oneshot};

use super::db::{Db, Tx, q};
use super::rows::{self, to_json};
use super::{Claimed, EVENT_ID_WINDOW_MS, NewMessage, NextStep, Store, StoreError, StoreResult};
use crate::ids;
use crate::model::{Attempt, DeliveryStatus, Endpoint, Message};

/// Most writes in one transaction.
const MAX_BATCH: usize = 1024;
/// Delivery rows per INSERT statement (8 parameters each).
const FAN_OUT_CHUNK: usize = 500;
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
}

enum Reply {
    Publish(oneshot::Sender<StoreResult<Message>>),
    Finish(oneshot::Sender<StoreResult<bool>>),
    Remember(oneshot::Sender<StoreResult<()>>),
}

/// The outcome of one write inside a transaction that went on (a refused duplicate `eventId`
/// is an outcome, not a failure of the batch).
enum Done {
    Published(StoreResult<Message>),
    Finished(bool),
    Remembered,
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
            (Reply::Publish(s), Err(e)) => drop(s.send(Err(e))),
            (Reply::Finish(s), Err(e)) => drop(s.send(Err(e))),
            (Reply::Remember(s), Err(e)) => drop(s.send(Err(e))),
            (_, Ok(_)) => tracing::error!("group commit: mismatched reply"),
        }
    }
}

impl Writer {
    pub fn start(db: Db) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, rx));
        Writer { tx }
    }

    async fn submit(&self, req: Request, reply: Reply) -> StoreResult<()> {
        self.tx
            .send(Pending { req, reply })
            .await
            .map_err(|_| StoreError::Closed)
    }
}

async fn run(db: Db, mut rx: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        commit_batch(&db, std::mem::take(&mut batch)).await;
    }
}

async fn commit_batch(db: &Db, batch: Vec<Pending>) {
    match apply(db, &batch).await {
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
                let r = apply(db, std::slice::from_ref(&p)).await;
                p.answer(r.map(|mut d| d.remove(0)));
            }
        }
    }
}

/// Applies `batch` in one transaction and commits it.
async fn apply(db: &Db, batch: &[Pending]) -> StoreResult<Vec<Done>> {
    let mut tx = db.begin().await?;
    let mut endpoints: HashMap<String, Vec<Endpoint>> = HashMap::new();
    let mut done = Vec::with_capacity(batch.len());
    let mut published = false;
    for p in batch {
        let d = match &p.req {
            Request::Publish {
                app_id,
                msg,
                only_endpoint,
            } => {
                let r = publish(
                    &mut tx,
                    &mut endpoints,
                    app_id,
                    msg,
                    only_endpoint.as_deref(),
                )
                .await?;
                published |= r.is_ok();
                Done::Published(r)
            }
            Request::Finish {
                claimed,
                attempt,
                next,
            } => Done::Finished(finish(&mut tx, claimed, attempt, *next).await?),
            Request::Remember { key, status, body } => {
                remember(&mut tx, key, *status, body).await?;
                Done::Remembered
            }
        };
        done.push(d);
    }
    if published {
        tx.notify_nodes().await?;
    }
    tx.commit().await?;
    Ok(done)
}

/// Stores a message and one delivery per matching endpoint. The outer error fails the batch;
/// the inner one is this message's own (a duplicate `eventId`).
async fn publish(
    tx: &mut Tx,
    endpoints: &mut HashMap<String, Vec<Endpoint>>,
    app_id: &str,
    m: &NewMessage,
    only_endpoint: Option<&str>,
) -> StoreResult<StoreResult<Message>> {
    let now = crate::clock::now_ms();
    if let Some(eid) = &m.event_id {
        let dup = tx
            .opt(
                q(
                    "SELECT id FROM messages WHERE app_id = ? AND event_id = ? AND created_at > ?
                   LIMIT 1",
                )
                .bind(app_id)
                .bind(eid)
                .bind(now - EVENT_ID_WINDOW_MS),
            )
            .await?;
        if dup.is_some() {
            return Ok(Err(StoreError::Conflict(format!(
                "A message with eventId {eid} was already published in the last 24 hours"
            ))));
        }
    }
    let id = ids::new_id(ids::MESSAGE);
    tx.exec(
        q(
            "INSERT INTO messages (id, app_id, event_id, event_type, payload, channels, tags,
              created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(app_id)
        .bind(&m.event_id)
        .bind(&m.event_type)
        .bind(&m.payload)
        .bind(m.channels.as_ref().map(to_json))
        .bind(m.tags.as_ref().map(to_json))
        .bind(now),
    )
    .await?;
    if !endpoints.contains_key(app_id) {
        let rows = tx
            .all(q("SELECT * FROM endpoints WHERE app_id = ?").bind(app_id))
            .await?;
        endpoints.insert(app_id.to_string(), rows::each(&rows, rows::endpoint)?);
    }
    let targets: Vec<&Endpoint> = endpoints
        .get(app_id)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|ep| match only_endpoint {
            Some(only) => only == ep.id,
            None => ep.matches(&m.event_type, m.channels.as_deref()),
        })
        .collect();
    // Multi-row INSERTs for the fan-out, in chunks that stay under the bound-parameter limits.
    for chunk in targets.chunks(FAN_OUT_CHUNK) {
        let mut sql = q(
            "INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status,
                             next_attempt_at, created_at, updated_at) VALUES ",
        );
        for (i, ep) in chunk.iter().enumerate() {
            let (status, next) = if ep.disabled {
                (DeliveryStatus::Skipped, None)
            } else {
                (DeliveryStatus::Pending, Some(now))
            };
            sql.push(if i == 0 {
                "(?, ?, ?, ?, ?, ?, ?, ?)"
            } else {
                ", (?, ?, ?, ?, ?, ?, ?, ?)"
            });
            sql.arg(ids::new_id(ids::DELIVERY))
                .arg(app_id)
                .arg(&id)
                .arg(&ep.id)
                .arg(status as i64)
                .arg(next)
                .arg(now)
                .arg(now);
        }
        tx.exec(sql).await?;
    }
    Ok(Ok(Message {
        id,
        app_id: app_id.to_string(),
        event_id: m.event_id.clone(),
        event_type: m.event_type.clone(),
        payload: Some(m.payload.clone()),
        channels: m.channels.clone(),
        tags: m.tags.clone(),
        created_at: now,
    }))
}

/// Logs an attempt and sets the delivery's next state. The state changes only if the caller
/// still holds the lease; the attempt is logged either way (it happened).
async fn finish(tx: &mut Tx, c: &Claimed, a: &Attempt, next: NextStep) -> StoreResult<bool> {
    let (status, next_at) = match next {
        NextStep::Delivered => (DeliveryStatus::Success, None),
        NextStep::RetryAt(t) => (DeliveryStatus::Pending, Some(t)),
        NextStep::Failed => (DeliveryStatus::Failed, None),
    };
    tx.exec(
        q(
            "INSERT INTO attempts (id, app_id, msg_id, endpoint_id, url, status, status_code,
              response, duration_ms, error, trigger_type, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&a.id)
        .bind(&a.app_id)
        .bind(&a.msg_id)
        .bind(&a.endpoint_id)
        .bind(&a.url)
        .bind(a.status)
        .bind(a.status_code)
        .bind(&a.response)
        .bind(a.duration_ms)
        .bind(&a.error)
        .bind(a.trigger_type)
        .bind(a.created_at),
    )
    .await?;
    let n = tx
        .exec(
            q(
                "UPDATE deliveries SET status = ?, tries = tries + 1, next_attempt_at = ?,
                  lease_until = NULL, lease_token = NULL, next_trigger = 0, updated_at = ?
               WHERE id = ? AND lease_token = ? AND status = 3",
            )
            .bind(status as i64)
            .bind(next_at)
            .bind(crate::clock::now_ms())
            .bind(&c.delivery_id)
            .bind(c.lease_token),
        )
        .await?;
    Ok(n == 1)
}

async fn remember(tx: &mut Tx, key: &str, status: u16, body: &[u8]) -> StoreResult<()> {
    tx.exec(
        q(
            "INSERT INTO idempotency (key, status, body, created_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (key) DO UPDATE SET status = excluded.status, body = excluded.body,
              created_at = excluded.created_at",
        )
        .bind(key)
        .bind(status as i64)
        .bind(body)
        .bind(crate::clock::now_ms()),
    )
    .await?;
    Ok(())
}

impl Store {
    /// Stores a message and one delivery per matching endpoint in one transaction: once this
    /// returns, the message is durable and will be delivered. `only_endpoint` limits the
    /// fan-out to one endpoint (example messages).
    pub async fn publish(
        &self,
        app_id: &str,
        m: &NewMessage,
        only_endpoint: Option<&str>,
    ) -> StoreResult<Message> {
        let (reply, rx) = oneshot::channel();
        let req = Request::Publish {
            app_id: app_id.to_string(),
            msg: m.clone(),
            only_endpoint: only_endpoint.map(str::to_string),
        };
        self.writer.submit(req, Reply::Publish(reply)).await?;
        rx.await.map_err(|_| StoreError::Closed)?
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
