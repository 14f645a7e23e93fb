//! The `herald-verify` crate verifies what the real server sends, in every format, and refuses
//! it once anything is changed (`formats.rs` checks the same requests with RustCrypto instead).

use std::time::Duration;

use herald_verify::{Format, Verifier};
use serde_json::json;

use crate::helpers::*;

async fn herald_verify_accepts_every_format_the_server_sends() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let a = app.create_app("verify").await;
    let cases = [
        (
            Format::Standard,
            json!({"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}),
        ),
        (
            Format::Envelope,
            json!({"format": "envelope", "secret": "test"}),
        ),
        (
            Format::PayloadString,
            json!({"format": "payload-string", "secret": "s3cr3t"}),
        ),
        (
            Format::HmacHeader,
            json!({"format": "hmac-header", "secret": "k", "signaturePrefix": "sha256="}),
        ),
    ];
    for (f, mut ep) in cases.clone() {
        ep["url"] = rx.url(&format!("/{f}")).into();
        app.create_endpoint(&a, ep).await;
    }
    app.publish(
        &a,
        json!({"eventType": "t", "eventId": "e-1", "payload": {"x": [1, 2]}}),
    )
    .await;
    let got = rx.wait_for(4, Duration::from_secs(20)).await;
    for (f, ep) in cases {
        let r = got
            .iter()
            .find(|r| r.path == format!("/{f}"))
            .expect("a request per format");
        let headers: Vec<(&str, &str)> = r
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        let secret = ep["secret"].as_str().unwrap();
        let v = Verifier::new(f, &[secret])
            .unwrap()
            .signature_prefix(ep["signaturePrefix"].as_str().unwrap_or(""));
        let ok = v
            .verify(&headers, &r.body)
            .unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(ok.payload, r#"{"x":[1,2]}"#, "{f}");
        let mut changed = r.body.to_vec();
        // The payload's `2` (an envelope's createdAt is not signed, so not anywhere).
        let at = changed.windows(3).position(|w| w == b"1,2").unwrap() + 2;
        changed[at] = b'3';
        assert!(
            v.verify(&headers, &changed).is_err(),
            "{f}: a changed body fails"
        );
        let wrong = Verifier::new(f, &["whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]).unwrap();
        assert!(
            wrong.verify(&headers, &r.body).is_err(),
            "{f}: a wrong secret fails"
        );
    }
}

backend_tests!(herald_verify_accepts_every_format_the_server_sends);
