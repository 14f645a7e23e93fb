//! Operational webhook endpoints: `/api/v1/operational-webhook/endpoint...`, in Svix's shapes.
//! They are the endpoints of Herald's reserved application (`ids::OPERATIONAL_APP`, made with
//! the first of them), so their events (`delivery::ops`) are delivered like any message.
//! For the operator only.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::input::{EndpointIn, check_secret, default_secret};
use super::secret::{RotateIn, SecretOut};
use crate::api::doc::{Errors, IdempotencyParams, ListParams};
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{JsonBody, Path, Query};
use crate::api::shapes::ListOut;
use crate::api::validate::finish;
use crate::api::{AppState, Principal};
use crate::clock::rfc3339;
use crate::formats::Format;
use crate::ids::{self, AppId, OPERATIONAL_APP};
use crate::model::Endpoint;
use crate::store::{EndpointFields, Order, StoreError};

/// An operational webhook endpoint.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Read by the document only.
pub struct OperationalEndpointPath {
    /// The endpoint's id or uid.
    endpoint_id: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationalWebhookEndpointOut {
    pub id: String,
    pub uid: Option<String>,
    pub url: String,
    pub description: String,
    pub disabled: bool,
    /// The event types it gets (all when null).
    pub filter_types: Option<Vec<String>>,
    pub rate_limit: Option<i64>,
    #[schema(value_type = HashMap<String, String>)]
    pub metadata: Value,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&Endpoint> for OperationalWebhookEndpointOut {
    fn from(e: &Endpoint) -> Self {
        OperationalWebhookEndpointOut {
            id: e.id.to_string(),
            uid: e.uid.clone(),
            url: e.url.clone(),
            description: e.description.clone(),
            disabled: e.disabled,
            filter_types: e.event_types.clone(),
            rate_limit: e.throttle_rate,
            metadata: e.metadata.clone(),
            created_at: rfc3339(e.created_at),
            updated_at: rfc3339(e.updated_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationalWebhookEndpointIn {
    #[schema(format = Uri, max_length = 4096)]
    pub url: String,
    #[serde(default)]
    #[schema(pattern = r"^[a-zA-Z0-9\-_.]+$", min_length = 1, max_length = 256)]
    pub uid: Option<String>,
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub description: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
    /// The event types it gets: `endpoint.created`, `endpoint.updated`, `endpoint.deleted`,
    /// `endpoint.disabled`, `message.attempt.failing`, `message.attempt.exhausted`,
    /// `message.attempt.recovered` (all when absent).
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub filter_types: Option<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<HashMap<String, String>>)]
    pub metadata: Option<Value>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 65535)]
    pub rate_limit: Option<i64>,
    /// The signing secret (`whsec_` and base64 of 24 to 64 bytes); generated when absent.
    #[serde(default)]
    pub secret: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationalWebhookEndpointUpdate {
    #[schema(format = Uri, max_length = 4096)]
    pub url: String,
    #[serde(default)]
    #[schema(pattern = r"^[a-zA-Z0-9\-_.]+$", min_length = 1, max_length = 256)]
    pub uid: Option<String>,
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub description: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub filter_types: Option<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<HashMap<String, String>>)]
    pub metadata: Option<Value>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 65535)]
    pub rate_limit: Option<i64>,
}

impl OperationalWebhookEndpointUpdate {
    /// As an endpoint's input: standard format, Herald's default delivery options.
    fn input(self, secret: Option<String>) -> EndpointIn {
        EndpointIn {
            url: self.url,
            uid: self.uid,
            description: self.description,
            event_types: self.filter_types,
            channels: None,
            disabled: self.disabled,
            metadata: self.metadata,
            throttle_rate: self.rate_limit,
            secret,
            headers: None,
            format: None,
            signature_header: None,
            signature_prefix: None,
            timeout_ms: None,
            retry_schedule: None,
            user_agent: None,
            client_cert: None,
            ordering: None,
        }
    }
}

fn ops_app() -> AppId {
    AppId::from_stored(OPERATIONAL_APP.to_string())
}

