//! Endpoints: list, create, get, replace (`PUT`), change (`PATCH`), delete; each change raises
//! its operational event (`endpoint.created`, `.updated`, `.deleted`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::endpoint_of;
use super::input::{
    EndpointIn, check_format_secret, check_headers, check_secret, default_secret, format_name,
};
use crate::api::doc::{AppPath, EndpointPath, Errors, IdempotencyParams, ListParams};
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{JsonBody, Path, Query, double_option};
use crate::api::shapes::{EndpointOut, ListOut};
use crate::api::validate::{finish, uid_from_path};
use crate::api::{AppState, Principal};
use crate::delivery::ops::{self, OpEvent};
use crate::formats::{Format, secret};
use crate::ids;
use crate::model::Endpoint;
use crate::store::{EndpointFields, Order};

#[utoipa::path(
    get, path = "/app/{app_id}/endpoint", operation_id = "v1.endpoint.list", tag = "Endpoint",
    params(AppPath, ListParams),
    responses(
        (status = 200, description = "A page of the list", body = ListOut<EndpointOut>),
        Errors,
    )
)]
pub async fn list(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(app_id): Path<String>,
    q: Query,
) -> ApiResult<Json<ListOut<EndpointOut>>> {
    let app = st.app(&who, &app_id).await?;
    let page = st
        .store
        .list_endpoints(&app.id, &q.page(Order::Ascending, Some(ids::ENDPOINT))?)
        .await?;
    Ok(Json(ListOut::from_page(page, |e| EndpointOut::from(&e))))
}

#[utoipa::path(
    post, path = "/app/{app_id}/endpoint", operation_id = "v1.endpoint.create", tag = "Endpoint",
    params(AppPath, IdempotencyParams),
    request_body = EndpointIn,
    responses(
        (status = 201, description = "Created", body = EndpointOut),
        Errors,
    )
)]
pub async fn create(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(app_id): Path<String>,
    JsonBody(body): JsonBody<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    let app = st.app(&who, &app_id).await?;
    let mut errors = Vec::new();
    let secret = body.secret.clone();
    let headers = body.headers.clone().unwrap_or_default();
    check_headers(&headers, "headers", false, &mut errors);
    let f = body.fields(&st, &mut errors);
    if let Some(s) = &secret {
        check_secret("secret", s, f.options.format, &mut errors);
    }
    finish(errors)?;
    let secret = secret.unwrap_or_else(|| default_secret(f.options.format));
    let ep = st
        .store
        .create_endpoint(&app.id, &f, &headers, &secret)
        .await?;
    ops::emit(&st.pipeline, &st.store, OpEvent::EndpointCreated(&ep)).await;
    Ok((StatusCode::CREATED, Json(EndpointOut::from(&ep))))
}

#[utoipa::path(
    get, path = "/app/{app_id}/endpoint/{endpoint_id}", operation_id = "v1.endpoint.get", tag = "Endpoint",
    params(EndpointPath),
    responses(
        (status = 200, description = "OK", body = EndpointOut),
        Errors,
    )
)]
pub async fn get(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointOut>> {
    Ok(Json(EndpointOut::from(
        &endpoint_of(&st, &who, &app_id, &ep_id).await?,
    )))
}

pub(super) fn apply(ep: &mut Endpoint, f: EndpointFields) {
    ep.uid = f.uid.or(ep.uid.take());
    ep.url = f.url;
    ep.description = f.description;
    ep.event_types = f.event_types;
    ep.channels = f.channels;
    if ep.disabled && !f.disabled {
        ep.disabled_reason = None;
    }
    ep.disabled = f.disabled;
    ep.metadata = f.metadata;
    ep.throttle_rate = f.throttle_rate;
    ep.options = f.options;
    if let Some(c) = f.client_cert {
        ep.client_cert = Some(c.into());
    }
}

#[utoipa::path(
    put, path = "/app/{app_id}/endpoint/{endpoint_id}", operation_id = "v1.endpoint.update", tag = "Endpoint",
    params(EndpointPath),
    request_body = EndpointIn,
    responses(
        (status = 200, description = "Replaced", body = EndpointOut),
        (status = 201, description = "Created", body = EndpointOut),
        Errors,
    )
)]
/// `PUT`: replaces the endpoint, or creates it (with `ep_id` as its uid) if there is none.
pub async fn put(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    let app = st.app(&who, &app_id).await?;
    let mut errors = Vec::new();
    let f = body.fields(&st, &mut errors);
    finish(errors)?;
    let replaced = st
        .store
        .modify_endpoint(&app.id, &ep_id, |ep| {
            apply(ep, f.clone());
            check_format_secret(ep)
        })
        .await;
    match replaced {
        Ok((ep, ())) => {
            ops::emit(&st.pipeline, &st.store, OpEvent::EndpointUpdated(&ep)).await;
            Ok((StatusCode::OK, Json(EndpointOut::from(&ep))))
        }
        Err(ApiError::NotFound(_)) if !ids::is_id(ids::ENDPOINT, &ep_id) => {
            let mut f = f;
            f.uid = Some(match f.uid {
                Some(uid) => uid,
                None => uid_from_path("endpoint_id", ep_id)?,
            });
            let ep = st
                .store
                .create_endpoint(&app.id, &f, &Map::new(), &secret::generate())
                .await?;
            ops::emit(&st.pipeline, &st.store, OpEvent::EndpointCreated(&ep)).await;
            Ok((StatusCode::CREATED, Json(EndpointOut::from(&ep))))
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPatch {
    #[serde(default)]
    #[schema(format = Uri, max_length = 4096)]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, pattern = r"^[a-zA-Z0-9\-_.]+$", min_length = 1, max_length = 256)]
    pub uid: Option<Option<String>>,
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub description: Option<String>,
    #[serde(default, alias = "filterTypes", deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<String>>, max_items = 1000)]
    pub event_types: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<String>>, max_items = 10)]
    pub channels: Option<Option<Vec<String>>>,
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<HashMap<String, String>>)]
    pub metadata: Option<Option<Value>>,
    #[serde(default, alias = "rateLimit", deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 65535)]
    pub throttle_rate: Option<Option<i64>>,
    #[serde(default)]
    #[schema(value_type = Option<Format>)]
    pub format: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub signature_header: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub signature_prefix: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<u64>, minimum = 1000, maximum = 30000)]
    pub timeout_ms: Option<Option<u64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<u64>>, max_items = 20)]
    pub retry_schedule: Option<Option<Vec<u64>>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub user_agent: Option<Option<String>>,
    /// Herald: `fifo` for one message at a time in publish order; `none` or `null` for none.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::model::Ordering>)]
    pub ordering: Option<Option<String>>,
    /// Herald: a PEM client certificate chain and its private key (mTLS); `null` removes it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, write_only)]
    pub client_cert: Option<Option<String>>,
}

