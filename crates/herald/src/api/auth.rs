//! Bearer-token authentication. The operator token can do everything; an application token (the
//! portal's) sees only its application. Tokens are kept as SHA-256 hashes and compared in
//! constant time.

use axum::Extension;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde_json::json;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{JsonBody, Path};
use crate::clock::now_ms;
use crate::formats::secret::random_bytes;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Operator,
    /// Limited to one application (by id).
    App(String),
}

impl Principal {
    pub fn require_operator(&self) -> ApiResult<()> {
        match self {
            Principal::Operator => Ok(()),
            Principal::App(_) => Err(ApiError::Forbidden(
                "This call needs the operator token".into(),
            )),
        }
    }

    pub fn scope(&self) -> String {
        match self {
            Principal::Operator => "operator".into(),
            Principal::App(id) => format!("app:{id}"),
        }
    }
}

pub fn hash_token(token: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new random token with a readable prefix.
pub fn new_token(prefix: &str) -> String {
    format!("{prefix}{}", B64URL.encode(random_bytes::<32>()))
}

pub const APP_TOKEN_PREFIX: &str = "appsk_";

fn bearer(req: &Request) -> Option<&str> {
    let h = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let t = h
        .strip_prefix("Bearer ")
        .or_else(|| h.strip_prefix("bearer "))
        .unwrap_or(h);
    let t = t.trim();
    (!t.is_empty()).then_some(t)
}

pub async fn middleware(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(token) = bearer(&req) else {
        return ApiError::Unauthorized.into_response();
    };
    let hash = hash_token(token);
    let principal = if ct_eq(&hash, &st.operator_hash) {
        Principal::Operator
    } else if token.starts_with(APP_TOKEN_PREFIX) {
        match st.store.app_for_token(&hex::encode(hash), now_ms()).await {
            Ok(Some(app_id)) => Principal::App(app_id),
            Ok(None) => return ApiError::Unauthorized.into_response(),
            Err(e) => return ApiError::from(e).into_response(),
        }
    } else {
        return ApiError::Unauthorized.into_response();
    };
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// How long a portal token is valid.
const PORTAL_TOKEN_TTL_MS: i64 = 7 * 24 * 3600 * 1000;

/// `POST /auth/app-portal-access/{app}`: a token limited to one application, and the portal URL.
pub async fn portal_access(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(app_id): Path<String>,
    JsonBody(_body): JsonBody<serde::de::IgnoredAny>,
) -> ApiResult<Response> {
    who.require_operator()?;
    let app = st.app(&who, &app_id).await?;
    let token = new_token(APP_TOKEN_PREFIX);
    st.store
        .add_app_token(
            &hex::encode(hash_token(&token)),
            &app.id,
            now_ms() + PORTAL_TOKEN_TTL_MS,
        )
        .await?;
    let base = st
        .cfg
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", st.cfg.listen));
    let url = format!("{}/portal/#key={token}", base.trim_end_matches('/'));
    Ok(Json(json!({"token": token, "url": url})).into_response())
}

/// `POST /auth/logout`: forgets the calling application token.
pub async fn logout(State(st): State<AppState>, req: Request) -> ApiResult<StatusCode> {
    if let Some(token) = bearer(&req)
        && token.starts_with(APP_TOKEN_PREFIX)
    {
        st.store
            .delete_app_token(&hex::encode(hash_token(token)))
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
