//! The event-type catalog: `/api/v1/event-type`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::doc::{Errors, EventTypePath, IdempotencyParams, ListParams};
use super::error::ApiResult;
use super::extract::{JsonBody, Path, Query, double_option};
use super::shapes::{EventTypeOut, ListOut};
use super::validate::{
    MAX_EVENT_TYPE_DESCRIPTION, MAX_SCHEMAS_BYTES, check_name, check_text, finish,
};
use super::{AppState, Principal};
use crate::store::{EventTypeFields, Order};

/// `POST`'s body: a new event type.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeIn {
    #[schema(pattern = r"^[a-zA-Z0-9\-_.]+$", min_length = 1, max_length = 256)]
    pub name: String,
    #[schema(max_length = 4096)]
    pub description: String,
    #[serde(default)]
    pub archived: Option<bool>,
    #[serde(default)]
    pub deprecated: Option<bool>,
    #[serde(default)]
    #[schema(pattern = r"^[a-zA-Z0-9\-_.]+$", min_length = 1, max_length = 256)]
    pub feature_flag: Option<String>,
    /// JSON Schemas of the payload by version, e.g. `{"1": {...}}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub schemas: Option<Value>,
    /// Herald: check published payloads of this type against its latest schema.
    #[serde(default)]
    pub validate_payloads: Option<bool>,
}

impl EventTypeIn {
    fn split(self) -> (String, EventTypeUpdate) {
        let update = EventTypeUpdate {
            description: self.description,
            archived: self.archived,
            deprecated: self.deprecated,
            feature_flag: self.feature_flag,
            schemas: self.schemas,
            validate_payloads: self.validate_payloads,
        };
        (self.name, update)
    }
}

/// `PUT`'s body: the event type named in the path, replaced (or created).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeUpdate {
    #[schema(max_length = 4096)]
    pub description: String,
    #[serde(default)]
    pub archived: Option<bool>,
    #[serde(default)]
    pub deprecated: Option<bool>,
    #[serde(default)]
    #[schema(pattern = r"^[a-zA-Z0-9\-_.]+$", min_length = 1, max_length = 256)]
    pub feature_flag: Option<String>,
    /// JSON Schemas of the payload by version, e.g. `{"1": {...}}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub schemas: Option<Value>,
    /// Herald: check published payloads of this type against its latest schema.
    #[serde(default)]
    pub validate_payloads: Option<bool>,
}

impl EventTypeUpdate {
    fn fields(self) -> ApiResult<EventTypeFields> {
        let mut errors = Vec::new();
        check_text(
            "description",
            &self.description,
            MAX_EVENT_TYPE_DESCRIPTION,
            &mut errors,
        );
        if let Some(f) = &self.feature_flag {
            check_name("featureFlag", f, &mut errors);
        }
        match &self.schemas {
            None | Some(Value::Null) => {}
            Some(s @ Value::Object(_)) => {
                if s.to_string().len() > MAX_SCHEMAS_BYTES {
                    errors.push(super::error::FieldError::body(
                        "schemas",
                        format!("must be at most {MAX_SCHEMAS_BYTES} bytes of JSON"),
                    ));
                } else if let Err(e) = crate::schema::check_schemas(s) {
                    errors.push(super::error::FieldError::body(
                        "schemas",
                        format!("is not a valid JSON Schema: {e}"),
                    ));
                }
            }
            Some(_) => errors.push(super::error::FieldError::body(
                "schemas",
                "must be an object",
            )),
        }
        finish(errors)?;
        Ok(EventTypeFields {
            description: self.description,
            archived: self.archived.unwrap_or(false),
            deprecated: self.deprecated.unwrap_or(false),
            feature_flag: self.feature_flag,
            schemas: self.schemas.filter(|s| !s.is_null()),
            validate_payloads: self.validate_payloads.unwrap_or(false),
        })
    }
}

#[utoipa::path(
    get, path = "/event-type", operation_id = "v1.event-type.list", tag = "Event Type",
    params(ListParams, ("include_archived" = Option<bool>, Query, description = "Include archived event types")),
    responses(
        (status = 200, description = "A page of the list", body = ListOut<EventTypeOut>),
        Errors,
    )
)]
pub async fn list(State(st): State<AppState>, q: Query) -> ApiResult<Json<ListOut<EventTypeOut>>> {
    let page = q.page(Order::Ascending, None)?;
    let p = st
        .store
        .list_event_types(&page, q.bool("include_archived", false)?)
        .await?;
    Ok(Json(ListOut::from_page(p, EventTypeOut::from)))
}