/// The reserved application, if an operational endpoint was ever made (else no endpoint is
/// there to find).
async fn existing(st: &AppState, who: &Principal) -> ApiResult<AppId> {
    who.require_operator()?;
    match st.store.get_app_cached(OPERATIONAL_APP).await {
        Ok(_) => Ok(ops_app()),
        Err(StoreError::NotFound(_)) => Err(ApiError::not_found("Endpoint")),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(
    get, path = "/operational-webhook/endpoint", operation_id = "v1.operational-webhook.endpoint.list",
    tag = "Webhook Endpoint",
    params(ListParams),
    responses(
        (status = 200, description = "A page of the list", body = ListOut<OperationalWebhookEndpointOut>),
        Errors,
    )
)]
pub async fn list(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    q: Query,
) -> ApiResult<Json<ListOut<OperationalWebhookEndpointOut>>> {
    who.require_operator()?;
    let page = st
        .store
        .list_endpoints(&ops_app(), &q.page(Order::Ascending, Some(ids::ENDPOINT))?)
        .await?;
    Ok(Json(ListOut::from_page(page, |e| (&e).into())))
}

#[utoipa::path(
    post, path = "/operational-webhook/endpoint", operation_id = "v1.operational-webhook.endpoint.create",
    tag = "Webhook Endpoint",
    params(IdempotencyParams),
    request_body = OperationalWebhookEndpointIn,
    responses(
        (status = 201, description = "Created", body = OperationalWebhookEndpointOut),
        Errors,
    )
)]
pub async fn create(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    JsonBody(body): JsonBody<OperationalWebhookEndpointIn>,
) -> ApiResult<(StatusCode, Json<OperationalWebhookEndpointOut>)> {
    who.require_operator()?;
    let secret = body.secret.clone();
    let input = OperationalWebhookEndpointUpdate {
        url: body.url,
        uid: body.uid,
        description: body.description,
        disabled: body.disabled,
        filter_types: body.filter_types,
        metadata: body.metadata,
        rate_limit: body.rate_limit,
    }
    .input(None);
    let mut errors = Vec::new();
    let f: EndpointFields = input.fields(&st, &mut errors);
    if let Some(s) = &secret {
        check_secret("secret", s, Format::Standard, &mut errors);
    }
    finish(errors)?;
    st.store
        .ensure_app(&ops_app(), "Herald operational webhooks")
        .await?;
    let secret = secret.unwrap_or_else(|| default_secret(Format::Standard));
    let ep = st
        .store
        .create_endpoint(&ops_app(), &f, &Default::default(), &secret)
        .await?;
    Ok((StatusCode::CREATED, Json((&ep).into())))
}

#[utoipa::path(
    get, path = "/operational-webhook/endpoint/{endpoint_id}", operation_id = "v1.operational-webhook.endpoint.get",
    tag = "Webhook Endpoint",
    params(OperationalEndpointPath),
    responses(
        (status = 200, description = "OK", body = OperationalWebhookEndpointOut),
        Errors,
    )
)]
pub async fn get(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(ep_id): Path<String>,
) -> ApiResult<Json<OperationalWebhookEndpointOut>> {
    let app = existing(&st, &who).await?;
    Ok(Json((&st.store.get_endpoint(&app, &ep_id).await?).into()))
}

#[utoipa::path(
    put, path = "/operational-webhook/endpoint/{endpoint_id}", operation_id = "v1.operational-webhook.endpoint.update",
    tag = "Webhook Endpoint",
    params(OperationalEndpointPath),
    request_body = OperationalWebhookEndpointUpdate,
    responses(
        (status = 200, description = "Replaced", body = OperationalWebhookEndpointOut),
        Errors,
    )
)]
pub async fn put(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(ep_id): Path<String>,
    JsonBody(body): JsonBody<OperationalWebhookEndpointUpdate>,
) -> ApiResult<Json<OperationalWebhookEndpointOut>> {
    let app = existing(&st, &who).await?;
    let mut errors = Vec::new();
    let f = body.input(None).fields(&st, &mut errors);
    finish(errors)?;
    let (ep, ()) = st
        .store
        .modify_endpoint(&app, &ep_id, |ep| {
            super::crud::apply(ep, f);
            Ok::<_, ApiError>(())
        })
        .await?;
    Ok(Json((&ep).into()))
}

#[utoipa::path(
    delete, path = "/operational-webhook/endpoint/{endpoint_id}", operation_id = "v1.operational-webhook.endpoint.delete",
    tag = "Webhook Endpoint",
    params(OperationalEndpointPath),
    responses(
        (status = 204, description = "Deleted"),
        Errors,
    )
)]
pub async fn remove(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(ep_id): Path<String>,
) -> ApiResult<StatusCode> {
    let app = existing(&st, &who).await?;
    let ep = st.store.get_endpoint(&app, &ep_id).await?;
    st.store.delete_endpoint(&app, &ep.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get, path = "/operational-webhook/endpoint/{endpoint_id}/secret",
    operation_id = "v1.operational-webhook.endpoint.get-secret", tag = "Webhook Endpoint",
    params(OperationalEndpointPath),
    responses(
        (status = 200, description = "OK", body = SecretOut),
        Errors,
    )
)]
pub async fn get_secret(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(ep_id): Path<String>,
) -> ApiResult<Json<SecretOut>> {
    existing(&st, &who).await?;
    super::secret::get_secret(
        State(st),
        Extension(who),
        Path((OPERATIONAL_APP.to_string(), ep_id)),
    )
    .await
}

#[utoipa::path(
    post, path = "/operational-webhook/endpoint/{endpoint_id}/secret/rotate",
    operation_id = "v1.operational-webhook.endpoint.rotate-secret", tag = "Webhook Endpoint",
    params(OperationalEndpointPath, IdempotencyParams),
    request_body = RotateIn,
    responses(
        (status = 204, description = "The new key signs from now on"),
        Errors,
    )
)]
/// As Svix answers it, 204 (the new key is read with `GET .../secret`).
pub async fn rotate_secret(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(ep_id): Path<String>,
    body: JsonBody<RotateIn>,
) -> ApiResult<StatusCode> {
    existing(&st, &who).await?;
    let _new_key = super::secret::rotate_secret(
        State(st),
        Extension(who),
        Path((OPERATIONAL_APP.to_string(), ep_id)),
        body,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
