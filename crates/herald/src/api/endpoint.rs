//! Endpoints: `/api/v1/app/{app}/endpoint`, with their secret, headers, stats and recovery.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{JsonBody, Path, Query, double_option};
use super::shapes::{EndpointOut, ListOut, MessageOut, StatsOut};
use super::validate::{
    MAX_DESCRIPTION, MAX_ENDPOINT_CHANNELS, MAX_EVENT_TYPES, MAX_HEADER_BYTES, MAX_HEADERS,
    MAX_URL, check_channels, check_list, check_metadata, check_name, check_text, check_throttle,
    check_uid, finish, uid_from_path,
};
use super::{AppState, Principal};
use crate::clock::{now_ms, parse_rfc3339, rfc3339};
use crate::formats::Format;
use crate::formats::secret;
use crate::ids;
use crate::model::{Endpoint, EndpointOptions, OldSecret};
use crate::net::guard::literal_ip;
use crate::store::{EndpointFields, NewMessage, Order};

/// Headers an endpoint may not set: Herald owns them.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
];
const RESERVED_PREFIXES: &[&str] = &["webhook-", "svix-"];
/// Headers whose values are not shown back (they carry credentials).
const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointIn {
    pub url: String,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, alias = "filterTypes")]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default, alias = "rateLimit")]
    pub throttle_rate: Option<i64>,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub headers: Option<Map<String, Value>>,
    // Herald's delivery options.
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub signature_header: Option<String>,
    #[serde(default)]
    pub signature_prefix: Option<String>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub retry_schedule: Option<Vec<u64>>,
    #[serde(default)]
    pub user_agent: Option<String>,
}

/// Most entries in a per-endpoint retry schedule.
const MAX_SCHEDULE: usize = 20;
/// Longest single retry gap: 7 days.
const MAX_GAP_SECS: u64 = 7 * 24 * 3600;

impl EndpointIn {
    /// The delivery options, validated.
    fn options(&self, errors: &mut Vec<FieldError>) -> EndpointOptions {
        let format = match self.format.as_deref() {
            None => Format::Standard,
            Some(f) => Format::parse(f).unwrap_or_else(|| {
                errors.push(FieldError::body(
                    "format",
                    "must be one of standard, envelope, payload-string, hmac-header",
                ));
                Format::Standard
            }),
        };
        if let Some(h) = &self.signature_header {
            let lower = h.to_ascii_lowercase();
            if axum::http::HeaderName::from_bytes(h.as_bytes()).is_err()
                || RESERVED_HEADERS.contains(&lower.as_str())
            {
                errors.push(FieldError::body(
                    "signatureHeader",
                    "must be a header name Herald does not set itself",
                ));
            }
        }
        if let Some(p) = &self.signature_prefix
            && (p.len() > 64 || axum::http::HeaderValue::from_str(p).is_err())
        {
            errors.push(FieldError::body(
                "signaturePrefix",
                "must be at most 64 header-safe characters",
            ));
        }
        if self
            .timeout_ms
            .is_some_and(|t| !(1000..=30_000).contains(&t))
        {
            errors.push(FieldError::body(
                "timeoutMs",
                "must be between 1000 and 30000",
            ));
        }
        if let Some(s) = &self.retry_schedule {
            if s.len() > MAX_SCHEDULE {
                errors.push(FieldError::body(
                    "retrySchedule",
                    format!("must have at most {MAX_SCHEDULE} entries"),
                ));
            }
            if s.iter().any(|&g| g > MAX_GAP_SECS) {
                errors.push(FieldError::body(
                    "retrySchedule",
                    "gaps must be at most 604800 seconds",
                ));
            }
        }
        if let Some(ua) = &self.user_agent
            && (ua.is_empty() || ua.len() > 256 || axum::http::HeaderValue::from_str(ua).is_err())
        {
            errors.push(FieldError::body(
                "userAgent",
                "must be 1 to 256 header-safe characters",
            ));
        }
        EndpointOptions {
            format,
            signature_header: self.signature_header.clone().filter(|h| !h.is_empty()),
            signature_prefix: self.signature_prefix.clone().filter(|p| !p.is_empty()),
            timeout_ms: self.timeout_ms,
            retry_schedule: self.retry_schedule.clone(),
            user_agent: self.user_agent.clone(),
        }
    }

