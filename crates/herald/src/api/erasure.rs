//! Erasure on request (GDPR): every payload of an application, or of its messages carrying a
//! tag, expunged at once; the messages stay (ids, types, times, delivery log), their content
//! does not. Herald's addition.

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::doc::{AppPath, Errors};
use super::error::{ApiResult, FieldError};
use super::extract::{JsonBody, Path};
use super::validate::finish;
use super::{AppState, Principal};
use crate::delivery::retention::BATCH;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErasureIn {
    /// Only the messages carrying this tag (Svix's message `tags`); all of the application's
    /// when absent.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 256)]
    pub tag: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErasureOut {
    /// How many payloads were expunged now (those expunged before are not counted).
    pub expunged: u64,
}

#[utoipa::path(
    post, path = "/app/{app_id}/erasure", operation_id = "herald.app.erasure", tag = "Message",
    params(AppPath),
    request_body = ErasureIn,
    responses(
        (status = 200, description = "The payloads are expunged", body = ErasureOut),
        Errors,
    )
)]
/// Expunges the payloads in batches (publishes to the application go on meanwhile; one made
/// during the call may keep its payload), each message's copy in this node's memory too.
pub async fn erase(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(app_id): Path<String>,
    JsonBody(body): JsonBody<ErasureIn>,
) -> ApiResult<Json<ErasureOut>> {
    let app = st.app(&who, &app_id).await?;
    if let Some(t) = &body.tag
        && (t.is_empty() || t.len() > 256)
    {
        finish(vec![FieldError::body("tag", "must be 1 to 256 bytes")])?;
    }
    let mut expunged = 0;
    let mut after = None;
    loop {
        let ids = st
            .store
            .erase_payloads(&app.id, body.tag.as_deref(), after.as_ref(), BATCH)
            .await?;
        for id in &ids {
            st.pipeline.forget(id);
        }
        expunged += ids.len() as u64;
        if (ids.len() as i64) < BATCH {
            break;
        }
        after = ids.into_iter().max();
        tokio::task::yield_now().await;
    }
    Ok(Json(ErasureOut { expunged }))
}
