//! One door to either database. Queries are written once, in the SQL both backends share, with
//! `?` placeholders (renumbered `$1, $2, ...` for PostgreSQL); the few statements whose dialects
//! differ ask [`Db::is_pg`]. Rows come back as [`Row`], read by column name and type.
//! SQLite is driven directly (`lite.rs`), PostgreSQL through sqlx.

use std::sync::Arc;

use sqlx::postgres::{PgPool, PgRow};
use sqlx::{AssertSqlSafe, Postgres, Row as _};

use super::lite::{self, Lite, LiteRow, LiteTx};
use super::sql::numbered;
pub(super) use super::sql::{Arg, Sql, marks, q};
use super::{StoreError, StoreResult};

/// The connection pools of the backend in use.
#[derive(Clone)]
pub(super) enum Db {
    /// One writer connection (SQLite has one writer anyway; one connection avoids busy errors)
    /// and a pool of read-only connections, in WAL mode.
    Sqlite(Arc<Lite>),
    Postgres(PgPool),
}

/// The query for sqlx, borrowing the values (a statement retried on another connection is bound
/// again, without copying them).
fn pg(sql: &Sql) -> sqlx::query::Query<'_, Postgres, <Postgres as sqlx::Database>::Arguments> {
    let mut query = sqlx::query(AssertSqlSafe(numbered(&sql.text)));
    for a in &sql.args {
        query = match a {
            Arg::Text(v) => query.bind(v.as_deref()),
            Arg::Int(v) => query.bind(*v),
            Arg::Bytes(v) => query.bind(v.as_slice()),
            Arg::Texts(v) => query.bind(v),
            Arg::Ints(v) => query.bind(v),
        };
    }
    query
}

/// A result row of either backend.
pub(super) enum Row {
    Sqlite(LiteRow),
    Pg(PgRow),
}

fn null(col: &str) -> StoreError {
    StoreError::Corrupt(format!("column {col} is NULL"))
}

impl Row {
    pub fn i64(&self, col: &str) -> StoreResult<i64> {
        self.opt_i64(col)?.ok_or_else(|| null(col))
    }
    pub fn opt_i64(&self, col: &str) -> StoreResult<Option<i64>> {
        match self {
            Row::Sqlite(r) => r.opt_i64(col),
            Row::Pg(r) => Ok(r.try_get(col)?),
        }
    }
    pub fn string(&self, col: &str) -> StoreResult<String> {
        self.opt_string(col)?.ok_or_else(|| null(col))
    }
    pub fn opt_string(&self, col: &str) -> StoreResult<Option<String>> {
        match self {
            Row::Sqlite(r) => r.opt_string(col),
            Row::Pg(r) => Ok(r.try_get(col)?),
        }
    }
    pub fn bytes(&self, col: &str) -> StoreResult<Vec<u8>> {
        match self {
            Row::Sqlite(r) => r.bytes(col),
            Row::Pg(r) => Ok(r.try_get(col)?),
        }
    }
}

impl Db {
    pub fn is_pg(&self) -> bool {
        matches!(self, Db::Postgres(_))
    }

    /// Runs a write outside any transaction; returns the rows affected.
    pub async fn exec(&self, sql: Sql) -> StoreResult<u64> {
        Ok(match self {
            Db::Sqlite(l) => {
                let conn = l.writer().await;
                lite::blocking(move || lite::exec(&conn, &sql)).await??
            }
            Db::Postgres(p) => {
                pg_retry(|| async { Ok(pg(&sql).execute(p).await?.rows_affected()) }).await?
            }
        })
    }

    /// Runs a write that returns rows (`RETURNING`).
    pub async fn exec_rows(&self, sql: Sql) -> StoreResult<Vec<Row>> {
        Ok(match self {
            Db::Sqlite(l) => {
                let conn = l.writer().await;
                let rows = lite::blocking(move || lite::query(&conn, &sql)).await??;
                wrap(rows, Row::Sqlite)
            }
            Db::Postgres(p) => {
                let rows = pg_retry(|| async { Ok(pg(&sql).fetch_all(p).await?) }).await?;
                wrap(rows, Row::Pg)
            }
        })
    }

    /// Runs a read. On SQLite it goes to a read-only connection, which sees every committed write.
    pub async fn all(&self, sql: Sql) -> StoreResult<Vec<Row>> {
        Ok(match self {
            Db::Sqlite(l) => {
                let l = l.clone();
                let rows = lite::blocking(move || l.read(|c| lite::query(c, &sql))).await??;
                wrap(rows, Row::Sqlite)
            }
            Db::Postgres(p) => {
                let rows = pg_retry(|| async { Ok(pg(&sql).fetch_all(p).await?) }).await?;
                wrap(rows, Row::Pg)
            }
        })
    }

    pub async fn opt(&self, sql: Sql) -> StoreResult<Option<Row>> {
        Ok(self.all(sql).await?.into_iter().next())
    }

