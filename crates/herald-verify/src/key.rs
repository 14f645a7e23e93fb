//! Standard Webhooks keys: `whsec_` HMAC secrets, `whsk_` ed25519 signing keys and `whpk_`
//! ed25519 public keys.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

use crate::Error;

/// Prefix of an HMAC secret: base64 of the key bytes follows (the prefix may be left out).
pub const SECRET_PREFIX: &str = "whsec_";
/// Prefix of an ed25519 signing key: base64 of the 32-byte seed and the 32-byte public key.
pub const SIGNING_KEY_PREFIX: &str = "whsk_";
/// Prefix of an ed25519 public key: base64 of its 32 bytes.
pub const PUBLIC_KEY_PREFIX: &str = "whpk_";

enum Kind {
    Hmac(ring::hmac::Key),
    Ed25519Pair(Box<Ed25519KeyPair>),
    Ed25519Public([u8; 32]),
}

/// A key of the `standard` format, parsed from its text form.
///
/// - `whsec_<base64>` (or the bare base64): HMAC-SHA256 with the decoded bytes; signs and
///   verifies `v1` entries.
/// - `whsk_<base64 of seed and public key>`: ed25519; signs and verifies `v1a` entries.
/// - `whpk_<base64 of the public key>`: ed25519; verifies `v1a` entries only.
///
/// `Debug` shows the kind of key, never its bytes.
pub struct Key(Kind);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.0 {
            Kind::Hmac(_) => "hmac",
            Kind::Ed25519Pair(_) => "ed25519 signing key",
            Kind::Ed25519Public(_) => "ed25519 public key",
        };
        write!(f, "Key({kind})")
    }
}

fn decode(what: &str, b64: &str) -> Result<Vec<u8>, Error> {
    B64.decode(b64.trim())
        .map_err(|e| Error::BadSecret(format!("{what} is not base64: {e}")))
}

impl Key {
    /// Parses a `whsec_`, `whsk_` or `whpk_` key (a bare base64 string is an HMAC secret).
    pub fn parse(s: &str) -> Result<Key, Error> {
        if let Some(b64) = s.strip_prefix(SIGNING_KEY_PREFIX) {
            let bytes = decode("the whsk_ key", b64)?;
            if bytes.len() != 64 {
                return Err(Error::BadSecret(format!(
                    "a whsk_ key is 64 bytes (seed and public key), this one is {}",
                    bytes.len()
                )));
            }
            let pair = Ed25519KeyPair::from_seed_and_public_key(&bytes[..32], &bytes[32..])
                .map_err(|_| {
                    Error::BadSecret("the whsk_ key's public half does not match its seed".into())
                })?;
            return Ok(Key(Kind::Ed25519Pair(Box::new(pair))));
        }
        if let Some(b64) = s.strip_prefix(PUBLIC_KEY_PREFIX) {
            let bytes = decode("the whpk_ key", b64)?;
            let public: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                Error::BadSecret(format!(
                    "a whpk_ key is 32 bytes, this one is {}",
                    bytes.len()
                ))
            })?;
            return Ok(Key(Kind::Ed25519Public(public)));
        }
        let b64 = s.strip_prefix(SECRET_PREFIX).unwrap_or(s);
        let bytes = decode("the secret after whsec_", b64)?;
        if bytes.is_empty() {
            return Err(Error::BadSecret("the secret is empty".into()));
        }
        Ok(Key::hmac(&bytes))
    }

    /// An HMAC key from raw bytes.
    pub fn hmac(bytes: &[u8]) -> Key {
        Key(Kind::Hmac(ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            bytes,
        )))
    }

    /// The `whpk_` public key of an ed25519 key; `None` for HMAC secrets.
    pub fn public_key(&self) -> Option<String> {
        let bytes: &[u8] = match &self.0 {
            Kind::Hmac(_) => return None,
            Kind::Ed25519Pair(pair) => pair.public_key().as_ref(),
            Kind::Ed25519Public(p) => p,
        };
        Some(format!("{PUBLIC_KEY_PREFIX}{}", B64.encode(bytes)))
    }

    /// The signature version this key signs or checks: `v1` (HMAC) or `v1a` (ed25519).
    pub fn version(&self) -> &'static str {
        match self.0 {
            Kind::Hmac(_) => "v1",
            _ => "v1a",
        }
    }

    /// Signs `content`, returning the signature entry without its version (`v1,` is not
    /// included). `None` for a public key, which cannot sign.
    pub(crate) fn sign_raw(&self, content: &[&[u8]]) -> Option<String> {
        match &self.0 {
            Kind::Hmac(key) => {
                let mut ctx = ring::hmac::Context::with_key(key);
                for part in content {
                    ctx.update(part);
                }
                Some(B64.encode(ctx.sign().as_ref()))
            }
            Kind::Ed25519Pair(pair) => Some(B64.encode(pair.sign(&content.concat()).as_ref())),
            Kind::Ed25519Public(_) => None,
        }
    }

    /// Whether `signature` (raw bytes) of `version` is this key's signature of `content`.
    /// The HMAC comparison is ring's constant-time one.
    pub(crate) fn check(&self, version: &str, content: &[u8], signature: &[u8]) -> bool {
        match (&self.0, version) {
            (Kind::Hmac(key), "v1") => ring::hmac::verify(key, content, signature).is_ok(),
            (Kind::Ed25519Pair(pair), "v1a") => {
                UnparsedPublicKey::new(&ED25519, pair.public_key().as_ref())
                    .verify(content, signature)
                    .is_ok()
            }
            (Kind::Ed25519Public(public), "v1a") => UnparsedPublicKey::new(&ED25519, public)
                .verify(content, signature)
                .is_ok(),
            _ => false,
        }
    }
}

/// HMAC-SHA256 of the concatenated `parts` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let mut ctx = ring::hmac::Context::with_key(&key);
    for part in parts {
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

/// Whether `tag` is the HMAC-SHA256 of `data` under one of `secrets` (UTF-8 bytes as the key,
/// as the vendors' own code does), compared in constant time.
pub(crate) fn check_hmac(secrets: &[String], data: &[u8], tag: &[u8]) -> bool {
    secrets.iter().any(|s| {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, s.as_bytes());
        ring::hmac::verify(&key, data, tag).is_ok()
    })
}

/// The bytes of a hex signature found in header or field `name`.
pub(crate) fn hex_tag(name: &str, received: &str) -> Result<Vec<u8>, Error> {
    let tag = hex::decode(received.trim()).map_err(|e| Error::BadHeader {
        name: name.into(),
        reason: format!("not a hex digest: {e}"),
    })?;
    if tag.len() != 32 {
        return Err(Error::BadHeader {
            name: name.into(),
            reason: format!(
                "a SHA-256 digest is 64 hex digits, this is {}",
                received.trim().len()
            ),
        });
    }
    Ok(tag)
}

/// The hex HMAC-SHA256 of `data` with the UTF-8 bytes of `secret` as the key.
pub(crate) fn hex_hmac(secret: &str, data: &[u8]) -> String {
    hex::encode(hmac_sha256(secret.as_bytes(), &[data]))
}