#[utoipa::path(
    post, path = "/event-type", operation_id = "v1.event-type.create", tag = "Event Type",
    params(IdempotencyParams),
    request_body = EventTypeIn,
    responses(
        (status = 201, description = "Created", body = EventTypeOut),
        Errors,
    )
)]
pub async fn create(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    JsonBody(body): JsonBody<EventTypeIn>,
) -> ApiResult<(StatusCode, Json<EventTypeOut>)> {
    who.require_operator()?;
    let (name, body) = body.split();
    let mut errors = Vec::new();
    check_name("name", &name, &mut errors);
    finish(errors)?;
    let et = st.store.create_event_type(&name, &body.fields()?).await?;
    Ok((StatusCode::CREATED, Json(et.into())))
}

#[utoipa::path(
    get, path = "/event-type/{event_type_name}", operation_id = "v1.event-type.get", tag = "Event Type",
    params(EventTypePath),
    responses(
        (status = 200, description = "OK", body = EventTypeOut),
        Errors,
    )
)]
pub async fn get(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<EventTypeOut>> {
    Ok(Json(st.store.get_event_type(&name).await?.into()))
}

#[utoipa::path(
    put, path = "/event-type/{event_type_name}", operation_id = "v1.event-type.update", tag = "Event Type",
    params(EventTypePath),
    request_body = EventTypeUpdate,
    responses(
        (status = 200, description = "Replaced", body = EventTypeOut),
        (status = 201, description = "Created", body = EventTypeOut),
        Errors,
    )
)]
/// `PUT`: replaces the event type, or creates it if there is none.
pub async fn put(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<EventTypeUpdate>,
) -> ApiResult<(StatusCode, Json<EventTypeOut>)> {
    who.require_operator()?;
    let f = body.fields()?;
    match st.store.update_event_type(&name, &f).await {
        Ok(et) => Ok((StatusCode::OK, Json(et.into()))),
        Err(crate::store::StoreError::NotFound(_)) => {
            let mut errors = Vec::new();
            check_name("name", &name, &mut errors);
            finish(errors)?;
            Ok((
                StatusCode::CREATED,
                Json(st.store.create_event_type(&name, &f).await?.into()),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypePatch {
    #[serde(default)]
    #[schema(max_length = 4096)]
    pub description: Option<String>,
    #[serde(default)]
    pub archived: Option<bool>,
    #[serde(default)]
    pub deprecated: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, pattern = r"^[a-zA-Z0-9\-_.]+$", min_length = 1, max_length = 256)]
    pub feature_flag: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Object>)]
    pub schemas: Option<Option<Value>>,
    #[serde(default)]
    pub validate_payloads: Option<bool>,
}

#[utoipa::path(
    patch, path = "/event-type/{event_type_name}", operation_id = "v1.event-type.patch", tag = "Event Type",
    params(EventTypePath),
    request_body = EventTypePatch,
    responses(
        (status = 200, description = "OK", body = EventTypeOut),
        Errors,
    )
)]
pub async fn patch(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<EventTypePatch>,
) -> ApiResult<Json<EventTypeOut>> {
    who.require_operator()?;
    let et = st.store.get_event_type(&name).await?;
    let input = EventTypeUpdate {
        description: body.description.unwrap_or(et.description),
        archived: Some(body.archived.unwrap_or(et.archived)),
        deprecated: Some(body.deprecated.unwrap_or(et.deprecated)),
        feature_flag: body.feature_flag.unwrap_or(et.feature_flag),
        schemas: body.schemas.unwrap_or(et.schemas),
        validate_payloads: Some(body.validate_payloads.unwrap_or(et.validate_payloads)),
    };
    Ok(Json(
        st.store
            .update_event_type(&name, &input.fields()?)
            .await?
            .into(),
    ))
}

#[utoipa::path(
    delete, path = "/event-type/{event_type_name}", operation_id = "v1.event-type.delete", tag = "Event Type",
    params(EventTypePath, ("expunge" = Option<bool>, Query, description = "Delete it for good instead of archiving it")),
    responses(
        (status = 204, description = "Archived (or deleted with `expunge`)"),
        Errors,
    )
)]
/// `DELETE`: archives the event type (kept for history), or removes it with `expunge=true`.
pub async fn remove(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    q: Query,
) -> ApiResult<StatusCode> {
    who.require_operator()?;
    if q.bool("expunge", false)? {
        st.store.delete_event_type(&name).await?;
    } else {
        let et = st.store.get_event_type(&name).await?;
        let f = EventTypeFields {
            description: et.description,
            archived: true,
            deprecated: et.deprecated,
            feature_flag: et.feature_flag,
            schemas: et.schemas,
            validate_payloads: et.validate_payloads,
        };
        st.store.update_event_type(&name, &f).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
