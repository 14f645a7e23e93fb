//! The `envelope` format (Treble's SDK): the body is
//! `{"messageId", "createdAt", "payload": "<the payload JSON as a string>", "signature"}`, the
//! signature being the hex HMAC-SHA256 of that payload string with the secret's UTF-8 bytes as
//! the key. Nothing signed carries a time, so there is no timestamp to check: de-duplicate on
//! `messageId`.
//!
//! ```
//! use herald_verify::envelope::{self, Verifier};
//!
//! let body = envelope::body("evt-1", "2025-09-11T13:02:07.883Z", r#"{"status": "Completed"}"#, "test");
//! let env = Verifier::new("test").verify(&body)?;
//! assert_eq!(env.message_id, "evt-1");
//! assert_eq!(env.payload, r#"{"status": "Completed"}"#);
//!
//! assert!(Verifier::new("wrong").verify(&body).is_err());
//! # Ok::<(), herald_verify::Error>(())
//! ```

use serde_json::Value;

use crate::Error;
use crate::key::{check_hmac, hex_hmac, hex_tag};

/// The hex HMAC-SHA256 of the payload string.
pub fn sign(secret: &str, payload: &str) -> String {
    hex_hmac(secret, payload.as_bytes())
}

/// The whole request body, compact JSON with the fields in this order.
pub fn body(message_id: &str, created_at: &str, payload: &str, secret: &str) -> Vec<u8> {
    let s = |v: &str| Value::String(v.to_string()).to_string();
    format!(
        "{{\"messageId\":{},\"createdAt\":{},\"payload\":{},\"signature\":{}}}",
        s(message_id),
        s(created_at),
        s(payload),
        s(&sign(secret, payload))
    )
    .into_bytes()
}

/// A verified envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub message_id: String,
    pub created_at: String,
    /// The payload JSON, as the string that was signed.
    pub payload: String,
}

/// Verifies envelope bodies with one or more secrets.
#[derive(Debug, Clone)]
pub struct Verifier {
    secrets: Vec<String>,
}

impl Verifier {
    pub fn new(secret: &str) -> Self {
        Verifier {
            secrets: vec![secret.to_string()],
        }
    }

    /// Also accept signatures by `secret`.
    pub fn with_secret(mut self, secret: &str) -> Self {
        self.secrets.push(secret.to_string());
        self
    }

    /// Verifies a raw request body.
    pub fn verify(&self, body: &[u8]) -> Result<Envelope, Error> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| Error::BadBody(format!("not a JSON envelope: {e}")))?;
        let field = |name: &str| -> Result<String, Error> {
            match v.get(name) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(Error::BadBody(format!("`{name}` is not a string"))),
                None => Err(Error::BadBody(format!("no `{name}` field"))),
            }
        };
        let payload = field("payload")?;
        let signature =
            field("signature").map_err(|_| Error::BadBody("no `signature` field".into()))?;
        let tag = hex_tag("signature field", &signature)?;
        if !check_hmac(&self.secrets, payload.as_bytes(), &tag) {
            return Err(Error::SignatureMismatch);
        }
        Ok(Envelope {
            message_id: field("messageId").unwrap_or_default(),
            created_at: field("createdAt").unwrap_or_default(),
            payload,
        })
    }
}