    fn fields(self, st: &AppState, errors: &mut Vec<FieldError>) -> EndpointFields {
        let options = self.options(errors);
        // Spaces around a pasted URL are dropped; control characters inside one are refused
        // (a URL parser would silently drop a CR or LF and deliver somewhere else than shown).
        let url = self.url.trim_matches(' ').to_string();
        check_url(st, &url, errors);
        if let Some(uid) = &self.uid {
            check_uid("uid", uid, errors);
        }
        if let Some(d) = &self.description {
            check_text("description", d, MAX_DESCRIPTION, errors);
        }
        if let Some(t) = &self.event_types {
            check_list("eventTypes", t, MAX_EVENT_TYPES, errors);
        }
        if let Some(c) = &self.channels {
            check_channels("channels", c, MAX_ENDPOINT_CHANNELS, errors);
        }
        check_throttle(self.throttle_rate, errors);
        let metadata = check_metadata(self.metadata, errors);
        EndpointFields {
            uid: self.uid,
            url,
            description: self.description.unwrap_or_default(),
            event_types: self.event_types.filter(|t| !t.is_empty()),
            channels: self.channels.filter(|c| !c.is_empty()),
            disabled: self.disabled.unwrap_or(false),
            metadata,
            throttle_rate: self.throttle_rate,
            options,
        }
    }
}

/// An endpoint URL: absolute http(s) with a host, and not a literal address the guard forbids.
fn check_url(st: &AppState, raw: &str, errors: &mut Vec<FieldError>) {
    if raw.is_empty() || raw.len() > MAX_URL {
        errors.push(FieldError::body(
            "url",
            format!("must be 1 to {MAX_URL} characters"),
        ));
        return;
    }
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        errors.push(FieldError::body(
            "url",
            "must not contain spaces or control characters (CR, LF, tab, NUL...)",
        ));
        return;
    }
    let url = match url::Url::parse(raw) {
        Ok(u) => u,
        Err(e) => {
            errors.push(FieldError::body("url", format!("is not a valid URL: {e}")));
            return;
        }
    };
    if url.scheme() != "http" && url.scheme() != "https" {
        errors.push(FieldError::body("url", "must use http or https"));
    } else if url.host().is_none() {
        errors.push(FieldError::body("url", "must have a host"));
    } else if let Some(ip) = literal_ip(&url)
        && !st.policy.permits(ip)
    {
        errors.push(FieldError::body(
            "url",
            format!("address {ip} is not public; allow it with --allow-target to deliver there"),
        ));
    }
}

/// Standard endpoints take `whsec_` (HMAC) or `whsk_` (ed25519) keys; the vendor formats take
/// any secret string, as their receivers key the HMAC with its UTF-8 bytes.
fn check_secret(field: &str, s: &str, format: Format, errors: &mut Vec<FieldError>) {
    let ok = match format {
        Format::Standard => secret::is_valid(s),
        _ => !s.is_empty() && s.len() <= 1024 && !s.chars().any(char::is_control),
    };
    if !ok {
        let msg = match format {
            Format::Standard => {
                "must be whsec_ + base64 of 24 to 64 bytes, or a whsk_ ed25519 key (use another format for plain secrets)"
            }
            _ => "must be 1 to 1024 characters, without control characters",
        };
        errors.push(FieldError::body(field, msg));
    }
}

/// A fresh secret for an endpoint of this format (`payload-string` may go unsigned).
fn default_secret(format: Format) -> String {
    match format {
        Format::PayloadString => String::new(),
        _ => secret::generate(),
    }
}

/// A standard endpoint needs a key that signs: refuse switching to it with a plain secret.
fn check_format_secret(ep: &Endpoint) -> ApiResult<()> {
    if ep.options.format == Format::Standard && !secret::is_valid(&ep.secret) {
        return Err(ApiError::field(
            "format",
            "the endpoint's secret is not a whsec_ or whsk_ key: rotate it with one first",
        ));
    }
    Ok(())
}

/// Validated custom headers: names are HTTP tokens and not ones Herald sets itself.
fn check_headers(
    h: &Map<String, Value>,
    field: &str,
    allow_null: bool,
    errors: &mut Vec<FieldError>,
) {
    if h.len() > MAX_HEADERS {
        errors.push(FieldError::body(
            field,
            format!("must have at most {MAX_HEADERS} headers"),
        ));
        return;
    }
    for (name, value) in h {
        let lower = name.to_ascii_lowercase();
        let loc = format!("{field}.{name}");
        if name.len() + value.as_str().map_or(0, str::len) > MAX_HEADER_BYTES {
            errors.push(FieldError::body(
                &loc,
                format!("name and value must be at most {MAX_HEADER_BYTES} bytes"),
            ));
            continue;
        }
        if axum::http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            errors.push(FieldError::body(&loc, "is not a valid header name"));
        } else if RESERVED_HEADERS.contains(&lower.as_str())
            || RESERVED_PREFIXES.iter().any(|p| lower.starts_with(p))
        {
            errors.push(FieldError::body(
                &loc,
                "is set by Herald and cannot be overridden",
            ));
        }
        match value {
            Value::String(v) if axum::http::HeaderValue::from_str(v).is_ok() => {}
            Value::Null if allow_null => {}
            _ => errors.push(FieldError::body(
                &loc,
                "must be a valid header value string",
            )),
        }
    }
}

