//! Applications, and the cache of lookups the publish path uses.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::db::q;
use super::is_unique_violation;
use super::rows::{self, to_json};
use super::{AppFields, Page, PageOut, Store, StoreError, StoreResult};
use crate::ids::{self, AppId};
use crate::model::Application;

/// How long a cached application lookup by uid is trusted on the publish path: a uid can be
/// given to another application.
const APP_CACHE_TTL: Duration = Duration::from_secs(1);
/// The same by id: an id never changes nor is reused, so only the application's deletion on
/// another node can make the lookup stale, and a publish to a deleted application fails in the
/// write anyway (its message's foreign key) with the same 404. Not longer, though: that failure
/// sends the whole batch it was in down the slow path of one write at a time.
const APP_CACHE_TTL_BY_ID: Duration = Duration::from_secs(10);
/// Most cached lookups; the cache starts over beyond that.
const APP_CACHE_MAX: usize = 10_000;

/// Recent application lookups by id or uid. Publishing looks its application up on every
/// request; this saves the database round trip. Changes made on this node clear it; changes
/// made on another node show within [`APP_CACHE_TTL`] (or [`APP_CACHE_TTL_BY_ID`]).
#[derive(Default)]
pub(super) struct AppCache {
    by_key: HashMap<String, (Application, Instant)>,
}

fn app_conflict(e: StoreError) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Conflict("An application with this uid already exists".into())
    } else {
        e
    }
}

impl Store {
    pub async fn create_app(&self, f: &AppFields) -> StoreResult<Application> {
        let now = crate::clock::now_ms();
        let id = AppId::new();
        self.db
            .exec(
                q(
                    "INSERT INTO applications (id, uid, name, metadata, throttle_rate,
                     payload_retention_ms, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&id)
                .bind(&f.uid)
                .bind(&f.name)
                .bind(to_json(&f.metadata))
                .bind(f.throttle_rate)
                .bind(f.payload_retention_ms)
                .bind(now)
                .bind(now),
            )
            .await
            .map_err(app_conflict)?;
        self.get_app(&id).await
    }

