//! Writing one group commit's rows: new messages and deliveries, attempt records, and the next
//! states of finished deliveries.
//!
//! SQLite runs one cached prepared statement per row: plain calls on the committer's thread.
//! PostgreSQL gets the whole batch as one statement, each column's values as one array
//! (`unnest`). There a round trip is what costs: each waits for the server's process to be
//! scheduled (0.4-0.9 ms measured with the machine's 2 cores busy), so a batch costs one round
//! trip, needs no BEGIN and COMMIT (one statement is atomic), and its text is the same whatever
//! the batch, so it is prepared once per connection.
//!
//! On PostgreSQL deliveries and attempts have no foreign keys (migration 3): the statement locks
//! the endpoints it fans out to and the deliveries it records attempts of (`FOR KEY SHARE`, once
//! each), and stores no delivery to an endpoint nor attempt of a delivery that is gone. Deleting
//! an endpoint or application locks its row first, then deletes their deliveries and attempts
//! (`endpoints.rs`, `catalog.rs`), so either a batch finishes first and its rows are deleted, or
//! it finds the parent gone.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use super::db::{Arg, Db, Sql, Tx, marks};
use super::lite;
use super::rows::to_json;
use super::sql::Val;
use super::{NextStep, StoreError, StoreResult};
use crate::model::{Attempt, DeliveryStatus, Message};

/// A column's type, for the arrays PostgreSQL gets.
#[derive(Clone, Copy)]
enum Ty {
    Text,
    Int,
}

/// A table a batch inserts into, with its columns in the order of each row's values.
struct Table {
    name: &'static str,
    cols: &'static [(&'static str, Ty)],
}

use Ty::{Int, Text};

const MESSAGES: Table = Table {
    name: "messages",
    cols: &[
        ("id", Text),
        ("app_id", Text),
        ("event_id", Text),
        ("event_type", Text),
        ("payload", Text),
        ("channels", Text),
        ("tags", Text),
        ("created_at", Int),
    ],
};

const DELIVERIES: Table = Table {
    name: "deliveries",
    cols: &[
        ("id", Text),
        ("app_id", Text),
        ("msg_id", Text),
        ("endpoint_id", Text),
        ("status", Int),
        ("next_attempt_at", Int),
        ("lease_until", Int),
        ("lease_token", Int),
        ("created_at", Int),
        ("updated_at", Int),
    ],
};

const ATTEMPTS: Table = Table {
    name: "attempts",
    cols: &[
        ("id", Text),
        ("app_id", Text),
        ("msg_id", Text),
        ("endpoint_id", Text),
        ("url", Text),
        ("status", Int),
        ("status_code", Int),
        ("response", Text),
        ("duration_ms", Int),
        ("error", Text),
        ("trigger_type", Int),
        ("created_at", Int),
    ],
};

const EVENT_IDS: Table = Table {
    name: "event_ids",
    cols: &[
        ("app_id", Text),
        ("event_id", Text),
        ("msg_id", Text),
        ("created_at", Int),
    ],
};

/// Claims an eventId for a new message unless it was published in the window: a row comes back
/// only if the claim succeeded. A concurrent claim of the same eventId (another node's) waits
/// for this one's commit, then sees it.
const CLAIM_EVENT_ID: &str = "ON CONFLICT (app_id, event_id) DO UPDATE
        SET msg_id = excluded.msg_id, created_at = excluded.created_at
        WHERE event_ids.created_at <= ?
     RETURNING msg_id";

/// The next state of a finished delivery: `(id, lease token, status, next attempt)`.
const STATE: &[Ty] = &[Text, Int, Int, Int];

/// A new delivery, as a batch stores it.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: String,
    pub app_id: String,
    pub msg_id: String,
    pub endpoint_id: String,
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<i64>,
    /// Set when the delivery is stored already leased to this node (handed over).
    pub lease_until: Option<i64>,
    pub lease_token: Option<i64>,
    pub created_at: i64,
}

