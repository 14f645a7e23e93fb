//! Standard Webhooks (and Svix): `webhook-id`, `webhook-timestamp`, and `webhook-signature` with
//! `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>` per active secret.

/// The signature entry of one secret: `v1,<HMAC>` for `whsec_` secrets, `v1a,<ed25519>` for
/// `whsk_` keys; `None` if the secret does not decode.
pub fn sign(secret_str: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    herald_verify::standard::sign(secret_str, msg_id, timestamp, body).ok()
}

/// The headers of a standard-format request: each name under both the `webhook-` and `svix-`
/// prefixes, the signature header listing one entry per secret.
pub fn headers(
    secrets: &[&str],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Vec<(String, String)> {
    let sig = herald_verify::standard::signature_header(secrets, msg_id, timestamp, body);
    let ts = timestamp.to_string();
    let mut out = Vec::with_capacity(6);
    for prefix in ["webhook", "svix"] {
        out.push((format!("{prefix}-id"), msg_id.to_string()));
        out.push((format!("{prefix}-timestamp"), ts.clone()));
        out.push((format!("{prefix}-signature"), sig.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Standard Webhooks test vector.
    #[test]
    fn standard_webhooks_vector() {
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            sig.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    /// The ed25519 vector of DESIGN.md (checked independently there).
    #[test]
    fn ed25519_vector() {
        let sig = sign(
            "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            sig.as_deref(),
            Some(
                "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="
            )
        );
    }

    #[test]
    fn one_entry_per_secret() {
        let h = headers(
            &[
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            ],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        let sig = &h.iter().find(|(k, _)| k == "webhook-signature").unwrap().1;
        assert_eq!(sig.split(' ').count(), 2);
        let svix = &h.iter().find(|(k, _)| k == "svix-signature").unwrap().1;
        assert_eq!(sig, svix);
    }
}
