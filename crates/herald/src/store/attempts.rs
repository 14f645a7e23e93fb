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
