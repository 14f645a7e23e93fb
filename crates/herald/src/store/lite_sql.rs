//! SQLite statements on a connection: Herald's argument types bound as SQLite values, a
//! statement run once or once per row, and result rows read into owned values (so that they
//! outlive the connection's lock and the blocking task that read them).

use std::sync::Arc;

use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, ToSql, params_from_iter};

use super::sql::{Arg, Sql, Val};
use super::{StoreError, StoreResult};

impl ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Arg::Text(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Arg::Int(Some(i)) => ToSqlOutput::Owned(Value::Integer(*i)),
            Arg::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Arg::Text(None) | Arg::Int(None) => ToSqlOutput::Owned(Value::Null),
            Arg::Texts(_) | Arg::Ints(_) => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    "arrays are bound on PostgreSQL only".into(),
                ));
            }
        })
    }
}

impl ToSql for Val<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Val::Text(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Val::Int(Some(i)) => ToSqlOutput::Owned(Value::Integer(i)),
            Val::Text(None) | Val::Int(None) => ToSqlOutput::Owned(Value::Null),
        })
    }
}

/// Runs one statement once per row of borrowed values; returns the rows each run changed.
pub(super) fn exec_rows<'a, const N: usize>(
    conn: &Connection,
    text: &str,
    runs: impl Iterator<Item = [Val<'a>; N]>,
) -> StoreResult<Vec<u64>> {
    let mut st = conn.prepare_cached(text)?;
    runs.map(|vals| Ok(st.execute(params_from_iter(vals.iter()))? as u64))
        .collect()
}

/// Runs a statement; returns the rows it changed.
pub(super) fn exec(conn: &Connection, sql: &Sql) -> StoreResult<u64> {
    let mut st = conn.prepare_cached(&sql.text)?;
    Ok(st.execute(params_from_iter(sql.args.iter()))? as u64)
}

/// Runs a query (or a write with `RETURNING`) and reads every row.
pub(super) fn query(conn: &Connection, sql: &Sql) -> StoreResult<Vec<LiteRow>> {
    Ok(query_capped(conn, sql, usize::MAX)?.0)
}

/// Runs a query and reads its rows while their text and blob values total at most
/// `max_bytes` (the first row always); true if it stopped before the end.
pub(super) fn query_capped(
    conn: &Connection,
    sql: &Sql,
    max_bytes: usize,
) -> StoreResult<(Vec<LiteRow>, bool)> {
    let mut st = conn.prepare_cached(&sql.text)?;
    let cols: Arc<[String]> = st.column_names().map(String::from).collect();
    let mut rows = st.query(params_from_iter(sql.args.iter()))?;
    let mut out = Vec::new();
    let mut bytes = 0usize;
    while let Some(r) = rows.next()? {
        let vals = (0..cols.len())
            .map(|i| r.get::<_, Value>(i))
            .collect::<Result<Vec<_>, _>>()?;
        bytes += vals
            .iter()
            .map(|v| match v {
                Value::Text(t) => t.len(),
                Value::Blob(b) => b.len(),
                _ => 8,
            })
            .sum::<usize>();
        if bytes > max_bytes && !out.is_empty() {
            return Ok((out, true));
        }
        out.push(LiteRow {
            cols: cols.clone(),
            vals,
        });
    }
    Ok((out, false))
}

/// A result row, owned.
pub(super) struct LiteRow {
    cols: Arc<[String]>,
    vals: Vec<Value>,
}

impl LiteRow {
    fn get(&self, col: &str) -> StoreResult<&Value> {
        self.cols
            .iter()
            .position(|c| c == col)
            .map(|i| &self.vals[i])
            .ok_or_else(|| StoreError::Corrupt(format!("no column {col}")))
    }

    fn wrong(col: &str, v: &Value) -> StoreError {
        StoreError::Corrupt(format!("column {col}: unexpected {:?}", v.data_type()))
    }

    pub fn opt_i64(&self, col: &str) -> StoreResult<Option<i64>> {
        match self.get(col)? {
            Value::Integer(i) => Ok(Some(*i)),
            Value::Null => Ok(None),
            v => Err(Self::wrong(col, v)),
        }
    }

    pub fn opt_string(&self, col: &str) -> StoreResult<Option<String>> {
        match self.get(col)? {
            Value::Text(s) => Ok(Some(s.clone())),
            Value::Null => Ok(None),
            v => Err(Self::wrong(col, v)),
        }
    }

    pub fn bytes(&self, col: &str) -> StoreResult<Vec<u8>> {
        match self.get(col)? {
            Value::Blob(b) => Ok(b.clone()),
            Value::Text(s) => Ok(s.clone().into_bytes()),
            v => Err(Self::wrong(col, v)),
        }
    }
}