/// An attempt of a delivery this node holds, with the delivery's next state.
#[derive(Debug, Clone)]
pub struct Finished {
    pub attempt: Attempt,
    pub delivery_id: String,
    /// The lease the delivery was sent under: its state is set only if still held.
    pub lease_token: i64,
    pub next: NextStep,
}

/// One batch's rows: new messages (with their eventIds), new deliveries, finished attempts.
#[derive(Debug, Default)]
pub struct Rows {
    pub messages: Vec<Arc<Message>>,
    pub deliveries: Vec<NewDelivery>,
    pub finished: Vec<Finished>,
}

/// What a batch's write did.
#[derive(Debug)]
pub struct Written {
    /// The new messages not stored: their eventId was published in the window.
    pub refused: HashSet<String>,
    /// The finished deliveries whose state was set (their leases were held).
    pub finished: HashSet<String>,
    /// The new deliveries stored, when not all were: on PostgreSQL, none is stored to an
    /// endpoint deleted meanwhile.
    pub stored: Option<HashSet<String>>,
}

fn message_values(m: &Message) -> [Val<'_>; 8] {
    [
        Val::from(&m.id),
        Val::from(&m.app_id),
        Val::from(&m.event_id),
        Val::from(&m.event_type),
        Val::from(&m.payload),
        Val::Text(None),
        Val::Text(None),
        Val::from(m.created_at),
    ]
}

/// A message's channels and tags, as the JSON its columns hold (made for the row, so not
/// borrowed like the other values).
fn message_json(m: &Message) -> [Option<String>; 2] {
    [
        m.channels.as_ref().map(to_json),
        m.tags.as_ref().map(to_json),
    ]
}

/// The values of a message row with its JSON columns filled in from `json`.
fn message_row<'a>(m: &'a Message, json: &'a [Option<String>; 2]) -> [Val<'a>; 8] {
    let mut v = message_values(m);
    v[5] = Val::from(&json[0]);
    v[6] = Val::from(&json[1]);
    v
}

/// The eventId row of a message that has one.
fn event_id_values(m: &Message) -> Option<[Val<'_>; 4]> {
    let eid = m.event_id.as_ref()?;
    Some([
        Val::from(&m.app_id),
        Val::from(eid),
        Val::from(&m.id),
        Val::from(m.created_at),
    ])
}

fn delivery_values(d: &NewDelivery) -> [Val<'_>; 10] {
    [
        Val::from(&d.id),
        Val::from(&d.app_id),
        Val::from(&d.msg_id),
        Val::from(&d.endpoint_id),
        Val::from(d.status.code()),
        Val::from(d.next_attempt_at),
        Val::from(d.lease_until),
        Val::from(d.lease_token),
        Val::from(d.created_at),
        Val::from(d.created_at),
    ]
}

fn attempt_values(a: &Attempt) -> [Val<'_>; 12] {
    [
        Val::from(&a.id),
        Val::from(&a.app_id),
        Val::from(&a.msg_id),
        Val::from(&a.endpoint_id),
        Val::from(&a.url),
        Val::from(a.status.code()),
        Val::from(a.status_code),
        Val::from(&a.response),
        Val::from(a.duration_ms),
        Val::from(&a.error),
        Val::from(a.trigger.code()),
        Val::from(a.created_at),
    ]
}

/// A finished delivery's next state: `(id, lease token, status, next attempt)`.
fn state_values(f: &Finished) -> [Val<'_>; 4] {
    let (status, next_at) = match f.next {
        NextStep::Delivered => (DeliveryStatus::Success, None),
        NextStep::RetryAt(t) => (DeliveryStatus::Pending, Some(t)),
        NextStep::Failed => (DeliveryStatus::Failed, None),
    };
    [
        Val::from(&f.delivery_id),
        Val::from(f.lease_token),
        Val::from(status.code()),
        Val::from(next_at),
    ]
}

impl Table {
    fn names(&self) -> String {
        let names: Vec<&str> = self.cols.iter().map(|(n, _)| *n).collect();
        names.join(", ")
    }

