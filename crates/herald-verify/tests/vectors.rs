//! Published test vectors: Standard Webhooks' HMAC vector and the ed25519 (`v1a`) vector of
//! Herald's DESIGN.md (checked there with an independent implementation), GitHub's documented
//! `X-Hub-Signature-256` example, and the HMAC values the vendors' own verification code gives.

use herald_verify::standard::{self, Verifier};
use herald_verify::{Error, Format, Key, envelope, hmac_header, payload_string};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TS: i64 = 1614265330;
const BODY: &[u8] = br#"{"test": 2432232314}"#;
const V1: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

const SK: &str =
    "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==";
const PK: &str = "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=";
const V1A: &str =
    "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==";

fn headers(sig: &str) -> Vec<(&'static str, String)> {
    vec![
        ("webhook-id", ID.to_string()),
        ("webhook-timestamp", TS.to_string()),
        ("webhook-signature", sig.to_string()),
    ]
}

fn refs<'a>(h: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    h.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
fn standard_webhooks_vector_signs_and_verifies() {
    assert_eq!(standard::sign(SECRET, ID, TS, BODY).unwrap(), V1);
    // Svix accepts the secret without its prefix.
    assert_eq!(
        standard::sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ID, TS, BODY).unwrap(),
        V1
    );
    let ok = Verifier::new(SECRET)
        .unwrap()
        .verify_at(&refs(&headers(V1)), BODY, TS)
        .unwrap();
    assert_eq!((ok.id.as_str(), ok.timestamp, ok.version), (ID, TS, "v1"));
}

#[test]
fn ed25519_vector_signs_and_verifies_with_the_public_key() {
    assert_eq!(standard::sign(SK, ID, TS, BODY).unwrap(), V1A);
    assert_eq!(Key::parse(SK).unwrap().public_key().as_deref(), Some(PK));
    assert_eq!(Key::parse(PK).unwrap().public_key().as_deref(), Some(PK));
    for key in [PK, SK] {
        let ok = Verifier::new(key)
            .unwrap()
            .verify_at(&refs(&headers(V1A)), BODY, TS)
            .unwrap();
        assert_eq!(ok.version, "v1a");
    }
    // A public key cannot sign.
    assert!(matches!(
        standard::sign(PK, ID, TS, BODY),
        Err(Error::BadSecret(_))
    ));
}

#[test]
fn svix_header_names_are_accepted() {
    let h = [
        ("Svix-Id", ID),
        ("Svix-Timestamp", "1614265330"),
        ("Svix-Signature", V1),
    ];
    assert!(
        Verifier::new(SECRET)
            .unwrap()
            .verify_at(&h, BODY, TS)
            .is_ok()
    );
}

#[test]
fn any_entry_of_a_rotation_may_match() {
    let other = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let old = standard::sign(other, ID, TS, BODY).unwrap();
    // Entries of unknown versions and junk are skipped, not fatal.
    let sig = format!("v2,abc {old} junk {V1}");
    let ok = Verifier::new(SECRET)
        .unwrap()
        .verify_at(&refs(&headers(&sig)), BODY, TS)
        .unwrap();
    assert_eq!((ok.entry, ok.entries), (3, 4));
    // A verifier holding both keys (the receiver's side of a rotation) accepts either entry.
    let both = Verifier::new(other).unwrap().with_secret(SECRET).unwrap();
    assert_eq!(
        both.verify_at(&refs(&headers(V1)), BODY, TS).unwrap().key,
        1
    );
    // The header Herald sends during a rotation carries both.
    let header = standard::signature_header(&[SECRET, other], ID, TS, BODY);
    assert_eq!(header, format!("{V1} {old}"));
    // HMAC and ed25519 entries side by side.
    let mixed = standard::signature_header(&[SECRET, SK], ID, TS, BODY);
    assert_eq!(mixed, format!("{V1} {V1A}"));
    let pk = Verifier::new(PK).unwrap();
    assert!(pk.verify_at(&refs(&headers(&mixed)), BODY, TS).is_ok());
}

