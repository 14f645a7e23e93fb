//! An endpoint's delivery statistics, recovery of failed deliveries, replay of the messages it
//! never got, and example messages.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::endpoint_of;
use crate::api::doc::{EndpointPath, Errors, IdempotencyParams};
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{JsonBody, Path, Query};
use crate::api::shapes::{MessageOut, StatsOut};
use crate::api::validate::{check_name, finish};
use crate::api::{AppState, Principal};
use crate::clock::{now_ms, parse_rfc3339, rfc3339};
use crate::ids;
use crate::store::NewMessage;

#[utoipa::path(
    get, path = "/app/{app_id}/endpoint/{endpoint_id}/stats", operation_id = "v1.endpoint.get-stats", tag = "Endpoint",
    params(EndpointPath, ("since" = Option<String>, Query, format = DateTime, description = "Count deliveries from this time"), ("until" = Option<String>, Query, format = DateTime, description = "Count deliveries until this time")),
    responses(
        (status = 200, description = "OK", body = StatsOut),
        Errors,
    )
)]
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

/// A time range (`until` is now when absent).
#[derive(Deserialize, ToSchema)]
pub struct RecoverIn {
    #[schema(format = DateTime)]
    pub since: String,
    #[serde(default)]
    #[schema(format = DateTime)]
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

/// A background task's state, as Svix answers a recovery (Herald's are done when it answers).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = RecoverOut)]
pub struct TaskOut {
    pub id: String,
    pub status: TaskStatus,
    pub task: TaskKind,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

#[derive(Serialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
#[schema(as = BackgroundTaskStatus)]
pub enum TaskStatus {
    /// Herald's recoveries are done when it answers.
    Finished,
}

#[derive(Serialize, ToSchema, Clone, Copy, Debug)]
#[schema(as = BackgroundTaskType)]
pub enum TaskKind {
    #[serde(rename = "endpoint.recover")]
    Recover,
    #[serde(rename = "endpoint.replay")]
    Replay,
}

fn task_out(task: TaskKind) -> Json<TaskOut> {
    Json(TaskOut {
        id: ids::new_id(ids::TASK),
        status: TaskStatus::Finished,
        task,
        updated_at: rfc3339(now_ms()),
    })
}

#[utoipa::path(
    post, path = "/app/{app_id}/endpoint/{endpoint_id}/recover", operation_id = "v1.endpoint.recover", tag = "Endpoint",
    params(EndpointPath, IdempotencyParams),
    request_body = RecoverIn,
    responses(
        (status = 202, description = "The failed deliveries are queued again", body = TaskOut),
        Errors,
    )
)]
/// `POST recover`: requeues every failed delivery of the endpoint since a time.
pub async fn recover(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<RecoverIn>,
) -> ApiResult<(StatusCode, Json<TaskOut>)> {
    requeue(&st, &who, &app_id, &ep_id, &body, Requeue::Failed).await
}

#[utoipa::path(
    post, path = "/app/{app_id}/endpoint/{endpoint_id}/replay-missing", operation_id = "v1.endpoint.replay-missing", tag = "Endpoint",
    params(EndpointPath, IdempotencyParams),
    request_body = RecoverIn,
    responses(
        (status = 202, description = "The missing messages are queued", body = TaskOut),
        Errors,
    )
)]
/// `POST replay-missing`: queues the messages since a time that this endpoint never got.
pub async fn replay_missing(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<RecoverIn>,
) -> ApiResult<(StatusCode, Json<TaskOut>)> {
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
) -> ApiResult<(StatusCode, Json<TaskOut>)> {
    let ep = endpoint_of(st, who, app_id, ep_id).await?;
    let (since, until) = body.range()?;
    let (n, task) = match what {
        Requeue::Failed => (
            st.store.recover(&ep.id, since, until).await?,
            TaskKind::Recover,
        ),
        Requeue::Missing => (
            st.store.replay_missing(&ep, since, until).await?,
            TaskKind::Replay,
        ),
    };
    tracing::info!(endpoint = %ep.id, queued = n, ?task, "deliveries queued again");
    st.wake.notify_one();
    Ok((StatusCode::ACCEPTED, task_out(task)))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = EventExampleIn)]
pub struct ExampleIn {
    #[schema(pattern = r"^[a-zA-Z0-9\-_.]+$", min_length = 1, max_length = 256)]
    pub event_type: String,
}

#[utoipa::path(
    post, path = "/app/{app_id}/endpoint/{endpoint_id}/send-example", operation_id = "v1.endpoint.send-example", tag = "Endpoint",
    params(EndpointPath, IdempotencyParams),
    request_body = ExampleIn,
    responses(
        (status = 200, description = "The example message, sent to this endpoint only", body = MessageOut),
        Errors,
    )
)]
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
        retention_ms: None,
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
