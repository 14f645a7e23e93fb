//! Endpoints of an application.

use serde_json::Value;

use super::db::{marks, q};
use super::rows::{self, to_json};
use super::sealed;
use super::{EndpointFields, Page, PageOut, Store, StoreError, StoreResult, is_unique_violation};
use crate::ids::{self, AppId, EndpointId};
use crate::model::Endpoint;

fn uid_conflict(e: StoreError) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Conflict("An endpoint with this uid already exists".into())
    } else {
        e
    }
}

impl Store {
    pub async fn create_endpoint(
        &self,
        app_id: &AppId,
        f: &EndpointFields,
        headers: &serde_json::Map<String, Value>,
        secret: &str,
    ) -> StoreResult<Endpoint> {
        let now = crate::clock::now_ms();
        let id = EndpointId::new();
        self.db
            .exec(
                q(
                    "INSERT INTO endpoints (id, app_id, uid, url, description, secret, event_types,
                      channels, disabled, headers, metadata, throttle_rate, options, client_cert,
                      created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&id)
                .bind(app_id)
                .bind(&f.uid)
                .bind(&f.url)
                .bind(&f.description)
                .bind(sealed::seal(self.cipher(), secret))
                .bind(f.event_types.as_ref().map(to_json))
                .bind(f.channels.as_ref().map(to_json))
                .bind(f.disabled)
                .bind(sealed::seal(self.cipher(), &to_json(headers)))
                .bind(to_json(&f.metadata))
                .bind(f.throttle_rate)
                .bind(to_json(&f.options))
                .bind(
                    f.client_cert
                        .as_deref()
                        .map(|c| sealed::seal(self.cipher(), c)),
                )
                .bind(now)
                .bind(now),
            )
            .await
            .map_err(uid_conflict)?;
        self.get_endpoint(app_id, id.as_str()).await
    }

    /// Looks an endpoint of `app_id` up by id or uid (by id only when shaped like one).
    pub async fn get_endpoint(&self, app_id: &AppId, id_or_uid: &str) -> StoreResult<Endpoint> {
        let sql = if ids::is_id(ids::ENDPOINT, id_or_uid) {
            "SELECT * FROM endpoints WHERE app_id = ? AND id = ?"
        } else {
            "SELECT * FROM endpoints WHERE app_id = ? AND uid = ?"
        };
        let row = self
            .db
            .opt(q(sql).bind(app_id).bind(id_or_uid))
            .await?
            .ok_or(StoreError::NotFound("endpoint"))?;
        rows::endpoint(&row, self.cipher())
    }

    pub async fn list_endpoints(
        &self,
        app_id: &str,
        page: &Page,
    ) -> StoreResult<PageOut<Endpoint>> {
        let mut sql = q("SELECT * FROM endpoints WHERE app_id = ?").bind(app_id);
        let back = page.apply(&mut sql, "id");
        let (found, cut) = self.db.all_capped(sql, super::page::MAX_PAGE_BYTES).await?;
        let list = rows::each(&found, |r| rows::endpoint(r, self.cipher()))?;
        Ok(page.finish(list, back, cut, |e| e.id.to_string()))
    }

