//! Request parsing: JSON bodies with errors that name the field, query parameters, and the
//! field validators shared by the resources.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use super::error::{ApiError, FieldError};
use crate::store::{ListFilter, Order, Page};

/// A JSON body. Malformed JSON is 400, a body that does not fit the shape is 422 naming the
/// field, an oversized body is 413. An empty body reads as `{}`.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge("The request body is larger than this server accepts".into())
            } else {
                ApiError::BadRequest {
                    code: "invalid_body",
                    detail: e.body_text(),
                }
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let msg = inner.to_string();
                // A missing field is reported at its parent; name the field itself.
                let field = match msg
                    .strip_prefix("missing field `")
                    .and_then(|r| r.split('`').next())
                {
                    Some(name) if path == "." => name.to_string(),
                    Some(name) => format!("{path}.{name}"),
                    None => path,
                };
                ApiError::Validation(vec![FieldError::body(&field, strip_position(&msg))])
            }
            _ => ApiError::BadRequest {
                code: "invalid_json",
                detail: format!("The request body is not valid JSON: {inner}"),
            },
        }
    })?;
    de.end().map_err(|e| ApiError::BadRequest {
        code: "invalid_json",
        detail: format!("The request body is not valid JSON: {e}"),
    })?;
    Ok(value)
}

/// serde_json appends " at line 1 column 12"; the field name says more.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// For PATCH bodies: absent is `None`, `null` is `Some(None)`, a value is `Some(Some(v))`.
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The raw query parameters, repeated keys kept (`event_types=a&event_types=b`).
pub struct Query(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        Ok(Query(
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect(),
        ))
    }
}

impl Query {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name || k == &format!("{name}[]"))
            .flat_map(|(_, v)| v.split(',').map(str::to_string).collect::<Vec<_>>())
            .filter(|s| !s.is_empty())
            .collect()
    }

    pub fn bool(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some("true") | Some("1") => Ok(true),
            Some("false") | Some("0") => Ok(false),
            Some(_) => Err(ApiError::query(name, "must be true or false")),
        }
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| ApiError::query(name, "must be an integer"))
            })
            .transpose()
    }

    pub fn time(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| {
                crate::clock::parse_rfc3339(v)
                    .ok_or_else(|| ApiError::query(name, "must be an RFC 3339 date-time"))
            })
            .transpose()
    }

    /// `limit`, `iterator` and `order`; `default_order` differs per resource, as in Svix.
    pub fn page(&self, default_order: Order) -> Result<Page, ApiError> {
        let limit = self.int("limit")?.unwrap_or(50);
        if !(1..=250).contains(&limit) {
            return Err(ApiError::query("limit", "must be between 1 and 250"));
        }
        let order = match self.get("order") {
            None => default_order,
            Some("ascending") => Order::Ascending,
            Some("descending") => Order::Descending,
            Some(_) => return Err(ApiError::query("order", "must be ascending or descending")),
        };
        Ok(Page {
            limit,
            iterator: self
                .get("iterator")
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            order,
        })
    }

    /// The filters of the message and attempt lists.
    pub fn filter(&self) -> Result<ListFilter, ApiError> {
        let status = self.int("status")?;
        if status.is_some_and(|s| !(0..=3).contains(&s)) {
            return Err(ApiError::query("status", "must be 0, 1, 2 or 3"));
        }
        let class = self.int("status_code_class")?;
        if class.is_some_and(|c| ![0, 100, 200, 300, 400, 500].contains(&c)) {
            return Err(ApiError::query(
                "status_code_class",
                "must be 0, 100, 200, 300, 400 or 500",
            ));
        }
        Ok(ListFilter {
            channel: self.get("channel").map(str::to_string),
            event_types: self.all("event_types"),
            before: self.time("before")?,
            after: self.time("after")?,
            status,
            status_code_class: class,
            endpoint_id: self.get("endpoint_id").map(str::to_string),
        })
    }
}

// ---- validators ---------------------------------------------------------------------------

fn is_name_like(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// A `uid` (or a message's `eventId`): 1 to 256 of `[a-zA-Z0-9-_.]`, not starting like an id
/// (`app_`, `ep_`, `msg_`...): paths take an id or a uid, and a uid that could be read as another
/// object's id would let its owner capture that object's requests.
pub fn check_uid(field: &str, uid: &str, errors: &mut Vec<FieldError>) {
    if uid.len() > 256 || !is_name_like(uid) {
        errors.push(FieldError::body(
            field,
            "must be 1 to 256 characters of a-z, A-Z, 0-9, '-', '_' and '.'",
        ));
    } else if crate::ids::has_id_prefix(uid) {
        errors.push(FieldError::body(
            field,
            format!(
                "must not start with an id prefix ({})",
                crate::ids::PREFIXES
                    .iter()
                    .map(|p| format!("{p}_"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
}

/// A path parameter that becomes the uid of an object created on the fly (`PUT` of a missing
/// object, a publish that creates its application): it must be a valid uid.
pub fn uid_from_path(param: &str, value: String) -> Result<String, ApiError> {
    let mut errors = Vec::new();
    check_uid(param, &value, &mut errors);
    match errors.pop() {
        None => Ok(value),
        Some(e) => Err(ApiError::Validation(vec![FieldError::path(param, e.msg)])),
    }
}

/// An event type name or event id: up to 256 of `[a-zA-Z0-9-_.]`.
pub fn check_name(field: &str, name: &str, errors: &mut Vec<FieldError>) {
    if name.len() > 256 || !is_name_like(name) {
        errors.push(FieldError::body(
            field,
            "must be 1 to 256 characters of a-z, A-Z, 0-9, '-', '_' and '.'",
        ));
    }
}

pub fn check_list(field: &str, items: &[String], max: usize, errors: &mut Vec<FieldError>) {
    if items.len() > max {
        errors.push(FieldError::body(
            field,
            format!("must have at most {max} items"),
        ));
    }
    for (i, item) in items.iter().enumerate() {
        check_name(&format!("{field}.{i}"), item, errors);
    }
}

pub fn finish(errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}
