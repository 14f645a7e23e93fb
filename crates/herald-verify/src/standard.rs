//! [Standard Webhooks](https://www.standardwebhooks.com/) (and Svix): the body is the payload as
//! published; headers `webhook-id`, `webhook-timestamp` (Unix seconds) and
//! `webhook-signature`, a space-separated list of `v1,<base64 HMAC-SHA256>` and
//! `v1a,<base64 ed25519>` entries over `"{id}.{timestamp}.{body}"`, one per active key (two
//! during a secret rotation). Svix's `svix-` names are accepted too.
//!
//! ```
//! use herald_verify::standard::{self, Verifier};
//!
//! let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
//! let body = br#"{"test": 2432232314}"#;
//! let now = 1614265330;
//! let signature = standard::sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", now, body)?;
//! let now_text = now.to_string();
//! let headers = [
//!     ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
//!     ("webhook-timestamp", now_text.as_str()),
//!     ("webhook-signature", signature.as_str()),
//! ];
//!
//! let verifier = Verifier::new(secret)?;
//! let ok = verifier.verify_at(&headers, body, now + 10)?;
//! assert_eq!(ok.id, "msg_p5jXN8AQM9LWM0D4loKWxJek");
//!
//! // A changed body, or a request replayed ten minutes later, is refused, saying why.
//! let err = verifier.verify_at(&headers, br#"{"test": 1}"#, now).unwrap_err();
//! assert_eq!(err, herald_verify::Error::SignatureMismatch);
//! let err = verifier.verify_at(&headers, body, now + 600).unwrap_err();
//! assert!(err.to_string().contains("600 s old"));
//! # Ok::<(), herald_verify::Error>(())
//! ```
//!
//! With an ed25519 key, the receiver needs only the public key (`whpk_`):
//!
//! ```
//! use herald_verify::standard::{self, Verifier};
//!
//! let signing = "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==";
//! let public = "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=";
//! let sig = standard::sign(signing, "msg_1", 1614265330, b"{}")?;
//! assert!(sig.starts_with("v1a,"));
//! let ok = Verifier::new(public)?.verify_parts("msg_1", "1614265330", &sig, b"{}", 1614265330)?;
//! assert_eq!(ok.version, "v1a");
//! # Ok::<(), herald_verify::Error>(())
//! ```

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::key::Key;
use crate::{Error, find_header, unix_now};

/// How far a timestamp may be from the receiver's clock, either way, unless configured.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// The header names, Standard Webhooks' first and Svix's second.
pub const ID_HEADERS: [&str; 2] = ["webhook-id", "svix-id"];
pub const TIMESTAMP_HEADERS: [&str; 2] = ["webhook-timestamp", "svix-timestamp"];
pub const SIGNATURE_HEADERS: [&str; 2] = ["webhook-signature", "svix-signature"];

impl Key {
    /// The signature entry of this key: `v1,<base64>` or `v1a,<base64>`. A public key cannot sign.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String, Error> {
        let ts = timestamp.to_string();
        let sig = self
            .sign_raw(&[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body])
            .ok_or_else(|| Error::BadSecret("a whpk_ public key can verify but not sign".into()))?;
        Ok(format!("{},{sig}", self.version()))
    }
}

/// The signature entry of one secret (`whsec_` or `whsk_`) for a request.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String, Error> {
    Key::parse(secret)?.sign(msg_id, timestamp, body)
}

/// The `webhook-signature` value for several secrets: one entry per secret that can sign,
/// space-separated (during a rotation, the new and the old secret both sign). Secrets that do
/// not parse are left out.
pub fn signature_header(secrets: &[&str], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .filter_map(|s| sign(s, msg_id, timestamp, body).ok())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a verified request said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The message id (`webhook-id`): the same on every retry, for de-duplication.
    pub id: String,
    /// The signed timestamp, Unix seconds.
    pub timestamp: i64,
    /// The version of the entry that matched: `v1` or `v1a`.
    pub version: &'static str,
    /// Which key matched (its index in the order keys were given).
    pub key: usize,
    /// Which entry of the signature header matched (0-based), and how many it had.
    pub entry: usize,
    pub entries: usize,
}

/// Verifies Standard Webhooks requests with one or more keys.
#[derive(Debug)]
pub struct Verifier {
    keys: Vec<Key>,
    tolerance: Duration,
}

impl Verifier {
    /// A verifier for one `whsec_`, `whsk_` or `whpk_` key, with the default tolerance.
    pub fn new(secret: &str) -> Result<Self, Error> {
        Ok(Self::from_keys(vec![Key::parse(secret)?]))
    }

    /// A verifier that accepts a signature by any of `keys`.
    pub fn from_keys(keys: Vec<Key>) -> Self {
        Verifier {
            keys,
            tolerance: DEFAULT_TOLERANCE,
        }
    }

