//! Idempotency keys. A key is claimed by a row before its request runs (status 0, "in progress"
//! until `locked_until`), so a retry on any node finds it taken and waits for the response
//! instead of doing the work again; the row then gets the response, which later retries are
//! answered with. A claim whose request failed is released (the row deleted); one whose node
//! died expires at `locked_until`. Claims and responses go through the group committer, so a
//! request with a key costs a share of a commit, not a commit of its own, and a publish's
//! response is stored in the very transaction that stores its message.

use std::sync::Arc;

use super::db::{Db, Tx, q, run_in as all};
use super::{Store, StoreError, StoreResult};
use crate::model::Message;

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClaim {
    /// The key is this request's now: run it, then store its response or release the key.
    Claimed,
    /// An earlier request with this key was answered so.
    Done { status: u16, body: Vec<u8> },
    /// An earlier request with this key is still running (here or on another node).
    InProgress,
}

/// Makes a response body from the message a publish stored.
pub type RenderBody = Arc<dyn Fn(&Message) -> Vec<u8> + Send + Sync>;

/// How a publish's response is stored under its idempotency key, in the transaction that
/// stores the message: the key, the status, and the body made from the stored message.
#[derive(Clone)]
pub struct Respond {
    pub key: String,
    pub status: u16,
    pub body: RenderBody,
}

impl std::fmt::Debug for Respond {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Respond")
            .field("key", &self.key)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// Takes `key` unless a response is stored under it, or another request holds it until after
/// `now`. A response older than `fresh_after` is forgotten (the key is free again).
const CLAIM: &str = "INSERT INTO idempotency (key, status, body, created_at, locked_until)
    VALUES (?, 0, ?, ?, ?)
    ON CONFLICT (key) DO UPDATE SET status = 0, body = excluded.body,
        created_at = excluded.created_at, locked_until = excluded.locked_until
    WHERE (idempotency.status = 0 AND idempotency.locked_until < ?)
       OR idempotency.created_at < ?
    RETURNING key";

const STORE_RESPONSE: &str = "INSERT INTO idempotency (key, status, body, created_at, locked_until)
    VALUES (?, ?, ?, ?, NULL)
    ON CONFLICT (key) DO UPDATE SET status = excluded.status, body = excluded.body,
        created_at = excluded.created_at, locked_until = NULL";

/// A claim as the committer runs it.
pub struct ClaimArgs {
    pub key: String,
    pub now: i64,
    pub locked_until: i64,
    pub fresh_after: i64,
}

pub(super) async fn claim(db: &Db, tx: &mut Option<Tx>, a: &ClaimArgs) -> StoreResult<KeyClaim> {
    let taken = all(
        db,
        tx,
        q(CLAIM)
            .bind(a.key.as_str())
            .bind(&[][..])
            .bind(a.now)
            .bind(a.locked_until)
            .bind(a.now)
            .bind(a.fresh_after),
    )
    .await?;
    if !taken.is_empty() {
        return Ok(KeyClaim::Claimed);
    }
    let row = all(
        db,
        tx,
        q("SELECT status, body FROM idempotency WHERE key = ?").bind(a.key.as_str()),
    )
    .await?
    .into_iter()
    .next()
    .ok_or_else(|| StoreError::Corrupt("an idempotency key vanished in its claim".into()))?;
    match row.i64("status")? {
        0 => Ok(KeyClaim::InProgress),
        s => Ok(KeyClaim::Done {
            status: u16::try_from(s).map_err(|_| StoreError::Corrupt("status".into()))?,
            body: row.bytes("body")?,
        }),
    }
}

pub(super) async fn store_response(
    db: &Db,
    tx: &mut Option<Tx>,
    key: &str,
    status: u16,
    body: &[u8],
) -> StoreResult<()> {
    all(
        db,
        tx,
        q(STORE_RESPONSE)
            .bind(key)
            .bind(status as i64)
            .bind(body)
            .bind(crate::clock::now_ms()),
    )
    .await?;
    Ok(())
}

impl Store {
    /// Gives up a claimed key whose request failed, so that a retry runs it again.
    pub async fn release_idempotency_key(&self, key: &str) -> StoreResult<()> {
        self.db
            .exec(q("DELETE FROM idempotency WHERE key = ? AND status = 0").bind(key))
            .await?;
        Ok(())
    }
}