    fn types(&self) -> Vec<Ty> {
        self.cols.iter().map(|(_, t)| *t).collect()
    }

    fn insert_one(&self) -> String {
        format!(
            "INSERT INTO {} ({}) VALUES ({})",
            self.name,
            self.names(),
            marks(self.cols.len())
        )
    }

    /// `INSERT ... SELECT ... FROM unnest(?::text[], ...) AS x (...) {tail}`, one array per
    /// column, plus `extra` arrays the `tail` may filter on.
    fn insert_arrays(&self, extra: &[(&str, Ty)], tail: &str) -> String {
        let all: Vec<(&str, Ty)> = self.cols.iter().chain(extra).copied().collect();
        let arrays: Vec<&str> = all.iter().map(|(_, t)| array_of(*t)).collect();
        let aliases: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
        let values: Vec<String> = self.cols.iter().map(|(n, _)| format!("x.{n}")).collect();
        format!(
            "INSERT INTO {} ({}) SELECT {} FROM unnest({}) AS x ({}) {tail}",
            self.name,
            self.names(),
            values.join(", "),
            arrays.join(", "),
            aliases.join(", ")
        )
    }
}

fn array_of(t: Ty) -> &'static str {
    match t {
        Text => "?::text[]",
        Int => "?::bigint[]",
    }
}

/// The state update of one finished delivery, only if its lease is still held (SQLite).
const SET_STATE: &str = "UPDATE deliveries SET status = ?3, tries = tries + 1,
        next_attempt_at = ?4, lease_until = NULL, lease_token = NULL, next_trigger = 0,
        updated_at = ?5
     WHERE id = ?1 AND lease_token = ?2 AND status = 3";

/// The whole batch as one PostgreSQL statement. Its arguments: the endpoints fanned out to,
/// the finished deliveries and their lease tokens, the eventId columns, the start of the eventId
/// window, the message and delivery columns, the time, the state columns, the attempt columns
/// (with each attempt's delivery), the wake-up's payload and whether to send it. The update (`u`) locks the
/// finished deliveries whose lease is held; `k` the others (another node holds them), which
/// `u` does not touch: a row the statement updated could not be locked again. A lease token is
/// set only while a delivery is being sent (status 3), so the token alone says the lease is held;
/// a `status = 3` term would also lead the planner to scan the partial index of leased rows
/// rather than look each id up. Returns `(id, 'stored')` for each delivery stored and `(id, 'finished')` for each
/// whose state it set.
fn pg_statement() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let states: Vec<&str> = STATE.iter().map(|t| array_of(*t)).collect();
        format!(
            "WITH e AS (SELECT id FROM endpoints WHERE id = ANY(?::text[]) FOR KEY SHARE),
             k AS (SELECT d.id FROM deliveries d
                   JOIN unnest(?::text[], ?::bigint[]) AS v (id, token) ON d.id = v.id
                   WHERE d.lease_token IS DISTINCT FROM v.token
                   FOR KEY SHARE OF d),
             ev AS ({} {CLAIM_EVENT_ID}),
             m AS ({} RETURNING id),
             d AS ({} RETURNING id),
             u AS (UPDATE deliveries SET status = v.status, tries = tries + 1,
                      next_attempt_at = v.next_at, lease_until = NULL, lease_token = NULL,
                      next_trigger = 0, updated_at = ?
                   FROM unnest({}) AS v (id, token, status, next_at)
                   WHERE deliveries.id = v.id AND deliveries.lease_token = v.token
                   RETURNING deliveries.id AS id),
             a AS ({}),
             n AS (SELECT pg_notify('herald_wake', ?) WHERE ? = 1)
             SELECT id, 'finished' AS what FROM u UNION ALL SELECT id, 'stored' FROM d
             UNION ALL SELECT msg_id, 'event' FROM ev UNION ALL SELECT '', 'notified' FROM n",
            EVENT_IDS.insert_arrays(&[], ""),
            MESSAGES.insert_arrays(
                &[],
                "WHERE x.event_id IS NULL OR x.id IN (SELECT msg_id FROM ev)"
            ),
            DELIVERIES.insert_arrays(
                &[],
                "WHERE x.endpoint_id IN (SELECT id FROM e) AND x.msg_id IN (SELECT id FROM m)",
            ),
            states.join(", "),
            ATTEMPTS.insert_arrays(
                &[("delivery_id", Text)],
                "WHERE x.delivery_id IN (SELECT id FROM u UNION ALL SELECT id FROM k)",
            )
        )
    })
}

