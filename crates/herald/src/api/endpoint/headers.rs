//! An endpoint's custom headers (`.../headers`): those carrying credentials are not shown back.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::endpoint_of;
use super::input::check_headers;
use crate::api::doc::{EndpointPath, Errors};
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{JsonBody, Path};
use crate::api::validate::{MAX_HEADERS, finish};
use crate::api::{AppState, Principal};
use crate::model::Endpoint;

/// Headers whose values are not shown back (they carry credentials).
pub(super) const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
];

/// An endpoint's headers, those carrying credentials by name only.
#[derive(Serialize, ToSchema)]
#[schema(as = EndpointHeadersOut)]
pub struct HeadersOut {
    #[schema(value_type = HashMap<String, String>)]
    pub headers: Map<String, Value>,
    /// The names of the headers whose values are not shown.
    pub sensitive: Vec<String>,
}

fn headers_out(ep: &Endpoint) -> Json<HeadersOut> {
    let mut shown = Map::new();
    let mut sensitive = Vec::new();
    for (k, v) in &ep.headers {
        if SENSITIVE_HEADERS.contains(&k.to_ascii_lowercase().as_str()) {
            sensitive.push(k.clone());
        } else {
            shown.insert(k.clone(), v.clone());
        }
    }
    Json(HeadersOut {
        headers: shown,
        sensitive,
    })
}

#[derive(Deserialize, ToSchema)]
#[schema(as = EndpointHeadersIn)]
pub struct HeadersIn {
    #[schema(value_type = HashMap<String, String>)]
    pub headers: Map<String, Value>,
}

/// A `PATCH`'s headers: a `null` value removes one.
#[derive(Deserialize, ToSchema)]
#[schema(as = EndpointHeadersPatchIn)]
pub struct HeadersPatchIn {
    #[schema(value_type = HashMap<String, Option<String>>)]
    pub headers: Map<String, Value>,
}

#[utoipa::path(
    get, path = "/app/{app_id}/endpoint/{endpoint_id}/headers", operation_id = "v1.endpoint.get-headers", tag = "Endpoint",
    params(EndpointPath),
    responses(
        (status = 200, description = "OK", body = HeadersOut),
        Errors,
    )
)]
pub async fn get_headers(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> ApiResult<Json<HeadersOut>> {
    Ok(headers_out(&endpoint_of(&st, &who, &app_id, &ep_id).await?))
}

#[utoipa::path(
    put, path = "/app/{app_id}/endpoint/{endpoint_id}/headers", operation_id = "v1.endpoint.update-headers", tag = "Endpoint",
    params(EndpointPath),
    request_body = HeadersIn,
    responses(
        (status = 204, description = "Replaced"),
        Errors,
    )
)]
pub async fn put_headers(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<HeadersIn>,
) -> ApiResult<StatusCode> {
    change_headers(&st, &who, &app_id, &ep_id, body.headers, false).await
}

#[utoipa::path(
    patch, path = "/app/{app_id}/endpoint/{endpoint_id}/headers", operation_id = "v1.endpoint.patch-headers", tag = "Endpoint",
    params(EndpointPath),
    request_body = HeadersPatchIn,
    responses(
        (status = 204, description = "Changed"),
        Errors,
    )
)]
/// `PATCH headers`: sets the given headers; a `null` value removes one.
pub async fn patch_headers(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<HeadersPatchIn>,
) -> ApiResult<StatusCode> {
    change_headers(&st, &who, &app_id, &ep_id, body.headers, true).await
}

/// Replaces an endpoint's headers with `headers`, or (`patch`) sets those given and removes
/// those given as `null`.
async fn change_headers(
    st: &AppState,
    who: &Principal,
    app_id: &str,
    ep_id: &str,
    headers: Map<String, Value>,
    patch: bool,
) -> ApiResult<StatusCode> {
    let app = st.app(who, app_id).await?;
    let mut errors = Vec::new();
    check_headers(&headers, "headers", patch, &mut errors);
    finish(errors)?;
    st.store
        .modify_endpoint(&app.id, ep_id, |ep| {
            if !patch {
                ep.headers.clear();
            }
            for (k, v) in headers {
                // Header names are case-insensitive: replace any spelling of the same name.
                ep.headers
                    .retain(|existing, _| !existing.eq_ignore_ascii_case(&k));
                if !v.is_null() {
                    ep.headers.insert(k, v);
                }
            }
            if ep.headers.len() > MAX_HEADERS {
                return Err(ApiError::field(
                    "headers",
                    format!("an endpoint has at most {MAX_HEADERS} headers"),
                ));
            }
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
