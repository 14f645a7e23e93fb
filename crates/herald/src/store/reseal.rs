//! `herald rotate-secret-key`: every sealed (or still plain) secret, header set, client
//! certificate and response body opened with the current key and sealed with the new one, a
//! chunk at a time.

use super::db::q;
use super::sealed::{self, Cipher};
use super::{Store, StoreResult};

/// Rows per statement.
const CHUNK: i64 = 500;

/// What a re-sealing changed.
#[derive(Debug, Default, Clone, Copy)]
pub struct Resealed {
    pub endpoints: u64,
    pub attempts: u64,
}

impl Store {
    /// Opens every sealed value with this store's key (or reads it as plain text) and seals it
    /// with `new`. Run it with no node serving: a node still sealing with the old key would
    /// write values the new key cannot open.
    pub async fn reseal(&self, new: &Cipher) -> StoreResult<Resealed> {
        let old = self.cipher();
        let mut done = Resealed::default();
        let mut after = String::new();
        loop {
            let rows = self
                .db
                .all(
                    q(
                        "SELECT id, secret, old_secrets, headers, client_cert FROM endpoints
                         WHERE id > ? ORDER BY id LIMIT ?",
                    )
                    .bind(after.as_str())
                    .bind(CHUNK),
                )
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.string("id")?;
            let mut tx = self.db.begin().await?;
            for r in &rows {
                let mut new_sealed = Vec::new();
                for col in ["secret", "old_secrets", "headers"] {
                    let plain = sealed::open(old, r.string(col)?)?;
                    new_sealed.push(new.seal(&plain));
                }
                let cert = match r.opt_string("client_cert")? {
                    Some(c) => Some(new.seal(&sealed::open(old, c)?)),
                    None => None,
                };
                tx.exec(
                    q(
                        "UPDATE endpoints SET secret = ?, old_secrets = ?, headers = ?,
                         client_cert = ? WHERE id = ?",
                    )
                    .bind(new_sealed[0].as_str())
                    .bind(new_sealed[1].as_str())
                    .bind(new_sealed[2].as_str())
                    .bind(cert)
                    .bind(r.string("id")?),
                )
                .await?;
                done.endpoints += 1;
            }
            tx.commit().await?;
        }
        after.clear();
        loop {
            let rows = self
                .db
                .all(
                    q(
                        "SELECT id, response FROM attempts WHERE id > ? AND response IS NOT NULL
                       ORDER BY id LIMIT ?",
                    )
                    .bind(after.as_str())
                    .bind(CHUNK),
                )
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.string("id")?;
            let mut tx = self.db.begin().await?;
            for r in &rows {
                let plain = sealed::open(old, r.string("response")?)?;
                tx.exec(
                    q("UPDATE attempts SET response = ? WHERE id = ?")
                        .bind(new.seal(&plain))
                        .bind(r.string("id")?),
                )
                .await?;
                done.attempts += 1;
            }
            tx.commit().await?;
        }
        Ok(done)
    }
}
