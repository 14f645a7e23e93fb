//! The delivery queue: claims under a lease, leases reclaimed from dead nodes, manual requeues.
//! A delivery row is claimed by setting it to "sending" with a random lease token; only the
//! holder of the token may record its outcome (see `commit.rs`).

use super::db::{marks, q};
use super::rows;
use super::{Claimed, Store, StoreResult};
use crate::ids::{AppId, DeliveryId, EndpointId, MessageId};
use crate::model::{DeliveryStatus, Endpoint};

/// Deliveries per release statement.
const RELEASE_CHUNK: usize = 400;

impl Store {
    /// Returns deliveries whose lease expired (their node died or stalled) to the queue.
    pub async fn reclaim_expired(&self, now: i64) -> StoreResult<u64> {
        self.db
            .exec(
                q(
                    "UPDATE deliveries SET status = 1, lease_until = NULL, lease_token = NULL
                   WHERE status = 3 AND lease_until < ?",
                )
                .bind(now),
            )
            .await
    }

    /// Claims up to `limit` due deliveries under a lease until `lease_until`, skipping those of
    /// the `saturated` endpoints (this node has enough of their work already). On PostgreSQL,
    /// rows another node is claiming at the same instant are skipped, not waited for.
    pub async fn claim(
        &self,
        now: i64,
        limit: i64,
        lease_until: i64,
        saturated: &[String],
    ) -> StoreResult<Vec<Claimed>> {
        let token = fastrand::i64(1..i64::MAX);
        let lock = if self.db.is_pg() {
            "FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let skip = if saturated.is_empty() {
            String::new()
        } else {
            format!("AND d.endpoint_id NOT IN ({})", marks(saturated.len()))
        };
        // An ordered delivery is claimable only at the head of its (endpoint, key): no earlier
        // one of the same key is pending or being sent (see migration 5/6 for `seq`).
        let mut sql = q(&format!(
            "UPDATE deliveries SET status = 3, lease_until = ?, lease_token = ?, updated_at = ?
             WHERE id IN (SELECT id FROM deliveries d
                          WHERE status = 1 AND next_attempt_at <= ? {skip}
                            AND (d.order_key IS NULL OR NOT EXISTS (
                                 SELECT 1 FROM deliveries p WHERE p.endpoint_id = d.endpoint_id
                                   AND p.order_key = d.order_key AND p.status IN (1, 3)
                                   AND p.seq < d.seq))
                          ORDER BY next_attempt_at LIMIT ? {lock})
               AND status = 1
             RETURNING id, app_id, msg_id, endpoint_id, tries, next_trigger, order_key"
        ))
        .bind(lease_until)
        .bind(token)
        .bind(now)
        .bind(now);
        for id in saturated {
            sql.arg(id);
        }
        let rows = self.db.exec_rows(sql.bind(limit)).await?;
        rows.iter()
            .map(|r| {
                Ok(Claimed {
                    delivery_id: DeliveryId::from_stored(r.string("id")?),
                    app_id: AppId::from_stored(r.string("app_id")?),
                    msg_id: MessageId::from_stored(r.string("msg_id")?),
                    endpoint_id: EndpointId::from_stored(r.string("endpoint_id")?),
                    tries: r.i64("tries")?,
                    trigger: r.i64("next_trigger").and_then(|v| {
                        crate::model::Trigger::from_code(v).ok_or(
                            crate::store::StoreError::UnknownCode {
                                column: "next_trigger",
                                value: v,
                            },
                        )
                    })?,
                    lease_token: token,
                    ordered: r.opt_string("order_key")?.is_some(),
                })
            })
            .collect()
    }

    /// When the next pending delivery is due, if any.
    pub async fn next_due(&self) -> StoreResult<Option<i64>> {
        let row = self
            .db
            .opt(q(
                "SELECT MIN(next_attempt_at) AS t FROM deliveries WHERE status = 1",
            ))
            .await?;
        Ok(match row {
            Some(r) => r.opt_i64("t")?,
            None => None,
        })
    }

    /// The queue's gauges, from the pending deliveries' partial index: the oldest due is one
    /// index lookup (MIN), the depth a count of index entries that stops at [`DEPTH_CAP`], so
    /// a sample's cost is bounded however deep the queue gets.
    pub async fn queue_stats(&self, now: i64) -> StoreResult<QueueStats> {
        let oldest = self.next_due().await?;
        let row = self
            .db
            .opt(
                q("SELECT COUNT(*) AS n FROM (SELECT 1 FROM deliveries WHERE status = 1 LIMIT ?) t")
                    .bind(DEPTH_CAP),
            )
            .await?;
        let depth = match row {
            Some(r) => r.i64("n")?,
            None => 0,
        };
        Ok(QueueStats {
            depth,
            oldest_due_age_ms: oldest.map_or(0, |t| (now - t).max(0)),
        })
    }

