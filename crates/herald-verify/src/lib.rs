//! Verify (and sign) the webhooks that Herald and other senders deliver.
//!
//! One module per wire format, each with a `sign` function for senders and a `Verifier` for
//! receivers; [`Verifier`] here picks the format at run time.
//!
//! | format | module | signature | timestamp |
//! |---|---|---|---|
//! | Standard Webhooks, Svix | [`standard`] | `webhook-signature: v1,<base64 HMAC>` or `v1a,<base64 ed25519>` over `{id}.{timestamp}.{body}` | `webhook-timestamp`, checked against a tolerance (5 minutes by default) |
//! | Treble-style envelope | [`envelope`] | `signature` field: hex HMAC of the `payload` string | none signed |
//! | Speckle-style payload string | [`payload_string`] | `X-WEBHOOK-SIGNATURE`: hex HMAC of the `payload` string | none |
//! | Sematryx / GitHub-style header | [`hmac_header`] | `<header>: <prefix><hex HMAC of the body>` | none |
//!
//! Signatures are compared in constant time (ring's HMAC verification and ed25519). Errors are
//! an [`Error`] that says why a request was refused. No async runtime, no HTTP types: headers
//! are `(name, value)` pairs, names in any case, and the body is the raw bytes as received
//! (verify before parsing: a re-serialised body no longer matches).
//!
//! ```
//! use herald_verify::{Format, Verifier};
//!
//! let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
//! let headers = [
//!     ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
//!     ("webhook-timestamp", "1614265330"),
//!     ("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
//! ];
//! let body = br#"{"test": 2432232314}"#;
//! let verifier = Verifier::new(Format::Standard, &[secret])?;
//! let ok = verifier.verify_at(&headers, body, 1614265330)?;
//! assert_eq!(ok.id.as_deref(), Some("msg_p5jXN8AQM9LWM0D4loKWxJek"));
//! assert_eq!(ok.payload, r#"{"test": 2432232314}"#);
//! # Ok::<(), herald_verify::Error>(())
//! ```

mod error;
mod key;

pub mod envelope;
pub mod hmac_header;
pub mod payload_string;
pub mod standard;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

pub use error::Error;
pub use key::{Key, PUBLIC_KEY_PREFIX, SECRET_PREFIX, SIGNING_KEY_PREFIX};

/// A wire format, by the name Herald's endpoints use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Standard,
    Envelope,
    PayloadString,
    HmacHeader,
}

impl Format {
    pub const ALL: [Format; 4] = [
        Format::Standard,
        Format::Envelope,
        Format::PayloadString,
        Format::HmacHeader,
    ];

    /// `standard`, `envelope`, `payload-string` or `hmac-header`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Standard => "standard",
            Format::Envelope => "envelope",
            Format::PayloadString => "payload-string",
            Format::HmacHeader => "hmac-header",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown format {s:?}: use standard, envelope, payload-string or hmac-header"
                )
            })
    }
}

/// What a verified request carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub format: Format,
    /// The message id, where the format signs one (`standard`) or carries one (`envelope`).
    pub id: Option<String>,
    /// The signed timestamp (Unix seconds), `standard` only.
    pub timestamp: Option<i64>,
    /// The payload JSON as text: the body, or the string inside an envelope or payload string.
    pub payload: String,
    /// Which signature matched, for people: `v1 (entry 2 of 2, key 1)`.
    pub detail: String,
}

enum Inner {
    Standard(standard::Verifier),
    Envelope(envelope::Verifier),
    PayloadString(payload_string::Verifier),
    HmacHeader(hmac_header::Verifier),
}

/// A verifier for a format chosen at run time, accepting a signature by any of its secrets.
pub struct Verifier(Inner);

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Verifier({})", self.format())
    }
}

