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

mod pg;
mod sqlite;

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use super::db::{Db, Tx, marks};
use super::rows::to_json;
use super::sealed::Cipher;
use super::sql::Val;
use super::{NextStep, StoreResult};
use crate::ids::{AppId, DeliveryId, EndpointId, MessageId};
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
        ("ordering_key", Text),
        ("created_at", Int),
        ("expires_at", Int),
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
        ("order_key", Text),
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
    pub id: DeliveryId,
    pub app_id: AppId,
    pub msg_id: MessageId,
    pub endpoint_id: EndpointId,
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<i64>,
    /// Set when the delivery is stored already leased to this node (handed over).
    pub lease_until: Option<i64>,
    pub lease_token: Option<i64>,
    /// Its ordering key (see `model::order_key`); `None` is unordered.
    pub order_key: Option<String>,
    pub created_at: i64,
}

/// An attempt of a delivery this node holds, with the delivery's next state.
#[derive(Debug, Clone)]
pub struct Finished {
    pub attempt: Attempt,
    pub delivery_id: DeliveryId,
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
    pub refused: HashSet<MessageId>,
    /// The finished deliveries whose state was set (their leases were held).
    pub finished: HashSet<DeliveryId>,
    /// The new deliveries stored, when not all were: on PostgreSQL, none is stored to an
    /// endpoint deleted meanwhile.
    pub stored: Option<HashSet<DeliveryId>>,
}

fn message_values(m: &Message) -> [Val<'_>; 10] {
    [
        Val::from(&m.id),
        Val::from(&m.app_id),
        Val::from(&m.event_id),
        Val::from(&m.event_type),
        Val::from(&m.payload),
        Val::Text(None),
        Val::Text(None),
        Val::from(&m.ordering_key),
        Val::from(m.created_at),
        Val::from(m.expires_at),
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
fn message_row<'a>(m: &'a Message, json: &'a [Option<String>; 2]) -> [Val<'a>; 10] {
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

fn delivery_values(d: &NewDelivery) -> [Val<'_>; 11] {
    [
        Val::from(&d.id),
        Val::from(&d.app_id),
        Val::from(&d.msg_id),
        Val::from(&d.endpoint_id),
        Val::from(d.status.code()),
        Val::from(d.next_attempt_at),
        Val::from(d.lease_until),
        Val::from(d.lease_token),
        Val::from(&d.order_key),
        Val::from(d.created_at),
        Val::from(d.created_at),
    ]
}

/// An attempt's values, its response body given apart (sealed, if at-rest encryption is on).
fn attempt_values<'a>(a: &'a Attempt, response: Option<&'a str>) -> [Val<'a>; 12] {
    [
        Val::from(&a.id),
        Val::from(&a.app_id),
        Val::from(&a.msg_id),
        Val::from(&a.endpoint_id),
        Val::from(&a.url),
        Val::from(a.status.code()),
        Val::from(a.status_code),
        Val::from(response),
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

/// Writes `rows`, in `tx` if given (always on SQLite), else as one statement of its own.
/// `notify`: tell the other nodes (PostgreSQL) that work is due, in this node's name.
pub(super) async fn write(
    db: &Db,
    tx: &mut Option<Tx>,
    rows: &Rows,
    now: i64,
    notify: Option<&str>,
    cipher: Option<&Cipher>,
) -> StoreResult<Written> {
    let window_start = now - super::EVENT_ID_WINDOW_MS;
    // Response bodies may echo tokens: sealed at rest when a key is set.
    let responses: Vec<Option<Cow<'_, str>>> = rows
        .finished
        .iter()
        .map(|f| {
            f.attempt.response.as_deref().map(|r| match cipher {
                Some(c) => Cow::Owned(c.seal(r)),
                None => Cow::Borrowed(r),
            })
        })
        .collect();
    match tx.as_mut().filter(|t| !t.is_pg()) {
        Some(t) => sqlite::write(t, rows, &responses, now, window_start).await,
        None => pg::write(db, tx, rows, &responses, now, window_start, notify).await,
    }
}