    /// Reads an endpoint of `app_id`, lets `change` modify it and writes it back, holding the
    /// row's lock throughout (one transaction: SQLite's single writer, or PostgreSQL's row lock),
    /// so concurrent changes apply one after the other and none undoes another. `change` may
    /// refuse (its error is returned and nothing is written). Returns the endpoint as written
    /// and what `change` returned.
    pub async fn modify_endpoint<T, E: From<StoreError>>(
        &self,
        app_id: &str,
        id_or_uid: &str,
        change: impl FnOnce(&mut Endpoint) -> Result<T, E>,
    ) -> Result<(Endpoint, T), E> {
        let by = if ids::is_id(ids::ENDPOINT, id_or_uid) {
            "id"
        } else {
            "uid"
        };
        // NO KEY UPDATE: publishes (which hold endpoints FOR KEY SHARE) go on meanwhile.
        let lock = if self.db.is_pg() {
            " FOR NO KEY UPDATE"
        } else {
            ""
        };
        let mut tx = self.db.begin().await?;
        let row = tx
            .opt(
                q(&format!(
                    "SELECT * FROM endpoints WHERE app_id = ? AND {by} = ?{lock}"
                ))
                .bind(app_id)
                .bind(id_or_uid),
            )
            .await?
            .ok_or(StoreError::NotFound("endpoint"))?;
        let mut ep = rows::endpoint(&row, self.cipher())?;
        let was_disabled = ep.disabled;
        let out = change(&mut ep)?;
        ep.updated_at = crate::clock::now_ms();
        if was_disabled && !ep.disabled {
            // Re-enabled: its old failures do not count towards disabling it again.
            ep.failing_since = None;
        }
        tx.exec(
            q(
                "UPDATE endpoints SET uid = ?, url = ?, description = ?, secret = ?,
                  old_secrets = ?, event_types = ?, channels = ?, disabled = ?,
                  disabled_reason = ?, headers = ?, metadata = ?, throttle_rate = ?,
                  options = ?, client_cert = ?, loop_detected_at = ?, updated_at = ?,
                  failing_since = ?
               WHERE id = ?",
            )
            .bind(&ep.uid)
            .bind(&ep.url)
            .bind(&ep.description)
            .bind(sealed::seal(self.cipher(), ep.secret.expose()))
            .bind(sealed::seal(self.cipher(), &to_json(&ep.old_secrets)))
            .bind(ep.event_types.as_ref().map(to_json))
            .bind(ep.channels.as_ref().map(to_json))
            .bind(ep.disabled)
            .bind(&ep.disabled_reason)
            .bind(sealed::seal(self.cipher(), &to_json(&ep.headers)))
            .bind(to_json(&ep.metadata))
            .bind(ep.throttle_rate)
            .bind(to_json(&ep.options))
            .bind(
                ep.client_cert
                    .as_ref()
                    .map(|c| sealed::seal(self.cipher(), c.expose())),
            )
            .bind(ep.loop_detected_at)
            .bind(ep.updated_at)
            .bind(ep.failing_since)
            .bind(&ep.id),
        )
        .await
        .map_err(uid_conflict)?;
        tx.commit().await?;
        Ok((ep, out))
    }

    /// Deletes an endpoint with its deliveries and attempts.
    pub async fn delete_endpoint(&self, app_id: &AppId, id: &EndpointId) -> StoreResult<()> {
        // A deadlock with a batch (PostgreSQL) aborts the transaction, not the data: try again.
        let mut tries = 0;
        loop {
            match self.try_delete_endpoint(app_id, id).await {
                Err(e) if super::is_deadlock(&e) && tries < 5 => tries += 1,
                other => return other,
            }
        }
    }

    async fn try_delete_endpoint(&self, app_id: &AppId, id: &EndpointId) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        // The endpoint's row first: this waits for a batch fanning out to it (which holds a
        // lock on it), and later batches find it gone (see `batch.rs`). Then its deliveries,
        // which waits for a batch recording attempts of them, then the attempts.
        let n = tx
            .exec(
                q("DELETE FROM endpoints WHERE app_id = ? AND id = ?")
                    .bind(app_id)
                    .bind(id),
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound("endpoint"));
        }
        tx.exec(q("DELETE FROM deliveries WHERE endpoint_id = ?").bind(id))
            .await?;
        tx.exec(q("DELETE FROM attempts WHERE endpoint_id = ?").bind(id))
            .await?;
        tx.commit().await
    }

    /// Disables an endpoint and records why (e.g. the receiver answered 410 Gone).
    pub async fn disable_endpoint(&self, id: &EndpointId, reason: &str) -> StoreResult<()> {
        self.db
            .exec(
                q(
                    "UPDATE endpoints SET disabled = 1, disabled_reason = ?, updated_at = ?
                   WHERE id = ?",
                )
                .bind(reason)
                .bind(crate::clock::now_ms())
                .bind(id),
            )
            .await?;
        Ok(())
    }

    /// Endpoints by id, as committed now (a change applies to the very next delivery).
    pub async fn endpoints_by_ids(&self, ids: &[&EndpointId]) -> StoreResult<Vec<Endpoint>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = q(&format!(
            "SELECT {} FROM endpoints e WHERE e.id IN ({})",
            rows::ENDPOINT_FOR_DELIVERY,
            marks(ids.len())
        ));
        for id in ids {
            sql.arg(*id);
        }
        rows::each(&self.db.all(sql).await?, |r| {
            rows::endpoint_for_delivery(r, self.cipher())
        })
    }
}

impl Store {
    /// Flags a delivery loop through an endpoint of `app_id` (see `delivery::loops`); false if
    /// it names no endpoint of that application.
    pub async fn flag_loop(&self, app_id: &str, endpoint_id: &str, now: i64) -> StoreResult<bool> {
        let n = self
            .db
            .exec(
                q("UPDATE endpoints SET loop_detected_at = ? WHERE id = ? AND app_id = ?")
                    .bind(now)
                    .bind(endpoint_id)
                    .bind(app_id),
            )
            .await?;
        Ok(n == 1)
    }
}