    /// Extends the lease of a claimed delivery; false if this node no longer holds it.
    pub async fn extend_lease(&self, c: &Claimed, lease_until: i64) -> StoreResult<bool> {
        let n = self
            .db
            .exec(
                q(
                    "UPDATE deliveries SET lease_until = ? WHERE id = ? AND lease_token = ?
                     AND status = 3",
                )
                .bind(lease_until)
                .bind(&c.delivery_id)
                .bind(c.lease_token),
            )
            .await?;
        Ok(n == 1)
    }

    /// Deletes claimed deliveries whose endpoint or message no longer exists (deleted while
    /// their row was being written; see `batch.rs`).
    pub async fn drop_deliveries(&self, claimed: &[Claimed]) -> StoreResult<()> {
        for chunk in claimed.chunks(RELEASE_CHUNK) {
            let mut sql = q(&format!(
                "DELETE FROM deliveries WHERE id IN ({})",
                marks(chunk.len())
            ));
            for c in chunk {
                sql.arg(&c.delivery_id);
            }
            self.db.exec(sql).await?;
        }
        Ok(())
    }

    /// Puts claimed deliveries back without an attempt (their endpoint is stalled, or was
    /// disabled), in a few statements whatever their number.
    pub async fn release_many(
        &self,
        claimed: &[Claimed],
        next_at: i64,
        status: DeliveryStatus,
    ) -> StoreResult<()> {
        let next = (status == DeliveryStatus::Pending).then_some(next_at);
        for chunk in claimed.chunks(RELEASE_CHUNK) {
            // Only rows still under the lease each was claimed with.
            let pairs = vec!["(?, ?)"; chunk.len()].join(", ");
            let mut sql = q(&format!(
                "UPDATE deliveries SET status = ?, next_attempt_at = ?, lease_until = NULL,
                    lease_token = NULL, updated_at = ?
                 WHERE status = 3 AND (id, lease_token) IN (VALUES {pairs})"
            ))
            .bind(status as i64)
            .bind(next)
            .bind(crate::clock::now_ms());
            for c in chunk {
                sql.arg(&c.delivery_id).arg(c.lease_token);
            }
            self.db.exec(sql).await?;
        }
        Ok(())
    }

