//! Rows to model values. JSON columns are TEXT on both backends.

use serde_json::Value;

use super::db::Row;
use super::sealed::{self, Cipher};
use super::{StoreError, StoreResult};
use crate::ids::{AppId, AttemptId, DeliveryId, EndpointId, MessageId};
use crate::model::{
    Application, Attempt, AttemptStatus, Delivery, DeliveryStatus, Endpoint, EventType, Message,
    Trigger,
};

pub(super) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// A JSON column: NULL is `None`; a value that does not parse is a corrupt row, never taken for
/// NULL (an endpoint whose `event_types` did not parse would otherwise match every event type).
fn from_json<T: serde::de::DeserializeOwned>(r: &Row, col: &'static str) -> StoreResult<Option<T>> {
    r.opt_string(col)?
        .map(|s| {
            serde_json::from_str(&s).map_err(|source| StoreError::Json {
                column: col,
                source,
            })
        })
        .transpose()
}

/// A JSON column that may be sealed.
fn sealed_json<T: serde::de::DeserializeOwned>(
    r: &Row,
    col: &'static str,
    cipher: Option<&Cipher>,
) -> StoreResult<Option<T>> {
    r.opt_string(col)?
        .map(|s| {
            let text = sealed::open(cipher, s)?;
            serde_json::from_str(&text).map_err(|source| StoreError::Json {
                column: col,
                source,
            })
        })
        .transpose()
}

/// A JSON column that holds an object, `{}` when NULL.
fn object(r: &Row, col: &'static str) -> StoreResult<Value> {
    Ok(from_json(r, col)?.unwrap_or(Value::Object(Default::default())))
}

/// A status column's number, known or a corrupt row.
fn code<T>(r: &Row, col: &'static str, decode: fn(i64) -> Option<T>) -> StoreResult<T> {
    let v = r.i64(col)?;
    decode(v).ok_or(StoreError::UnknownCode {
        column: col,
        value: v,
    })
}

pub(super) fn app(r: &Row) -> StoreResult<Application> {
    Ok(Application {
        id: AppId::from_stored(r.string("id")?),
        uid: r.opt_string("uid")?,
        name: r.string("name")?,
        metadata: object(r, "metadata")?,
        throttle_rate: r.opt_i64("throttle_rate")?,
        payload_retention_ms: r.opt_i64("payload_retention_ms")?,
        created_at: r.i64("created_at")?,
        updated_at: r.i64("updated_at")?,
    })
}

/// An endpoint row, its secrets and headers opened with `cipher` if they were sealed.
pub(super) fn endpoint(r: &Row, cipher: Option<&Cipher>) -> StoreResult<Endpoint> {
    Ok(Endpoint {
        id: EndpointId::from_stored(r.string("id")?),
        app_id: AppId::from_stored(r.string("app_id")?),
        uid: r.opt_string("uid")?,
        url: r.string("url")?,
        description: r.string("description")?,
        secret: sealed::open(cipher, r.string("secret")?)?.into(),
        old_secrets: sealed_json(r, "old_secrets", cipher)?.unwrap_or_default(),
        event_types: from_json(r, "event_types")?,
        channels: from_json(r, "channels")?,
        disabled: r.i64("disabled")? != 0,
        disabled_reason: r.opt_string("disabled_reason")?,
        failing_since: r.opt_i64("failing_since")?,
        headers: sealed_json(r, "headers", cipher)?.unwrap_or_default(),
        metadata: object(r, "metadata")?,
        throttle_rate: r.opt_i64("throttle_rate")?,
        app_throttle_rate: None,
        options: from_json(r, "options")?.unwrap_or_default(),
        client_cert: r
            .opt_string("client_cert")?
            .map(|c| sealed::open(cipher, c))
            .transpose()?
            .map(Into::into),
        loop_detected_at: r.opt_i64("loop_detected_at")?,
        created_at: r.i64("created_at")?,
        updated_at: r.i64("updated_at")?,
    })
}

/// The columns of an endpoint read for delivery: its own and its application's throttle rate.
pub(super) const ENDPOINT_FOR_DELIVERY: &str = "e.*, (SELECT a.throttle_rate FROM applications a \
    WHERE a.id = e.app_id) AS app_throttle_rate";

