//! The `payload-string` format (Speckle): the body is `{"payload": "<the payload JSON as a
//! string>"}`, and header `X-WEBHOOK-SIGNATURE` is the hex HMAC-SHA256 of that string with the
//! secret's UTF-8 bytes as the key (absent when the endpoint has no secret). No timestamp.
//!
//! ```
//! use herald_verify::payload_string::{self, Verifier, HEADER};
//!
//! let payload = r#"{"streamId": "48364aff6b"}"#;
//! let body = payload_string::body(payload);
//! let sig = payload_string::sign("YOUR_SECRET_HERE", payload);
//! let got = Verifier::new("YOUR_SECRET_HERE").verify(&[(HEADER, sig.as_str())], &body)?;
//! assert_eq!(got, payload);
//! # Ok::<(), herald_verify::Error>(())
//! ```

use serde_json::Value;

use crate::key::{check_hmac, hex_hmac, hex_tag};
use crate::{Error, find_header};

/// The signature header.
pub const HEADER: &str = "X-WEBHOOK-SIGNATURE";

/// The request body: `{"payload":"..."}`.
pub fn body(payload: &str) -> Vec<u8> {
    format!("{{\"payload\":{}}}", Value::String(payload.to_string())).into_bytes()
}

/// The header's value: hex HMAC-SHA256 of the payload string.
pub fn sign(secret: &str, payload: &str) -> String {
    hex_hmac(secret, payload.as_bytes())
}

/// Verifies payload-string requests with one or more secrets.
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

    /// Verifies a request; returns the payload string.
    pub fn verify(&self, headers: &[(&str, &str)], body: &[u8]) -> Result<String, Error> {
        let payload = payload_of(body)?;
        let sig =
            find_header(headers, HEADER).ok_or_else(|| Error::MissingHeader(HEADER.into()))?;
        let tag = hex_tag(HEADER, sig)?;
        if !check_hmac(&self.secrets, payload.as_bytes(), &tag) {
            return Err(Error::SignatureMismatch);
        }
        Ok(payload)
    }
}

/// The payload string of a payload-string body, unverified.
pub fn payload_of(body: &[u8]) -> Result<String, Error> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| Error::BadBody(format!("not JSON: {e}")))?;
    match v.get("payload") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(Error::BadBody("`payload` is not a string".into())),
        None => Err(Error::BadBody("no `payload` field".into())),
    }
}
