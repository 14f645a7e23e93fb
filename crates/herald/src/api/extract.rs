//! Request parsing: JSON bodies with errors that name the field, path and query parameters.
//! Whatever a client sends, the answer is a 4xx in the `{code, detail}` or 422 shape, never a
//! framework's plain-text rejection; strings carrying NUL (which PostgreSQL cannot store) or
//! other control characters are refused here, on both backends.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

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
    let bytes: &[u8] = match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => b"{}",
        Some(b'{') => bytes,
        Some(_) => {
            return Err(ApiError::Validation(vec![FieldError {
                loc: vec!["body".into()],
                msg: "must be a JSON object".into(),
                kind: "type_error".into(),
            }]));
        }
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
                ApiError::Validation(vec![FieldError::body(&field, in_api_words(&msg))])
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
    refuse_nul(bytes)?;
    Ok(value)
}

/// serde's words for a type mismatch, in the API's: the JSON type expected, without Rust type
/// names nor the position (the field's name says more).
fn in_api_words(msg: &str) -> String {
    let msg = match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    };
    let Some(at) = msg.find("expected ") else {
        return msg.to_string();
    };
    let (head, expected) = msg.split_at(at + "expected ".len());
    let what = if expected.starts_with("struct ") || expected.starts_with("a map") {
        "a JSON object"
    } else if expected.starts_with("a sequence") {
        "an array"
    } else if expected.starts_with("u8")
        || expected.starts_with("u16")
        || expected.starts_with("u32")
        || expected.starts_with("u64")
    {
        "a non-negative integer"
    } else if expected.starts_with('i') && expected[1..].starts_with(|c: char| c.is_ascii_digit()) {
        "an integer"
    } else {
        expected
    };
    // "invalid length 0, expected struct X with 4 elements": a sequence given for an object.
    let head = if head.starts_with("invalid length") {
        "invalid type: array, expected "
    } else {
        head
    };
    format!("{head}{what}")
}

/// Refuses a body whose strings decode to NUL (`\u0000`): PostgreSQL cannot store it, and no
/// field of Herald's has a use for it. The message payload is exempt: it is kept as the JSON
/// text published, where the escape is harmless and is delivered as sent.
fn refuse_nul(bytes: &[u8]) -> Result<(), ApiError> {
    if memchr::memmem::find(bytes, b"\\u0000").is_none() {
        return Ok(());
    }
    let Ok(Value::Object(top)) = serde_json::from_slice::<Value>(bytes) else {
        return Ok(());
    };
    for (k, v) in &top {
        if k == "payload" {
            continue;
        }
        if let Some(path) = nul_in(k, v) {
            return Err(ApiError::Validation(vec![FieldError::body(
                &path,
                "must not contain NUL characters",
            )]));
        }
    }
    Ok(())
}

/// The dotted path of the first string or key under `v` (named `at`) that holds a NUL.
fn nul_in(at: &str, v: &Value) -> Option<String> {
    if at.contains('\0') {
        return Some(at.replace('\0', "\\u0000"));
    }
    match v {
        Value::String(s) if s.contains('\0') => Some(at.to_string()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_in(&format!("{at}.{i}"), v)),
        Value::Object(o) => o.iter().find_map(|(k, v)| nul_in(&format!("{at}.{k}"), v)),
        _ => None,
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
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect();
        if let Some((k, _)) = pairs
            .iter()
            .find(|(k, v)| k.chars().chain(v.chars()).any(char::is_control))
        {
            return Err(ApiError::query(
                &k.replace(char::is_control, "?"),
                "must not contain control characters",
            ));
        }
        Ok(Query(pairs))
    }
}

/// Path parameters (ids, uids, event type names). A path that cannot name anything, because
/// it does not decode or holds control characters (`%00`), is a 404 like any other unknown
/// object, in the API's JSON shape.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if escapes_a_control_character(parts.uri.path()) {
            return Err(ApiError::NotFound("No such object".into()));
        }
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(_) => Err(ApiError::NotFound("No such object".into())),
        }
    }
}

/// Whether a raw path holds a percent-escaped control character: C0 (`%00`-`%1F`), DEL
/// (`%7F`) or, UTF-8 encoded, C1 (U+0080-U+009F: `%C2%80`-`%C2%9F`); raw ones never reach here
/// (the HTTP parser refuses them).
fn escapes_a_control_character(path: &str) -> bool {
    let b = path.as_bytes();
    b.windows(3).enumerate().any(|(i, w)| {
        w[0] == b'%'
            && (matches!(
                (w[1], w[2].to_ascii_lowercase()),
                (b'0' | b'1', b'0'..=b'9' | b'a'..=b'f') | (b'7', b'f')
            ) || (w[1..].eq_ignore_ascii_case(b"c2")
                && b.get(i + 3) == Some(&b'%')
                && matches!(b.get(i + 4), Some(b'8' | b'9'))
                && b.get(i + 5).is_some_and(u8::is_ascii_hexdigit)))
    })
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

    /// `limit`, `iterator` and `order` of a list ordered by ids of kind `prefix` (`None`: by
    /// event type names); `default_order` differs per resource, as in Svix. An iterator is a key
    /// of the list, or one with `-` before it (the page before it): anything else is a 422.
    pub fn page(&self, default_order: Order, prefix: Option<&str>) -> Result<Page, ApiError> {
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
        let iterator = self
            .get("iterator")
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        if let Some(it) = &iterator {
            let key = it.strip_prefix('-').unwrap_or(it);
            let ok = match prefix {
                Some(p) => crate::ids::is_id(p, key),
                None => {
                    let mut errors = Vec::new();
                    super::validate::check_name("iterator", key, &mut errors);
                    errors.is_empty()
                }
            };
            if !ok {
                return Err(ApiError::query(
                    "iterator",
                    "is not an iterator of this list: pass one from a previous page, as given",
                ));
            }
        }
        Ok(Page {
            limit,
            iterator,
            order,
        })
    }

    /// The filters of the message and attempt lists.
    pub fn filter(&self) -> Result<ListFilter, ApiError> {
        let endpoint_id = self.get("endpoint_id").map(str::to_string);
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
            endpoint_id,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn escaped_control_characters_are_found_c1_included() {
        for bad in [
            "/app/%00",
            "/app/a%1fb",
            "/app/%7F",
            "/app/%C2%80",
            "/app/x%c2%9f",
        ] {
            assert!(super::escapes_a_control_character(bad), "{bad}");
        }
        for good in [
            "/app/%20",
            "/app/%C2%A0",
            "/app/%C3%80",
            "/app/plain",
            "/app/%C2",
        ] {
            assert!(!super::escapes_a_control_character(good), "{good}");
        }
    }
}
