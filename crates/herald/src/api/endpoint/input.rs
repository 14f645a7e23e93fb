//! An endpoint's input: its JSON shape, the checks of each field, and its secret's rules.

use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::api::AppState;
use crate::api::error::{ApiError, ApiResult, FieldError};
use crate::api::validate::{
    MAX_DESCRIPTION, MAX_ENDPOINT_CHANNELS, MAX_EVENT_TYPES, MAX_HEADER_BYTES, MAX_HEADERS,
    MAX_URL, check_channels, check_list, check_metadata, check_text, check_throttle, check_uid,
};
use crate::formats::Format;
use crate::formats::secret;
use crate::model::{Endpoint, EndpointOptions};
use crate::net::guard::literal_ip;
use crate::store::EndpointFields;

/// Headers an endpoint may not set: Herald owns them.
pub(super) const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
];

pub(super) const RESERVED_PREFIXES: &[&str] = &["webhook-", "svix-"];

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointIn {
    /// Where messages are POSTed: http(s), at most 4096 characters (https only with `--https-only`).
    #[schema(format = Uri, max_length = 4096)]
    pub url: String,
    #[serde(default)]
    #[schema(pattern = r"^[a-zA-Z0-9\-_.]+$", min_length = 1, max_length = 256)]
    pub uid: Option<String>,
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub description: Option<String>,
    #[serde(default, alias = "filterTypes")]
    #[schema(max_items = 1000)]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    #[schema(max_items = 10)]
    pub channels: Option<Vec<String>>,
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<HashMap<String, String>>)]
    pub metadata: Option<Value>,
    /// Most messages per second sent to this endpoint.
    #[serde(default, alias = "rateLimit")]
    #[schema(minimum = 1, maximum = 65535)]
    pub throttle_rate: Option<i64>,
    /// The signing secret (`whsec_` and base64 of 24 to 64 bytes); generated when absent.
    #[serde(default)]
    pub secret: Option<String>,
    /// Herald: custom headers sent with every delivery (at creation; see `.../headers`).
    #[serde(default)]
    #[schema(value_type = Option<HashMap<String, String>>)]
    pub headers: Option<Map<String, Value>>,
    // Herald's delivery options.
    /// Herald: the wire format (Standard Webhooks by default).
    #[serde(default)]
    #[schema(value_type = Option<Format>)]
    pub format: Option<String>,
    /// Herald, `hmac-header`: the signature header's name.
    #[serde(default)]
    pub signature_header: Option<String>,
    /// Herald, `hmac-header`: text before the hex signature, e.g. `sha256=`.
    #[serde(default)]
    pub signature_prefix: Option<String>,
    /// Herald: how long a delivery waits for the response, in ms (1000 to 30000).
    #[serde(default)]
    #[schema(minimum = 1000, maximum = 30000)]
    pub timeout_ms: Option<u64>,
    /// Herald: seconds before each retry (at most 20 entries of at most 7 days).
    #[serde(default)]
    #[schema(max_items = 20)]
    pub retry_schedule: Option<Vec<u64>>,
    /// Herald: the deliveries' `User-Agent`.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// Herald: `fifo` sends one message at a time, in publish order (`none`, or leaving it out,
    /// for no order).
    #[serde(default)]
    #[schema(value_type = Option<crate::model::Ordering>)]
    pub ordering: Option<String>,
    /// Herald: a PEM client certificate chain followed by its private key (PKCS#8, PKCS#1 or
    /// SEC1), presented to receivers that ask for one (mTLS). Write-only: endpoints show
    /// `clientCertSet`.
    #[serde(default)]
    #[schema(write_only)]
    pub client_cert: Option<String>,
}

/// Most entries in a per-endpoint retry schedule.
pub(super) const MAX_SCHEDULE: usize = 20;

/// Longest single retry gap: 7 days.
pub(super) const MAX_GAP_SECS: u64 = 7 * 24 * 3600;

impl EndpointIn {
    /// The delivery options, validated.
    pub(super) fn options(&self, errors: &mut Vec<FieldError>) -> EndpointOptions {
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
        let ordering = match self.ordering.as_deref() {
            None | Some("") | Some("none") => None,
            Some("fifo") => Some(crate::model::Ordering::Fifo),
            Some(_) => {
                errors.push(FieldError::body("ordering", "must be fifo or none"));
                None
            }
        };
        EndpointOptions {
            ordering,
            format,
            signature_header: self.signature_header.clone().filter(|h| !h.is_empty()),
            signature_prefix: self.signature_prefix.clone().filter(|p| !p.is_empty()),
            timeout_ms: self.timeout_ms,
            retry_schedule: self.retry_schedule.clone(),
            user_agent: self.user_agent.clone(),
        }
    }

    pub(super) fn fields(self, st: &AppState, errors: &mut Vec<FieldError>) -> EndpointFields {
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
        if let Some(pem) = &self.client_cert
            && let Err(e) = crate::net::transport::check_identity(pem)
        {
            errors.push(FieldError::body(
                "clientCert",
                format!("must be a PEM certificate chain and its private key: {e}"),
            ));
        }
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
            client_cert: self.client_cert,
        }
    }
}

/// An endpoint URL: absolute http(s) with a host, and not a literal address the guard forbids.
pub(super) fn check_url(st: &AppState, raw: &str, errors: &mut Vec<FieldError>) {
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
    } else if !st.policy.permits_scheme(url.scheme()) {
        errors.push(FieldError::body(
            "url",
            "must use https: this server delivers over https only (--https-only)",
        ));
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
pub(super) fn check_secret(field: &str, s: &str, format: Format, errors: &mut Vec<FieldError>) {
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
pub(super) fn default_secret(format: Format) -> String {
    match format {
        Format::PayloadString => String::new(),
        _ => secret::generate(),
    }
}

/// A standard endpoint needs a key that signs: refuse switching to it with a plain secret.
pub(super) fn check_format_secret(ep: &Endpoint) -> ApiResult<()> {
    if ep.options.format == Format::Standard && !secret::is_valid(&ep.secret) {
        return Err(ApiError::field(
            "format",
            "the endpoint's secret is not a whsec_ or whsk_ key: rotate it with one first",
        ));
    }
    Ok(())
}

/// Validated custom headers: names are HTTP tokens and not ones Herald sets itself.
pub(super) fn check_headers(
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

pub(super) fn format_name(f: Format) -> String {
    serde_json::to_value(f)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "standard".into())
}
