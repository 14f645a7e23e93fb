//! Public keys for `v1a` (ed25519) endpoints, published per application as a JWKS that
//! receivers fetch without any secret; during a rotation the previous key is listed too.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use serde_json::{Value, json};

use crate::helpers::*;

fn whsk(seed: u8) -> (String, [u8; 32]) {
    let key = SigningKey::from_bytes(&[seed; 32]);
    let public = key.verifying_key().to_bytes();
    let mut both = [0u8; 64];
    both[..32].copy_from_slice(&[seed; 32]);
    both[32..].copy_from_slice(&public);
    (format!("whsk_{}", B64.encode(both)), public)
}

async fn jwks(app: &TestApp, a: &str) -> (u16, Option<String>, Value) {
    let r = app
        .client
        .get(app.url(&format!("/app/{a}/.well-known/jwks.json")))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let cache = r
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, cache, r.json().await.unwrap_or(Value::Null))
}

async fn ed25519_keys_are_published_without_a_secret() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let a = app.create_app("acme").await;
    let (first, first_public) = whsk(1);
    let (ep, _) = app
        .create_endpoint(&a, json!({"url": rx.url("/hook"), "secret": first}))
        .await;
    app.create_endpoint(&a, json!({"url": "https://example.com/hmac"}))
        .await;

    let (s, cache, set) = jwks(&app, &a).await;
    assert_eq!(s, 200, "no token needed: {set}");
    assert_eq!(cache.as_deref(), Some("public, max-age=300"));
    let keys = set["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "only ed25519 endpoints: {set}");
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[0]["crv"], "Ed25519");
    assert_eq!(keys[0]["endpoint"], ep.as_str());
    assert_eq!(keys[0]["x"], B64URL.encode(first_public));

    // Rotated with a grace period: both keys are listed, the new one first.
    let (second, second_public) = whsk(2);
    let (s, _) = app
        .post(
            &format!("/app/{a}/endpoint/{ep}/secret/rotate"),
            json!({"key": second, "gracePeriodSeconds": 3600}),
        )
        .await;
    assert_eq!(s, 200);
    let (_, _, set) = jwks(&app, &a).await;
    let xs: Vec<&str> = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["x"].as_str().unwrap())
        .collect();
    assert_eq!(
        xs,
        vec![
            B64URL.encode(second_public).as_str(),
            B64URL.encode(first_public).as_str()
        ]
    );

    // A delivery verifies with the published key alone.
    app.publish(&a, json!({"eventType": "x.y", "payload": {"n": 1}}))
        .await;
    let got = rx.wait_for(1, Duration::from_secs(10)).await;
    let r = &got[0];
    let x: [u8; 32] = B64URL.decode(xs[0]).unwrap().try_into().unwrap();
    let key = VerifyingKey::from_bytes(&x).unwrap();
    let mut signed = format!(
        "{}.{}.",
        r.header("webhook-id"),
        r.header("webhook-timestamp")
    )
    .into_bytes();
    signed.extend_from_slice(&r.body);
    let verified = r.header("webhook-signature").split(' ').any(|e| {
        e.strip_prefix("v1a,")
            .and_then(|b| B64.decode(b).ok())
            .and_then(|raw| <[u8; 64]>::try_from(raw).ok())
            .is_some_and(|raw| {
                key.verify_strict(&signed, &Signature::from_bytes(&raw))
                    .is_ok()
            })
    });
    assert!(verified, "signed with the published key");

    let (s, _, b) = jwks(&app, "app_doesnotexist").await;
    assert_eq!((s, b["code"].as_str()), (404, Some("not_found")));
}

backend_tests!(ed25519_keys_are_published_without_a_secret);