async fn endpoint_of(
    st: &AppState,
    who: &Principal,
    app_id: &str,
    ep_id: &str,
) -> ApiResult<Endpoint> {
    let app = st.app(who, app_id).await?;
    Ok(st.store.get_endpoint(&app.id, ep_id).await?)
}

pub async fn list(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(app_id): Path<String>,
    q: Query,
) -> ApiResult<Json<ListOut<EndpointOut>>> {
    let app = st.app(&who, &app_id).await?;
    let page = st
        .store
        .list_endpoints(&app.id, &q.page(Order::Ascending, Some(ids::ENDPOINT))?)
        .await?;
    Ok(Json(ListOut::from_page(page, |e| EndpointOut::from(&e))))
}

pub async fn create(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(app_id): Path<String>,
    JsonBody(body): JsonBody<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    let app = st.app(&who, &app_id).await?;
    let mut errors = Vec::new();
    let secret = body.secret.clone();
    let headers = body.headers.clone().unwrap_or_default();
    check_headers(&headers, "headers", false, &mut errors);
    let f = body.fields(&st, &mut errors);
    if let Some(s) = &secret {
        check_secret("secret", s, f.options.format, &mut errors);
    }
    finish(errors)?;
    let secret = secret.unwrap_or_else(|| default_secret(f.options.format));
    let ep = st
        .store
        .create_endpoint(&app.id, &f, &headers, &secret)
        .await?;
    Ok((StatusCode::CREATED, Json(EndpointOut::from(&ep))))
}

pub async fn get(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointOut>> {
    Ok(Json(EndpointOut::from(
        &endpoint_of(&st, &who, &app_id, &ep_id).await?,
    )))
}

fn apply(ep: &mut Endpoint, f: EndpointFields) {
    ep.uid = f.uid.or(ep.uid.take());
    ep.url = f.url;
    ep.description = f.description;
    ep.event_types = f.event_types;
    ep.channels = f.channels;
    if ep.disabled && !f.disabled {
        ep.disabled_reason = None;
    }
    ep.disabled = f.disabled;
    ep.metadata = f.metadata;
    ep.throttle_rate = f.throttle_rate;
    ep.options = f.options;
}

/// `PUT`: replaces the endpoint, or creates it (with `ep_id` as its uid) if there is none.
pub async fn put(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    let app = st.app(&who, &app_id).await?;
    let mut errors = Vec::new();
    let f = body.fields(&st, &mut errors);
    finish(errors)?;
    let replaced = st
        .store
        .modify_endpoint(&app.id, &ep_id, |ep| {
            apply(ep, f.clone());
            check_format_secret(ep)
        })
        .await;
    match replaced {
        Ok((ep, ())) => Ok((StatusCode::OK, Json(EndpointOut::from(&ep)))),
        Err(ApiError::NotFound(_)) if !ids::is_id(ids::ENDPOINT, &ep_id) => {
            let mut f = f;
            f.uid = Some(match f.uid {
                Some(uid) => uid,
                None => uid_from_path("endpoint_id", ep_id)?,
            });
            let ep = st
                .store
                .create_endpoint(&app.id, &f, &Map::new(), &secret::generate())
                .await?;
            Ok((StatusCode::CREATED, Json(EndpointOut::from(&ep))))
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPatch {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub uid: Option<Option<String>>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, alias = "filterTypes", deserialize_with = "double_option")]
    pub event_types: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "double_option")]
    pub channels: Option<Option<Vec<String>>>,
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    pub metadata: Option<Option<Value>>,
    #[serde(default, alias = "rateLimit", deserialize_with = "double_option")]
    pub throttle_rate: Option<Option<i64>>,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub signature_header: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub signature_prefix: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub timeout_ms: Option<Option<u64>>,
    #[serde(default, deserialize_with = "double_option")]
    pub retry_schedule: Option<Option<Vec<u64>>>,
    #[serde(default, deserialize_with = "double_option")]
    pub user_agent: Option<Option<String>>,
}