/// Rows as one array per column.
fn columns<'a>(types: &[Ty], rows: impl Iterator<Item = Vec<Val<'a>>>) -> StoreResult<Vec<Arg>> {
    let mut cols: Vec<Arg> = types
        .iter()
        .map(|t| match t {
            Text => Arg::Texts(Vec::new()),
            Int => Arg::Ints(Vec::new()),
        })
        .collect();
    for row in rows {
        if row.len() != cols.len() {
            return Err(StoreError::Corrupt("batch row of the wrong width".into()));
        }
        for (col, v) in cols.iter_mut().zip(row) {
            match (col, v) {
                (Arg::Texts(a), Val::Text(v)) => a.push(v.map(str::to_string)),
                (Arg::Ints(a), Val::Int(v)) => a.push(v),
                _ => return Err(StoreError::Corrupt("batch value of the wrong type".into())),
            }
        }
    }
    Ok(cols)
}

/// Writes `rows`, in `tx` if given (always on SQLite), else as one statement of its own.
/// `notify`: tell the other nodes (PostgreSQL) that work is due, in this node's name.
pub(super) async fn write(
    db: &Db,
    tx: &mut Option<Tx>,
    rows: &Rows,
    now: i64,
    notify: Option<&str>,
) -> StoreResult<Written> {
    let window_start = now - super::EVENT_ID_WINDOW_MS;
    match tx.as_mut().filter(|t| !t.is_pg()) {
        Some(t) => write_sqlite(t, rows, now, window_start).await,
        None => write_pg(db, tx, rows, now, window_start, notify).await,
    }
}

/// SQLite: each row is one run of a cached prepared statement, in the batch's transaction,
/// its values bound where they are.
async fn write_sqlite(
    t: &mut Tx,
    rows: &Rows,
    now: i64,
    window_start: i64,
) -> StoreResult<Written> {
    /// The statements' texts, made once.
    static TEXTS: OnceLock<[String; 4]> = OnceLock::new();
    let [claim, messages, deliveries, attempts] = TEXTS.get_or_init(|| {
        [
            format!("{} {CLAIM_EVENT_ID}", EVENT_IDS.insert_one()),
            MESSAGES.insert_one(),
            DELIVERIES.insert_one(),
            ATTEMPTS.insert_one(),
        ]
    });
    let conn = t
        .sqlite()
        .ok_or_else(|| StoreError::Corrupt("a SQLite batch on another backend".into()))?;
    let mut refused = HashSet::new();
    for m in &rows.messages {
        let Some(ev) = event_id_values(m) else {
            continue;
        };
        let mut claim = conn.prepare_cached(claim)?;
        let mut found = claim.query(rusqlite::params_from_iter(
            ev.iter().chain(&[Val::from(window_start)]),
        ))?;
        if found.next()?.is_none() {
            refused.insert(m.id.clone());
        }
    }
    let json: Vec<[Option<String>; 2]> = rows.messages.iter().map(|m| message_json(m)).collect();
    lite::exec_rows(
        conn,
        messages,
        rows.messages
            .iter()
            .zip(&json)
            .filter(|(m, _)| !refused.contains(&m.id))
            .map(|(m, j)| message_row(m, j)),
    )?;
    lite::exec_rows(
        conn,
        deliveries,
        rows.deliveries
            .iter()
            .filter(|d| !refused.contains(&d.msg_id))
            .map(delivery_values),
    )?;
    lite::exec_rows(
        conn,
        attempts,
        rows.finished.iter().map(|f| attempt_values(&f.attempt)),
    )?;
    let counts = lite::exec_rows(
        conn,
        SET_STATE,
        rows.finished.iter().map(|f| {
            let [id, token, status, next_at] = state_values(f);
            [id, token, status, next_at, Val::from(now)]
        }),
    )?;
    let finished = rows
        .finished
        .iter()
        .zip(counts)
        .filter(|(_, n)| *n == 1)
        .map(|(f, _)| f.delivery_id.clone())
        .collect();
    Ok(Written {
        refused,
        finished,
        stored: None,
    })
}

