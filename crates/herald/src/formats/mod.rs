//! Wire formats: how a message becomes the body and headers of a webhook request. Pure functions,
//! checked against the published test vectors and the vendors' own verification code. The bytes
//! and signatures of each format are made by the `herald-verify` crate (`crates/herald-verify`),
//! the one receivers verify with; this module picks the format and the secrets of an endpoint.
//!
//! | format | body | signature |
//! |---|---|---|
//! | `standard` | payload as published | `webhook-signature: v1,<b64 HMAC>` / `v1a,<b64 ed25519>` |
//! | `envelope` | `{messageId, createdAt, payload: "<json string>", signature}` | hex HMAC of the payload string, in the body |
//! | `payload-string` | `{"payload": "<json string>"}` | `X-WEBHOOK-SIGNATURE: <hex HMAC>` |
//! | `hmac-header` | payload as published | `<header>: <prefix><hex HMAC of the body>` |

#[cfg(test)]
mod props;
pub mod secret;
pub mod standard;

use serde::{Deserialize, Serialize};

/// The wire format of an endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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

pub const DEFAULT_HMAC_HEADER: &str = herald_verify::hmac_header::DEFAULT_HEADER;
pub const PAYLOAD_STRING_HEADER: &str = herald_verify::payload_string::HEADER;

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

/// Builds the body and format headers of one attempt. The bytes and signatures come from
/// `herald-verify`, the crate receivers verify with, so both sides share one implementation.
pub fn render(m: &Outgoing, s: &Signing) -> Rendered {
    use herald_verify::{envelope, hmac_header, payload_string};
    let current = s.secrets.first().copied().unwrap_or("");
    match s.format {
        Format::Standard => {
            let body = m.payload.as_bytes().to_vec();
            let headers = standard::headers(s.secrets, m.msg_id, m.timestamp, &body);
            Rendered { body, headers }
        }
        Format::Envelope => Rendered {
            body: envelope::body(
                m.event_id.unwrap_or(m.msg_id),
                m.created_at,
                m.payload,
                current,
            ),
            headers: Vec::new(),
        },
        Format::PayloadString => {
            let headers = if current.is_empty() {
                Vec::new()
            } else {
                vec![(
                    PAYLOAD_STRING_HEADER.to_string(),
                    payload_string::sign(current, m.payload),
                )]
            };
            Rendered {
                body: payload_string::body(m.payload),
                headers,
            }
        }
        Format::HmacHeader => {
            let body = m.payload.as_bytes().to_vec();
            let value = hmac_header::sign(current, s.prefix.unwrap_or(""), &body);
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
        assert_eq!(
            v["signature"],
            "03b17bf91bb203723bfdb5e428486bc31c20f9296d50b0e53527ca8bdd9001fa"
        );
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
    fn format_names() {
        assert_eq!(Format::parse("payload-string"), Some(Format::PayloadString));
        assert_eq!(Format::parse("hmac-header"), Some(Format::HmacHeader));
        assert_eq!(Format::parse("nope"), None);
    }
}