pub async fn patch(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<EndpointPatch>,
) -> ApiResult<Json<EndpointOut>> {
    let app = st.app(&who, &app_id).await?;
    let (ep, ()) = st
        .store
        .modify_endpoint(&app.id, &ep_id, |ep| patch_into(&st, ep, body))
        .await?;
    Ok(Json(EndpointOut::from(&ep)))
}

/// Applies a PATCH: the fields it names change, the others keep their values.
fn patch_into(st: &AppState, ep: &mut Endpoint, body: EndpointPatch) -> ApiResult<()> {
    let clear_uid = matches!(body.uid, Some(None));
    let input = EndpointIn {
        url: body.url.unwrap_or_else(|| ep.url.clone()),
        uid: body.uid.unwrap_or_else(|| ep.uid.clone()),
        description: Some(body.description.unwrap_or_else(|| ep.description.clone())),
        event_types: body.event_types.unwrap_or_else(|| ep.event_types.clone()),
        channels: body.channels.unwrap_or_else(|| ep.channels.clone()),
        disabled: Some(body.disabled.unwrap_or(ep.disabled)),
        metadata: Some(
            body.metadata
                .unwrap_or_else(|| Some(ep.metadata.clone()))
                .unwrap_or(Value::Null),
        ),
        throttle_rate: body.throttle_rate.unwrap_or(ep.throttle_rate),
        secret: None,
        headers: None,
        format: Some(
            body.format
                .unwrap_or_else(|| format_name(ep.options.format)),
        ),
        signature_header: body
            .signature_header
            .unwrap_or_else(|| ep.options.signature_header.clone()),
        signature_prefix: body
            .signature_prefix
            .unwrap_or_else(|| ep.options.signature_prefix.clone()),
        timeout_ms: body.timeout_ms.unwrap_or(ep.options.timeout_ms),
        retry_schedule: body
            .retry_schedule
            .unwrap_or_else(|| ep.options.retry_schedule.clone()),
        user_agent: body
            .user_agent
            .unwrap_or_else(|| ep.options.user_agent.clone()),
    };
    let mut errors = Vec::new();
    let f = input.fields(st, &mut errors);
    finish(errors)?;
    apply(ep, f);
    if clear_uid {
        ep.uid = None;
    }
    check_format_secret(ep)
}

