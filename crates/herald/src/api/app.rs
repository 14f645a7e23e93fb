//! Applications: `/api/v1/app`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::doc::{AppPath, Errors, IdempotencyParams, ListParams};
use super::error::{ApiError, ApiResult};
use super::extract::{JsonBody, Path, Query, double_option};
use super::shapes::{ApplicationOut, ListOut};
use super::validate::{
    HOUR_MS, MAX_NAME, check_metadata, check_retention, check_text, check_throttle, check_uid,
    finish, uid_from_path,
};
use super::{AppState, Principal};
use crate::ids;
use crate::store::{AppFields, Order, StoreError};

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationIn {
    #[schema(min_length = 1, max_length = 256)]
    pub name: String,
    /// The caller's own identifier, usable instead of the id (may not start with an id prefix).
    #[serde(default)]
    #[schema(pattern = r"^[a-zA-Z0-9\-_.]+$", min_length = 1, max_length = 256)]
    pub uid: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<HashMap<String, String>>)]
    pub metadata: Option<Value>,
    #[serde(default, alias = "rateLimit")]
    #[schema(minimum = 1, maximum = 65535)]
    pub throttle_rate: Option<i64>,
    /// Herald: days its messages' payloads are kept unless a message says (5 to 90);
    /// `--payload-retention` when neither this nor `payloadRetentionHours` is given.
    #[serde(default)]
    #[schema(minimum = 5, maximum = 90)]
    pub payload_retention_period: Option<i64>,
    /// Herald: hours its messages' payloads are kept (1 to 2160), instead of
    /// `payloadRetentionPeriod`.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 2160)]
    pub payload_retention_hours: Option<i64>,
}

impl ApplicationIn {
    /// Validates and turns the input into store fields.
    pub fn fields(self) -> ApiResult<AppFields> {
        let mut errors = Vec::new();
        if self.name.trim().is_empty() {
            errors.push(super::error::FieldError::body("name", "must not be empty"));
        }
        check_text("name", &self.name, MAX_NAME, &mut errors);
        if let Some(uid) = &self.uid {
            check_uid("uid", uid, &mut errors);
        }
        check_throttle(self.throttle_rate, &mut errors);
        let metadata = check_metadata(self.metadata, &mut errors);
        let payload_retention_ms = check_retention(
            self.payload_retention_period,
            self.payload_retention_hours,
            &mut errors,
        );
        finish(errors)?;
        Ok(AppFields {
            uid: self.uid,
            name: self.name,
            metadata,
            throttle_rate: self.throttle_rate,
            payload_retention_ms,
        })
    }
}

#[utoipa::path(
    get, path = "/app", operation_id = "v1.application.list", tag = "Application",
    params(ListParams),
    responses((status = 200, description = "A page of the list", body = ListOut<ApplicationOut>), Errors)
)]
pub async fn list(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    q: Query,
) -> ApiResult<Json<ListOut<ApplicationOut>>> {
    let page = q.page(Order::Ascending, Some(ids::APP))?;
    match &who {
        Principal::Operator => {
            let p = st.store.list_apps(&page).await?;
            Ok(Json(ListOut::from_page(p, ApplicationOut::from)))
        }
        // An application token sees its own application only.
        Principal::App(id) => {
            let app = st.store.get_app(id).await?;
            Ok(Json(ListOut {
                data: vec![app.into()],
                iterator: None,
                prev_iterator: None,
                done: true,
            }))
        }
    }
}

#[utoipa::path(
    post, path = "/app", operation_id = "v1.application.create", tag = "Application",
    params(
        ("get_if_exists" = Option<bool>, Query, description = "Answer 200 with the application of this `uid` if there is one"),
        IdempotencyParams,
    ),
    request_body = ApplicationIn,
    responses(
        (status = 201, description = "Created", body = ApplicationOut),
        (status = 200, description = "Already there (`get_if_exists`)", body = ApplicationOut),
        Errors,
    )
)]
pub async fn create(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    q: Query,
    JsonBody(body): JsonBody<ApplicationIn>,
) -> ApiResult<(StatusCode, Json<ApplicationOut>)> {
    who.require_operator()?;
    let get_if_exists = q.bool("get_if_exists", false)?;
    let f = body.fields()?;
    if get_if_exists
        && let Some(uid) = &f.uid
        && let Ok(app) = st.store.get_app(uid).await
    {
        return Ok((StatusCode::OK, Json(app.into())));
    }
    let app = st.store.create_app(&f).await?;
    Ok((StatusCode::CREATED, Json(app.into())))
}

