//! `GET /api/v1/app/{app}/.well-known/jwks.json`: the public keys of an application's ed25519
//! (`v1a`) endpoints, for receivers to fetch without any secret (the Standard Webhooks proposal
//! for key discovery), as a JSON Web Key Set. During a rotation's grace period the previous key
//! is listed too, so a receiver that caches the set verifies both signatures. No token needed:
//! public keys are public; the application's id (or uid) is what one must know.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::doc::{AppPath, Errors};
use super::error::{ApiError, ApiResult};
use super::extract::Path;
use crate::clock::now_ms;
use crate::formats::secret;
use crate::store::{Order, Page};

/// Most endpoints of an application looked at (one page).
const MAX_ENDPOINTS: i64 = 250;

/// A JSON Web Key Set.
#[derive(Serialize, ToSchema)]
pub struct JwksOut {
    pub keys: Vec<Jwk>,
}

/// An ed25519 public key (RFC 8037).
#[derive(Serialize, ToSchema)]
pub struct Jwk {
    /// `OKP`.
    pub kty: &'static str,
    /// `Ed25519`.
    pub crv: &'static str,
    /// `EdDSA`.
    pub alg: &'static str,
    /// `sig`.
    #[serde(rename = "use")]
    pub use_: &'static str,
    /// `{endpoint id}.current` or `{endpoint id}.previous`.
    pub kid: String,
    /// The key, base64url without padding.
    pub x: String,
    /// The endpoint whose deliveries it signs.
    pub endpoint: String,
}

#[utoipa::path(
    get, path = "/app/{app_id}/.well-known/jwks.json", operation_id = "herald.jwks", tag = "Endpoint",
    security(()),
    params(AppPath),
    responses(
        (status = 200, description = "The public keys of the application's ed25519 endpoints", body = JwksOut,
            headers(("cache-control" = String, description = "public, max-age=300"))),
        Errors,
    )
)]
pub async fn jwks(State(st): State<AppState>, Path(app_id): Path<String>) -> ApiResult<Response> {
    let app = st
        .store
        .get_app(&app_id)
        .await
        .map_err(|_| ApiError::not_found("Application"))?;
    let page = Page {
        limit: MAX_ENDPOINTS,
        iterator: None,
        order: Order::Ascending,
    };
    let now = now_ms();
    let mut keys = Vec::new();
    for ep in st.store.list_endpoints(&app.id, &page).await?.data {
        for (i, key) in ep.signing_secrets(now).into_iter().enumerate() {
            let Some(public) = secret::shown(key)
                .strip_prefix(secret::PUBLIC_PREFIX)
                .and_then(|b| B64.decode(b).ok())
            else {
                continue;
            };
            keys.push(Jwk {
                kty: "OKP",
                crv: "Ed25519",
                alg: "EdDSA",
                use_: "sig",
                kid: format!("{}.{}", ep.id, if i == 0 { "current" } else { "previous" }),
                x: B64URL.encode(public),
                endpoint: ep.id.to_string(),
            });
        }
    }
    let mut resp = Json(JwksOut { keys }).into_response();
    // Short enough that a rotation shows within minutes, long enough to spare the server.
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(resp)
}
