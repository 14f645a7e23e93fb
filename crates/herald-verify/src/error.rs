//! Why a request did not verify.

use std::fmt;

/// Why a webhook request did not verify, or a secret could not be used.
///
/// Every variant says what was wrong in its [`Display`](fmt::Display) text, so a receiver can
/// log it as is. None of them carries a secret or an expected signature.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A header the format needs is absent (its name as the format spells it).
    MissingHeader(String),
    /// A header is present but not in the format's shape.
    BadHeader { name: String, reason: String },
    /// The signed timestamp is older than the tolerance allows: a replay, or a clock far behind.
    TimestampTooOld { age_secs: u64, tolerance_secs: u64 },
    /// The signed timestamp is further in the future than the tolerance allows.
    TimestampInFuture {
        ahead_secs: u64,
        tolerance_secs: u64,
    },
    /// No signature matches: a wrong secret, or a body or header changed on the way.
    SignatureMismatch,
    /// The signature header has no entry of a kind the keys can check (say only `v1` HMAC entries
    /// and only a `whpk_` ed25519 public key).
    NoUsableSignature {
        /// The versions the keys check, e.g. `"v1a"`.
        wanted: String,
        /// The versions the header carried, e.g. `"v1"`, or `"none"`.
        found: String,
    },
    /// The secret or key cannot be used (not base64, wrong length, inconsistent key pair...).
    BadSecret(String),
    /// The body is not what the format sends (say an envelope that is not JSON).
    BadBody(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::MissingHeader(name) => write!(f, "missing header {name}"),
            Error::BadHeader { name, reason } => write!(f, "header {name} is malformed: {reason}"),
            Error::TimestampTooOld {
                age_secs,
                tolerance_secs,
            } => write!(
                f,
                "timestamp is {age_secs} s old, beyond the tolerance of {tolerance_secs} s \
                 (a replayed request, or a clock out of sync)"
            ),
            Error::TimestampInFuture {
                ahead_secs,
                tolerance_secs,
            } => write!(
                f,
                "timestamp is {ahead_secs} s in the future, beyond the tolerance of \
                 {tolerance_secs} s (a clock out of sync)"
            ),
            Error::SignatureMismatch => write!(
                f,
                "signature does not match (a wrong secret, or the body or headers were changed)"
            ),
            Error::NoUsableSignature { wanted, found } => write!(
                f,
                "no signature of a kind the key checks: wanted {wanted}, found {found}"
            ),
            Error::BadSecret(reason) => write!(f, "unusable secret: {reason}"),
            Error::BadBody(reason) => write!(f, "unexpected body: {reason}"),
        }
    }
}

impl std::error::Error for Error {}
