//! Reading attempts (they are written by the group committer, with their delivery's state).

use super::db::q;
use super::rows;
use super::{ListFilter, Page, PageOut, Store, StoreError, StoreResult};
use crate::ids::{AppId, MessageId};
use crate::model::Attempt;

impl Store {
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
        let list = rows::each(&found, |r| rows::attempt(r, self.cipher()))?;
        Ok(page.finish(list, back, cut, |a| a.id.to_string()))
    }

    pub async fn get_attempt(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        id: &str,
    ) -> StoreResult<Attempt> {
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
        rows::attempt(&row, self.cipher())
    }

    pub async fn expunge_attempt(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        id: &str,
    ) -> StoreResult<()> {
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

/// Attempts of an endpoint in one time bucket (the portal's success-rate chart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptBucket {
    /// The bucket's start, Unix milliseconds.
    pub start: i64,
    pub succeeded: i64,
    pub total: i64,
}

impl Store {
    /// The most recent attempt of each of these endpoints (none for an endpoint never tried):
    /// one index lookup each, on `attempts(endpoint_id, id)`.
    pub async fn last_attempts(&self, endpoint_ids: &[&str]) -> StoreResult<Vec<Attempt>> {
        let mut found = Vec::with_capacity(endpoint_ids.len());
        for chunk in endpoint_ids.chunks(100) {
            let mut sql = q(&format!(
                "SELECT a.* FROM attempts a WHERE a.id IN (SELECT (SELECT MAX(x.id) FROM attempts x
                   WHERE x.endpoint_id = e.id) FROM endpoints e WHERE e.id IN ({}))",
                super::db::marks(chunk.len())
            ));
            for id in chunk {
                sql.arg(*id);
            }
            found.extend(rows::each(&self.db.all(sql).await?, |r| {
                rows::attempt(r, self.cipher())
            })?);
        }
        Ok(found)
    }

    /// An endpoint's attempts since `since`, counted per `bucket_ms` (oldest first; buckets
    /// without attempts are absent).
    pub async fn attempt_buckets(
        &self,
        endpoint_id: &str,
        since: i64,
        bucket_ms: i64,
    ) -> StoreResult<Vec<AttemptBucket>> {
        let bucket_ms = bucket_ms.max(1);
        let rows = self
            .db
            .all(
                q("SELECT (created_at - ?) / ? AS b,
                      SUM(CASE WHEN status = 0 THEN 1 ELSE 0 END) AS ok, COUNT(*) AS n
                   FROM attempts WHERE endpoint_id = ? AND created_at >= ?
                   GROUP BY b ORDER BY b")
                .bind(since)
                .bind(bucket_ms)
                .bind(endpoint_id)
                .bind(since),
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AttemptBucket {
                    start: since + r.i64("b")? * bucket_ms,
                    succeeded: r.i64("ok")?,
                    total: r.i64("n")?,
                })
            })
            .collect()
    }
}
