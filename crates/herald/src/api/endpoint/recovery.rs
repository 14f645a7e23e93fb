//! An endpoint's delivery statistics, recovery of failed deliveries, replay of the messages it
//! never got, and example messages.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};

use super::endpoint_of;
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{JsonBody, Path, Query};
use crate::api::shapes::{MessageOut, StatsOut};
use crate::api::validate::{check_name, finish};
use crate::api::{AppState, Principal};
use crate::clock::{now_ms, parse_rfc3339, rfc3339};
use crate::ids;
use crate::store::NewMessage;

pub async fn stats(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    q: Query,
) -> ApiResult<Json<StatsOut>> {
    let ep = endpoint_of(&st, &who, &app_id, &ep_id).await?;
    let s = st
        .store
        .endpoint_stats(&ep.id, q.time("since")?, q.time("until")?)
        .await?;
    Ok(Json(s.into()))
}

#[derive(Deserialize)]
pub struct RecoverIn {
    pub since: String,
    #[serde(default)]
    pub until: Option<String>,
}

impl RecoverIn {
    pub(super) fn range(&self) -> ApiResult<(i64, Option<i64>)> {
        let since = parse_rfc3339(&self.since)
            .ok_or_else(|| ApiError::field("since", "must be an RFC 3339 date-time"))?;
        let until = match &self.until {
            None => None,
            Some(u) => Some(
                parse_rfc3339(u)
                    .ok_or_else(|| ApiError::field("until", "must be an RFC 3339 date-time"))?,
            ),
        };
        Ok((since, until))
    }
}

pub(super) fn task_out(kind: &str) -> Json<Value> {
    Json(json!({
        "id": ids::new_id(ids::TASK),
        "status": "finished",
        "task": kind,
        "updatedAt": rfc3339(now_ms()),
    }))
}

/// `POST recover`: requeues every failed delivery of the endpoint since a time.
pub async fn recover(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<RecoverIn>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    requeue(&st, &who, &app_id, &ep_id, &body, Requeue::Failed).await
}

/// `POST replay-missing`: queues the messages since a time that this endpoint never got.
pub async fn replay_missing(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<RecoverIn>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    requeue(&st, &who, &app_id, &ep_id, &body, Requeue::Missing).await
}

/// What a recovery queues again.
enum Requeue {
    /// Deliveries that failed (or were skipped while the endpoint was disabled).
    Failed,
    /// Messages the endpoint never had a delivery of.
    Missing,
}

async fn requeue(
    st: &AppState,
    who: &Principal,
    app_id: &str,
    ep_id: &str,
    body: &RecoverIn,
    what: Requeue,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ep = endpoint_of(st, who, app_id, ep_id).await?;
    let (since, until) = body.range()?;
    let (n, task) = match what {
        Requeue::Failed => (
            st.store.recover(&ep.id, since, until).await?,
            "endpoint.recover",
        ),
        Requeue::Missing => (
            st.store.replay_missing(&ep, since, until).await?,
            "endpoint.replay",
        ),
    };
    tracing::info!(endpoint = %ep.id, queued = n, task, "deliveries queued again");
    st.wake.notify_one();
    Ok((StatusCode::ACCEPTED, task_out(task)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExampleIn {
    pub event_type: String,
}

/// `POST send-example`: sends an example of an event type to this endpoint only.
pub async fn send_example(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<ExampleIn>,
) -> ApiResult<Json<MessageOut>> {
    let ep = endpoint_of(&st, &who, &app_id, &ep_id).await?;
    let mut errors = Vec::new();
    check_name("eventType", &body.event_type, &mut errors);
    finish(errors)?;
    let example = st
        .store
        .get_event_type(&body.event_type)
        .await
        .ok()
        .and_then(|et| et.schemas)
        .and_then(|s| first_example(&s))
        .unwrap_or_else(|| json!({"type": body.event_type, "example": true}));
    let msg = NewMessage {
        ordering_key: None,
        deliver_at: None,
        event_id: None,
        event_type: body.event_type,
        payload: example.to_string(),
        channels: None,
        tags: None,
    };
    let m = st
        .pipeline
        .publish(&ep.app_id, &msg, Some(&ep.id), None)
        .await?;
    Ok(Json(MessageOut::new(&m, true)))
}

/// The first `examples` entry (an object) of any schema version.
pub(super) fn first_example(schemas: &Value) -> Option<Value> {
    schemas
        .as_object()?
        .values()
        .filter_map(|s| s.get("examples")?.as_array()?.first().cloned())
        .find(Value::is_object)
}