    /// A read whose rows are kept while their text and binary values total at most `max_bytes`
    /// (the first row always): the rest is not read, so a list of large rows costs a bounded
    /// amount of memory whatever its `limit`. True if it stopped before the end.
    pub async fn all_capped(&self, sql: Sql, max_bytes: usize) -> StoreResult<(Vec<Row>, bool)> {
        match self {
            Db::Sqlite(l) => {
                let l = l.clone();
                let (rows, cut) =
                    lite::blocking(move || l.read(|c| lite::query_capped(c, &sql, max_bytes)))
                        .await??;
                Ok((wrap(rows, Row::Sqlite), cut))
            }
            Db::Postgres(p) => {
                let mut stream = pg(&sql).fetch(p);
                let mut out = Vec::new();
                let mut bytes = 0usize;
                while let Some(row) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await
                {
                    let row = row?;
                    for i in 0..row.columns().len() {
                        let raw = row.try_get_raw(i)?;
                        bytes += raw.as_bytes().map_or(8, <[u8]>::len);
                    }
                    if bytes > max_bytes && !out.is_empty() {
                        // Dropping the stream leaves the rest unread (sqlx discards it).
                        return Ok((out, true));
                    }
                    out.push(Row::Pg(row));
                }
                Ok((out, false))
            }
        }
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> StoreResult<Tx> {
        Ok(match self {
            Db::Sqlite(l) => Tx::Sqlite(LiteTx::begin(l).await?),
            Db::Postgres(p) => Tx::Pg(pg_retry(|| async { Ok(p.begin().await?) }).await?),
        })
    }

    /// Tells every node (PostgreSQL) that new work is due; `from` names this node, whose own
    /// listener ignores it. Harmless and free on SQLite.
    pub async fn notify_nodes(&self, from: &str) -> StoreResult<()> {
        if let Db::Postgres(p) = self {
            sqlx::query(WAKE_SQL).bind(from).execute(p).await?;
        }
        Ok(())
    }
}

/// Runs `f` again, on another pooled connection, while it fails because the server had dropped
/// the connection before running the statement (a restart, a failover, an administrator; see
/// `is_connection_lost`): each idle connection of the pool fails once so, and is then closed.
async fn pg_retry<T, F, Fut>(mut f: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StoreResult<T>>,
{
    let mut tries = 0;
    loop {
        match f().await {
            Err(e) if super::is_connection_lost(&e) && tries < super::connect::PG_POOL_SIZE => {
                tries += 1;
                tracing::debug!(error = %e, "a pooled database connection was lost; retrying");
            }
            other => return other,
        }
    }
}

/// The channel nodes LISTEN on for "new work is due".
pub(super) const WAKE_CHANNEL: &str = "herald_wake";
const WAKE_SQL: &str = "SELECT pg_notify('herald_wake', $1)";

fn wrap<R>(rows: Vec<R>, f: impl Fn(R) -> Row) -> Vec<Row> {
    rows.into_iter().map(f).collect()
}

/// Runs `sql` in `tx` if there is one, else as a statement of its own.
pub(super) async fn run_in(db: &Db, tx: &mut Option<Tx>, sql: Sql) -> StoreResult<Vec<Row>> {
    match tx {
        Some(t) => t.all(sql).await,
        None => db.exec_rows(sql).await,
    }
}

/// A write transaction of either backend.
pub(super) enum Tx {
    Sqlite(LiteTx),
    Pg(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    pub fn is_pg(&self) -> bool {
        matches!(self, Tx::Pg(_))
    }

    pub async fn exec(&mut self, sql: Sql) -> StoreResult<u64> {
        Ok(match self {
            Tx::Sqlite(t) => t.run(move |c| lite::exec(c, &sql)).await?,
            Tx::Pg(t) => pg(&sql).execute(&mut **t).await?.rows_affected(),
        })
    }

    /// The SQLite connection of a SQLite transaction (a batch binds its rows on it directly).
    pub fn sqlite(&self) -> Option<&rusqlite::Connection> {
        match self {
            Tx::Sqlite(t) => t.conn(),
            Tx::Pg(_) => None,
        }
    }

    pub async fn all(&mut self, sql: Sql) -> StoreResult<Vec<Row>> {
        Ok(match self {
            Tx::Sqlite(t) => wrap(t.run(move |c| lite::query(c, &sql)).await?, Row::Sqlite),
            Tx::Pg(t) => wrap(pg(&sql).fetch_all(&mut **t).await?, Row::Pg),
        })
    }

    pub async fn opt(&mut self, sql: Sql) -> StoreResult<Option<Row>> {
        Ok(self.all(sql).await?.into_iter().next())
    }

    /// Runs a script of several statements without arguments (migrations).
    pub async fn script(&mut self, sql: &'static str) -> StoreResult<()> {
        match self {
            Tx::Sqlite(t) => {
                t.run(move |c| Ok(c.execute_batch(sql)?)).await?;
            }
            Tx::Pg(t) => {
                sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut **t).await?;
            }
        }
        Ok(())
    }

    /// Tells every node, at commit, that new work is due (PostgreSQL only); `from` names this
    /// node.
    pub async fn notify_nodes(&mut self, from: &str) -> StoreResult<()> {
        if let Tx::Pg(t) = self {
            sqlx::query(WAKE_SQL).bind(from).execute(&mut **t).await?;
        }
        Ok(())
    }

    pub async fn commit(self) -> StoreResult<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Pg(t) => t.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> StoreResult<()> {
        match self {
            Tx::Sqlite(t) => t.rollback().await?,
            Tx::Pg(t) => t.rollback().await?,
        }
        Ok(())
    }
}
