//! One door to either database. Queries are written once, in the SQL both backends share, with
//! `?` placeholders (renumbered `$1, $2, ...` for PostgreSQL); the few statements whose dialects
//! differ ask [`Db::is_pg`]. Rows come back as [`Row`], read by column name and type.

use sqlx::postgres::{PgPool, PgRow};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{AssertSqlSafe, Postgres, Row as _, Sqlite};

use super::StoreResult;

/// The connection pools of the backend in use.
#[derive(Clone)]
pub(super) enum Db {
    /// One writer connection (SQLite has one writer anyway; one connection avoids busy errors)
    /// and a pool of read-only connections, in WAL mode.
    Sqlite {
        write: SqlitePool,
        read: SqlitePool,
    },
    Postgres(PgPool),
}

/// A value bound to a placeholder.
#[derive(Debug, Clone)]
pub(super) enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
    Bytes(Vec<u8>),
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(Some(v.to_string()))
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(Some(v))
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Text(Some(v.clone()))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v)
    }
}
impl From<&Option<String>> for Arg {
    fn from(v: &Option<String>) -> Self {
        Arg::Text(v.clone())
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        Arg::Text(v.map(str::to_string))
    }
}
impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Int(Some(v as i64))
    }
}
impl From<&[u8]> for Arg {
    fn from(v: &[u8]) -> Self {
        Arg::Bytes(v.to_vec())
    }
}

/// SQL text plus its bound values, in order.
#[derive(Debug, Clone, Default)]
pub(super) struct Sql {
    pub text: String,
    pub args: Vec<Arg>,
}

/// Starts a query.
pub(super) fn q(text: &str) -> Sql {
    Sql {
        text: text.to_string(),
        args: Vec::new(),
    }
}

impl Sql {
    pub fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    /// Binds the next placeholder.
    pub fn bind(mut self, v: impl Into<Arg>) -> Self {
        self.args.push(v.into());
        self
    }

    /// Binds the next placeholder of a query built up in steps.
    pub fn arg(&mut self, v: impl Into<Arg>) -> &mut Self {
        self.args.push(v.into());
        self
    }

    fn sqlite(self) -> sqlx::query::Query<'static, Sqlite, <Sqlite as sqlx::Database>::Arguments> {
        bind_all(sqlx::query(AssertSqlSafe(self.text)), self.args)
    }

    fn pg(self) -> sqlx::query::Query<'static, Postgres, <Postgres as sqlx::Database>::Arguments> {
        bind_all(sqlx::query(AssertSqlSafe(numbered(&self.text))), self.args)
    }
}

/// Binds `args` in order, on either backend.
fn bind_all<DB: sqlx::Database>(
    mut query: sqlx::query::Query<'static, DB, <DB as sqlx::Database>::Arguments>,
    args: Vec<Arg>,
) -> sqlx::query::Query<'static, DB, <DB as sqlx::Database>::Arguments>
where
    Option<String>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Vec<u8>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for a in args {
        query = match a {
            Arg::Text(v) => query.bind(v),
            Arg::Int(v) => query.bind(v),
            Arg::Bytes(v) => query.bind(v),
        };
    }
    query
}

/// Placeholders `?, ?, ...` for an IN list.
pub(super) fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// `?` placeholders as PostgreSQL's `$1, $2, ...` (Herald's SQL has no `?` inside literals).
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    out
}

/// A result row of either backend.
pub(super) enum Row {
    Sqlite(SqliteRow),
    Pg(PgRow),
}

impl Row {
    pub fn i64(&self, col: &str) -> StoreResult<i64> {
        Ok(match self {
            Row::Sqlite(r) => r.try_get(col)?,
            Row::Pg(r) => r.try_get(col)?,
        })
    }
    pub fn opt_i64(&self, col: &str) -> StoreResult<Option<i64>> {
        Ok(match self {
            Row::Sqlite(r) => r.try_get(col)?,
            Row::Pg(r) => r.try_get(col)?,
        })
    }
    pub fn string(&self, col: &str) -> StoreResult<String> {
        Ok(match self {
            Row::Sqlite(r) => r.try_get(col)?,
            Row::Pg(r) => r.try_get(col)?,
        })
    }
    pub fn opt_string(&self, col: &str) -> StoreResult<Option<String>> {
        Ok(match self {
            Row::Sqlite(r) => r.try_get(col)?,
            Row::Pg(r) => r.try_get(col)?,
        })
    }
    pub fn bytes(&self, col: &str) -> StoreResult<Vec<u8>> {
        Ok(match self {
            Row::Sqlite(r) => r.try_get(col)?,
            Row::Pg(r) => r.try_get(col)?,
        })
    }
}

