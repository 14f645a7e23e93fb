//! Settings (the operator token's hash), application-scoped tokens, and the pruning of what
//! expires (tokens, idempotency keys, eventIds older than their window).

use super::db::q;
use super::{Store, StoreError, StoreResult};
use crate::ids::AppId;

impl Store {
    pub async fn setting(&self, name: &str) -> StoreResult<Option<String>> {
        let row = self
            .db
            .opt(q("SELECT value FROM settings WHERE name = ?").bind(name))
            .await?;
        row.map(|r| r.string("value")).transpose()
    }

    /// Sets `name` only if it has no value yet; returns the value in force.
    pub async fn setting_init(&self, name: &str, value: &str) -> StoreResult<String> {
        self.db
            .exec(
                q("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING")
                    .bind(name)
                    .bind(value),
            )
            .await?;
        self.setting(name)
            .await?
            .ok_or(StoreError::NotFound("setting"))
    }

    pub async fn add_app_token(
        &self,
        token_hash: &str,
        app_id: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        self.db
            .exec(
                q("INSERT INTO app_tokens (token_hash, app_id, expires_at) VALUES (?, ?, ?)")
                    .bind(token_hash)
                    .bind(app_id)
                    .bind(expires_at),
            )
            .await?;
        Ok(())
    }

    /// The application a portal token belongs to, if the token is known and unexpired.
    pub async fn app_for_token(&self, token_hash: &str, now: i64) -> StoreResult<Option<String>> {
        let row = self
            .db
            .opt(
                q("SELECT app_id FROM app_tokens WHERE token_hash = ? AND expires_at > ?")
                    .bind(token_hash)
                    .bind(now),
            )
            .await?;
        row.map(|r| r.string("app_id")).transpose()
    }

    /// Ends every token of an application `after_ms` from `now` (at once with 0), as Svix's
    /// "expire all" does; returns how many there were.
    pub async fn expire_app_tokens(
        &self,
        app_id: &AppId,
        now: i64,
        after_ms: i64,
    ) -> StoreResult<u64> {
        self.db
            .exec(
                q("UPDATE app_tokens SET expires_at = ? WHERE app_id = ? AND expires_at > ?")
                    .bind(now + after_ms)
                    .bind(app_id)
                    .bind(now + after_ms),
            )
            .await
    }

    // ---- operator tokens ------------------------------------------------------------------

    /// A new operator token named `name`: stores its hash, returns its id (the token itself is
    /// the caller's to show once).
    pub async fn add_operator_token(&self, name: &str, token_hash: &str) -> StoreResult<String> {
        let id = crate::ids::new_id("optok");
        self.db
            .exec(
                q("INSERT INTO operator_tokens (id, name, token_hash, created_at) VALUES (?, ?, ?, ?)")
                    .bind(id.as_str())
                    .bind(name)
                    .bind(token_hash)
                    .bind(crate::clock::now_ms()),
            )
            .await?;
        Ok(id)
    }

    /// Whether `token_hash` is an operator token's, not revoked.
    pub async fn operator_token_valid(&self, token_hash: &str) -> StoreResult<bool> {
        Ok(self
            .db
            .opt(
                q("SELECT id FROM operator_tokens WHERE token_hash = ? AND revoked_at IS NULL")
                    .bind(token_hash),
            )
            .await?
            .is_some())
    }

    /// Every operator token made with `herald token create`: (id, name, created, revoked).
    pub async fn operator_tokens(&self) -> StoreResult<Vec<(String, String, i64, Option<i64>)>> {
        self.db
            .all(q(
                "SELECT id, name, created_at, revoked_at FROM operator_tokens ORDER BY created_at",
            ))
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.string("id")?,
                    r.string("name")?,
                    r.i64("created_at")?,
                    r.opt_i64("revoked_at")?,
                ))
            })
            .collect()
    }

    /// Revokes an operator token; false if there is no such (unrevoked) token.
    pub async fn revoke_operator_token(&self, id: &str) -> StoreResult<bool> {
        let n = self
            .db
            .exec(
                q("UPDATE operator_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                    .bind(crate::clock::now_ms())
                    .bind(id),
            )
            .await?;
        Ok(n == 1)
    }

    pub async fn delete_app_token(&self, token_hash: &str) -> StoreResult<()> {
        self.db
            .exec(q("DELETE FROM app_tokens WHERE token_hash = ?").bind(token_hash))
            .await?;
        Ok(())
    }

    /// Forgets idempotency keys and expired portal tokens older than `before`.
    pub async fn prune(&self, before: i64) -> StoreResult<()> {
        self.db
            .exec(q("DELETE FROM idempotency WHERE created_at < ?").bind(before))
            .await?;
        self.db
            .exec(q("DELETE FROM app_tokens WHERE expires_at < ?").bind(crate::clock::now_ms()))
            .await?;
        self.db
            .exec(
                q("DELETE FROM event_ids WHERE created_at < ?")
                    .bind(crate::clock::now_ms() - super::EVENT_ID_WINDOW_MS),
            )
            .await?;
        Ok(())
    }
}

impl Store {
    /// The application and expiry time of a portal token, if it is known and unexpired (the
    /// portal's session cookie lives no longer than its token).
    pub async fn app_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<(String, i64)>> {
        let row = self
            .db
            .opt(
                q("SELECT app_id, expires_at FROM app_tokens WHERE token_hash = ? AND expires_at > ?")
                    .bind(token_hash)
                    .bind(now),
            )
            .await?;
        row.map(|r| Ok((r.string("app_id")?, r.i64("expires_at")?)))
            .transpose()
    }
}
