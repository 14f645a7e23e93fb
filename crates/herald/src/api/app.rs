//! Applications: `/api/v1/app`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::Value;

use super::error::{ApiError, ApiResult};
use super::extract::{JsonBody, Path, Query, double_option};
use super::shapes::{ApplicationOut, ListOut};
use super::validate::{
    MAX_NAME, check_metadata, check_text, check_throttle, check_uid, finish, uid_from_path,
};
use super::{AppState, Principal};
use crate::ids;
use crate::store::{AppFields, Order, StoreError};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationIn {
    pub name: String,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default, alias = "rateLimit")]
    pub throttle_rate: Option<i64>,
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
        finish(errors)?;
        Ok(AppFields {
            uid: self.uid,
            name: self.name,
            metadata,
            throttle_rate: self.throttle_rate,
        })
    }
}

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

pub async fn get(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(app_id): Path<String>,
) -> ApiResult<Json<ApplicationOut>> {
    Ok(Json(st.app(&who, &app_id).await?.into()))
}

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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub uid: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub metadata: Option<Option<Value>>,
    #[serde(default, alias = "rateLimit", deserialize_with = "double_option")]
    pub throttle_rate: Option<Option<i64>>,
}

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
            }
            .fields()
        })
        .await?;
    Ok(Json(patched.into()))
}

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