pub async fn remove(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let ep = endpoint_of(&st, &who, &app_id, &ep_id).await?;
    st.store.delete_endpoint(&ep.app_id, &ep.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- headers ----------------------------------------------------------------------------

fn headers_out(ep: &Endpoint) -> Json<Value> {
    let mut shown = Map::new();
    let mut sensitive = Vec::new();
    for (k, v) in &ep.headers {
        if SENSITIVE_HEADERS.contains(&k.to_ascii_lowercase().as_str()) {
            sensitive.push(k.clone());
        } else {
            shown.insert(k.clone(), v.clone());
        }
    }
    Json(json!({"headers": shown, "sensitive": sensitive}))
}

#[derive(Deserialize)]
pub struct HeadersIn {
    pub headers: Map<String, Value>,
}

pub async fn get_headers(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    Ok(headers_out(&endpoint_of(&st, &who, &app_id, &ep_id).await?))
}

pub async fn put_headers(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<HeadersIn>,
) -> ApiResult<StatusCode> {
    let app = st.app(&who, &app_id).await?;
    let mut errors = Vec::new();
    check_headers(&body.headers, "headers", false, &mut errors);
    finish(errors)?;
    st.store
        .modify_endpoint(&app.id, &ep_id, |ep| {
            ep.headers = body.headers;
            Ok::<_, ApiError>(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PATCH headers`: sets the given headers; a `null` value removes one.
pub async fn patch_headers(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<HeadersIn>,
) -> ApiResult<StatusCode> {
    let app = st.app(&who, &app_id).await?;
    let mut errors = Vec::new();
    check_headers(&body.headers, "headers", true, &mut errors);
    finish(errors)?;
    st.store
        .modify_endpoint(&app.id, &ep_id, |ep| {
            for (k, v) in body.headers {
                // Header names are case-insensitive: replace any spelling of the same name.
                ep.headers
                    .retain(|existing, _| !existing.eq_ignore_ascii_case(&k));
                if !v.is_null() {
                    ep.headers.insert(k, v);
                }
            }
            if ep.headers.len() > MAX_HEADERS {
                return Err(ApiError::field(
                    "headers",
                    format!("an endpoint has at most {MAX_HEADERS} headers"),
                ));
            }
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- secret -----------------------------------------------------------------------------

pub async fn get_secret(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let ep = endpoint_of(&st, &who, &app_id, &ep_id).await?;
    // For an ed25519 key this is the public half: receivers verify without holding the secret.
    Ok(Json(json!({"key": secret::shown(&ep.secret)})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RotateIn {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub grace_period_seconds: Option<i64>,
}

/// Default time a rotated-out secret keeps signing.
const DEFAULT_GRACE_SECONDS: i64 = 24 * 3600;

/// `POST secret/rotate`: a new secret signs from now on; the old one keeps signing for the grace
/// period so receivers can switch over. Answers with the new `{key}`.
pub async fn rotate_secret(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<RotateIn>,
) -> ApiResult<Json<Value>> {
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
            let old = std::mem::replace(&mut ep.secret, new.clone());
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
    Ok(Json(json!({"key": secret::shown(&new)})))
}

// ---- stats, recovery, examples ----------------------------------------------------------

pub async fn stats(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    q: Query,
) -> ApiResult<Json<StatsOut>> {
    let ep = endpoint_of(&st, &who, &app_id, &ep_id).await?;
    let s = st
        .store
        .endpoint_stats(&ep.id, q.time("since")?, q.time("until")?)
        .await?;
    Ok(Json(s.into()))
}

#[derive(Deserialize)]
pub struct RecoverIn {
    pub since: String,
    #[serde(default)]
    pub until: Option<String>,
}

impl RecoverIn {
    fn range(&self) -> ApiResult<(i64, Option<i64>)> {
        let since = parse_rfc3339(&self.since)
            .ok_or_else(|| ApiError::field("since", "must be an RFC 3339 date-time"))?;
        let until = match &self.until {
            None => None,
            Some(u) => Some(
                parse_rfc3339(u)
                    .ok_or_else(|| ApiError::field("until", "must be an RFC 3339 date-time"))?,
            ),
        };
        Ok((since, until))
    }
}

fn task_out(kind: &str) -> Json<Value> {
    Json(json!({
        "id": ids::new_id(ids::TASK),
        "status": "finished",
        "task": kind,
        "updatedAt": rfc3339(now_ms()),
    }))
}

/// `POST recover`: requeues every failed delivery of the endpoint since a time.
pub async fn recover(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<RecoverIn>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ep = endpoint_of(&st, &who, &app_id, &ep_id).await?;
    let (since, until) = body.range()?;
    let n = st.store.recover(&ep.id, since, until).await?;
    tracing::info!(endpoint = %ep.id, requeued = n, "recover");
    st.wake.notify_one();
    Ok((StatusCode::ACCEPTED, task_out("endpoint.recover")))
}

/// `POST replay-missing`: queues the messages since a time that this endpoint never got.
pub async fn replay_missing(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<RecoverIn>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ep = endpoint_of(&st, &who, &app_id, &ep_id).await?;
    let (since, until) = body.range()?;
    let n = st.store.replay_missing(&ep, since, until).await?;
    tracing::info!(endpoint = %ep.id, queued = n, "replay-missing");
    st.wake.notify_one();
    Ok((StatusCode::ACCEPTED, task_out("endpoint.replay")))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExampleIn {
    pub event_type: String,
}

/// `POST send-example`: sends an example of an event type to this endpoint only.
pub async fn send_example(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((app_id, ep_id)): Path<(String, String)>,
    JsonBody(body): JsonBody<ExampleIn>,
) -> ApiResult<Json<MessageOut>> {
    let ep = endpoint_of(&st, &who, &app_id, &ep_id).await?;
    let mut errors = Vec::new();
    check_name("eventType", &body.event_type, &mut errors);
    finish(errors)?;
    let example = st
        .store
        .get_event_type(&body.event_type)
        .await
        .ok()
        .and_then(|et| et.schemas)
        .and_then(|s| first_example(&s))
        .unwrap_or_else(|| json!({"type": body.event_type, "example": true}));
    let msg = NewMessage {
        event_id: None,
        event_type: body.event_type,
        payload: example.to_string(),
        channels: None,
        tags: None,
    };
    let m = st
        .pipeline
        .publish(&ep.app_id, &msg, Some(&ep.id), None)
        .await?;
    Ok(Json(MessageOut::new(&m, true)))
}

/// The first `examples` entry (an object) of any schema version.
fn first_example(schemas: &Value) -> Option<Value> {
    schemas
        .as_object()?
        .values()
        .filter_map(|s| s.get("examples")?.as_array()?.first().cloned())
        .find(Value::is_object)
}

fn format_name(f: Format) -> String {
    serde_json::to_value(f)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "standard".into())
}
