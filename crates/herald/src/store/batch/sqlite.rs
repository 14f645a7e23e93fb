//! A batch on SQLite: each row is one run of a cached prepared statement, plain calls on the
//! committer's thread, in the batch's transaction.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::OnceLock;

use super::*;
use crate::store::lite;
use crate::store::{StoreError, StoreResult};

/// The state update of one finished delivery, only if its lease is still held (SQLite).
const SET_STATE: &str = "UPDATE deliveries SET status = ?3, tries = tries + 1,
        next_attempt_at = ?4, lease_until = NULL, lease_token = NULL, next_trigger = 0,
        updated_at = ?5
     WHERE id = ?1 AND lease_token = ?2 AND status = 3";

/// SQLite: each row is one run of a cached prepared statement, in the batch's transaction,
/// its values bound where they are.
pub(super) async fn write(
    t: &mut Tx,
    rows: &Rows,
    responses: &[Option<Cow<'_, str>>],
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
        rows.finished
            .iter()
            .zip(responses)
            .map(|(f, r)| attempt_values(&f.attempt, r.as_deref())),
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
