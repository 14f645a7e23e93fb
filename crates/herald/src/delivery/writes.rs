//! What the publish pipeline writes through the group committer (`commit.rs`), and how a batch
//! of it is applied: publishes (a message and its fan-out), finished attempts (the attempt row
//! and the delivery's next state), and idempotency keys (claims and stored responses).
//!
//! A batch is one read of the endpoints it publishes to, then its rows written together (see
//! `store/batch.rs`: SQLite statement by statement in a transaction, PostgreSQL as one
//! statement), and after the commit the deliveries this node took are handed to its dispatcher.
//! A message whose eventId was published in the last 24 hours is refused (409) by that write's
//! claim of the eventId; two in one batch, by the second's.

use std::collections::HashSet;
use std::sync::Arc;

use super::commit::Batched;
use super::fanout::{Fanout, HandoffSlot, Parked};
use crate::ids::{AppId, EndpointId, MessageId};
use crate::model::{Attempt, Message};
use crate::store::{
    ClaimArgs, Claimed, Finished, KeyClaim, NewMessage, NextStep, Respond, Rows, StoreError,
    StoreResult, Writer,
};

/// One write of the pipeline.
pub enum Write {
    Publish {
        app_id: AppId,
        msg: NewMessage,
        /// Fan out to this endpoint only (an example message).
        only_endpoint: Option<EndpointId>,
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
}

/// A write's outcome within a batch that went through (a refused duplicate `eventId` is an
/// outcome, not a failure of the batch).
pub enum Done {
    Published(StoreResult<Message>),
    /// Whether the delivery's state was set (its lease was still held).
    Finished(bool),
    Remembered,
    Claimed(KeyClaim),
}

/// What applying a batch works with.
pub struct Ctx {
    pub writer: Writer,
    pub parked: Parked,
    pub handoff: HandoffSlot,
    /// `--payload-retention`, for messages that name none.
    pub payload_retention_ms: i64,
}

impl Batched for Write {
    type Done = Done;
    type Ctx = Ctx;

    async fn apply(ctx: &Ctx, batch: &[Write]) -> StoreResult<Vec<Done>> {
        apply(ctx, batch).await
    }

    async fn ping(ctx: &Ctx) -> StoreResult<()> {
        ctx.writer.ping().await
    }
}

/// The refusal of a message whose eventId was published in the last 24 hours.
fn duplicate(event_id: Option<&str>) -> StoreError {
    StoreError::Conflict(format!(
        "A message with eventId {} was already published in the last 24 hours",
        event_id.unwrap_or_default()
    ))
}

async fn apply(ctx: &Ctx, batch: &[Write]) -> StoreResult<Vec<Done>> {
    let transaction = batch.iter().any(|w| {
        matches!(
            w,
            Write::Remember { .. }
                | Write::Claim(_)
                | Write::Publish {
                    respond: Some(_),
                    ..
                }
        )
    });
    let mut tx = ctx.writer.begin(transaction).await?;
    let now = crate::clock::now_ms();
    let mut done: Vec<Option<Done>> = batch.iter().map(|_| None).collect();

    // Publishes: messages and their fan-out.
    let mut apps: Vec<&str> = batch
        .iter()
        .filter_map(|w| match w {
            Write::Publish { app_id, .. } => Some(app_id.as_str()),
            _ => None,
        })
        .collect();
    apps.sort_unstable();
    apps.dedup();
    let endpoints = if apps.is_empty() {
        Default::default()
    } else {
        tx.endpoints_of(&apps).await?
    };
    let handoff = ctx.handoff.get();
    let mut fanout = Fanout::new(&ctx.parked, handoff.as_deref(), now);
    let mut seen_event_ids = HashSet::new();
    let mut rows = Rows::default();
    for (i, w) in batch.iter().enumerate() {
        let Write::Publish {
            app_id,
            msg: m,
            only_endpoint,
            ..
        } = w
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
            id: MessageId::new(),
            app_id: app_id.clone(),
            event_id: m.event_id.clone(),
            event_type: m.event_type.clone(),
            payload: Some(m.payload.clone()),
            channels: m.channels.clone(),
            tags: m.tags.clone(),
            ordering_key: m.ordering_key.clone(),
            created_at: now,
            expires_at: Some(
                now.saturating_add(m.retention_ms.unwrap_or(ctx.payload_retention_ms)),
            ),
        });
        let targets = endpoints.get(app_id).map(Vec::as_slice).unwrap_or_default();
        for ep in targets.iter().filter(|ep| match only_endpoint {
            Some(only) => *only == ep.id,
            None => ep.matches(&m.event_type, m.channels.as_deref()),
        }) {
            rows.deliveries
                .push(fanout.delivery(&message, ep, m.deliver_at));
        }
        done[i] = Some(Done::Published(Ok(Message::clone(&message))));
        rows.messages.push(message);
    }
    for w in batch {
        if let Write::Finish {
            claimed,
            attempt,
            next,
        } = w
        {
            rows.finished.push(Finished {
                attempt: attempt.clone(),
                delivery_id: claimed.delivery_id.clone(),
                lease_token: claimed.lease_token,
                next: *next,
            });
        }
    }

    // Deliveries stored pending and due now: other nodes may have room for them.
    let written = tx.write(&rows, now, fanout.queued).await?;
    let mut handed = std::mem::take(&mut fanout.handed);
    if let Some(stored) = &written.stored {
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
    for (i, w) in batch.iter().enumerate() {
        match w {
            Write::Finish { claimed, .. } => {
                let set = written.finished.contains(&claimed.delivery_id);
                done[i] = Some(Done::Finished(set));
            }
            Write::Remember { key, status, body } => {
                tx.store_response(key, *status, body).await?;
                done[i] = Some(Done::Remembered);
            }
            Write::Claim(args) => {
                done[i] = Some(Done::Claimed(tx.claim_key(args).await?));
            }
            Write::Publish {
                respond: Some(r), ..
            } => {
                // A publish's response is stored with its message: a retry after any crash
                // gets it, never a second message.
                if let Some(Done::Published(Ok(m))) = &done[i] {
                    tx.store_response(&r.key, r.status, &(r.body)(m)).await?;
                }
            }
            Write::Publish { .. } => {}
        }
    }
    tx.commit().await?;
    let queued = fanout.queued;
    drop(fanout);
    if let Some(h) = handoff {
        if !handed.is_empty() {
            h.take(handed);
        }
        if queued {
            h.wake();
        }
    }
    done.into_iter()
        .map(|d| d.ok_or_else(|| StoreError::Corrupt("a write had no outcome".into())))
        .collect()
}