/// PostgreSQL: the whole batch as one statement (see `pg_statement`), in `tx` if given.
async fn write_pg(
    db: &Db,
    tx: &mut Option<Tx>,
    rows: &Rows,
    now: i64,
    window_start: i64,
    notify: Option<&str>,
) -> StoreResult<Written> {
    let mut endpoints: Vec<Option<String>> = rows
        .deliveries
        .iter()
        .map(|d| Some(d.endpoint_id.clone()))
        .collect();
    endpoints.sort_unstable();
    endpoints.dedup();
    // Each attempt goes with the state of the same finished delivery.
    let finished: Vec<Option<String>> = rows
        .finished
        .iter()
        .map(|f| Some(f.delivery_id.clone()))
        .collect();
    let tokens: Vec<Option<i64>> = rows.finished.iter().map(|f| Some(f.lease_token)).collect();
    let with_event_ids: Vec<&Arc<Message>> = rows
        .messages
        .iter()
        .filter(|m| m.event_id.is_some())
        .collect();
    let attempts = rows.finished.iter().map(|f| {
        let mut v = attempt_values(&f.attempt).to_vec();
        v.push(Val::from(&f.delivery_id));
        v
    });
    let json: Vec<[Option<String>; 2]> = rows.messages.iter().map(|m| message_json(m)).collect();
    let mut attempt_types = ATTEMPTS.types();
    attempt_types.push(Text);
    let mut args = vec![
        Arg::Texts(endpoints),
        Arg::Texts(finished),
        Arg::Ints(tokens),
    ];
    args.extend(columns(
        &EVENT_IDS.types(),
        with_event_ids
            .iter()
            .filter_map(|m| event_id_values(m).map(|v| v.to_vec())),
    )?);
    args.push(Arg::from(window_start));
    args.extend(columns(
        &MESSAGES.types(),
        rows.messages
            .iter()
            .zip(&json)
            .map(|(m, j)| message_row(m, j).to_vec()),
    )?);
    args.extend(columns(
        &DELIVERIES.types(),
        rows.deliveries.iter().map(|d| delivery_values(d).to_vec()),
    )?);
    args.push(Arg::from(now));
    args.extend(columns(
        STATE,
        rows.finished.iter().map(|f| state_values(f).to_vec()),
    )?);
    args.extend(columns(&attempt_types, attempts)?);
    args.push(Arg::from(notify.unwrap_or_default()));
    args.push(Arg::from(notify.is_some()));
    let sql = Sql {
        text: pg_statement().to_string(),
        args,
    };
    let found = super::db::run_in(db, tx, sql).await?;
    let (mut stored, mut events, mut finished_ok) =
        (HashSet::new(), HashSet::new(), HashSet::new());
    for row in found {
        let id = row.string("id")?;
        match row.string("what")?.as_str() {
            "stored" => stored.insert(id),
            "event" => events.insert(id),
            "finished" => finished_ok.insert(id),
            _ => false,
        };
    }
    Ok(Written {
        refused: with_event_ids
            .iter()
            .filter(|m| !events.contains(&m.id))
            .map(|m| m.id.clone())
            .collect(),
        finished: finished_ok,
        stored: Some(stored),
    })
}