    /// Creates the application `id` unless it exists (Herald's own, of a fixed id).
    pub async fn ensure_app(&self, id: &AppId, name: &str) -> StoreResult<()> {
        let now = crate::clock::now_ms();
        self.db
            .exec(
                q(
                    "INSERT INTO applications (id, name, metadata, created_at, updated_at)
                   VALUES (?, ?, '{}', ?, ?) ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(name)
                .bind(now)
                .bind(now),
            )
            .await?;
        Ok(())
    }

    /// Looks an application up by id or uid: a string shaped like an application id is only
    /// ever its id (no uid may look like one, see `api::extract::check_uid`).
    pub async fn get_app(&self, id_or_uid: &str) -> StoreResult<Application> {
        let sql = if ids::is_id(ids::APP, id_or_uid) {
            "SELECT * FROM applications WHERE id = ?"
        } else {
            "SELECT * FROM applications WHERE uid = ?"
        };
        let row = self
            .db
            .opt(q(sql).bind(id_or_uid))
            .await?
            .ok_or(StoreError::NotFound("application"))?;
        rows::app(&row)
    }

    /// Like [`Store::get_app`], but may answer from a cache up to a second old: for publishing,
    /// where an application's fields hardly matter and the lookup is on the hot path.
    pub async fn get_app_cached(&self, id_or_uid: &str) -> StoreResult<Application> {
        {
            let cache = self.app_cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((app, at)) = cache.by_key.get(id_or_uid)
                && at.elapsed()
                    < if app.id.as_str() == id_or_uid {
                        APP_CACHE_TTL_BY_ID
                    } else {
                        APP_CACHE_TTL
                    }
            {
                return Ok(app.clone());
            }
        }
        let app = self.get_app(id_or_uid).await?;
        let mut cache = self.app_cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.by_key.len() >= APP_CACHE_MAX {
            cache.by_key.clear();
        }
        cache
            .by_key
            .insert(id_or_uid.to_string(), (app.clone(), Instant::now()));
        Ok(app)
    }

    fn forget_apps(&self) {
        self.app_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_key
            .clear();
    }

    pub async fn list_apps(&self, page: &Page) -> StoreResult<PageOut<Application>> {
        // Herald's own application (operational webhooks) is not a customer's.
        let mut sql = q("SELECT * FROM applications WHERE id <> ?").bind(ids::OPERATIONAL_APP);
        let back = page.apply(&mut sql, "id");
        let (found, cut) = self.db.all_capped(sql, super::page::MAX_PAGE_BYTES).await?;
        let list = rows::each(&found, rows::app)?;
        Ok(page.finish(list, back, cut, |a| a.id.to_string()))
    }

    /// Reads application `id`, lets `change` compute its new fields from it and writes them,
    /// holding the row's lock throughout, so concurrent changes apply one after the other.
    pub async fn modify_app<E: From<StoreError>>(
        &self,
        id: &AppId,
        change: impl FnOnce(&Application) -> Result<AppFields, E>,
    ) -> Result<Application, E> {
        self.forget_apps();
        let lock = if self.db.is_pg() {
            " FOR NO KEY UPDATE"
        } else {
            ""
        };
        let mut tx = self.db.begin().await?;
        let row = tx
            .opt(q(&format!("SELECT * FROM applications WHERE id = ?{lock}")).bind(id))
            .await?
            .ok_or(StoreError::NotFound("application"))?;
        let old = rows::app(&row)?;
        let f = change(&old)?;
        let now = crate::clock::now_ms();
        tx.exec(
            q(
                "UPDATE applications SET uid = ?, name = ?, metadata = ?, throttle_rate = ?,
                  payload_retention_ms = ?, updated_at = ? WHERE id = ?",
            )
            .bind(&f.uid)
            .bind(&f.name)
            .bind(to_json(&f.metadata))
            .bind(f.throttle_rate)
            .bind(f.payload_retention_ms)
            .bind(now)
            .bind(id),
        )
        .await
        .map_err(app_conflict)?;
        tx.commit().await?;
        self.forget_apps();
        Ok(Application {
            uid: f.uid,
            name: f.name,
            metadata: f.metadata,
            throttle_rate: f.throttle_rate,
            payload_retention_ms: f.payload_retention_ms,
            updated_at: now,
            ..old
        })
    }

    /// Deletes an application with everything under it.
    pub async fn delete_app(&self, id: &AppId) -> StoreResult<()> {
        self.forget_apps();
        // A deadlock (PostgreSQL) with a batch that started on a new endpoint of the app at the
        // same moment aborts this transaction, not the data: try again.
        let mut tries = 0;
        loop {
            match self.try_delete_app(id).await {
                Err(e) if super::is_deadlock(&e) && tries < 5 => tries += 1,
                other => return other,
            }
        }
    }

    async fn try_delete_app(&self, id: &AppId) -> StoreResult<()> {
        // On PostgreSQL, deliveries and attempts have no foreign keys to cascade from (see
        // `batch.rs`). The endpoints' rows are locked first (waiting for batches fanning out to
        // them), then the application's row (publishes to it wait, then fail): the order a
        // batch takes them in (its statement locks endpoints, its messages' foreign key check
        // at the end locks the application), so the two cannot deadlock. Then the deliveries
        // and attempts of those endpoints go, and the rest cascades.
        let lock = if self.db.is_pg() { " FOR UPDATE" } else { "" };
        let mut tx = self.db.begin().await?;
        tx.all(q(&format!("SELECT id FROM endpoints WHERE app_id = ?{lock}")).bind(id))
            .await?;
        let found = tx
            .opt(q(&format!("SELECT id FROM applications WHERE id = ?{lock}")).bind(id))
            .await?;
        if found.is_none() {
            return Err(StoreError::NotFound("application"));
        }
        for table in ["deliveries", "attempts"] {
            tx.exec(
                q(&format!(
                    "DELETE FROM {table}
                     WHERE endpoint_id IN (SELECT id FROM endpoints WHERE app_id = ?)"
                ))
                .bind(id),
            )
            .await?;
        }
        tx.exec(q("DELETE FROM applications WHERE id = ?").bind(id))
            .await?;
        tx.commit().await
    }
}
