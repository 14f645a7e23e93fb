//! An endpoint's signing secret: shown (the public half of an ed25519 key), rotated with a grace
//! period during which the old one still signs.

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::endpoint_of;
use super::input::check_secret;
use crate::api::doc::{EndpointPath, Errors, IdempotencyParams};
use crate::api::error::{ApiError, ApiResult, FieldError};
use crate::api::extract::{JsonBody, Path};
use crate::api::validate::finish;
use crate::api::{AppState, Principal};
use crate::clock::now_ms;
use crate::formats::secret;
use crate::model::OldSecret;

#[utoipa::path(
    get, path = "/app/{app_id}/endpoint/{endpoint_id}/secret", operation_id = "v1.endpoint.get-secret", tag = "Endpoint",
    params(EndpointPath),
    responses(
        (status = 200, description = "OK", body = SecretOut),
        Errors,
    )
)]
pub async fn get_secret(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> ApiResult<Json<SecretOut>> {
    let ep = endpoint_of(&st, &who, &app_id, &ep_id).await?;
    // For an ed25519 key this is the public half: receivers verify without holding the secret.
    Ok(Json(SecretOut {
        key: secret::shown(&ep.secret),
    }))
}

/// An endpoint's signing key (`whsec_...`), or for ed25519 endpoints its public half (`whpk_...`).
#[derive(Serialize, ToSchema)]
#[schema(as = EndpointSecretOut)]
pub struct SecretOut {
    pub key: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = EndpointSecretRotateIn)]
pub struct RotateIn {
    /// The new secret (one is generated when absent).
    #[serde(default)]
    pub key: Option<String>,
    /// Herald: how long the old secret keeps signing too (0 to 604800; 86400 by default).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 604800)]
    pub grace_period_seconds: Option<i64>,
}

/// Default time a rotated-out secret keeps signing.
pub(super) const DEFAULT_GRACE_SECONDS: i64 = 24 * 3600;

#[utoipa::path(
    post, path = "/app/{app_id}/endpoint/{endpoint_id}/secret/rotate", operation_id = "v1.endpoint.rotate-secret", tag = "Endpoint",
    params(EndpointPath, IdempotencyParams),
    request_body = RotateIn,
    responses(
        (status = 200, description = "The new key signs from now on", body = SecretOut),
        Errors,
    )
)]
/// `POST secret/rotate`: a new secret signs from now on; the old one keeps signing for the grace
/// period so receivers can switch over. Answers with the new `{key}`.
pub async fn rotate_secret(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<RotateIn>,
) -> ApiResult<Json<SecretOut>> {
    let app = st.app(&who, &app_id).await?;
    let grace = body.grace_period_seconds.unwrap_or(DEFAULT_GRACE_SECONDS);
    let (_, new) = st
        .store
        .modify_endpoint(&app.id, &ep_id, |ep| {
            let mut errors = Vec::new();
            if let Some(k) = &body.key {
                check_secret("key", k, ep.options.format, &mut errors);
            }
            if !(0..=604_800).contains(&grace) {
                errors.push(FieldError::body(
                    "gracePeriodSeconds",
                    "must be between 0 and 604800",
                ));
            }
            finish(errors)?;
            let now = now_ms();
            let new = body.key.unwrap_or_else(secret::generate);
            let old = std::mem::replace(&mut ep.secret, new.clone().into());
            ep.old_secrets.retain(|s| s.expires_at > now);
            if grace > 0 {
                ep.old_secrets.push(OldSecret {
                    key: old,
                    expires_at: now + grace * 1000,
                });
            }
            Ok::<_, ApiError>(new)
        })
        .await?;
    Ok(Json(SecretOut {
        key: secret::shown(&new),
    }))
}