    /// Moves the due deliveries of a stalled endpoint that were never tried to `until` (see
    /// `delivery::lanes`), so claims stop wading through them meanwhile; returns how many.
    /// Retries keep their own schedule (they are the endpoint's probes between windows).
    pub async fn park(&self, endpoint_id: &str, now: i64, until: i64) -> StoreResult<u64> {
        self.db
            .exec(
                q("UPDATE deliveries SET next_attempt_at = ?
                   WHERE endpoint_id = ? AND status = 1 AND next_attempt_at <= ? AND tries = 0")
                .bind(until)
                .bind(endpoint_id)
                .bind(now),
            )
            .await
    }

    /// Makes up to `n` of the deliveries [`Store::park`] parked until `until` due at `now`
    /// (probes of a stalled endpoint, or a part of its backlog once it answers again); returns
    /// how many.
    pub async fn unpark_some(
        &self,
        endpoint_id: &str,
        until: i64,
        now: i64,
        n: usize,
    ) -> StoreResult<u64> {
        self.db
            .exec(
                q("UPDATE deliveries SET next_attempt_at = ?
                   WHERE id IN (SELECT id FROM deliveries
                                WHERE endpoint_id = ? AND status = 1 AND next_attempt_at = ?
                                LIMIT ?)")
                .bind(now)
                .bind(endpoint_id)
                .bind(until)
                .bind(n as i64),
            )
            .await
    }

    /// Tells every node (PostgreSQL) that deliveries are due now, so an idle one claims them at
    /// once rather than at its next poll.
    pub async fn notify_nodes(&self) -> StoreResult<()> {
        self.db.notify_nodes(&self.node).await
    }

    /// Queues `msg_id` to `endpoint_id` again, starting a fresh retry cycle; creates the delivery
    /// if the message never had one for this endpoint.
    pub async fn resend(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        endpoint_id: &EndpointId,
    ) -> StoreResult<()> {
        let now = crate::clock::now_ms();
        // A delivery made here (the message never had one for this endpoint) takes its place
        // at the end of its ordering key; one that exists keeps its place.
        let ep = self.get_endpoint(app_id, endpoint_id.as_str()).await?;
        let msg = self.get_message(app_id, msg_id.as_str()).await?;
        let order_key = crate::model::order_key(&ep, msg.ordering_key.as_deref());
        self.db
            .exec(
                q("INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, next_attempt_at,
                      next_trigger, order_key, created_at, updated_at)
                   VALUES (?, ?, ?, ?, 1, ?, 1, ?, ?, ?)
                   ON CONFLICT (msg_id, endpoint_id) DO UPDATE SET status = 1, tries = 0,
                      next_attempt_at = excluded.next_attempt_at, next_trigger = 1,
                      lease_until = NULL, lease_token = NULL, updated_at = excluded.updated_at")
                .bind(&DeliveryId::new())
                .bind(app_id)
                .bind(msg_id)
                .bind(endpoint_id)
                .bind(now)
                .bind(order_key)
                .bind(now)
                .bind(now),
            )
            .await?;
        self.db.notify_nodes(&self.node).await
    }

    /// Requeues the failed (and skipped) deliveries of an endpoint whose messages were published
    /// in `[since, until]`; returns how many.
    pub async fn recover(
        &self,
        endpoint_id: &str,
        since: i64,
        until: Option<i64>,
    ) -> StoreResult<u64> {
        let now = crate::clock::now_ms();
        let n = self
            .db
            .exec(
                q(
                    "UPDATE deliveries SET status = 1, tries = 0, next_attempt_at = ?,
                      next_trigger = 1, updated_at = ?
                   WHERE endpoint_id = ? AND status IN (2, 4) AND created_at >= ?
                     AND created_at <= ?",
                )
                .bind(now)
                .bind(now)
                .bind(endpoint_id)
                .bind(since)
                .bind(until.unwrap_or(i64::MAX)),
            )
            .await?;
        self.db.notify_nodes(&self.node).await?;
        Ok(n)
    }

    /// Queues every message of the app in `[since, until]` that matches the endpoint but was never
    /// attempted for it (published before it existed, or skipped while it was disabled).
    pub async fn replay_missing(
        &self,
        ep: &Endpoint,
        since: i64,
        until: Option<i64>,
    ) -> StoreResult<u64> {
        let now = crate::clock::now_ms();
        let until = until.unwrap_or(i64::MAX);
        let mut tx = self.db.begin().await?;
        let skipped = tx
            .exec(
                q(
                    "UPDATE deliveries SET status = 1, tries = 0, next_attempt_at = ?,
                      next_trigger = 1, updated_at = ?
                   WHERE endpoint_id = ? AND status = 4 AND created_at >= ? AND created_at <= ?",
                )
                .bind(now)
                .bind(now)
                .bind(&ep.id)
                .bind(since)
                .bind(until),
            )
            .await?;
        let missing = tx
            .all(
                q(
                    "SELECT m.* FROM messages m WHERE m.app_id = ? AND m.created_at >= ?
                     AND m.created_at <= ?
                     AND NOT EXISTS (SELECT 1 FROM deliveries d
                                     WHERE d.msg_id = m.id AND d.endpoint_id = ?)",
                )
                .bind(&ep.app_id)
                .bind(since)
                .bind(until)
                .bind(&ep.id),
            )
            .await?;
        let mut added = 0;
        for row in &missing {
            let m = rows::message(row)?;
            if m.payload.is_none() || !ep.matches(&m.event_type, m.channels.as_deref()) {
                continue;
            }
            tx.exec(
                q(
                    "INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status,
                      next_attempt_at, next_trigger, order_key, created_at, updated_at)
                   VALUES (?, ?, ?, ?, 1, ?, 1, ?, ?, ?)",
                )
                .bind(&DeliveryId::new())
                .bind(&ep.app_id)
                .bind(&m.id)
                .bind(&ep.id)
                .bind(now)
                .bind(crate::model::order_key(ep, m.ordering_key.as_deref()))
                .bind(m.created_at)
                .bind(now),
            )
            .await?;
            added += 1;
        }
        tx.notify_nodes(&self.node).await?;
        tx.commit().await?;
        Ok(skipped + added)
    }
}

/// Most pending deliveries [`Store::queue_stats`] counts.
pub const DEPTH_CAP: i64 = 100_000;

/// The queue as the metrics show it.
#[derive(Debug, Clone, Copy)]
pub struct QueueStats {
    /// Pending deliveries (due now or later), up to [`DEPTH_CAP`].
    pub depth: i64,
    /// How long ago the oldest due pending delivery fell due (0 if none is due).
    pub oldest_due_age_ms: i64,
}
