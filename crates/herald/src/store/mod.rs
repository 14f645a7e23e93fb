//! Durable state. [`Store`] is Herald's only door to the database: the API and the dispatcher
//! never write SQL themselves. Every feature runs on both backends, SQLite (one file, zero set-up)
//! and PostgreSQL (several nodes on one database), through the same code; see `db.rs`.

mod apps;
mod attempts;
mod batch;
mod connect;
mod db;
mod deliveries;
mod endpoints;
mod event_types;
mod health;
mod idempotency;
mod listen;
mod lite;
mod lite_sql;
mod messages;
mod migrate;
mod nodelay;
mod page;
mod queue;
mod reseal;
mod retention;
mod rows;
mod sealed;
mod sql;
mod throttles;
mod tokens;
mod writer;

pub use attempts::AttemptBucket;
pub use batch::{Finished, NewDelivery, Rows, Written};
pub use deliveries::DeliveryCount;
pub use health::DisableStep;
pub use idempotency::{ClaimArgs, KeyClaim, RenderBody, Respond};
pub use page::{Order, Page, PageOut};
pub use queue::QueueStats;
pub use reseal::Resealed;
pub use sealed::{BadKey, Cipher};
pub use writer::{WriteTx, Writer};

use serde_json::Value;

/// Herald's durable state, on SQLite or PostgreSQL. Cheap to clone (pools).
#[derive(Clone)]
pub struct Store {
    db: db::Db,
    /// The group committer's connection: PostgreSQL's own (see `connect.rs`), SQLite's writer.
    writer_db: db::Db,
    /// Applications recently looked up to publish to (see [`Store::get_app_cached`]).
    app_cache: std::sync::Arc<std::sync::Mutex<apps::AppCache>>,
    /// This node's name in the wake-ups it sends other nodes (PostgreSQL), so that its own
    /// listener ignores them: a random id per process.
    node: std::sync::Arc<str>,
    /// Seals secrets and response bodies at rest (`--secret-key`), if set.
    cipher: Option<std::sync::Arc<sealed::Cipher>>,
}

impl Store {
    fn cipher(&self) -> Option<&sealed::Cipher> {
        self.cipher.as_deref()
    }
}

/// A duplicate `eventId` is refused for this long, as Svix does.
pub(crate) const EVENT_ID_WINDOW_MS: i64 = 24 * 3600 * 1000;

pub(crate) fn is_unique_violation(e: &StoreError) -> bool {
    use rusqlite::ffi::{SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE};
    matches!(e, StoreError::Db(sqlx::Error::Database(d)) if d.is_unique_violation())
        || matches!(
            lite::code(e),
            Some(SQLITE_CONSTRAINT_UNIQUE | SQLITE_CONSTRAINT_PRIMARYKEY)
        )
}

/// PostgreSQL aborted the transaction to break a deadlock (SQLite has one writer: never).
pub(crate) fn is_deadlock(e: &StoreError) -> bool {
    matches!(e, StoreError::Db(sqlx::Error::Database(d)) if d.code().as_deref() == Some("40P01"))
}

/// The statement failed because the server had dropped the connection before it ran it: the
/// server said so (SQLSTATE 57P01-57P03: terminated by an administrator, a crash or a restart),
/// or the request could not even be written. Running the statement again on another connection
/// cannot apply it twice.
pub(crate) fn is_connection_lost(e: &StoreError) -> bool {
    match e {
        StoreError::Db(sqlx::Error::Database(d)) => d
            .code()
            .is_some_and(|c| matches!(c.as_ref(), "57P01" | "57P02" | "57P03")),
        StoreError::Db(sqlx::Error::Io(io)) => io.kind() == std::io::ErrorKind::BrokenPipe,
        _ => false,
    }
}

pub(crate) fn is_foreign_key_violation(e: &StoreError) -> bool {
    matches!(e, StoreError::Db(sqlx::Error::Database(d)) if d.is_foreign_key_violation())
        || lite::code(e) == Some(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)
}

/// What can go wrong in the store, independent of HTTP.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot start the committer thread: {0}")]
    Thread(std::io::Error),
    #[error("{0}")]
    Busy(String),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("corrupt row: column {column} does not hold the JSON it should: {source}")]
    Json {
        column: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("corrupt row: column {column} holds {value}, which is no known code")]
    UnknownCode { column: &'static str, value: i64 },
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://...")]
    Url(String),
    #[error("the store is shutting down")]
    Closed,
    #[error("a database call on a blocking thread failed: {0}")]
    Blocking(String),
    #[error("{0}")]
    Sealed(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Fields of a new or replaced application.
#[derive(Debug, Clone)]
pub struct AppFields {
    pub uid: Option<String>,
    pub name: String,
    pub metadata: Value,
    pub throttle_rate: Option<i64>,
    pub payload_retention_ms: Option<i64>,
}

/// Fields of a new or replaced endpoint (the secret is handled apart).
#[derive(Debug, Clone)]
pub struct EndpointFields {
    pub uid: Option<String>,
    pub url: String,
    pub description: String,
    pub event_types: Option<Vec<String>>,
    pub channels: Option<Vec<String>>,
    pub disabled: bool,
    pub metadata: Value,
    pub throttle_rate: Option<i64>,
    pub options: crate::model::EndpointOptions,
    /// A PEM client certificate and key for mTLS; `None` leaves the stored one as it is.
    pub client_cert: Option<String>,
}

#[derive(Debug, Clone)]
pub struct EventTypeFields {
    pub description: String,
    pub archived: bool,
    pub deprecated: bool,
    pub feature_flag: Option<String>,
    pub schemas: Option<Value>,
    pub validate_payloads: bool,
}

/// A message to publish.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub event_id: Option<String>,
    pub event_type: String,
    pub payload: String,
    pub channels: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    /// Deliveries of messages with the same key go to each endpoint in publish order.
    pub ordering_key: Option<String>,
    /// When to send (Unix ms); `None` is now.
    pub deliver_at: Option<i64>,
    /// How long its payload is kept (milliseconds); the node's `--payload-retention` if None.
    pub retention_ms: Option<i64>,
}

/// Filters shared by the message and attempt lists.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub channel: Option<String>,
    pub event_types: Vec<String>,
    pub before: Option<i64>,
    pub after: Option<i64>,
    /// Svix `MessageStatus` number.
    pub status: Option<i64>,
    /// 0 (no response), 100, 200, 300, 400 or 500.
    pub status_code_class: Option<i64>,
    pub endpoint_id: Option<String>,
}

/// A delivery claimed by a dispatcher under a lease.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery_id: crate::ids::DeliveryId,
    pub app_id: crate::ids::AppId,
    pub msg_id: crate::ids::MessageId,
    pub endpoint_id: crate::ids::EndpointId,
    pub tries: i64,
    pub trigger: crate::model::Trigger,
    pub lease_token: i64,
    /// It has an ordering key: the next of its key is claimable once it is finished.
    pub ordered: bool,
}

/// How a delivery continues after an attempt.
#[derive(Debug, Clone, Copy)]
pub enum NextStep {
    Delivered,
    RetryAt(i64),
    Failed,
}
