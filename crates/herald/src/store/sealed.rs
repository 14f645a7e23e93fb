//! Secrets at rest. With `--secret-key` (32 bytes, base64), endpoint secrets (current and
//! rotated out), endpoint headers (they may carry credentials) and stored response bodies
//! (they may echo tokens) are sealed with ChaCha20-Poly1305 (ring, which Herald signs with
//! already) before they are written, and opened when read. A sealed value is
//! `enc:v1:<base64 of a random 96-bit nonce, then the ciphertext and its tag>`; a value without
//! the prefix is plain text (written before a key was set) and is read as it is, so setting a
//! key needs no migration (`herald rotate-secret-key` seals what is still plain).
//!
//! Random nonces are safe here: a key seals at most a few billion values before a 96-bit
//! nonce could repeat with any real chance, far beyond an endpoint table and attempt log.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use super::{StoreError, StoreResult};

const PREFIX: &str = "enc:v1:";

/// A key that seals and opens values.
pub struct Cipher {
    key: LessSafeKey,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(..)")
    }
}

/// Why a key cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("the secret key must be 32 bytes, base64-encoded (e.g. `openssl rand -base64 32`)")]
pub struct BadKey;

impl Cipher {
    pub fn from_base64(key: &str) -> Result<Cipher, BadKey> {
        let bytes = B64.decode(key.trim()).map_err(|_| BadKey)?;
        let key = UnboundKey::new(&CHACHA20_POLY1305, &bytes).map_err(|_| BadKey)?;
        Ok(Cipher {
            key: LessSafeKey::new(key),
        })
    }

    /// `plain`, sealed.
    pub fn seal(&self, plain: &str) -> String {
        let nonce: [u8; NONCE_LEN] = crate::formats::secret::random_bytes();
        let mut sealed = plain.as_bytes().to_vec();
        // Sealing in place cannot fail for a buffer this size (under 2^38 bytes).
        if self
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut sealed,
            )
            .is_err()
        {
            unreachable!("ChaCha20-Poly1305 seals any buffer under 256 GiB");
        }
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", B64.encode(out))
    }

    /// A stored value, opened if it was sealed.
    pub fn open(&self, stored: &str) -> StoreResult<String> {
        let Some(b64) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_string());
        };
        let wrong = || StoreError::Sealed("a sealed value does not open with --secret-key".into());
        let mut bytes = B64.decode(b64).map_err(|_| wrong())?;
        if bytes.len() < NONCE_LEN {
            return Err(wrong());
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&bytes[..NONCE_LEN]);
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut bytes[NONCE_LEN..],
            )
            .map_err(|_| wrong())?;
        String::from_utf8(plain.to_vec()).map_err(|_| wrong())
    }
}

/// Seals `plain` if there is a key.
pub(super) fn seal(cipher: Option<&Cipher>, plain: &str) -> String {
    match cipher {
        Some(c) => c.seal(plain),
        None => plain.to_string(),
    }
}

/// Opens `stored` if it was sealed; a sealed value without a key is an error that says so.
pub(super) fn open(cipher: Option<&Cipher>, stored: String) -> StoreResult<String> {
    match cipher {
        Some(c) => c.open(&stored),
        None if stored.starts_with(PREFIX) => Err(StoreError::Sealed(
            "the database holds sealed secrets: start Herald with its --secret-key".into(),
        )),
        None => Ok(stored),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    #[test]
    fn seals_and_opens() {
        let c = Cipher::from_base64(KEY).unwrap();
        let sealed = c.seal("whsec_secret");
        assert!(sealed.starts_with(PREFIX));
        assert!(!sealed.contains("whsec_secret"));
        assert_ne!(sealed, c.seal("whsec_secret"), "a fresh nonce each time");
        assert_eq!(c.open(&sealed).unwrap(), "whsec_secret");
        assert_eq!(
            c.open("plain").unwrap(),
            "plain",
            "plain text is read as it is"
        );
    }

    #[test]
    fn a_wrong_key_or_a_changed_byte_is_an_error() {
        let c = Cipher::from_base64(KEY).unwrap();
        let other = Cipher::from_base64(&B64.encode([7u8; 32])).unwrap();
        let sealed = c.seal("x");
        assert!(other.open(&sealed).is_err());
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(c.open(std::str::from_utf8(&tampered).unwrap()).is_err());
        assert!(open(None, sealed).is_err(), "no key: says so");
    }

    #[test]
    fn keys_must_be_32_bytes() {
        assert!(Cipher::from_base64("c2hvcnQ=").is_err());
        assert!(Cipher::from_base64("not base64!").is_err());
    }
}
