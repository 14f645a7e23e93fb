//! Attempts and per-delivery views: the attempt log, the messages of an endpoint, the endpoints of
//! a message, and manual resend.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::doc::{
    AttemptPath, ContentParams, DeliveryPath, EndpointPath, Errors, FilterParams,
    IdempotencyParams, ListParams, MessagePath, StatusParams, StatusViewParams,
};
use super::error::ApiResult;
use super::extract::{Path, Query};
use super::shapes::{
    EndpointMessageOut, ListOut, MessageAttemptOut, MessageEndpointOut, StatusView,
};
use super::{AppState, Principal};
use crate::ids;
use crate::store::Order;

fn view(q: &Query) -> ApiResult<StatusView> {
    Ok(StatusView {
        expanded: q.bool("expanded_statuses", false)?,
    })
}

#[utoipa::path(
    get, path = "/app/{app_id}/attempt/msg/{msg_id}", operation_id = "v1.message-attempt.list-by-msg", tag = "Message Attempt",
    params(MessagePath, ListParams, FilterParams, StatusParams, ("endpoint_id" = Option<String>, Query, description = "Only attempts to this endpoint")),
    responses(
        (status = 200, description = "A page of the list", body = ListOut<MessageAttemptOut>),
        Errors,
    )
)]
/// `GET attempt/msg/{msg}`: every attempt of a message, newest first.
pub async fn list_by_msg(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, msg_id)): Path<(String, String)>,
    q: Query,
) -> ApiResult<Json<ListOut<MessageAttemptOut>>> {
    let app = st.app(&who, &app_id).await?;
    let m = st.store.get_message(&app.id, &msg_id).await?;
    let f = q.filter()?;
    let p = st
        .store
        .list_attempts(
            &app.id,
            Some(&m.id),
            None,
            &f,
            &q.page(Order::Descending, Some(ids::ATTEMPT))?,
        )
        .await?;
    Ok(Json(ListOut::from_page(p, MessageAttemptOut::from)))
}

#[utoipa::path(
    get, path = "/app/{app_id}/attempt/endpoint/{endpoint_id}", operation_id = "v1.message-attempt.list-by-endpoint", tag = "Message Attempt",
    params(EndpointPath, ListParams, FilterParams, StatusParams),
    responses(
        (status = 200, description = "A page of the list", body = ListOut<MessageAttemptOut>),
        Errors,
    )
)]
/// `GET attempt/endpoint/{ep}`: every attempt to an endpoint, newest first.
pub async fn list_by_endpoint(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    q: Query,
) -> ApiResult<Json<ListOut<MessageAttemptOut>>> {
    let app = st.app(&who, &app_id).await?;
    let ep = st.store.get_endpoint(&app.id, &ep_id).await?;
    let f = q.filter()?;
    let p = st
        .store
        .list_attempts(
            &app.id,
            None,
            Some(&ep.id),
            &f,
            &q.page(Order::Descending, Some(ids::ATTEMPT))?,
        )
        .await?;
    Ok(Json(ListOut::from_page(p, MessageAttemptOut::from)))
}

#[utoipa::path(
    get, path = "/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}", operation_id = "v1.message-attempt.get", tag = "Message Attempt",
    params(AttemptPath),
    responses(
        (status = 200, description = "OK", body = MessageAttemptOut),
        Errors,
    )
)]
pub async fn get(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, msg_id, attempt_id)): Path<(String, String, String)>,
) -> ApiResult<Json<MessageAttemptOut>> {
    let app = st.app(&who, &app_id).await?;
    let m = st.store.get_message(&app.id, &msg_id).await?;
    Ok(Json(
        st.store
            .get_attempt(&app.id, &m.id, &attempt_id)
            .await?
            .into(),
    ))
}