/// An endpoint read with [`ENDPOINT_FOR_DELIVERY`].
pub(super) fn endpoint_for_delivery(r: &Row, cipher: Option<&Cipher>) -> StoreResult<Endpoint> {
    let mut ep = endpoint(r, cipher)?;
    ep.app_throttle_rate = r.opt_i64("app_throttle_rate")?;
    Ok(ep)
}

pub(super) fn event_type(r: &Row) -> StoreResult<EventType> {
    Ok(EventType {
        name: r.string("name")?,
        description: r.string("description")?,
        archived: r.i64("archived")? != 0,
        deprecated: r.i64("deprecated")? != 0,
        feature_flag: r.opt_string("feature_flag")?,
        schemas: from_json(r, "schemas")?,
        validate_payloads: r.i64("validate_payloads")? != 0,
        created_at: r.i64("created_at")?,
        updated_at: r.i64("updated_at")?,
    })
}

pub(super) fn message(r: &Row) -> StoreResult<Message> {
    Ok(Message {
        id: MessageId::from_stored(r.string("id")?),
        app_id: AppId::from_stored(r.string("app_id")?),
        event_id: r.opt_string("event_id")?,
        event_type: r.string("event_type")?,
        payload: r.opt_string("payload")?,
        channels: from_json(r, "channels")?,
        tags: from_json(r, "tags")?,
        ordering_key: r.opt_string("ordering_key")?,
        created_at: r.i64("created_at")?,
        expires_at: r.opt_i64("expires_at")?,
    })
}

/// The delivery columns under `d_` aliases, for joins with another table's `*`.
pub(super) const DELIVERY_COLS: &str = "d.id AS d_id, d.app_id AS d_app_id, d.msg_id AS d_msg_id, \
    d.endpoint_id AS d_endpoint_id, d.status AS d_status, d.tries AS d_tries, \
    d.next_attempt_at AS d_next_attempt_at, d.next_trigger AS d_next_trigger, \
    d.created_at AS d_created_at, d.updated_at AS d_updated_at";

pub(super) fn delivery(r: &Row) -> StoreResult<Delivery> {
    Ok(Delivery {
        id: DeliveryId::from_stored(r.string("d_id")?),
        app_id: AppId::from_stored(r.string("d_app_id")?),
        msg_id: MessageId::from_stored(r.string("d_msg_id")?),
        endpoint_id: EndpointId::from_stored(r.string("d_endpoint_id")?),
        status: code(r, "d_status", DeliveryStatus::from_code)?,
        tries: r.i64("d_tries")?,
        next_attempt_at: r.opt_i64("d_next_attempt_at")?,
        next_trigger: code(r, "d_next_trigger", Trigger::from_code)?,
        created_at: r.i64("d_created_at")?,
        updated_at: r.i64("d_updated_at")?,
    })
}

/// An attempt row, its response body opened with `cipher` if it was sealed.
pub(super) fn attempt(r: &Row, cipher: Option<&Cipher>) -> StoreResult<Attempt> {
    Ok(Attempt {
        id: AttemptId::from_stored(r.string("id")?),
        app_id: AppId::from_stored(r.string("app_id")?),
        msg_id: MessageId::from_stored(r.string("msg_id")?),
        endpoint_id: EndpointId::from_stored(r.string("endpoint_id")?),
        url: r.string("url")?,
        status: code(r, "status", AttemptStatus::from_code)?,
        status_code: r.i64("status_code")?,
        response: r
            .opt_string("response")?
            .map(|s| sealed::open(cipher, s))
            .transpose()?,
        duration_ms: r.i64("duration_ms")?,
        error: r.opt_string("error")?,
        trigger: code(r, "trigger_type", Trigger::from_code)?,
        created_at: r.i64("created_at")?,
    })
}

/// Decodes every row with `f`.
pub(super) fn each<T>(rows: &[Row], f: impl Fn(&Row) -> StoreResult<T>) -> StoreResult<Vec<T>> {
    rows.iter().map(f).collect()
}
