//! SQLite, driven directly on the calling thread: one writer connection behind an async lock,
//! and a small pool of read-only connections. A statement here costs microseconds; handing it to
//! a driver thread and its rows back (as sqlx's SQLite driver does) cost more than that, and under
//! load the thread switches were the largest item of Herald's profile.
//!
//! The group committer runs on a thread of its own (see `commit.rs`), so the one slow step, a
//! commit's fsync, never holds up an async worker. Other writes (claims, API changes) are short
//! and run where they are called.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::OwnedMutexGuard;

pub(super) use super::lite_sql::{LiteRow, exec, exec_rows, query, query_capped};
use super::{StoreError, StoreResult};

/// Idle read connections kept open.
const MAX_IDLE_READERS: usize = 8;
/// Prepared statements cached per connection.
const STATEMENT_CACHE: usize = 256;
/// How long a statement waits for a lock held by another process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the checkpointer copies what the WAL holds into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);
/// WAL pages after which the writer checkpoints by itself (should the checkpointer fall behind).
const WRITER_CHECKPOINT_PAGES: i64 = 10_000;
/// The size the WAL file is cut back to after a checkpoint has emptied it.
const WAL_SIZE_LIMIT: i64 = 64 << 20;

/// An open SQLite database.
pub(super) struct Lite {
    path: String,
    /// Held (an exclusive lock on `PATH.lock`) while the database is open: one process owns a
    /// SQLite file, which lets a restart take the leases it finds in it as a dead process's.
    _owner: std::fs::File,
    writer: Arc<tokio::sync::Mutex<Connection>>,
    readers: Mutex<Vec<Connection>>,
    _checkpointer: Checkpointer,
}

/// A thread that checkpoints the WAL (copies its pages into the database file) every
/// `CHECKPOINT_EVERY`, passively: it never blocks the writer. Left to SQLite, the writer
/// checkpoints itself every thousand pages, inside a commit, holding up every caller of that
/// batch; with writes spread over many applications' index pages that was a tenth of the
/// throughput. It stops when dropped.
struct Checkpointer(Arc<std::sync::atomic::AtomicBool>);

impl Checkpointer {
    fn start(path: &str) -> StoreResult<Checkpointer> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("herald-checkpoint".into())
            .spawn(move || {
                while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(CHECKPOINT_EVERY);
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "checkpointing the SQLite WAL failed");
                    }
                }
            })
            .map_err(StoreError::Thread)?;
        Ok(Checkpointer(stop))
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The file named by a `sqlite:PATH` or `sqlite://PATH` URL.
pub(super) fn path_of(url: &str) -> StoreResult<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| StoreError::Url(url.to_string()))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    // `mode=rwc` (read, write, create) is what Herald does anyway; other options are not
    // supported rather than silently ignored.
    if query.split('&').any(|p| !p.is_empty() && p != "mode=rwc") {
        return Err(StoreError::Url(url.to_string()));
    }
    if path.is_empty() || path == ":memory:" {
        // Herald's connections must share one database, which an in-memory one cannot be.
        return Err(StoreError::Url(url.to_string()));
    }
    Ok(path.to_string())
}

impl Lite {
    /// Opens (creating if missing) the database file at `path` in WAL mode.
    pub fn open(path: &str) -> StoreResult<Lite> {
        let lock_path = format!("{path}.lock");
        let owner = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::Busy(format!("cannot open {lock_path}: {e}")))?;
        owner.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => StoreError::Busy(format!(
                "{path} is in use by another Herald process (SQLite is for one node; use \
                 PostgreSQL for several)"
            )),
            std::fs::TryLockError::Error(e) => {
                StoreError::Busy(format!("cannot lock {lock_path}: {e}"))
            }
        })?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // WAL: readers never block the writer nor it them. FULL: a commit is on disk before the
        // API answers 202, even across a power cut.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
        Ok(Lite {
            _checkpointer: Checkpointer::start(path)?,
            path: path.to_string(),
            _owner: owner,
            writer: Arc::new(tokio::sync::Mutex::new(conn)),
            readers: Mutex::new(Vec::new()),
        })
    }

    fn open_reader(&self) -> StoreResult<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }

    /// Runs `f` on a read-only connection, which sees every committed write.
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => self.open_reader()?,
        };
        let out = f(&conn);
        let mut idle = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        out
    }

    /// The writer connection, exclusively.
    pub async fn writer(&self) -> OwnedMutexGuard<Connection> {
        self.writer.clone().lock_owned().await
    }
}

