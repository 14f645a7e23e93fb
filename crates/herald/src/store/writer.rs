//! The group committer's door to the database (the committer itself is `delivery::commit`): its
//! own connection on PostgreSQL (warm, with the batch statement prepared) or the writer
//! connection on SQLite, and the typed writes a batch is made of, applied atomically together.

use std::collections::HashMap;
use std::sync::Arc;

use super::batch::{self, Rows, Written};
use super::db::{Db, Row, Sql, Tx, marks, q, run_in};
use super::idempotency::{self, ClaimArgs, KeyClaim};
use super::sealed::Cipher;
use super::{Store, StoreResult, rows};
use crate::ids::AppId;
use crate::model::Endpoint;

/// Most ids in one IN list.
const IDS_PER_STATEMENT: usize = 500;

/// A handle on the committer's connection; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    db: Db,
    /// Seals attempts' response bodies, opens endpoints' secrets (see `sealed.rs`).
    cipher: Option<Arc<Cipher>>,
    /// This node's name in the wake-ups it sends other nodes (see `Store::node`).
    node: Arc<str>,
}

/// One batch's writes, atomic together: in a transaction, or (PostgreSQL, when the batch is
/// one statement) without one.
pub struct WriteTx<'a> {
    w: &'a Writer,
    tx: Option<Tx>,
}

impl Store {
    /// The group committer's connection.
    pub fn writer(&self) -> Writer {
        Writer {
            db: self.writer_db.clone(),
            cipher: self.cipher.clone(),
            node: self.node.clone(),
        }
    }
}

impl Writer {
    /// Whether this is SQLite, whose statements block: its committer gets a thread of its own.
    pub fn blocks(&self) -> bool {
        !self.db.is_pg()
    }

    /// Starts a batch. SQLite always takes a transaction; PostgreSQL only when asked (a batch of
    /// publishes and attempts is one statement, atomic by itself).
    pub async fn begin(&self, transaction: bool) -> StoreResult<WriteTx<'_>> {
        let tx = if transaction || !self.db.is_pg() {
            Some(self.db.begin().await?)
        } else {
            None
        };
        Ok(WriteTx { w: self, tx })
    }

    /// Checks the connection (PostgreSQL: a round trip on it, which also gets a connection the
    /// server dropped replaced).
    pub async fn ping(&self) -> StoreResult<()> {
        if self.db.is_pg() {
            self.db.exec_rows(q("SELECT 1 AS one")).await?;
        }
        Ok(())
    }
}

impl WriteTx<'_> {
    async fn all(&mut self, sql: Sql) -> StoreResult<Vec<Row>> {
        run_in(&self.w.db, &mut self.tx, sql).await
    }

    /// The endpoints of these applications, by application.
    pub async fn endpoints_of(
        &mut self,
        apps: &[&str],
    ) -> StoreResult<HashMap<AppId, Vec<Arc<Endpoint>>>> {
        let mut out: HashMap<AppId, Vec<Arc<Endpoint>>> = HashMap::new();
        for chunk in apps.chunks(IDS_PER_STATEMENT) {
            let mut sql = q(&format!(
                "SELECT {} FROM endpoints e WHERE e.app_id IN ({})",
                rows::ENDPOINT_FOR_DELIVERY,
                marks(chunk.len())
            ));
            for a in chunk {
                sql.arg(*a);
            }
            for row in self.all(sql).await? {
                let ep = rows::endpoint_for_delivery(&row, self.w.cipher.as_deref())?;
                out.entry(ep.app_id.clone()).or_default().push(Arc::new(ep));
            }
        }
        Ok(out)
    }

    /// Writes a batch's messages, deliveries and attempts (see `batch.rs`). `notify`: tell the
    /// other nodes (PostgreSQL) that deliveries are due, at commit.
    pub async fn write(&mut self, rows: &Rows, now: i64, notify: bool) -> StoreResult<Written> {
        let node = notify.then_some(&*self.w.node);
        let cipher = self.w.cipher.as_deref();
        batch::write(&self.w.db, &mut self.tx, rows, now, node, cipher).await
    }

    /// Claims an idempotency key (see `idempotency.rs`).
    pub async fn claim_key(&mut self, args: &ClaimArgs) -> StoreResult<KeyClaim> {
        idempotency::claim(&self.w.db, &mut self.tx, args).await
    }

    /// Stores the response under an idempotency key.
    pub async fn store_response(&mut self, key: &str, status: u16, body: &[u8]) -> StoreResult<()> {
        idempotency::store_response(&self.w.db, &mut self.tx, key, status, body).await
    }

    pub async fn commit(self) -> StoreResult<()> {
        match self.tx {
            Some(t) => t.commit().await,
            None => Ok(()),
        }
    }
}