#[utoipa::path(
    get, path = "/app/{app_id}", operation_id = "v1.application.get", tag = "Application",
    params(AppPath),
    responses((status = 200, description = "OK", body = ApplicationOut), Errors)
)]
pub async fn get(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(app_id): Path<String>,
) -> ApiResult<Json<ApplicationOut>> {
    Ok(Json(st.app(&who, &app_id).await?.into()))
}

#[utoipa::path(
    put, path = "/app/{app_id}", operation_id = "v1.application.update", tag = "Application",
    params(AppPath),
    request_body = ApplicationIn,
    responses(
        (status = 200, description = "Replaced", body = ApplicationOut),
        (status = 201, description = "Created", body = ApplicationOut),
        Errors,
    )
)]
/// `PUT`: replaces the application, or creates it (with `app_id` as its uid) if there is none.
pub async fn put(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(app_id): Path<String>,
    JsonBody(body): JsonBody<ApplicationIn>,
) -> ApiResult<(StatusCode, Json<ApplicationOut>)> {
    let mut f = body.fields()?;
    match st.app(&who, &app_id).await {
        Ok(app) => {
            let replaced = st
                .store
                .modify_app(&app.id, |old| {
                    let mut f = f.clone();
                    f.uid = f.uid.or_else(|| old.uid.clone());
                    Ok::<_, ApiError>(f)
                })
                .await?;
            Ok((StatusCode::OK, Json(replaced.into())))
        }
        Err(ApiError::NotFound(_))
            if who == Principal::Operator && !ids::is_id(ids::APP, &app_id) =>
        {
            f.uid = Some(match f.uid {
                Some(uid) => uid,
                None => uid_from_path("app_id", app_id)?,
            });
            Ok((
                StatusCode::CREATED,
                Json(st.store.create_app(&f).await?.into()),
            ))
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationPatch {
    #[serde(default)]
    #[schema(min_length = 1, max_length = 256)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, pattern = r"^[a-zA-Z0-9\-_.]+$", min_length = 1, max_length = 256)]
    pub uid: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<HashMap<String, String>>)]
    pub metadata: Option<Option<Value>>,
    #[serde(default, alias = "rateLimit", deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 65535)]
    pub throttle_rate: Option<Option<i64>>,
    /// Herald: see `ApplicationIn`; null goes back to `--payload-retention`.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>, minimum = 5, maximum = 90)]
    pub payload_retention_period: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 2160)]
    pub payload_retention_hours: Option<Option<i64>>,
}

#[utoipa::path(
    patch, path = "/app/{app_id}", operation_id = "v1.application.patch", tag = "Application",
    params(AppPath),
    request_body = ApplicationPatch,
    responses((status = 200, description = "OK", body = ApplicationOut), Errors)
)]
pub async fn patch(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(app_id): Path<String>,
    JsonBody(body): JsonBody<ApplicationPatch>,
) -> ApiResult<Json<ApplicationOut>> {
    let app = st.app(&who, &app_id).await?;
    let patched = st
        .store
        .modify_app(&app.id, |app| {
            ApplicationIn {
                name: body.name.unwrap_or_else(|| app.name.clone()),
                uid: body.uid.unwrap_or_else(|| app.uid.clone()),
                metadata: Some(
                    body.metadata
                        .unwrap_or_else(|| Some(app.metadata.clone()))
                        .unwrap_or(Value::Null),
                ),
                throttle_rate: body.throttle_rate.unwrap_or(app.throttle_rate),
                // Either field replaces the application's retention; neither keeps it.
                payload_retention_period: body.payload_retention_period.unwrap_or(None),
                payload_retention_hours: match (
                    &body.payload_retention_period,
                    body.payload_retention_hours,
                ) {
                    (None, None) => app.payload_retention_ms.map(|ms| ms / HOUR_MS),
                    (_, h) => h.flatten(),
                },
            }
            .fields()
        })
        .await?;
    Ok(Json(patched.into()))
}

#[utoipa::path(
    delete, path = "/app/{app_id}", operation_id = "v1.application.delete", tag = "Application",
    params(AppPath),
    responses((status = 204, description = "Deleted, with its endpoints and messages"), Errors)
)]
pub async fn remove(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(app_id): Path<String>,
) -> ApiResult<StatusCode> {
    who.require_operator()?;
    let app = st.app(&who, &app_id).await?;
    match st.store.delete_app(&app.id).await {
        Ok(()) | Err(StoreError::NotFound(_)) => Ok(StatusCode::NO_CONTENT),
        Err(e) => Err(e.into()),
    }
}