impl Verifier {
    /// `secrets`: at least one. `standard` takes `whsec_`, `whsk_` or `whpk_` keys; the other
    /// formats any string, its UTF-8 bytes being the HMAC key.
    pub fn new(format: Format, secrets: &[&str]) -> Result<Self, Error> {
        let (first, rest) = secrets
            .split_first()
            .ok_or_else(|| Error::BadSecret("no secret given".into()))?;
        Ok(Verifier(match format {
            Format::Standard => {
                let keys = secrets
                    .iter()
                    .map(|s| Key::parse(s))
                    .collect::<Result<Vec<_>, _>>()?;
                Inner::Standard(standard::Verifier::from_keys(keys))
            }
            Format::Envelope => Inner::Envelope(
                rest.iter()
                    .fold(envelope::Verifier::new(first), |v, s| v.with_secret(s)),
            ),
            Format::PayloadString => Inner::PayloadString(
                rest.iter()
                    .fold(payload_string::Verifier::new(first), |v, s| {
                        v.with_secret(s)
                    }),
            ),
            Format::HmacHeader => Inner::HmacHeader(
                rest.iter()
                    .fold(hmac_header::Verifier::new(first), |v, s| v.with_secret(s)),
            ),
        }))
    }

    pub fn format(&self) -> Format {
        match self.0 {
            Inner::Standard(_) => Format::Standard,
            Inner::Envelope(_) => Format::Envelope,
            Inner::PayloadString(_) => Format::PayloadString,
            Inner::HmacHeader(_) => Format::HmacHeader,
        }
    }

    /// `hmac-header` only: the header that carries the signature (default `X-Webhook-Signature`).
    pub fn signature_header(mut self, name: &str) -> Self {
        if let Inner::HmacHeader(v) = self.0 {
            self.0 = Inner::HmacHeader(v.header(name));
        }
        self
    }

    /// `hmac-header` only: the text before the hex digest, such as `sha256=`.
    pub fn signature_prefix(mut self, prefix: &str) -> Self {
        if let Inner::HmacHeader(v) = self.0 {
            self.0 = Inner::HmacHeader(v.prefix(prefix));
        }
        self
    }

    /// `standard` only: how far the timestamp may be from now (default 5 minutes).
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        if let Inner::Standard(v) = self.0 {
            self.0 = Inner::Standard(v.tolerance(tolerance));
        }
        self
    }

    /// Verifies a request against the system clock.
    pub fn verify(&self, headers: &[(&str, &str)], body: &[u8]) -> Result<Verified, Error> {
        self.verify_at(headers, body, unix_now())
    }

    /// Verifies a request with `now` (Unix seconds) as the time.
    pub fn verify_at(
        &self,
        headers: &[(&str, &str)],
        body: &[u8],
        now: i64,
    ) -> Result<Verified, Error> {
        let text = || String::from_utf8_lossy(body).into_owned();
        Ok(match &self.0 {
            Inner::Standard(v) => {
                let ok = v.verify_at(headers, body, now)?;
                Verified {
                    format: Format::Standard,
                    detail: format!(
                        "{} (entry {} of {}, key {})",
                        ok.version,
                        ok.entry + 1,
                        ok.entries,
                        ok.key + 1
                    ),
                    id: Some(ok.id),
                    timestamp: Some(ok.timestamp),
                    payload: text(),
                }
            }
            Inner::Envelope(v) => {
                let env = v.verify(body)?;
                Verified {
                    format: Format::Envelope,
                    id: Some(env.message_id),
                    timestamp: None,
                    payload: env.payload,
                    detail: "hex HMAC-SHA256 of the payload string".into(),
                }
            }
            Inner::PayloadString(v) => Verified {
                format: Format::PayloadString,
                id: None,
                timestamp: None,
                payload: v.verify(headers, body)?,
                detail: "hex HMAC-SHA256 of the payload string".into(),
            },
            Inner::HmacHeader(v) => {
                v.verify(headers, body)?;
                Verified {
                    format: Format::HmacHeader,
                    id: None,
                    timestamp: None,
                    payload: text(),
                    detail: "hex HMAC-SHA256 of the body".into(),
                }
            }
        })
    }
}

/// The value of header `name` (any case) among `headers`.
pub(crate) fn find_header<'a>(headers: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// Unix seconds now (0 if the clock is before 1970).
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