    /// Also accept signatures by `secret` (say the old secret during a rotation).
    pub fn with_secret(mut self, secret: &str) -> Result<Self, Error> {
        self.keys.push(Key::parse(secret)?);
        Ok(self)
    }

    /// How far the signed timestamp may be from now, either way (default 5 minutes).
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Verifies a request against the system clock. `headers` are (name, value) pairs, names
    /// in any case; `body` is the raw body as received, before any parsing.
    pub fn verify(&self, headers: &[(&str, &str)], body: &[u8]) -> Result<Verified, Error> {
        self.verify_at(headers, body, unix_now())
    }

    /// [`verify`](Self::verify) with `now` (Unix seconds) as the time.
    pub fn verify_at(
        &self,
        headers: &[(&str, &str)],
        body: &[u8],
        now: i64,
    ) -> Result<Verified, Error> {
        let get = |names: [&'static str; 2]| {
            names
                .iter()
                .find_map(|n| find_header(headers, n))
                .ok_or_else(|| Error::MissingHeader(names[0].into()))
        };
        let id = get(ID_HEADERS)?;
        let timestamp = get(TIMESTAMP_HEADERS)?;
        let signature = get(SIGNATURE_HEADERS)?;
        self.verify_parts(id, timestamp, signature, body, now)
    }

    /// Verifies from the three header values; `now` is Unix seconds.
    pub fn verify_parts(
        &self,
        id: &str,
        timestamp: &str,
        signature: &str,
        body: &[u8],
        now: i64,
    ) -> Result<Verified, Error> {
        if self.keys.is_empty() {
            return Err(Error::BadSecret("no key to verify with".into()));
        }
        let ts: i64 = timestamp.trim().parse().map_err(|_| Error::BadHeader {
            name: TIMESTAMP_HEADERS[0].into(),
            reason: format!("{timestamp:?} is not a whole number of seconds"),
        })?;
        let mut content = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
        content.extend_from_slice(id.as_bytes());
        content.push(b'.');
        content.extend_from_slice(timestamp.trim().as_bytes());
        content.push(b'.');
        content.extend_from_slice(body);

        let entries: Vec<&str> = signature.split_whitespace().collect();
        let mut found: Vec<&str> = Vec::new();
        let mut usable = false;
        for (i, entry) in entries.iter().enumerate() {
            let Some((version, b64)) = entry.split_once(',') else {
                continue;
            };
            if !found.contains(&version) {
                found.push(version);
            }
            let Ok(raw) = B64.decode(b64) else { continue };
            for (k, key) in self.keys.iter().enumerate() {
                if key.version() != version {
                    continue;
                }
                usable = true;
                if key.check(version, &content, &raw) {
                    check_time(ts, now, self.tolerance)?;
                    return Ok(Verified {
                        id: id.to_string(),
                        timestamp: ts,
                        version: key.version(),
                        key: k,
                        entry: i,
                        entries: entries.len(),
                    });
                }
            }
        }
        if usable {
            return Err(Error::SignatureMismatch);
        }
        let mut wanted: Vec<&str> = self.keys.iter().map(Key::version).collect();
        wanted.sort_unstable();
        wanted.dedup();
        Err(Error::NoUsableSignature {
            wanted: wanted.join(" or "),
            found: if found.is_empty() {
                "none".into()
            } else {
                found.join(", ")
            },
        })
    }
}

fn check_time(ts: i64, now: i64, tolerance: Duration) -> Result<(), Error> {
    let tolerance_secs = tolerance.as_secs();
    let tol = i64::try_from(tolerance_secs).unwrap_or(i64::MAX);
    let diff = now.saturating_sub(ts);
    if diff > tol {
        return Err(Error::TimestampTooOld {
            age_secs: diff.unsigned_abs(),
            tolerance_secs,
        });
    }
    if diff < -tol {
        return Err(Error::TimestampInFuture {
            ahead_secs: diff.unsigned_abs(),
            tolerance_secs,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_within_tolerance_pass() {
        let t = DEFAULT_TOLERANCE;
        assert!(check_time(1000, 1300, t).is_ok());
        assert!(check_time(1300, 1000, t).is_ok());
        assert_eq!(
            check_time(1000, 1301, t),
            Err(Error::TimestampTooOld {
                age_secs: 301,
                tolerance_secs: 300
            })
        );
        assert_eq!(
            check_time(1301, 1000, t),
            Err(Error::TimestampInFuture {
                ahead_secs: 301,
                tolerance_secs: 300
            })
        );
        assert!(check_time(i64::MIN, i64::MAX, t).is_err());
        assert!(check_time(i64::MAX, i64::MIN, t).is_err());
    }
}