impl Db {
    pub fn is_pg(&self) -> bool {
        matches!(self, Db::Postgres(_))
    }

    /// Runs a write outside any transaction; returns the rows affected.
    pub async fn exec(&self, sql: Sql) -> StoreResult<u64> {
        Ok(match self {
            Db::Sqlite { write, .. } => sql.sqlite().execute(write).await?.rows_affected(),
            Db::Postgres(p) => sql.pg().execute(p).await?.rows_affected(),
        })
    }

    /// Runs a write that returns rows (`RETURNING`).
    pub async fn exec_rows(&self, sql: Sql) -> StoreResult<Vec<Row>> {
        Ok(match self {
            Db::Sqlite { write, .. } => wrap(sql.sqlite().fetch_all(write).await?, Row::Sqlite),
            Db::Postgres(p) => wrap(sql.pg().fetch_all(p).await?, Row::Pg),
        })
    }

    /// Runs a read. On SQLite it goes to a read-only connection, which sees every committed write.
    pub async fn all(&self, sql: Sql) -> StoreResult<Vec<Row>> {
        Ok(match self {
            Db::Sqlite { read, .. } => wrap(sql.sqlite().fetch_all(read).await?, Row::Sqlite),
            Db::Postgres(p) => wrap(sql.pg().fetch_all(p).await?, Row::Pg),
        })
    }

    pub async fn opt(&self, sql: Sql) -> StoreResult<Option<Row>> {
        Ok(match self {
            Db::Sqlite { read, .. } => sql.sqlite().fetch_optional(read).await?.map(Row::Sqlite),
            Db::Postgres(p) => sql.pg().fetch_optional(p).await?.map(Row::Pg),
        })
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> StoreResult<Tx> {
        Ok(match self {
            Db::Sqlite { write, .. } => Tx::Sqlite(write.begin().await?),
            Db::Postgres(p) => Tx::Pg(p.begin().await?),
        })
    }

    /// Tells every node (PostgreSQL) that new work is due. Harmless and free on SQLite.
    pub async fn notify_nodes(&self) -> StoreResult<()> {
        if let Db::Postgres(p) = self {
            sqlx::query(WAKE_SQL).execute(p).await?;
        }
        Ok(())
    }
}

/// The channel nodes LISTEN on for "new work is due".
pub(super) const WAKE_CHANNEL: &str = "herald_wake";
const WAKE_SQL: &str = "SELECT pg_notify('herald_wake', '')";

fn wrap<R>(rows: Vec<R>, f: impl Fn(R) -> Row) -> Vec<Row> {
    rows.into_iter().map(f).collect()
}

/// A write transaction of either backend.
pub(super) enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Pg(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    pub async fn exec(&mut self, sql: Sql) -> StoreResult<u64> {
        Ok(match self {
            Tx::Sqlite(t) => sql.sqlite().execute(&mut **t).await?.rows_affected(),
            Tx::Pg(t) => sql.pg().execute(&mut **t).await?.rows_affected(),
        })
    }

    pub async fn all(&mut self, sql: Sql) -> StoreResult<Vec<Row>> {
        Ok(match self {
            Tx::Sqlite(t) => wrap(sql.sqlite().fetch_all(&mut **t).await?, Row::Sqlite),
            Tx::Pg(t) => wrap(sql.pg().fetch_all(&mut **t).await?, Row::Pg),
        })
    }

    pub async fn opt(&mut self, sql: Sql) -> StoreResult<Option<Row>> {
        Ok(match self {
            Tx::Sqlite(t) => sql
                .sqlite()
                .fetch_optional(&mut **t)
                .await?
                .map(Row::Sqlite),
            Tx::Pg(t) => sql.pg().fetch_optional(&mut **t).await?.map(Row::Pg),
        })
    }

    /// Tells every node, at commit, that new work is due (PostgreSQL only).
    pub async fn notify_nodes(&mut self) -> StoreResult<()> {
        if let Tx::Pg(t) = self {
            sqlx::query(WAKE_SQL).execute(&mut **t).await?;
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

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn numbers_placeholders() {
        assert_eq!(
            numbered("SELECT * FROM t WHERE a = ? AND b IN (?, ?)"),
            "SELECT * FROM t WHERE a = $1 AND b IN ($2, $3)"
        );
        assert_eq!(numbered("SELECT 1"), "SELECT 1");
    }
}