#[utoipa::path(
    delete, path = "/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content", operation_id = "v1.message-attempt.expunge-content", tag = "Message Attempt",
    params(AttemptPath),
    responses(
        (status = 204, description = "The response body is forgotten"),
        Errors,
    )
)]
/// `DELETE .../attempt/{id}/content`: forgets the response body kept for an attempt.
pub async fn expunge(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, msg_id, attempt_id)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let app = st.app(&who, &app_id).await?;
    let m = st.store.get_message(&app.id, &msg_id).await?;
    st.store
        .expunge_attempt(&app.id, &m.id, &attempt_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get, path = "/app/{app_id}/endpoint/{endpoint_id}/msg", operation_id = "v1.message-attempt.list-attempted-messages", tag = "Message Attempt",
    params(EndpointPath, ListParams, FilterParams, StatusParams, ContentParams, StatusViewParams),
    responses(
        (status = 200, description = "A page of the list", body = ListOut<EndpointMessageOut>),
        Errors,
    )
)]
/// `GET endpoint/{ep}/msg`: the messages sent (or to be sent) to an endpoint, with their state.
pub async fn list_endpoint_messages(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    q: Query,
) -> ApiResult<Json<ListOut<EndpointMessageOut>>> {
    let app = st.app(&who, &app_id).await?;
    let ep = st.store.get_endpoint(&app.id, &ep_id).await?;
    let with_content = q.bool("with_content", true)?;
    let v = view(&q)?;
    let p = st
        .store
        .list_endpoint_deliveries(
            &ep.id,
            &q.filter()?,
            &q.page(Order::Descending, Some(ids::MESSAGE))?,
        )
        .await?;
    Ok(Json(ListOut::from_page(p, |(d, m)| {
        EndpointMessageOut::new(&d, &m, with_content, v)
    })))
}

#[utoipa::path(
    get, path = "/app/{app_id}/msg/{msg_id}/endpoint", operation_id = "v1.message-attempt.list-attempted-destinations", tag = "Message Attempt",
    params(MessagePath, ListParams, StatusViewParams),
    responses(
        (status = 200, description = "A page of the list", body = ListOut<MessageEndpointOut>),
        Errors,
    )
)]
/// `GET msg/{msg}/endpoint`: the endpoints a message is for, with the delivery state of each.
pub async fn list_message_endpoints(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, msg_id)): Path<(String, String)>,
    q: Query,
) -> ApiResult<Json<ListOut<MessageEndpointOut>>> {
    let app = st.app(&who, &app_id).await?;
    let m = st.store.get_message(&app.id, &msg_id).await?;
    let v = view(&q)?;
    let p = st
        .store
        .list_message_deliveries(&m.id, &q.page(Order::Ascending, Some(ids::ENDPOINT))?)
        .await?;
    Ok(Json(ListOut::from_page(p, |(d, e)| {
        MessageEndpointOut::new(&d, &e, v)
    })))
}

#[utoipa::path(
    post, path = "/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend", operation_id = "v1.message-attempt.resend", tag = "Message Attempt",
    params(DeliveryPath, IdempotencyParams),
    responses(
        (status = 202, description = "A new attempt is queued", body = EmptyOut),
        Errors,
    )
)]
/// `POST msg/{msg}/endpoint/{ep}/resend`: a new manual attempt, with a fresh retry schedule.
pub async fn resend(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, msg_id, ep_id)): Path<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<EmptyOut>)> {
    let app = st.app(&who, &app_id).await?;
    let m = st.store.get_message(&app.id, &msg_id).await?;
    let ep = st.store.get_endpoint(&app.id, &ep_id).await?;
    if m.payload.is_none() {
        return Err(super::error::ApiError::Conflict(
            "The message payload was expunged; it cannot be resent".into(),
        ));
    }
    st.store.resend(&app.id, &m.id, &ep.id).await?;
    st.wake.notify_one();
    Ok((StatusCode::ACCEPTED, Json(EmptyOut {})))
}

/// An empty object, as Svix answers a resend.
#[derive(Serialize, ToSchema)]
pub struct EmptyOut {}
