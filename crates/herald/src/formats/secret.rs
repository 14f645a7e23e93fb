//! Endpoint secrets: `whsec_` + base64 of random bytes, the HMAC key being the decoded bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::rand::{SecureRandom, SystemRandom};

pub const PREFIX: &str = herald_verify::SECRET_PREFIX;
/// An ed25519 signing key: base64 of the 32-byte seed followed by the 32-byte public key.
pub const ED25519_PREFIX: &str = herald_verify::SIGNING_KEY_PREFIX;
/// An ed25519 public key, as `GET .../secret` shows it for `whsk_` endpoints.
pub const PUBLIC_PREFIX: &str = herald_verify::PUBLIC_KEY_PREFIX;

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

/// Whether `s` is a consistent `whsk_` ed25519 signing key.
pub fn is_ed25519_key(s: &str) -> bool {
    s.starts_with(ED25519_PREFIX) && herald_verify::Key::parse(s).is_ok()
}

/// What `GET .../secret` shows: the public key for ed25519 secrets, the secret itself otherwise.
pub fn shown(s: &str) -> String {
    if !s.starts_with(ED25519_PREFIX) {
        return s.to_string();
    }
    herald_verify::Key::parse(s)
        .ok()
        .and_then(|k| k.public_key())
        .unwrap_or_else(|| s.to_string())
}

/// Whether `s` is acceptable as a standard-format secret: a valid `whsk_` ed25519 key, or
/// Svix's `whsec_` pattern: Svix's pattern
/// `^(whsec_)?[a-zA-Z0-9+/=]{32,100}$`, decoding to 24..=64 bytes.
pub fn is_valid(s: &str) -> bool {
    if s.starts_with(ED25519_PREFIX) {
        return is_ed25519_key(s);
    }
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
    fn ed25519_public_key_is_shown() {
        let sk = "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==";
        assert!(is_valid(sk));
        assert_eq!(
            shown(sk),
            "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="
        );
        // A seed with someone else's public key is refused.
        let bad = "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbcAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==";
        assert!(!is_valid(bad));
    }

    #[test]
    fn rejects_bad_secrets() {
        assert!(!is_valid("whsec_short"));
        assert!(!is_valid("whsec_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"));
        assert!(is_valid("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
        assert!(is_valid("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    }
}