/// Runs `f`, which blocks (a statement, or a commit's fsync), where blocking is allowed: inline
/// on a thread of its own (the group committer's, whose runtime is single-threaded), else on
/// tokio's blocking pool, so that no async worker waits on SQLite.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> StoreResult<T> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| StoreError::Blocking(e.to_string())),
        _ => Ok(f()),
    }
}

/// The writer connection inside a transaction. Dropped before its commit or rollback (an error
/// on the way, or the caller's future dropped while a statement ran on the blocking pool), it
/// rolls back, so the connection never goes back to others mid-transaction.
struct TxConn {
    conn: OwnedMutexGuard<Connection>,
    open: bool,
}

impl Drop for TxConn {
    fn drop(&mut self) {
        if self.open
            && let Err(e) = self.conn.execute_batch("ROLLBACK")
        {
            tracing::error!(error = %e, "rolling back a SQLite transaction failed");
        }
    }
}

/// A write transaction on the writer connection, which it holds until commit or rollback.
pub(super) struct LiteTx {
    conn: Option<TxConn>,
}

impl LiteTx {
    pub async fn begin(lite: &Lite) -> StoreResult<LiteTx> {
        let conn = lite.writer().await;
        let conn = blocking(move || -> StoreResult<TxConn> {
            // IMMEDIATE: take the write lock now, not at the first write.
            conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
            Ok(TxConn { conn, open: true })
        })
        .await??;
        Ok(LiteTx { conn: Some(conn) })
    }

    /// The connection, for a caller allowed to block (the group committer's thread).
    pub fn conn(&self) -> Option<&Connection> {
        self.conn.as_ref().map(|c| &*c.conn)
    }

    /// Runs `f` on the connection, where blocking is allowed (see [`blocking`]).
    pub async fn run<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let conn = self.conn.take().ok_or_else(|| {
            StoreError::Corrupt("a SQLite transaction used after it ended".into())
        })?;
        let (conn, out) = blocking(move || {
            let out = f(&conn.conn);
            (conn, out)
        })
        .await?;
        self.conn = Some(conn);
        out
    }

    async fn end(mut self, statement: &'static str) -> StoreResult<()> {
        self.run(move |c| {
            c.prepare_cached(statement)?.execute([])?;
            Ok(())
        })
        .await?;
        if let Some(c) = self.conn.as_mut() {
            c.open = false;
        }
        Ok(())
    }

    pub async fn commit(self) -> StoreResult<()> {
        self.end("COMMIT").await
    }

    pub async fn rollback(self) -> StoreResult<()> {
        self.end("ROLLBACK").await
    }
}

/// SQLite's extended result code of a failed statement, if that is what `e` is.
pub(super) fn code(e: &StoreError) -> Option<i32> {
    match e {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => Some(f.extended_code),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::path_of;

    #[test]
    fn reads_sqlite_urls() {
        assert_eq!(path_of("sqlite://herald.db").unwrap(), "herald.db");
        assert_eq!(path_of("sqlite:///var/lib/h.db").unwrap(), "/var/lib/h.db");
        assert_eq!(path_of("sqlite:h.db?mode=rwc").unwrap(), "h.db");
        assert!(path_of("sqlite://h.db?mode=ro").is_err());
        assert!(path_of("sqlite::memory:").is_err());
        assert!(path_of("sqlite://").is_err());
        assert!(path_of("postgres://x").is_err());
    }
}
