//! Property tests: whatever is signed verifies, and any change to what was signed (body, id,
//! timestamp, signature, secret) makes verification fail.

use herald_verify::{Format, Verifier, envelope, hmac_header, payload_string, standard};
use proptest::prelude::*;

const SK: &str =
    "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==";

fn whsec(bytes: &[u8]) -> String {
    use base64::Engine;
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// A copy of `v` with one bit of byte `i` (modulo its length) flipped.
fn flip(v: &[u8], i: usize, bit: u8) -> Vec<u8> {
    let mut v = v.to_vec();
    if v.is_empty() {
        v.push(1);
    } else {
        let i = i % v.len();
        v[i] ^= 1 << (bit % 8);
    }
    v
}

fn hdrs<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> [(&'static str, &'a str); 3] {
    [
        ("webhook-id", id),
        ("webhook-timestamp", ts),
        ("webhook-signature", sig),
    ]
}

proptest! {
    #[test]
    fn standard_round_trips_and_detects_changes(
        key in proptest::collection::vec(any::<u8>(), 24..64),
        other in proptest::collection::vec(any::<u8>(), 24..64),
        body in proptest::collection::vec(any::<u8>(), 0..512),
        id in "msg_[a-zA-Z0-9]{1,24}",
        ts in 0i64..4_000_000_000,
        i in any::<usize>(),
        bit in any::<u8>(),
        ed in any::<bool>(),
    ) {
        let secret = if ed { SK.to_string() } else { whsec(&key) };
        let sig = standard::sign(&secret, &id, ts, &body).unwrap();
        let t = ts.to_string();
        let v = standard::Verifier::new(&secret).unwrap();
        prop_assert!(v.verify_at(&hdrs(&id, &t, &sig), &body, ts).is_ok());

        prop_assert!(v.verify_at(&hdrs(&id, &t, &sig), &flip(&body, i, bit), ts).is_err());
        let id2 = format!("{id}x");
        prop_assert!(v.verify_at(&hdrs(&id2, &t, &sig), &body, ts).is_err());
        let t2 = (ts + 1).to_string();
        prop_assert!(v.verify_at(&hdrs(&id, &t2, &sig), &body, ts).is_err());
        let (version, b64) = sig.split_once(',').unwrap();
        let raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap();
        let bad = format!("{version},{}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, flip(&raw, i, bit)));
        prop_assert!(v.verify_at(&hdrs(&id, &t, &bad), &body, ts).is_err());
        if key != other && !ed {
            let w = standard::Verifier::new(&whsec(&other)).unwrap();
            prop_assert!(w.verify_at(&hdrs(&id, &t, &sig), &body, ts).is_err());
        }
    }

    #[test]
    fn hex_formats_round_trip_and_detect_changes(
        secret in "[ -~]{1,40}",
        other in "[ -~]{1,40}",
        payload in "\\PC{0,200}",
        prefix in prop_oneof![Just(String::new()), Just("sha256=".to_string())],
        i in any::<usize>(),
        bit in any::<u8>(),
    ) {
        // envelope
        let body = envelope::body("m", "2025-01-01T00:00:00.000Z", &payload, &secret);
        let env = envelope::Verifier::new(&secret).verify(&body).unwrap();
        prop_assert_eq!(&env.payload, &payload);
        if other != secret {
            prop_assert!(envelope::Verifier::new(&other).verify(&body).is_err());
        }
        let changed = format!("{payload}x");
        let forged = envelope::body("m", "2025-01-01T00:00:00.000Z", &changed, &other);
        let mut v: serde_json::Value = serde_json::from_slice(&forged).unwrap();
        v["signature"] = envelope::sign(&secret, &payload).into();
        prop_assert!(envelope::Verifier::new(&secret).verify(v.to_string().as_bytes()).is_err());

        // payload-string
        let body = payload_string::body(&payload);
        let sig = payload_string::sign(&secret, &payload);
        let ps = payload_string::Verifier::new(&secret);
        prop_assert_eq!(ps.verify(&[(payload_string::HEADER, &sig)], &body).unwrap(), payload.clone());
        let other_body = payload_string::body(&changed);
        prop_assert!(ps.verify(&[(payload_string::HEADER, &sig)], &other_body).is_err());

        // hmac-header
        let sig = hmac_header::sign(&secret, &prefix, payload.as_bytes());
        let hh = hmac_header::Verifier::new(&secret).prefix(&prefix);
        prop_assert!(hh.verify_value(&sig, payload.as_bytes()).is_ok());
        prop_assert!(hh.verify_value(&sig, &flip(payload.as_bytes(), i, bit)).is_err());
        if other != secret {
            let hh2 = hmac_header::Verifier::new(&other).prefix(&prefix);
            prop_assert!(hh2.verify_value(&sig, payload.as_bytes()).is_err());
        }
    }

    #[test]
    fn the_format_chosen_at_run_time_agrees(
        secret in "[a-z]{8,20}",
        payload in "\\{\"n\": [0-9]{1,9}\\}",
    ) {
        let body = payload_string::body(&payload);
        let sig = payload_string::sign(&secret, &payload);
        let v = Verifier::new(Format::PayloadString, &["nope", &secret]).unwrap();
        let ok = v.verify(&[("X-Webhook-Signature", &sig)], &body).unwrap();
        prop_assert_eq!(ok.payload, payload);
    }
}
