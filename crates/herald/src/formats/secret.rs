//! Endpoint secrets: `whsec_` + base64 of random bytes, the HMAC key being the decoded bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::rand::{SecureRandom, SystemRandom};

pub const PREFIX: &str = "whsec_";

/// Random bytes from the system's secure generator.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The system RNG failing is not something Herald can recover from.
    SystemRandom::new()
        .fill(&mut buf)
        .expect("system random generator failed");
    buf
}

/// A fresh `whsec_` secret of 32 random bytes.
pub fn generate() -> String {
    format!("{PREFIX}{}", B64.encode(random_bytes::<32>()))
}

/// The HMAC key of a `whsec_` secret (the prefix is optional, as in Svix).
pub fn decode(secret: &str) -> Option<Vec<u8>> {
    let body = secret.strip_prefix(PREFIX).unwrap_or(secret);
    B64.decode(body).ok()
}

/// Whether `s` is acceptable as a standard secret: Svix's pattern
/// `^(whsec_)?[a-zA-Z0-9+/=]{32,100}$`, decoding to 24..=64 bytes.
pub fn is_valid(s: &str) -> bool {
    let body = s.strip_prefix(PREFIX).unwrap_or(s);
    (32..=100).contains(&body.len())
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
        && decode(s).is_some_and(|k| (24..=64).contains(&k.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_valid() {
        let s = generate();
        assert!(s.starts_with(PREFIX));
        assert!(is_valid(&s), "{s}");
        assert_eq!(decode(&s).map(|k| k.len()), Some(32));
        assert_ne!(generate(), s);
    }

    #[test]
    fn rejects_bad_secrets() {
        assert!(!is_valid("whsec_short"));
        assert!(!is_valid("whsec_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"));
        assert!(is_valid("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
        assert!(is_valid("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    }
}
