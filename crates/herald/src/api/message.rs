//! Messages: `/api/v1/app/{app}/msg`. Publishing stores the message and its deliveries durably
//! before answering 202.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::app::ApplicationIn;
use super::doc::{
    AppPath, ContentParams, Errors, FilterParams, IdempotencyParams, ListParams, MessagePath,
};
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{JsonBody, Path, Query};
use super::idempotency::{IdempotencyKey, Stored};
use super::shapes::{ListOut, MessageOut};
use super::validate::{
    MAX_MESSAGE_CHANNELS, MAX_TAGS, check_channels, check_list, check_name, check_retention,
    check_uid, finish, uid_from_path,
};
use super::{AppState, Principal};
use crate::model::Message;
use crate::store::{NewMessage, Order, Respond};
use std::sync::Arc;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageIn {
    #[schema(pattern = r"^[a-zA-Z0-9\-_.]+$", min_length = 1, max_length = 256)]
    pub event_type: String,
    /// A JSON object, kept as the exact bytes sent, so the delivery carries them unchanged.
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
    /// The caller's id of the event, unique per application (a retry with it is not a new message).
    #[serde(default)]
    #[schema(pattern = r"^[a-zA-Z0-9\-_.]+$", min_length = 1, max_length = 256)]
    pub event_id: Option<String>,
    #[serde(default)]
    #[schema(max_items = 5)]
    pub channels: Option<Vec<String>>,
    #[serde(default)]
    #[schema(max_items = 5)]
    pub tags: Option<Vec<String>>,
    /// Creates the application on the fly if it does not exist yet.
    #[serde(default)]
    pub application: Option<ApplicationIn>,
    /// Herald: deliveries of messages with the same key go to each endpoint in publish order,
    /// each after the previous one succeeded or was exhausted.
    #[serde(default)]
    #[schema(pattern = r"^[a-zA-Z0-9\-_.]+$", min_length = 1, max_length = 256)]
    pub ordering_key: Option<String>,
    /// Herald: when to send (RFC 3339, at most 30 days ahead; a past time means now).
    #[serde(default)]
    #[schema(format = DateTime)]
    pub deliver_at: Option<String>,
    /// Days the payload is kept (5 to 90); then it is expunged, the message stays. Herald's
    /// `--payload-retention` (90 days by default) when neither this nor
    /// `payloadRetentionHours` is given.
    #[serde(default)]
    #[schema(minimum = 5, maximum = 90)]
    pub payload_retention_period: Option<i64>,
    /// Hours the payload is kept (1 to 2160), instead of `payloadRetentionPeriod`.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 2160)]
    pub payload_retention_hours: Option<i64>,
}

/// Furthest ahead a message may be scheduled.
const MAX_SCHEDULE_AHEAD_MS: i64 = 30 * 24 * 3600 * 1000;

impl MessageIn {
    fn validate(&self) -> ApiResult<()> {
        let mut errors = Vec::new();
        check_name("eventType", &self.event_type, &mut errors);
        if !self.payload.get().trim_start().starts_with('{') {
            errors.push(FieldError::body("payload", "must be a JSON object"));
        }
        if let Some(e) = &self.event_id {
            check_uid("eventId", e, &mut errors);
        }
        if let Some(c) = &self.channels {
            check_channels("channels", c, MAX_MESSAGE_CHANNELS, &mut errors);
        }
        if let Some(t) = &self.tags {
            check_list("tags", t, MAX_TAGS, &mut errors);
        }
        if let Some(k) = &self.ordering_key {
            check_name("orderingKey", k, &mut errors);
        }
        check_retention(
            self.payload_retention_period,
            self.payload_retention_hours,
            &mut errors,
        );
        finish(errors)
    }

    /// `deliverAt` in Unix ms: a time in the past means now; beyond 30 days is a 422.
    fn deliver_at(&self) -> ApiResult<Option<i64>> {
        let Some(s) = &self.deliver_at else {
            return Ok(None);
        };
        let Some(at) = crate::clock::parse_rfc3339(s) else {
            return Err(ApiError::field("deliverAt", "must be an RFC 3339 time"));
        };
        if at > crate::clock::now_ms() + MAX_SCHEDULE_AHEAD_MS {
            return Err(ApiError::field(
                "deliverAt",
                "must be at most 30 days ahead",
            ));
        }
        Ok(Some(at))
    }

    /// The payload's retention in milliseconds, if the message names one.
    fn retention_ms(&self) -> Option<i64> {
        check_retention(
            self.payload_retention_period,
            self.payload_retention_hours,
            &mut Vec::new(),
        )
    }
}

