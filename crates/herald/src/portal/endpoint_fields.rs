//! The endpoint form's fields: read from a form or an endpoint, turned into the API's JSON,
//! and the API's refusals turned back into (field, message) pairs.

use serde_json::{Map, Value, json};

use super::csrf::FormData;
use super::layout::PortalError;
use crate::api::error::ApiError;
use crate::formats::Format;
use crate::model::Endpoint;

/// Shown in place of a credential header's value, which is not sent back to the browser; a
/// line left so keeps the value it had.
const HIDDEN: &str = "(hidden)";
const SENSITIVE: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
];

pub(super) const FORMATS: &[(Format, &str, &str)] = &[
    (
        Format::Standard,
        "standard",
        "Standard Webhooks (Svix compatible)",
    ),
    (
        Format::Envelope,
        "envelope",
        "Envelope (JSON with the signature inside)",
    ),
    (
        Format::PayloadString,
        "payload-string",
        "Payload string (X-WEBHOOK-SIGNATURE header)",
    ),
    (
        Format::HmacHeader,
        "hmac-header",
        "HMAC header (hex signature of the body)",
    ),
];

pub fn format_label(f: Format) -> &'static str {
    FORMATS
        .iter()
        .find(|(x, _, _)| *x == f)
        .map_or("standard", |(_, name, _)| name)
}

/// Problems with the form, as (field name, message); an empty name is about the whole form.
pub(super) type FieldErrors = Vec<(String, String)>;

/// The form's fields, as typed.
#[derive(Default)]
pub(super) struct Fields {
    pub(super) url: String,
    pub(super) description: String,
    pub(super) event_types: Vec<String>,
    pub(super) channels: String,
    pub(super) format: String,
    pub(super) signature_header: String,
    pub(super) signature_prefix: String,
    pub(super) headers: String,
    pub(super) retry_schedule: String,
    pub(super) timeout_ms: String,
}

impl Fields {
    pub(super) fn from_form(f: &FormData) -> Self {
        Fields {
            url: f.text("url"),
            description: f.text("description"),
            event_types: f.all("eventTypes"),
            channels: f.text("channels"),
            format: f.text("format"),
            signature_header: f.text("signatureHeader"),
            signature_prefix: f.text("signaturePrefix"),
            headers: f.get("headers").unwrap_or("").to_string(),
            retry_schedule: f.text("retrySchedule"),
            timeout_ms: f.text("timeoutMs"),
        }
    }

    pub(super) fn from_endpoint(ep: &Endpoint) -> Self {
        let headers = ep
            .headers
            .iter()
            .map(|(k, v)| {
                let v = if SENSITIVE.contains(&k.to_ascii_lowercase().as_str()) {
                    HIDDEN
                } else {
                    v.as_str().unwrap_or("")
                };
                format!("{k}: {v}")
            })
            .collect::<Vec<_>>()
            .join("\n");
        let o = &ep.options;
        Fields {
            url: ep.url.clone(),
            description: ep.description.clone(),
            event_types: ep.event_types.clone().unwrap_or_default(),
            channels: ep.channels.clone().unwrap_or_default().join(", "),
            format: format_label(o.format).into(),
            signature_header: o.signature_header.clone().unwrap_or_default(),
            signature_prefix: o.signature_prefix.clone().unwrap_or_default(),
            headers,
            retry_schedule: o
                .retry_schedule
                .as_ref()
                .map(|s| s.iter().map(u64::to_string).collect::<Vec<_>>().join(", "))
                .unwrap_or_default(),
            timeout_ms: o.timeout_ms.map(|t| t.to_string()).unwrap_or_default(),
        }
    }

    /// The API's JSON for these fields (empty optional fields as `null`), or the fields the
    /// portal itself could not read.
    pub(super) fn to_json(
        &self,
        old: Option<&Endpoint>,
    ) -> Result<(Value, Map<String, Value>), FieldErrors> {
        let mut errors = Vec::new();
        let list = |s: &str| -> Vec<String> {
            s.split([',', ' ', '\n'])
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        };
        let schedule: Option<Vec<u64>> = if self.retry_schedule.is_empty() {
            None
        } else {
            match list(&self.retry_schedule)
                .iter()
                .map(|x| x.parse())
                .collect()
            {
                Ok(v) => Some(v),
                Err(_) => {
                    errors.push((
                        "retrySchedule".into(),
                        "must be whole numbers of seconds, separated by commas".into(),
                    ));
                    None
                }
            }
        };
        let timeout: Option<u64> = if self.timeout_ms.is_empty() {
            None
        } else {
            self.timeout_ms.parse().map(Some).unwrap_or_else(|_| {
                errors.push((
                    "timeoutMs".into(),
                    "must be a whole number of milliseconds".into(),
                ));
                None
            })
        };
        let mut headers = Map::new();
        for line in self
            .headers
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            let Some((k, v)) = line.split_once(':') else {
                errors.push((
                    "headers".into(),
                    format!("write each header as Name: value (line {line:?})"),
                ));
                continue;
            };
            let (k, v) = (k.trim(), v.trim());
            let kept = old
                .filter(|_| v == HIDDEN)
                .and_then(|ep| ep.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)))
                .map(|(_, v)| v.clone());
            headers.insert(
                k.to_string(),
                kept.unwrap_or_else(|| Value::String(v.to_string())),
            );
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let channels = list(&self.channels);
        let v = json!({
            "url": self.url,
            "description": self.description,
            "eventTypes": (!self.event_types.is_empty()).then_some(&self.event_types),
            "channels": (!channels.is_empty()).then_some(channels),
            "format": opt(&self.format).unwrap_or_else(|| "standard".into()),
            "signatureHeader": opt(&self.signature_header),
            "signaturePrefix": opt(&self.signature_prefix),
            "retrySchedule": schedule,
            "timeoutMs": timeout,
        });
        Ok((v, headers))
    }
}

/// The API's field errors as (form field, message).
pub(super) fn field_errors(e: ApiError) -> Result<FieldErrors, PortalError> {
    match e {
        ApiError::Validation(items) => Ok(items
            .into_iter()
            .map(|f| {
                let field = f.loc.get(1).cloned().unwrap_or_default();
                let field = match field.as_str() {
                    "filterTypes" => "eventTypes".to_string(),
                    "rateLimit" | "throttleRate" | "metadata" | "uid" | "secret" => String::new(),
                    _ => field,
                };
                let detail = if f.loc.len() > 2 {
                    format!("{}: {}", f.loc[2..].join("."), f.msg)
                } else {
                    f.msg
                };
                (field, detail)
            })
            .collect()),
        ApiError::Conflict(d) => Ok(vec![(String::new(), d)]),
        other => Err(other.into()),
    }
}
