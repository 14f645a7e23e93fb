//! Reading messages, deliveries and attempts (publishing goes through the committer).

use super::db::{Sql, marks, q};
use super::rows::{self, DELIVERY_COLS};
use super::{ListFilter, Page, PageOut, Store, StoreError, StoreResult};
use crate::model::{Attempt, Delivery, DeliveryStatus, Endpoint, EndpointStats, Message};

impl Store {
    /// Appends the filters shared by message and attempt lists; `m` is the messages alias and
    /// `time` the column the before/after bounds apply to.
    fn filters(&self, sql: &mut Sql, f: &ListFilter, time: &str) {
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
    pub async fn get_message(&self, app_id: &str, id_or_event_id: &str) -> StoreResult<Message> {
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
    pub async fn messages_by_ids(&self, ids: &[&str]) -> StoreResult<Vec<Message>> {
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
        Ok(page.finish(list, back, cut, |m| m.id.clone()))
    }

    pub async fn expunge_message(&self, app_id: &str, msg_id: &str) -> StoreResult<()> {
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
        Ok(())
    }

    /// Deliveries of one endpoint with their messages, newest message first.
    pub async fn list_endpoint_deliveries(
        &self,
        endpoint_id: &str,
        f: &ListFilter,
        page: &Page,
    ) -> StoreResult<PageOut<(Delivery, Message)>> {
        let mut sql = q(&format!(
            "SELECT {DELIVERY_COLS}, m.* FROM deliveries d JOIN messages m ON m.id = d.msg_id
             WHERE d.endpoint_id = ?"
        ))
        .bind(endpoint_id);
        self.filters(&mut sql, f, "m.created_at");
        if let Some(s) = f.status {
            // Skipped deliveries count as failed in Svix's statuses.
            sql.push(" AND (CASE d.status WHEN 4 THEN 2 ELSE d.status END) = ?")
                .arg(s);
        }
        let back = page.apply(&mut sql, "d.msg_id");
        let (found, cut) = self.db.all_capped(sql, super::page::MAX_PAGE_BYTES).await?;
        let list = rows::each(&found, |r| Ok((rows::delivery(r)?, rows::message(r)?)))?;
        Ok(page.finish(list, back, cut, |(d, _)| d.msg_id.clone()))
    }

    /// Deliveries of one message with their endpoints.
    pub async fn list_message_deliveries(
        &self,
        msg_id: &str,
        page: &Page,
    ) -> StoreResult<PageOut<(Delivery, Endpoint)>> {
        let mut sql = q(&format!(
            "SELECT {DELIVERY_COLS}, e.* FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
             WHERE d.msg_id = ?"
        ))
        .bind(msg_id);
        let back = page.apply(&mut sql, "d.endpoint_id");
        let (found, cut) = self.db.all_capped(sql, super::page::MAX_PAGE_BYTES).await?;
        let list = rows::each(&found, |r| Ok((rows::delivery(r)?, rows::endpoint(r)?)))?;
        Ok(page.finish(list, back, cut, |(d, _)| d.endpoint_id.clone()))
    }

    pub async fn endpoint_stats(
        &self,
        endpoint_id: &str,
        since: Option<i64>,
        until: Option<i64>,
    ) -> StoreResult<EndpointStats> {
        let rows = self
            .db
            .all(
                q(
                    "SELECT status, COUNT(*) AS n FROM deliveries WHERE endpoint_id = ?
                     AND created_at >= ? AND created_at <= ? GROUP BY status",
                )
                .bind(endpoint_id)
                .bind(since.unwrap_or(i64::MIN))
                .bind(until.unwrap_or(i64::MAX)),
            )
            .await?;
        let mut s = EndpointStats::default();
        for r in rows {
            let n = r.i64("n")?;
            let code = r.i64("status")?;
            let status = DeliveryStatus::from_code(code).ok_or(StoreError::UnknownCode {
                column: "status",
                value: code,
            })?;
            match status {
                DeliveryStatus::Success => s.success += n,
                DeliveryStatus::Pending => s.pending += n,
                DeliveryStatus::Failed => s.fail += n,
                DeliveryStatus::Sending => s.sending += n,
                DeliveryStatus::Skipped => s.canceled += n,
            }
        }
        Ok(s)
    }

    /// Attempts, newest first, of one message (`by_msg`) or one endpoint.
    pub async fn list_attempts(
        &self,
        app_id: &str,
        by_msg: Option<&str>,
        by_endpoint: Option<&str>,
        f: &ListFilter,
        page: &Page,
    ) -> StoreResult<PageOut<Attempt>> {
        let mut sql =
            q("SELECT a.* FROM attempts a JOIN messages m ON m.id = a.msg_id WHERE a.app_id = ?")
                .bind(app_id);
        if let Some(m) = by_msg {
            sql.push(" AND a.msg_id = ?").arg(m);
        }
        if let Some(e) = by_endpoint.or(f.endpoint_id.as_deref()) {
            sql.push(" AND a.endpoint_id = ?").arg(e);
        }
        if let Some(s) = f.status {
            sql.push(" AND a.status = ?").arg(s);
        }
        match f.status_code_class {
            Some(0) => {
                sql.push(" AND a.status_code = 0");
            }
            Some(c) => {
                sql.push(" AND a.status_code >= ? AND a.status_code < ?")
                    .arg(c)
                    .arg(c + 100);
            }
            None => {}
        }
        self.filters(&mut sql, f, "a.created_at");
        let back = page.apply(&mut sql, "a.id");
        let (found, cut) = self.db.all_capped(sql, super::page::MAX_PAGE_BYTES).await?;
        let list = rows::each(&found, rows::attempt)?;
        Ok(page.finish(list, back, cut, |a| a.id.clone()))
    }

    pub async fn get_attempt(&self, app_id: &str, msg_id: &str, id: &str) -> StoreResult<Attempt> {
        let row = self
            .db
            .opt(
                q("SELECT * FROM attempts WHERE app_id = ? AND msg_id = ? AND id = ?")
                    .bind(app_id)
                    .bind(msg_id)
                    .bind(id),
            )
            .await?
            .ok_or(StoreError::NotFound("attempt"))?;
        rows::attempt(&row)
    }

    pub async fn expunge_attempt(&self, app_id: &str, msg_id: &str, id: &str) -> StoreResult<()> {
        let n = self
            .db
            .exec(
                q("UPDATE attempts SET response = NULL WHERE app_id = ? AND msg_id = ? AND id = ?")
                    .bind(app_id)
                    .bind(msg_id)
                    .bind(id),
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound("attempt"));
        }
        Ok(())
    }

    /// Whether the database answers a query (a readiness check).
    pub async fn ping_database(&self) -> StoreResult<()> {
        self.db.all(q("SELECT 1 AS one")).await?;
        Ok(())
    }

    /// The time of the most recent attempt of a message to an endpoint.
    pub async fn last_attempt_at(
        &self,
        msg_id: &str,
        endpoint_id: &str,
    ) -> StoreResult<Option<i64>> {
        let row = self
            .db
            .opt(
                q("SELECT MAX(created_at) AS t FROM attempts WHERE msg_id = ? AND endpoint_id = ?")
                    .bind(msg_id)
                    .bind(endpoint_id),
            )
            .await?;
        Ok(match row {
            Some(r) => r.opt_i64("t")?,
            None => None,
        })
    }
}
