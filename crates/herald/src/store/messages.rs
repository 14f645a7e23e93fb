//! Reading messages (publishing goes through the group committer), and the filters the message,
//! delivery and attempt lists share.

use super::db::{Sql, marks, q};
use super::rows;
use super::{ListFilter, Page, PageOut, Store, StoreError, StoreResult};
use crate::ids::{AppId, MessageId};
use crate::model::Message;

impl Store {
    /// Appends the filters shared by message and attempt lists; `m` is the messages alias and
    /// `time` the column the before/after bounds apply to.
    pub(super) fn filters(&self, sql: &mut Sql, f: &ListFilter, time: &str) {
        if let Some(c) = &f.channel {
            if self.db.is_pg() {
                sql.push(
                    " AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(m.channels::jsonb) AS c(v)
                       WHERE c.v = ?)",
                );
            } else {
                sql.push(" AND EXISTS (SELECT 1 FROM json_each(m.channels) WHERE value = ?)");
            }
            sql.arg(c);
        }
        if !f.event_types.is_empty() {
            sql.push(&format!(
                " AND m.event_type IN ({})",
                marks(f.event_types.len())
            ));
            for t in &f.event_types {
                sql.arg(t);
            }
        }
        if let Some(b) = f.before {
            sql.push(&format!(" AND {time} < ?")).arg(b);
        }
        if let Some(a) = f.after {
            sql.push(&format!(" AND {time} > ?")).arg(a);
        }
    }

    /// Looks a message of `app_id` up by id or by its `eventId` (by id only when shaped like
    /// one; an eventId used again after 24 hours names the newest message).
    pub async fn get_message(&self, app_id: &AppId, id_or_event_id: &str) -> StoreResult<Message> {
        let sql = if crate::ids::is_id(crate::ids::MESSAGE, id_or_event_id) {
            "SELECT * FROM messages WHERE app_id = ? AND id = ?"
        } else {
            "SELECT * FROM messages WHERE app_id = ? AND event_id = ? ORDER BY id DESC LIMIT 1"
        };
        let row = self
            .db
            .opt(q(sql).bind(app_id).bind(id_or_event_id))
            .await?
            .ok_or(StoreError::NotFound("message"))?;
        rows::message(&row)
    }

    /// Messages by id (for sending what a claim took).
    pub async fn messages_by_ids(&self, ids: &[&MessageId]) -> StoreResult<Vec<Message>> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let mut sql = q(&format!(
                "SELECT * FROM messages WHERE id IN ({})",
                marks(chunk.len())
            ));
            for id in chunk {
                sql.arg(*id);
            }
            for row in self.db.all(sql).await? {
                found.push(rows::message(&row)?);
            }
        }
        Ok(found)
    }

    pub async fn list_messages(
        &self,
        app_id: &str,
        f: &ListFilter,
        page: &Page,
    ) -> StoreResult<PageOut<Message>> {
        let mut sql = q("SELECT m.* FROM messages m WHERE m.app_id = ?").bind(app_id);
        self.filters(&mut sql, f, "m.created_at");
        let back = page.apply(&mut sql, "m.id");
        let (found, cut) = self.db.all_capped(sql, super::page::MAX_PAGE_BYTES).await?;
        let list = rows::each(&found, rows::message)?;
        Ok(page.finish(list, back, cut, |m| m.id.to_string()))
    }

    /// Forgets a message's payload (expunge) and cancels its deliveries still waiting.
    pub async fn expunge_message(&self, app_id: &AppId, msg_id: &MessageId) -> StoreResult<()> {
        let n = self
            .db
            .exec(
                q("UPDATE messages SET payload = NULL WHERE app_id = ? AND id = ?")
                    .bind(app_id)
                    .bind(msg_id),
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound("message"));
        }
        // Its deliveries still waiting (scheduled, or to retry) are cancelled: nothing is left
        // to send. They show as skipped (`canceled` in expanded statuses).
        self.db
            .exec(
                q(
                    "UPDATE deliveries SET status = 4, next_attempt_at = NULL, updated_at = ?
                   WHERE msg_id = ? AND status = 1",
                )
                .bind(crate::clock::now_ms())
                .bind(msg_id),
            )
            .await?;
        Ok(())
    }

    /// Whether the database answers a query (a readiness check).
    pub async fn ping_database(&self) -> StoreResult<()> {
        self.db.all(q("SELECT 1 AS one")).await?;
        Ok(())
    }
}

impl Store {
    /// [`Store::list_messages`] limited to messages with at least one delivery in one of
    /// `states`, or (`retrying`) waiting to retry after a failed try: the portal's status filter.
    pub async fn list_messages_in_states(
        &self,
        app_id: &str,
        f: &ListFilter,
        states: &[crate::model::DeliveryStatus],
        retrying: bool,
        page: &Page,
    ) -> StoreResult<PageOut<Message>> {
        let mut sql = q("SELECT m.* FROM messages m WHERE m.app_id = ?").bind(app_id);
        self.filters(&mut sql, f, "m.created_at");
        if !states.is_empty() || retrying {
            sql.push(" AND EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND (");
            if states.is_empty() {
                sql.push("1=0");
            } else {
                sql.push(&format!("d.status IN ({})", marks(states.len())));
                for s in states {
                    sql.arg(s.code());
                }
            }
            if retrying {
                sql.push(" OR (d.status = ? AND d.tries > 0)")
                    .arg(crate::model::DeliveryStatus::Pending.code());
            }
            sql.push("))");
        }
        let back = page.apply(&mut sql, "m.id");
        let (found, cut) = self.db.all_capped(sql, super::page::MAX_PAGE_BYTES).await?;
        let list = rows::each(&found, rows::message)?;
        Ok(page.finish(list, back, cut, |m| m.id.to_string()))
    }
}
