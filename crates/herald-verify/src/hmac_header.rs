//! The `hmac-header` format (Sematryx, GitHub): the body is the payload as published, and one
//! header (by default `X-Webhook-Signature`) carries `<prefix><hex HMAC-SHA256 of the body>`,
//! the secret's UTF-8 bytes being the key; GitHub's prefix is `sha256=`. No timestamp.
//!
//! ```
//! use herald_verify::hmac_header::{self, Verifier};
//!
//! // GitHub's documented example.
//! let sig = hmac_header::sign("It's a Secret to Everybody", "sha256=", b"Hello, World!");
//! assert_eq!(sig, "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
//!
//! let verifier = Verifier::new("It's a Secret to Everybody")
//!     .header("X-Hub-Signature-256")
//!     .prefix("sha256=");
//! verifier.verify(&[("x-hub-signature-256", sig.as_str())], b"Hello, World!")?;
//! assert!(verifier.verify(&[("x-hub-signature-256", sig.as_str())], b"Hello, World?").is_err());
//! # Ok::<(), herald_verify::Error>(())
//! ```

use crate::key::{check_hmac, hex_hmac, hex_tag};
use crate::{Error, find_header};

/// The header used unless the endpoint names another.
pub const DEFAULT_HEADER: &str = "X-Webhook-Signature";

/// The header's value: `prefix` then the hex HMAC-SHA256 of the body.
pub fn sign(secret: &str, prefix: &str, body: &[u8]) -> String {
    format!("{prefix}{}", hex_hmac(secret, body))
}

/// Verifies hmac-header requests with one or more secrets.
#[derive(Debug, Clone)]
pub struct Verifier {
    secrets: Vec<String>,
    header: String,
    prefix: String,
}

impl Verifier {
    /// A verifier reading `X-Webhook-Signature` with no prefix.
    pub fn new(secret: &str) -> Self {
        Verifier {
            secrets: vec![secret.to_string()],
            header: DEFAULT_HEADER.to_string(),
            prefix: String::new(),
        }
    }

    /// Also accept signatures by `secret`.
    pub fn with_secret(mut self, secret: &str) -> Self {
        self.secrets.push(secret.to_string());
        self
    }

    /// The header that carries the signature.
    pub fn header(mut self, name: &str) -> Self {
        self.header = name.to_string();
        self
    }

    /// The text before the hex digest, such as `sha256=`.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_string();
        self
    }

    /// Verifies a request: the raw body as received, and its headers.
    pub fn verify(&self, headers: &[(&str, &str)], body: &[u8]) -> Result<(), Error> {
        let value = find_header(headers, &self.header)
            .ok_or_else(|| Error::MissingHeader(self.header.clone()))?;
        self.verify_value(value, body)
    }

    /// Verifies the signature header's value against the raw body.
    pub fn verify_value(&self, value: &str, body: &[u8]) -> Result<(), Error> {
        let hex = value
            .trim()
            .strip_prefix(self.prefix.as_str())
            .ok_or_else(|| Error::BadHeader {
                name: self.header.clone(),
                reason: format!("{value:?} does not start with {:?}", self.prefix),
            })?;
        let tag = hex_tag(&self.header, hex)?;
        if !check_hmac(&self.secrets, body, &tag) {
            return Err(Error::SignatureMismatch);
        }
        Ok(())
    }
}