#[test]
fn refusals_say_why() {
    let v = Verifier::new(SECRET).unwrap();
    let h = headers(V1);
    assert_eq!(
        v.verify_at(&refs(&h), br#"{"test": 2432232315}"#, TS),
        Err(Error::SignatureMismatch)
    );
    assert_eq!(
        v.verify_at(&refs(&h), BODY, TS + 301),
        Err(Error::TimestampTooOld {
            age_secs: 301,
            tolerance_secs: 300
        })
    );
    assert_eq!(
        v.verify_at(&refs(&h), BODY, TS - 301),
        Err(Error::TimestampInFuture {
            ahead_secs: 301,
            tolerance_secs: 300
        })
    );
    let lenient = Verifier::new(SECRET)
        .unwrap()
        .tolerance(std::time::Duration::from_secs(3600));
    assert!(lenient.verify_at(&refs(&h), BODY, TS + 3000).is_ok());
    // A stale request with a wrong signature is reported as a wrong signature.
    assert_eq!(
        v.verify_at(&refs(&h), b"{}", TS + 9999),
        Err(Error::SignatureMismatch)
    );
    assert_eq!(
        v.verify_at(&refs(&h[..2]), BODY, TS),
        Err(Error::MissingHeader("webhook-signature".into()))
    );
    let mut bad_ts = headers(V1);
    bad_ts[1].1 = "yesterday".into();
    let e = v.verify_at(&refs(&bad_ts), BODY, TS).unwrap_err();
    assert!(e.to_string().contains("webhook-timestamp"), "{e}");
    let e = Verifier::new(PK)
        .unwrap()
        .verify_at(&refs(&h), BODY, TS)
        .unwrap_err();
    assert_eq!(
        e,
        Error::NoUsableSignature {
            wanted: "v1a".into(),
            found: "v1".into()
        }
    );
    assert!(matches!(
        Verifier::new("whsec_!!!"),
        Err(Error::BadSecret(_))
    ));
    assert!(matches!(Key::parse("whsk_AAAA"), Err(Error::BadSecret(_))));
    // A seed with somebody else's public key.
    let forged = "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbcAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==";
    assert!(matches!(Key::parse(forged), Err(Error::BadSecret(_))));
}

#[test]
fn debug_output_hides_keys() {
    let shown = format!("{:?}", Key::parse(SECRET).unwrap());
    assert_eq!(shown, "Key(hmac)");
}

/// GitHub's documented example of `X-Hub-Signature-256`.
#[test]
fn github_vector() {
    let secret = "It's a Secret to Everybody";
    let sig = hmac_header::sign(secret, "sha256=", b"Hello, World!");
    assert_eq!(
        sig,
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
    let v = hmac_header::Verifier::new(secret)
        .header("X-Hub-Signature-256")
        .prefix("sha256=");
    assert!(v.verify_value(&sig, b"Hello, World!").is_ok());
    assert!(
        v.verify_value(
            &sig.to_uppercase().replace("SHA256=", "sha256="),
            b"Hello, World!"
        )
        .is_ok()
    );
    assert!(matches!(
        v.verify_value(&sig[7..], b"Hello, World!"),
        Err(Error::BadHeader { .. })
    ));
    assert_eq!(
        v.verify(&[], b"Hello, World!"),
        Err(Error::MissingHeader("X-Hub-Signature-256".into()))
    );
}

/// `printf '%s' 'hello' | openssl dgst -sha256 -hmac key`, and the Treble SDK's secret "test".
#[test]
fn vendor_hmac_values() {
    assert_eq!(
        hmac_header::sign("key", "", b"hello"),
        "9307b3b915efb5171ff14d8cb55fbcc798c6c0ef1456d66ded1a6aa723a58b7b"
    );
    let payload = r#"{"a": 1}"#;
    let body = envelope::body("msg_1", "2025-01-01T00:00:00.000Z", payload, "test");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["payload"], payload);
    assert_eq!(v["signature"], envelope::sign("test", payload));
    assert_eq!(
        String::from_utf8(body.clone()).unwrap(),
        format!(
            r#"{{"messageId":"msg_1","createdAt":"2025-01-01T00:00:00.000Z","payload":"{{\"a\": 1}}","signature":"{}"}}"#,
            envelope::sign("test", payload)
        )
    );
    let env = envelope::Verifier::new("test").verify(&body).unwrap();
    assert_eq!(env.message_id, "msg_1");
    assert_eq!(
        envelope::Verifier::new("Test").verify(&body),
        Err(Error::SignatureMismatch)
    );
    assert!(matches!(
        envelope::Verifier::new("test").verify(b"not json"),
        Err(Error::BadBody(_))
    ));

    let body = payload_string::body(payload);
    assert_eq!(body, br#"{"payload":"{\"a\": 1}"}"#);
    let sig = payload_string::sign("YOUR_SECRET_HERE", payload);
    let v = payload_string::Verifier::new("YOUR_SECRET_HERE");
    assert_eq!(
        v.verify(&[("x-webhook-signature", &sig)], &body).unwrap(),
        payload
    );
    assert_eq!(
        v.verify(&[], &body),
        Err(Error::MissingHeader("X-WEBHOOK-SIGNATURE".into()))
    );
}

#[test]
fn format_names_round_trip() {
    for f in Format::ALL {
        assert_eq!(f.as_str().parse::<Format>(), Ok(f));
    }
    assert!("json".parse::<Format>().is_err());
}
