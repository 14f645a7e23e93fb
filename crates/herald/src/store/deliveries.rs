//! Reading deliveries: an endpoint's messages with their states, a message's endpoints, and an
//! endpoint's counts by state. (The queue's writes, claims and leases, are `queue.rs`.)

use super::db::q;
use super::rows::{self, DELIVERY_COLS};
use super::{ListFilter, Page, PageOut, Store, StoreError, StoreResult};
use crate::model::{Delivery, DeliveryStatus, Endpoint, EndpointStats, Message};

impl Store {
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
        Ok(page.finish(list, back, cut, |(d, _)| d.msg_id.to_string()))
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
        let list = rows::each(&found, |r| {
            Ok((rows::delivery(r)?, rows::endpoint(r, self.cipher())?))
        })?;
        Ok(page.finish(list, back, cut, |(d, _)| d.endpoint_id.to_string()))
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
}

/// How many deliveries of a message are in one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryCount {
    pub msg_id: String,
    pub status: DeliveryStatus,
    /// Tried and failed at least once in this round (a pending one waits to retry).
    pub retried: bool,
    pub count: i64,
}

impl Store {
    /// How many deliveries of each of these messages are in each state (the portal's message
    /// log shows each message's state at a glance).
    pub async fn delivery_counts(&self, msg_ids: &[&str]) -> StoreResult<Vec<DeliveryCount>> {
        let mut out = Vec::new();
        for chunk in msg_ids.chunks(250) {
            let mut sql = q(&format!(
                "SELECT msg_id, status, CAST(CASE WHEN tries > 0 THEN 1 ELSE 0 END AS BIGINT) AS retried,
                   COUNT(*) AS n FROM deliveries WHERE msg_id IN ({})
                 GROUP BY msg_id, status, retried",
                super::db::marks(chunk.len())
            ));
            for id in chunk {
                sql.arg(*id);
            }
            for r in self.db.all(sql).await? {
                let code = r.i64("status")?;
                let status = DeliveryStatus::from_code(code).ok_or(StoreError::UnknownCode {
                    column: "status",
                    value: code,
                })?;
                out.push(DeliveryCount {
                    msg_id: r.string("msg_id")?,
                    status,
                    retried: r.i64("retried")? != 0,
                    count: r.i64("n")?,
                });
            }
        }
        Ok(out)
    }
}