#[utoipa::path(
    patch, path = "/app/{app_id}/endpoint/{endpoint_id}", operation_id = "v1.endpoint.patch", tag = "Endpoint",
    params(EndpointPath),
    request_body = EndpointPatch,
    responses(
        (status = 200, description = "OK", body = EndpointOut),
        Errors,
    )
)]
pub async fn patch(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<EndpointPatch>,
) -> ApiResult<Json<EndpointOut>> {
    let app = st.app(&who, &app_id).await?;
    let (ep, ()) = st
        .store
        .modify_endpoint(&app.id, &ep_id, |ep| patch_into(&st, ep, body))
        .await?;
    ops::emit(&st.pipeline, &st.store, OpEvent::EndpointUpdated(&ep)).await;
    Ok(Json(EndpointOut::from(&ep)))
}

/// Applies a PATCH: the fields it names change, the others keep their values.
pub(super) fn patch_into(st: &AppState, ep: &mut Endpoint, body: EndpointPatch) -> ApiResult<()> {
    let clear_uid = matches!(body.uid, Some(None));
    let clear_cert = matches!(body.client_cert, Some(None));
    let input = EndpointIn {
        url: body.url.unwrap_or_else(|| ep.url.clone()),
        uid: body.uid.unwrap_or_else(|| ep.uid.clone()),
        description: Some(body.description.unwrap_or_else(|| ep.description.clone())),
        event_types: body.event_types.unwrap_or_else(|| ep.event_types.clone()),
        channels: body.channels.unwrap_or_else(|| ep.channels.clone()),
        disabled: Some(body.disabled.unwrap_or(ep.disabled)),
        metadata: Some(
            body.metadata
                .unwrap_or_else(|| Some(ep.metadata.clone()))
                .unwrap_or(Value::Null),
        ),
        throttle_rate: body.throttle_rate.unwrap_or(ep.throttle_rate),
        secret: None,
        headers: None,
        format: Some(
            body.format
                .unwrap_or_else(|| format_name(ep.options.format)),
        ),
        signature_header: body
            .signature_header
            .unwrap_or_else(|| ep.options.signature_header.clone()),
        signature_prefix: body
            .signature_prefix
            .unwrap_or_else(|| ep.options.signature_prefix.clone()),
        timeout_ms: body.timeout_ms.unwrap_or(ep.options.timeout_ms),
        retry_schedule: body
            .retry_schedule
            .unwrap_or_else(|| ep.options.retry_schedule.clone()),
        user_agent: body
            .user_agent
            .unwrap_or_else(|| ep.options.user_agent.clone()),
        ordering: body
            .ordering
            .unwrap_or_else(|| ep.options.ordering.map(|_| "fifo".to_string())),
        client_cert: body.client_cert.flatten(),
    };
    let mut errors = Vec::new();
    let f = input.fields(st, &mut errors);
    finish(errors)?;
    apply(ep, f);
    if clear_uid {
        ep.uid = None;
    }
    if clear_cert {
        ep.client_cert = None;
    }
    check_format_secret(ep)
}

#[utoipa::path(
    delete, path = "/app/{app_id}/endpoint/{endpoint_id}", operation_id = "v1.endpoint.delete", tag = "Endpoint",
    params(EndpointPath),
    responses(
        (status = 204, description = "Deleted"),
        Errors,
    )
)]
pub async fn remove(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let ep = endpoint_of(&st, &who, &app_id, &ep_id).await?;
    st.store.delete_endpoint(&ep.app_id, &ep.id).await?;
    ops::emit(&st.pipeline, &st.store, OpEvent::EndpointDeleted(&ep)).await;
    Ok(StatusCode::NO_CONTENT)
}
