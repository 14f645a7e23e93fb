//! The API's error type: every failure inside Herald becomes one of these, and this is the one
//! place that turns them into HTTP statuses and JSON bodies.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use crate::store::StoreError;

/// One field-level validation problem, in Svix's (FastAPI's) shape.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = ValidationError)]
pub struct FieldError {
    /// Where: `body`, `query`, `path` or `header`, then the field's name and any nested keys.
    pub loc: Vec<String>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
}

impl FieldError {
    /// A problem with a field of the JSON body, e.g. `body_field("url", "...")`.
    pub fn body(field: &str, msg: impl Into<String>) -> Self {
        let mut loc = vec!["body".to_string()];
        loc.extend(field.split('.').filter(|s| !s.is_empty()).map(String::from));
        FieldError {
            loc,
            msg: msg.into(),
            kind: "value_error".into(),
        }
    }

    /// A problem with a path parameter.
    pub fn path(param: &str, msg: impl Into<String>) -> Self {
        FieldError {
            loc: vec!["path".into(), param.into()],
            msg: msg.into(),
            kind: "value_error".into(),
        }
    }

    /// A problem with a query parameter.
    pub fn query(param: &str, msg: impl Into<String>) -> Self {
        FieldError {
            loc: vec!["query".into(), param.into()],
            msg: msg.into(),
            kind: "value_error".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("missing or invalid token")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    TooLarge(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("internal error")]
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn field(field: &str, msg: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::body(field, msg)])
    }

    pub fn query(param: &str, msg: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::query(param, msg)])
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound(format!("{what} not found"))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::not_found(&capitalize(what)),
            StoreError::Conflict(msg) => ApiError::Conflict(msg),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// A payload its event type's schema refuses: 422 at `body.payload` and the path within it.
impl From<crate::schema::PayloadError> for ApiError {
    fn from(e: crate::schema::PayloadError) -> Self {
        match e {
            crate::schema::PayloadError::Invalid { path, message } => {
                let mut loc = vec!["body".to_string(), "payload".to_string()];
                loc.extend(path.split('/').filter(|s| !s.is_empty()).map(String::from));
                ApiError::Validation(vec![FieldError {
                    loc,
                    msg: format!("does not match its event type's schema at '{path}': {message}"),
                    kind: "schema_error".into(),
                }])
            }
            crate::schema::PayloadError::Store(e) => e.into(),
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::NotFound(d) => (
                StatusCode::NOT_FOUND,
                json!({"code": "not_found", "detail": d}),
            ),
            ApiError::Conflict(d) => (
                StatusCode::CONFLICT,
                json!({"code": "conflict", "detail": d}),
            ),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                json!({"code": "authentication_failed", "detail": "Missing or invalid bearer token"}),
            ),
            ApiError::Forbidden(d) => (
                StatusCode::FORBIDDEN,
                json!({"code": "forbidden", "detail": d}),
            ),
            ApiError::BadRequest { code, detail } => (
                StatusCode::BAD_REQUEST,
                json!({"code": code, "detail": detail}),
            ),
            ApiError::Validation(items) => {
                (StatusCode::UNPROCESSABLE_ENTITY, json!({"detail": items}))
            }
            ApiError::TooLarge(d) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"code": "payload_too_large", "detail": d}),
            ),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                json!({"code": "method_not_allowed", "detail": "Method not allowed on this route"}),
            ),
            ApiError::Internal(d) => {
                // The details go to the log, not to the client.
                tracing::error!(error = %d, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"code": "internal_error", "detail": "Internal server error"}),
                )
            }
        };
        let mut resp = (status, Json(body)).into_response();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body is not read, so the connection cannot carry another request:
            // say so, or a pooling client reuses it and its next request fails.
            resp.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        resp
    }
}
