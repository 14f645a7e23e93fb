//! A batch on PostgreSQL: the whole batch as one statement, each column's values as one array.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use super::*;
use crate::model::Message;
use crate::store::db::{Arg, Sql};
use crate::store::{StoreError, StoreResult};

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

/// PostgreSQL: the whole batch as one statement (see `pg_statement`), in `tx` if given.
pub(super) async fn write(
    db: &Db,
    tx: &mut Option<Tx>,
    rows: &Rows,
    responses: &[Option<Cow<'_, str>>],
    now: i64,
    window_start: i64,
    notify: Option<&str>,
) -> StoreResult<Written> {
    let mut endpoints: Vec<Option<String>> = rows
        .deliveries
        .iter()
        .map(|d| Some(d.endpoint_id.to_string()))
        .collect();
    endpoints.sort_unstable();
    endpoints.dedup();
    // Each attempt goes with the state of the same finished delivery.
    let finished: Vec<Option<String>> = rows
        .finished
        .iter()
        .map(|f| Some(f.delivery_id.to_string()))
        .collect();
    let tokens: Vec<Option<i64>> = rows.finished.iter().map(|f| Some(f.lease_token)).collect();
    let with_event_ids: Vec<&Arc<Message>> = rows
        .messages
        .iter()
        .filter(|m| m.event_id.is_some())
        .collect();
    let attempts = rows.finished.iter().zip(responses).map(|(f, r)| {
        let mut v = attempt_values(&f.attempt, r.as_deref()).to_vec();
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
    let found = crate::store::db::run_in(db, tx, sql).await?;
    let (mut stored, mut events, mut finished_ok) =
        (HashSet::new(), HashSet::new(), HashSet::new());
    for row in found {
        let id = row.string("id")?;
        match row.string("what")?.as_str() {
            "stored" => stored.insert(DeliveryId::from_stored(id)),
            "event" => events.insert(id),
            "finished" => finished_ok.insert(DeliveryId::from_stored(id)),
            _ => false,
        };
    }
    Ok(Written {
        refused: with_event_ids
            .iter()
            .filter(|m| !events.contains(m.id.as_str()))
            .map(|m| m.id.clone())
            .collect(),
        finished: finished_ok,
        stored: Some(stored),
    })
}