#[utoipa::path(
    post, path = "/app/{app_id}/msg", operation_id = "v1.message.create", tag = "Message",
    params(
        AppPath, ContentParams, IdempotencyParams,
        ("x-herald-caused-by" = Option<String>, Header,
            description = "Herald: the header of the delivery this publish reacts to, echoed (loop protection)"),
    ),
    request_body = MessageIn,
    responses(
        (status = 202, description = "Stored durably; deliveries follow", body = MessageOut),
        Errors,
    )
)]
pub async fn create(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(app_id): Path<String>,
    key: Option<Extension<IdempotencyKey>>,
    q: Query,
    headers: axum::http::HeaderMap,
    JsonBody(mut body): JsonBody<MessageIn>,
) -> ApiResult<(StatusCode, Option<Extension<Stored>>, Json<MessageOut>)> {
    body.validate()?;
    let deliver_at = body.deliver_at()?;
    st.schemas
        .check(&body.event_type, body.payload.get())
        .await?;
    let with_content = q.bool("with_content", true)?;
    let application = body.application.take();
    let app = match (st.app_to_publish(&who, &app_id).await, application) {
        (Ok(app), _) => app,
        (Err(ApiError::NotFound(_)), Some(new_app)) if who == Principal::Operator => {
            let mut f = new_app.fields()?;
            f.uid = Some(match f.uid {
                Some(uid) => uid,
                None => uid_from_path("app_id", app_id)?,
            });
            match st.store.create_app(&f).await {
                Ok(app) => app,
                // Created concurrently by another publish: use it.
                Err(crate::store::StoreError::Conflict(_)) => {
                    st.app(&who, f.uid.as_deref().unwrap_or("")).await?
                }
                Err(e) => return Err(e.into()),
            }
        }
        (Err(e), _) => return Err(e),
    };
    // The message's own retention, else its application's, else the node's.
    let retention_ms = body.retention_ms().or(app.payload_retention_ms);
    let msg = NewMessage {
        retention_ms,
        event_id: body.event_id,
        event_type: body.event_type,
        payload: body.payload.get().to_string(),
        channels: body.channels.filter(|c| !c.is_empty()),
        tags: body.tags.filter(|t| !t.is_empty()),
        ordering_key: body.ordering_key,
        deliver_at,
    };
    // With an idempotency key, the response is stored with the message: a retry after any
    // failure gets this message, never a second one.
    let respond = key.map(|Extension(IdempotencyKey(key))| Respond {
        key,
        status: StatusCode::ACCEPTED.as_u16(),
        body: Arc::new(move |m: &Message| {
            serde_json::to_vec(&MessageOut::new(m, with_content)).unwrap_or_default()
        }),
    });
    let stored = respond.as_ref().map(|_| Extension(Stored));
    // The store hands the deliveries to the dispatcher, or wakes it for those it stored pending.
    let m = st.pipeline.publish(&app.id, &msg, None, respond).await?;
    // Loop protection: a publish made in reaction to a delivery echoes its header.
    if let Some(caused_by) = headers
        .get(crate::delivery::loops::CAUSED_BY)
        .and_then(|v| v.to_str().ok())
    {
        st.pipeline.caused_by(&app.id, caused_by).await;
    }
    Ok((
        StatusCode::ACCEPTED,
        stored,
        Json(MessageOut::new(&m, with_content)),
    ))
}

#[utoipa::path(
    get, path = "/app/{app_id}/msg/{msg_id}", operation_id = "v1.message.get", tag = "Message",
    params(MessagePath, ContentParams),
    responses(
        (status = 200, description = "OK", body = MessageOut),
        Errors,
    )
)]
pub async fn get(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, msg_id)): Path<(String, String)>,
    q: Query,
) -> ApiResult<Json<MessageOut>> {
    let app = st.app(&who, &app_id).await?;
    let m = st.store.get_message(&app.id, &msg_id).await?;
    Ok(Json(MessageOut::new(&m, q.bool("with_content", true)?)))
}

#[utoipa::path(
    get, path = "/app/{app_id}/msg", operation_id = "v1.message.list", tag = "Message",
    params(AppPath, ListParams, FilterParams, ContentParams),
    responses(
        (status = 200, description = "A page of the list", body = ListOut<MessageOut>),
        Errors,
    )
)]
pub async fn list(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(app_id): Path<String>,
    q: Query,
) -> ApiResult<Json<ListOut<MessageOut>>> {
    let app = st.app(&who, &app_id).await?;
    let with_content = q.bool("with_content", true)?;
    let p = st
        .store
        .list_messages(
            &app.id,
            &q.filter()?,
            &q.page(Order::Descending, Some(crate::ids::MESSAGE))?,
        )
        .await?;
    Ok(Json(ListOut::from_page(p, |m| {
        MessageOut::new(&m, with_content)
    })))
}

#[utoipa::path(
    delete, path = "/app/{app_id}/msg/{msg_id}/content", operation_id = "v1.message.expunge-content", tag = "Message",
    params(MessagePath),
    responses(
        (status = 204, description = "The payload is forgotten"),
        Errors,
    )
)]
/// `DELETE content`: forgets the payload; the message and its attempts stay listed.
pub async fn expunge(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, msg_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let app = st.app(&who, &app_id).await?;
    let m = st.store.get_message(&app.id, &msg_id).await?;
    st.pipeline.forget(&m.id);
    st.store.expunge_message(&app.id, &m.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
