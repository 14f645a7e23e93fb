//! Retention: payloads expunged when they expire (the message row stays), attempts deleted
//! when older than `--attempt-retention`, and erasure on request (every payload of an
//! application, or of its messages carrying a tag). Each statement touches at most a batch of
//! rows, so that a long backlog never holds the writer (SQLite) or many row locks
//! (PostgreSQL) for long: publishes go between batches. Deciding when to run them is
//! `delivery::retention`'s.

use super::db::q;
use super::{Store, StoreResult};
use crate::ids::{AppId, AttemptId, MessageId};

impl Store {
    /// On PostgreSQL, every node runs the job: rows another node's batch holds are skipped, not
    /// waited for (nor deadlocked on, as two batches locking in different orders could).
    fn skip_locked(&self) -> &'static str {
        if self.db.is_pg() {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        }
    }

    /// Expunges up to `limit` payloads that expired by `now`; returns the messages'
    /// ids (so that copies held in memory go too). Uses the partial index of expiring payloads.
    pub async fn expire_payloads(&self, now: i64, limit: i64) -> StoreResult<Vec<MessageId>> {
        let rows = self
            .db
            .exec_rows(
                q(&format!(
                    "UPDATE messages SET payload = NULL WHERE id IN (
                       SELECT id FROM messages
                       WHERE payload IS NOT NULL AND expires_at <= ? LIMIT ?{})
                     RETURNING id",
                    self.skip_locked()
                ))
                .bind(now)
                .bind(limit),
            )
            .await?;
        rows.iter()
            .map(|r| r.string("id").map(MessageId::from_stored))
            .collect()
    }

    /// Deletes up to `limit` attempts made before `before` (Unix ms), response bodies and all;
    /// returns how many. Attempt ids are time-ordered, so the oldest are a range of the
    /// primary key: no index of its own, nothing added to the publish path.
    pub async fn delete_attempts_before(&self, before: i64, limit: i64) -> StoreResult<u64> {
        let floor = AttemptId::floor(before);
        self.db
            .exec(
                q(&format!(
                    "DELETE FROM attempts WHERE id IN (
                       SELECT id FROM attempts WHERE id < ? ORDER BY id LIMIT ?{})",
                    self.skip_locked()
                ))
                .bind(floor.as_str())
                .bind(limit),
            )
            .await
    }

    /// Expunges up to `limit` payloads of application `app`, only of messages tagged `tag`
    /// if given, in id order from after `after` (the last batch's last id, so that a batch
    /// never reads again the rows the ones before it went through); returns the messages' ids.
    pub async fn erase_payloads(
        &self,
        app: &AppId,
        tag: Option<&str>,
        after: Option<&MessageId>,
        limit: i64,
    ) -> StoreResult<Vec<MessageId>> {
        let tagged = match (tag, self.db.is_pg()) {
            (None, _) => "",
            (Some(_), false) => {
                " AND EXISTS (SELECT 1 FROM json_each(messages.tags) WHERE json_each.value = ?)"
            }
            (Some(_), true) => " AND messages.tags::jsonb @> jsonb_build_array(?::text)",
        };
        let mut sql = q(&format!(
            "UPDATE messages SET payload = NULL WHERE id IN (
               SELECT id FROM messages
               WHERE app_id = ? AND id > ? AND payload IS NOT NULL{tagged} ORDER BY id LIMIT ?)
             RETURNING id"
        ))
        .bind(app)
        .bind(after.map_or("", |m| m.as_str()));
        if let Some(t) = tag {
            sql.arg(t);
        }
        sql.arg(limit);
        let rows = self.db.exec_rows(sql).await?;
        rows.iter()
            .map(|r| r.string("id").map(MessageId::from_stored))
            .collect()
    }
}
