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
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use utoipa::ToSchema;

use super::AppState;
use super::doc::{AppPath, Errors, IdempotencyParams};
use super::error::{ApiError, ApiResult};
use super::extract::{JsonBody, Path};
use crate::clock::now_ms;
use crate::formats::secret::random_bytes;
use crate::store::{Store, StoreResult};

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

/// The prefix of operator tokens (the first start's and `herald token create`'s).
pub const OPERATOR_TOKEN_PREFIX: &str = "herald_";

/// Operator tokens made with `herald token create`, recently found valid: each is looked up in
/// the database once per [`OPERATOR_TOKEN_CACHE`], so a revocation takes effect on every node
/// within that time.
#[derive(Default)]
pub struct OperatorTokens {
    valid: Mutex<HashMap<[u8; 32], Instant>>,
}

const OPERATOR_TOKEN_CACHE: Duration = Duration::from_secs(10);

impl OperatorTokens {
    async fn valid(&self, store: &Store, hash: [u8; 32]) -> StoreResult<bool> {
        {
            let valid = self.valid.lock().unwrap_or_else(|p| p.into_inner());
            if valid
                .get(&hash)
                .is_some_and(|at| at.elapsed() < OPERATOR_TOKEN_CACHE)
            {
                return Ok(true);
            }
        }
        let ok = store.operator_token_valid(&hex::encode(hash)).await?;
        let mut valid = self.valid.lock().unwrap_or_else(|p| p.into_inner());
        if ok {
            if valid.len() >= 1024 {
                valid.clear();
            }
            valid.insert(hash, Instant::now());
        } else {
            valid.remove(&hash);
        }
        Ok(ok)
    }
}

pub async fn middleware(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(token) = bearer(&req) else {
        return ApiError::Unauthorized.into_response();
    };
    let hash = hash_token(token);
    let principal = if ct_eq(&hash, &st.operator_hash) {
        Principal::Operator
    } else if token.starts_with(OPERATOR_TOKEN_PREFIX) {
        match st.operator_tokens.valid(&st.store, hash).await {
            Ok(true) => Principal::Operator,
            Ok(false) => return ApiError::Unauthorized.into_response(),
            Err(e) => return ApiError::from(e).into_response(),
        }
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

/// How long a portal token is valid unless the request says: 7 days.
const PORTAL_TOKEN_TTL_SECS: i64 = 7 * 24 * 3600;
/// The longest a request may ask for: 30 days.
const MAX_PORTAL_TOKEN_TTL_SECS: i64 = 30 * 24 * 3600;

/// `POST /auth/app-portal-access/{app}`'s body (Svix's `AppPortalAccessIn`; the other fields
/// it takes are accepted and ignored).
#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppPortalAccessIn {
    /// Seconds until the token (and the portal session made with it) ends: 1 to 2592000.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 2592000)]
    pub expiry: Option<i64>,
}

#[utoipa::path(
    post, path = "/auth/app-portal-access/{app_id}", operation_id = "v1.authentication.app-portal-access", tag = "Authentication",
    params(AppPath, IdempotencyParams),
    request_body = AppPortalAccessIn,
    responses(
        (status = 200, description = "OK", body = AppPortalAccessOut),
        Errors,
    )
)]
/// `POST /auth/app-portal-access/{app}`: a token limited to one application, and the portal URL.
pub async fn portal_access(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(app_id): Path<String>,
    JsonBody(body): JsonBody<AppPortalAccessIn>,
) -> ApiResult<Json<AppPortalAccessOut>> {
    who.require_operator()?;
    let expiry = body.expiry.unwrap_or(PORTAL_TOKEN_TTL_SECS);
    if !(1..=MAX_PORTAL_TOKEN_TTL_SECS).contains(&expiry) {
        return Err(ApiError::field(
            "expiry",
            format!("must be between 1 and {MAX_PORTAL_TOKEN_TTL_SECS} seconds"),
        ));
    }
    let app = st.app(&who, &app_id).await?;
    let token = new_token(APP_TOKEN_PREFIX);
    st.store
        .add_app_token(
            &hex::encode(hash_token(&token)),
            &app.id,
            now_ms() + expiry * 1000,
        )
        .await?;
    let base = st
        .cfg
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", st.cfg.listen));
    let url = format!("{}/portal/#key={token}", base.trim_end_matches('/'));
    Ok(Json(AppPortalAccessOut { token, url }))
}

/// An application token and the portal's address with it.
#[derive(Serialize, ToSchema)]
pub struct AppPortalAccessOut {
    /// A bearer token for this application's routes only.
    pub token: String,
    /// The portal, signed in with the token.
    pub url: String,
}

/// `POST /auth/app/{app}/expire-all`'s body (Svix's `ApplicationTokenExpireIn`).
#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ApplicationTokenExpireIn)]
pub struct ExpireAllIn {
    /// Seconds from now until the tokens end (at once when absent).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 2592000)]
    pub expiry: Option<i64>,
}

#[utoipa::path(
    post, path = "/auth/app/{app_id}/expire-all", operation_id = "v1.authentication.expire-all", tag = "Authentication",
    params(AppPath, IdempotencyParams),
    request_body = ExpireAllIn,
    responses(
        (status = 204, description = "The tokens end (now or after `expiry`)"),
        Errors,
    )
)]
/// `POST /auth/app/{app}/expire-all`: ends every token of an application (operator only), at
/// once or after `expiry` seconds; their portal sessions end with them.
pub async fn expire_all(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(app_id): Path<String>,
    JsonBody(body): JsonBody<ExpireAllIn>,
) -> ApiResult<StatusCode> {
    who.require_operator()?;
    let expiry = body.expiry.unwrap_or(0);
    if !(0..=MAX_PORTAL_TOKEN_TTL_SECS).contains(&expiry) {
        return Err(ApiError::field(
            "expiry",
            format!("must be between 0 and {MAX_PORTAL_TOKEN_TTL_SECS} seconds"),
        ));
    }
    let app = st.app(&who, &app_id).await?;
    let n = st
        .store
        .expire_app_tokens(&app.id, now_ms(), expiry * 1000)
        .await?;
    tracing::info!(app = %app.id, tokens = n, expiry, "application tokens expired");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post, path = "/auth/logout", operation_id = "v1.authentication.logout", tag = "Authentication",
    params(IdempotencyParams),
    responses(
        (status = 204, description = "The calling application token no longer works"),
        Errors,
    )
)]
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
