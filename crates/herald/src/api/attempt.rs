//! Attempts and per-delivery views: the attempt log, the messages of an endpoint, the endpoints of
//! a message, and manual resend.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{Value, json};

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

/// `POST msg/{msg}/endpoint/{ep}/resend`: a new manual attempt, with a fresh retry schedule.
pub async fn resend(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, msg_id, ep_id)): Path<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
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
    Ok((StatusCode::ACCEPTED, Json(json!({}))))
}
