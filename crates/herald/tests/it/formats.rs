//! Wire formats other than Standard Webhooks (DESIGN section 4), ed25519 signing, and the
//! per-endpoint delivery policy (timeout, retry schedule, User-Agent, Retry-After, 410, 3xx).
//!
//! Every signature is checked with an independent re-implementation of the vendor document's own
//! verification procedure (RustCrypto `hmac` + `sha2`, `hex`, `ed25519-dalek`), never with
//! Herald's code. Payloads and secrets are the vendors' own examples, published as raw bytes so
//! their odd formatting reaches the signer unchanged.
//!
//! Seeds: 000 is Treble's SDK (`envelope`), 002 is Speckle (`payload-string`), 003 is Sematryx
//! (`hmac-header`). Seed 001 (treble.ai, a messaging platform) describes no signature or body
//! format at all (its example's `isValidRequest` just returns true), so it maps to no format and
//! has no test here.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// Vendor examples, copied from the seed documents.

/// Seed 000 (Treble SDK): "You can test validating the signature by computing the HMAC-SHA256 of
/// the payload using the secret value "test"."
const TREBLE_SECRET: &str = "test";
/// Seed 000, `simulation.completed` example, verbatim (the page lost its indentation).
const TREBLE_COMPLETED: &str = r#"{
"version": "1.0",
"eventType": "simulation.completed",
"messageId": "a81af274-f61c-4780-bb44-b493873f700a",
"createdAt": "2025-09-11T13:02:07.883Z",
"objectType": "Simulation",
"objectId": "fc31f4e8-e457-42e9-baba-86122d5c6c1e",
"organizationId": "00000000-0000-0000-0000-000000000001",
"data": {
"projectId": "a407a28c-4450-46a4-acd7-e4170330ad89",
"status": "Completed",
"message": null,
"billedTokens": 0.0101,
"billable": true,
"tasks": [
{
"id": "d424f8b1-d6d0-4054-bf19-79a17ff32d61",
"taskType": "GA",
"taskSubType": "None",
"status": "Completed",
"tokenCost": 0.010045,
"startedAt": "2025-09-11T13:01:39.981Z",
"completedAt": "2025-09-11T13:02:07.396Z"
}
]
}
}"#;
const TREBLE_COMPLETED_ID: &str = "a81af274-f61c-4780-bb44-b493873f700a";
/// Seed 000, `simulation.running` example, verbatim.
const TREBLE_RUNNING: &str = r#"{
"version": "1.0",
"eventType": "simulation.running",
"messageId": "89dae419-e3ad-4ff7-b2cd-f8a21c12fdd2",
"createdAt": "2025-09-11T13:01:50.868Z",
"objectType": "Simulation",
"objectId": "fc31f4e8-e457-42e9-baba-86122d5c6c1e",
"organizationId": "00000000-0000-0000-0000-000000000001",
"data": {
"simulationId": "fc31f4e8-e457-42e9-baba-86122d5c6c1e",
"name": "treble_lab_1757595525",
"projectId": "a407a28c-4450-46a4-acd7-e4170330ad89",
"status": "InProgress",
"message": null
}
}"#;

/// Seed 002 (Speckle), the secret of its JavaScript example.
const SPECKLE_SECRET: &str = "YOUR_SECRET_HERE";
/// Seed 002's example payload, byte for byte (trailing spaces, `\ud83c\udf3b` escapes and all),
/// with the two edits needed to make it JSON at all: the `{ ... }` placeholders are `{}`, and
/// the line break the page put inside the `description` string is the escape `\n`.
const SPECKLE_PAYLOAD: &str = concat!(
    "{\n",
    "    \"streamId\": \"48364aff6b\",\n",
    "    \"userId\": \"1234abcdef\",\n",
    "    \"activityMessage\": \"Stream metadata changed\",        \n",
    "    \"event\": {\n",
    "        \"event_name\": \"stream_update\",\n",
    "        \"data\": {\n",
    "            \"old\": {\n",
    "                \"id\": \"48364aff6b\",\n",
    "                \"name\": \"Golden Nugget \\ud83c\\udf3b\",    \n",
    "                \"description\": \"revit model\",\n",
    "                \"isPublic\": false,\n",
    "                \"clonedFrom\": null,\n",
    "                \"createdAt\": \"2021-06-29T09:09:02.993Z\", \n",
    "                \"updatedAt\": \"2021-07-23T14:17:18.660Z\"  \n",
    "            },\n",
    "            \"new\": {\n",
    "                \"id\": \"48364aff6b\",\n",
    "                \"name\": \"Golden Nugget \\ud83c\\udf3b\",    \n",
    "              \"description\": \"revit model for cool and \\ngood times \\ud83c\\udf1e\",\n",
    "                \"isPublic\": true\n",
    "            }\n",
    "        }\n",
    "    },\n",
    "    \"server\": {},\n",
    "    \"stream\": {},\n",
    "    \"user\": {},\n",
    "    \"webhook\": {}\n",
    "}",
);

/// Seed 003 (Sematryx): the secret of its "Creating a Webhook" example.
const SEMATRYX_SECRET: &str = "your-webhook-secret";
/// Seed 003: "The signature is sent in the X-Sematryx-Signature header."
const SEMATRYX_HEADER: &str = "X-Sematryx-Signature";
/// Seed 003's example payload, verbatim.
const SEMATRYX_PAYLOAD: &str = r#"{
"id": "evt_1234567890",
"type": "optimization.completed",
"created_at": "2024-01-01T00:00:00Z",
"data": {
"optimization_id": "opt_1234567890",
"status": "completed",
"result": {
"best_solution": [0.001, -0.002, 0.003],
"best_fitness": 0.000014,
"evaluations": 847,
"duration_seconds": 2.34
}
}
}"#;

/// GitHub's documented test vector for `X-Hub-Signature-256`.
const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const GITHUB_VECTOR_BODY: &str = "Hello, World!";
const GITHUB_VECTOR_SIG: &str =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

/// DESIGN section 4 test vectors (Standard Webhooks HMAC and Svix-style ed25519).
const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const VECTOR_TS: &str = "1614265330";
const VECTOR_BODY: &str = r#"{"test": 2432232314}"#;
const HMAC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const HMAC_VECTOR_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
const ED_SECRET: &str =
    "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==";
const ED_PUBLIC: &str = "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=";
const ED_VECTOR_SIG: &str =
    "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==";

// ---------------------------------------------------------------------------------------------
// Independent verifiers, transcribed from the vendor documents.

/// `hmac.new(secret.encode("utf-8"), msg, hashlib.sha256).hexdigest()`.
fn hex_hmac(secret: &str, msg: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(msg);
    hex::encode(mac.finalize().into_bytes())
}

/// Seed 000's `verify_signature(payload_str, received_signature, secret)`.
fn treble_verify(payload_str: &str, received_signature: &str, secret: &str) -> bool {
    hex_hmac(secret, payload_str.as_bytes()) == received_signature
}

/// Seed 002's check: `hmac(SHARED_SECRET, payload_json, sha256).hexdigest()` against the
/// `X-WEBHOOK-SIGNATURE` header, where `payload_json` is the body's `payload` string.
fn speckle_verify(payload_json: &str, signature_from_header: &str, secret: &str) -> bool {
    hex_hmac(secret, payload_json.as_bytes()) == signature_from_header
}

/// Seed 003's Python `verify_webhook_signature(payload, signature, secret)`, `payload` being the
/// raw request body.
fn sematryx_verify(payload: &[u8], signature: &str, secret: &str) -> bool {
    hex_hmac(secret, payload) == signature
}

/// GitHub's check: `sha256=` + hex HMAC of the raw body.
fn github_verify(body: &[u8], header: &str, secret: &str) -> bool {
    match header.strip_prefix("sha256=") {
        Some(sig) => hex_hmac(secret, body) == sig,
        None => false,
    }
}

/// Svix-style ed25519: some `v1a,` entry of the signature header verifies with the public key
/// alone over `{id}.{timestamp}.{body}`.
fn ed25519_verify(public: &str, id: &str, ts: &str, body: &[u8], header: &str) -> bool {
    let pk: [u8; 32] = B64
        .decode(public.strip_prefix("whpk_").unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key = VerifyingKey::from_bytes(&pk).unwrap();
    let mut signed = format!("{id}.{ts}.").into_bytes();
    signed.extend_from_slice(body);
    header.split(' ').any(|entry| {
        let Some(b64) = entry.strip_prefix("v1a,") else {
            return false;
        };
        let Ok(raw) = B64.decode(b64) else {
            return false;
        };
        let Ok(raw) = <[u8; 64]>::try_from(raw) else {
            return false;
        };
        key.verify_strict(&signed, &Signature::from_bytes(&raw))
            .is_ok()
    })
}

fn is_lower_hex_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `YYYY-MM-DDTHH:MM:SS.fffZ`: 24 characters, milliseconds, UTC.
fn assert_millis_utc(s: &str) {
    assert_eq!(
        s.len(),
        24,
        "createdAt {s:?} is not YYYY-MM-DDTHH:MM:SS.fffZ"
    );
    for (i, b) in s.bytes().enumerate() {
        let ok = match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            19 => b == b'.',
            23 => b == b'Z',
            _ => b.is_ascii_digit(),
        };
        assert!(ok, "createdAt {s:?}: unexpected {:?} at {i}", b as char);
    }
    let t = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.3fZ")
        .unwrap_or_else(|e| panic!("createdAt {s:?} does not parse: {e}"))
        .and_utc();
    assert!(
        (t - chrono::Utc::now()).num_seconds().abs() < 300,
        "createdAt {s} is not about now"
    );
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

/// Publishes a raw JSON body, so the payload's bytes are exactly the ones given.
async fn publish_raw(app: &TestApp, a: &str, raw: &str) -> Value {
    let resp = app
        .client
        .post(app.url(&format!("/app/{a}/msg")))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(raw.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 202, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// Creates an endpoint without reading its secret back; returns its id.
async fn create_endpoint_only(app: &TestApp, a: &str, body: Value) -> String {
    let (s, b) = app.post(&format!("/app/{a}/endpoint"), body).await;
    assert_eq!(s, 201, "{b}");
    b["id"].as_str().unwrap().to_string()
}

async fn get_endpoint(app: &TestApp, a: &str, ep: &str) -> Value {
    let (s, b) = app.get(&format!("/app/{a}/endpoint/{ep}")).await;
    assert_eq!(s, 200, "{b}");
    b
}

/// The `statusText` of a message's (only) delivery.
async fn delivery_status(app: &TestApp, a: &str, msg: &str) -> String {
    let (s, v) = app.get(&format!("/app/{a}/msg/{msg}/endpoint")).await;
    assert_eq!(s, 200, "{v}");
    v["data"][0]["statusText"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn by_path<'a>(got: &'a [Received], path: &str) -> Vec<&'a Received> {
    got.iter().filter(|r| r.path == path).collect()
}

fn has_loc(b: &Value, loc: Value) -> bool {
    b["detail"]
        .as_array()
        .is_some_and(|d| d.iter().any(|e| e["loc"] == loc))
}

fn has_loc_prefix(b: &Value, prefix: &[&str]) -> bool {
    b["detail"].as_array().is_some_and(|d| {
        d.iter().any(|e| {
            e["loc"].as_array().is_some_and(|l| {
                l.len() >= prefix.len() && l.iter().zip(prefix).all(|(x, p)| x == p)
            })
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Formats.

async fn envelope_format_verifies_like_the_treble_sdk() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let a = app.create_app("treble").await;
    let (ep, secret) = app
        .create_endpoint(
            &a,
            json!({"url": rx.url("/webhook"), "format": "envelope", "secret": TREBLE_SECRET}),
        )
        .await;
    assert_eq!(secret, TREBLE_SECRET, "the secret reads back as given");
    assert_eq!(get_endpoint(&app, &a, &ep).await["format"], "envelope");

    // With the publisher's eventId (Treble's own messageId), and without one.
    let with_id = publish_raw(
        &app,
        &a,
        &format!(
            r#"{{"eventType":"simulation.completed","eventId":"{TREBLE_COMPLETED_ID}","payload":{TREBLE_COMPLETED}}}"#
        ),
    )
    .await;
    let without_id = publish_raw(
        &app,
        &a,
        &format!(r#"{{"eventType":"simulation.running","payload":{TREBLE_RUNNING}}}"#),
    )
    .await;

    let got = rx.wait_for(2, WAIT).await;
    // Deliveries may overlap, so find each by its payload.
    let find = |payload: &str| {
        got.iter()
            .find(|r| r.json()["payload"] == payload)
            .unwrap_or_else(|| panic!("no envelope carries the payload {payload}"))
            .clone()
    };
    for (r, payload, msg) in [
        (find(TREBLE_COMPLETED), TREBLE_COMPLETED, &with_id),
        (find(TREBLE_RUNNING), TREBLE_RUNNING, &without_id),
    ] {
        assert_eq!(r.method, "POST");
        assert_eq!(r.header("content-type"), "application/json");
        assert!(r.header("user-agent").starts_with("Herald-Webhooks/"));
        let body = r.json();
        let obj = body.as_object().expect("the body is a JSON object");
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["createdAt", "messageId", "payload", "signature"]);

        // What the seed's Flask receiver does: data.get("payload"), data.get("signature").
        let payload_str = body["payload"].as_str().expect("payload is a string");
        assert_eq!(
            payload_str, payload,
            "the payload string is the published bytes"
        );
        let parsed: Value = serde_json::from_str(payload_str).unwrap();
        assert_eq!(parsed, serde_json::from_str::<Value>(payload).unwrap());
        let sig = body["signature"].as_str().expect("signature is a string");
        assert!(is_lower_hex_sha256(sig), "hex HMAC-SHA256: {sig}");
        assert!(
            treble_verify(payload_str, sig, TREBLE_SECRET),
            "the seed's verify_signature accepts it"
        );
        assert!(
            !treble_verify(payload_str, sig, "Test"),
            "a wrong secret fails"
        );
        assert!(!treble_verify(payload_str, sig, "wrong-secret"));
        assert!(
            !treble_verify(&payload_str.replace("1.0", "1.1"), sig, TREBLE_SECRET),
            "a changed payload fails"
        );

        let created = body["createdAt"].as_str().expect("createdAt is a string");
        assert_millis_utc(created);
        assert_eq!(created, msg["timestamp"], "createdAt is the message's time");
    }

    let completed = find(TREBLE_COMPLETED).json();
    assert_eq!(
        completed["messageId"], TREBLE_COMPLETED_ID,
        "messageId is the publisher's eventId when given"
    );
    let inner: Value = serde_json::from_str(completed["payload"].as_str().unwrap()).unwrap();
    assert_eq!(
        completed["messageId"], inner["messageId"],
        "as the seed says, equal to the payload's own messageId"
    );
    let running = find(TREBLE_RUNNING).json();
    assert_eq!(
        running["messageId"], without_id["id"],
        "messageId is Herald's message id without an eventId"
    );
    assert_ne!(running["messageId"], "89dae419-e3ad-4ff7-b2cd-f8a21c12fdd2");
}

async fn payload_string_format_verifies_like_speckle() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let a = app.create_app("speckle").await;
    let (ep, secret) = app
        .create_endpoint(
            &a,
            json!({"url": rx.url("/signed"), "format": "payload-string", "secret": SPECKLE_SECRET}),
        )
        .await;
    assert_eq!(secret, SPECKLE_SECRET);
    assert_eq!(
        get_endpoint(&app, &a, &ep).await["format"],
        "payload-string"
    );
    // Speckle's secret is optional: without one, nothing is signed.
    create_endpoint_only(
        &app,
        &a,
        json!({"url": rx.url("/unsigned"), "format": "payload-string"}),
    )
    .await;

    publish_raw(
        &app,
        &a,
        &format!(r#"{{"eventType":"stream_update","payload":{SPECKLE_PAYLOAD}}}"#),
    )
    .await;
    let got = rx.wait_for(2, WAIT).await;

    let signed = by_path(&got, "/signed");
    assert_eq!(signed.len(), 1);
    let r = signed[0];
    assert_eq!(r.header("content-type"), "application/json");
    let body = r.json();
    let obj = body.as_object().expect("the body is a JSON object");
    assert_eq!(obj.len(), 1, "one parameter, called payload: {body}");
    // The seed's JavaScript: request.body.payload, request.headers['x-webhook-signature'].
    let payload_json = body["payload"].as_str().expect("payload is a string");
    assert_eq!(
        payload_json, SPECKLE_PAYLOAD,
        "the payload string is the published bytes, escapes and spaces included"
    );
    let sig = r.header("x-webhook-signature");
    assert!(is_lower_hex_sha256(sig), "hex HMAC-SHA256: {sig:?}");
    assert!(
        speckle_verify(payload_json, sig, SPECKLE_SECRET),
        "the seed's check accepts it"
    );
    assert!(!speckle_verify(payload_json, sig, "your_secret_here"));
    assert!(!speckle_verify(payload_json, sig, TREBLE_SECRET));
    // The signature is over the payload string, not over the request body.
    assert!(!sematryx_verify(&r.body, sig, SPECKLE_SECRET));

    let unsigned = by_path(&got, "/unsigned");
    assert_eq!(unsigned.len(), 1);
    let r = unsigned[0];
    assert!(
        r.headers.get("x-webhook-signature").is_none(),
        "no X-WEBHOOK-SIGNATURE without a secret: {:?}",
        r.headers
    );
    assert_eq!(r.json(), json!({"payload": SPECKLE_PAYLOAD}));
}

async fn hmac_header_format_verifies_like_sematryx() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let a = app.create_app("sematryx").await;
    let (ep, secret) = app
        .create_endpoint(
            &a,
            json!({
                "url": rx.url("/sematryx"),
                "format": "hmac-header",
                "secret": SEMATRYX_SECRET,
                "signatureHeader": SEMATRYX_HEADER,
            }),
        )
        .await;
    assert_eq!(secret, SEMATRYX_SECRET);
    let out = get_endpoint(&app, &a, &ep).await;
    assert_eq!(out["format"], "hmac-header");
    assert_eq!(out["signatureHeader"], SEMATRYX_HEADER);
    // Without a header name, the default one.
    create_endpoint_only(
        &app,
        &a,
        json!({"url": rx.url("/default"), "format": "hmac-header", "secret": SEMATRYX_SECRET}),
    )
    .await;

    publish_raw(
        &app,
        &a,
        &format!(r#"{{"eventType":"optimization.completed","payload":{SEMATRYX_PAYLOAD}}}"#),
    )
    .await;
    let got = rx.wait_for(2, WAIT).await;

    let r = by_path(&got, "/sematryx")[0];
    assert_eq!(
        &r.body[..],
        SEMATRYX_PAYLOAD.as_bytes(),
        "the body is the payload as published"
    );
    assert_eq!(r.header("content-type"), "application/json");
    let sig = r.header("x-sematryx-signature");
    assert!(is_lower_hex_sha256(sig), "bare hex, no prefix: {sig:?}");
    assert!(
        sematryx_verify(&r.body, sig, SEMATRYX_SECRET),
        "the seed's Python verify_webhook_signature accepts it"
    );
    assert!(!sematryx_verify(&r.body, sig, "your-webhook-secret "));
    assert!(!sematryx_verify(&r.body, sig, TREBLE_SECRET));
    assert!(!sematryx_verify(
        SEMATRYX_PAYLOAD.replace("847", "848").as_bytes(),
        sig,
        SEMATRYX_SECRET
    ));

    let r = by_path(&got, "/default")[0];
    assert_eq!(&r.body[..], SEMATRYX_PAYLOAD.as_bytes());
    let sig = r.header("x-webhook-signature");
    assert!(
        is_lower_hex_sha256(sig),
        "default header X-Webhook-Signature: {sig:?}"
    );
    assert!(sematryx_verify(&r.body, sig, SEMATRYX_SECRET));
}

async fn hmac_header_format_verifies_like_github() {
    // The verifier itself against GitHub's documented vector.
    assert!(github_verify(
        GITHUB_VECTOR_BODY.as_bytes(),
        GITHUB_VECTOR_SIG,
        GITHUB_SECRET
    ));

    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let a = app.create_app("github").await;
    let (ep, secret) = app
        .create_endpoint(
            &a,
            json!({
                "url": rx.url("/gh"),
                "format": "hmac-header",
                "secret": GITHUB_SECRET,
                "signatureHeader": "X-Hub-Signature-256",
                "signaturePrefix": "sha256=",
            }),
        )
        .await;
    assert_eq!(secret, GITHUB_SECRET);
    let out = get_endpoint(&app, &a, &ep).await;
    assert_eq!(out["signatureHeader"], "X-Hub-Signature-256");
    assert_eq!(out["signaturePrefix"], "sha256=");

    let payload = r#"{"zen":"Keep it logically awesome.","hook_id": 12345678 ,"hook":{"type":"Repository","events":["push"]},"note":"ünïcode"}"#;
    publish_raw(
        &app,
        &a,
        &format!(r#"{{"eventType":"ping","payload":{payload}}}"#),
    )
    .await;
    let got = rx.wait_for(1, WAIT).await;
    let r = &got[0];
    assert_eq!(&r.body[..], payload.as_bytes());
    let header = r.header("x-hub-signature-256");
    assert!(header.starts_with("sha256="), "{header:?}");
    assert!(is_lower_hex_sha256(&header["sha256=".len()..]));
    assert!(github_verify(&r.body, header, GITHUB_SECRET));
    assert!(!github_verify(
        &r.body,
        header,
        "It's a secret to everybody"
    ));
}

// ---------------------------------------------------------------------------------------------
// ed25519 next to HMAC on the standard format.

async fn ed25519_signatures_verify_with_the_public_key_alone() {
    // First the DESIGN vectors, with the independent implementations only.
    let sk: [u8; 64] = B64
        .decode(ED_SECRET.strip_prefix("whsk_").unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let pk = B64
        .decode(ED_PUBLIC.strip_prefix("whpk_").unwrap())
        .unwrap();
    let seed: [u8; 32] = sk[..32].try_into().unwrap();
    assert_eq!(
        SigningKey::from_bytes(&seed).verifying_key().to_bytes()[..],
        pk[..],
        "the seed derives the vector's public key"
    );
    assert_eq!(sk[32..], pk[..], "the secret key ends with the public key");
    assert!(ed25519_verify(
        ED_PUBLIC,
        VECTOR_ID,
        VECTOR_TS,
        VECTOR_BODY.as_bytes(),
        ED_VECTOR_SIG
    ));
    let mut vector = HeaderMapBuilder::default();
    vector.push("webhook-id", VECTOR_ID);
    vector.push("webhook-timestamp", VECTOR_TS);
    vector.push("webhook-signature", HMAC_VECTOR_SIG);
    assert!(verify_standard(HMAC_SECRET, &vector.received(VECTOR_BODY)));

    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let a = app.create_app("keys").await;
    let (s, b) = app
        .post(
            &format!("/app/{a}/endpoint"),
            json!({"url": rx.url("/ed"), "secret": ED_SECRET}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let ed = b["id"].as_str().unwrap().to_string();
    let (s, sec) = app.get(&format!("/app/{a}/endpoint/{ed}/secret")).await;
    assert_eq!(s, 200, "{sec}");
    assert_eq!(
        sec["key"], ED_PUBLIC,
        "GET secret shows the public key only"
    );
    let (_, hm_secret) = app
        .create_endpoint(&a, json!({"url": rx.url("/hmac"), "secret": HMAC_SECRET}))
        .await;
    assert_eq!(hm_secret, HMAC_SECRET);

    let msg = publish_raw(
        &app,
        &a,
        &format!(r#"{{"eventType":"test.vector","payload":{VECTOR_BODY}}}"#),
    )
    .await;
    let id = msg["id"].as_str().unwrap();
    let got = rx.wait_for(2, WAIT).await;

    let r = by_path(&got, "/ed")[0];
    assert_eq!(&r.body[..], VECTOR_BODY.as_bytes());
    assert_eq!(r.header("webhook-id"), id);
    let ts = r.header("webhook-timestamp");
    assert!((ts.parse::<i64>().unwrap() - chrono::Utc::now().timestamp()).abs() < 60);
    let sig = r.header("webhook-signature");
    assert!(
        sig.split(' ').all(|e| e.starts_with("v1a,")),
        "only ed25519 entries for an ed25519 secret: {sig}"
    );
    assert!(
        ed25519_verify(ED_PUBLIC, id, ts, &r.body, sig),
        "verifies with the public key: {sig}"
    );
    assert_eq!(r.header("svix-signature"), sig);
    assert_eq!(r.header("svix-id"), id);
    assert_eq!(r.header("svix-timestamp"), ts);
    let other = SigningKey::from_bytes(&[7u8; 32]).verifying_key();
    let other = format!("whpk_{}", B64.encode(other.to_bytes()));
    assert!(
        !ed25519_verify(&other, id, ts, &r.body, sig),
        "another key fails"
    );
    assert!(
        !ed25519_verify(ED_PUBLIC, id, ts, br#"{"test": 2432232315}"#, sig),
        "a changed body fails"
    );
    assert!(
        !ed25519_verify(ED_PUBLIC, "msg_other", ts, &r.body, sig),
        "another id fails"
    );

    let r = by_path(&got, "/hmac")[0];
    assert_eq!(&r.body[..], VECTOR_BODY.as_bytes());
    assert!(verify_standard(HMAC_SECRET, r), "HMAC still verifies");
    assert!(!verify_standard(
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        r
    ));
    assert!(
        !r.header("webhook-signature").contains("v1a,"),
        "no ed25519 entry for an HMAC secret"
    );
}

/// Builds a `Received` by hand, to run `verify_standard` on the DESIGN vector.
#[derive(Default)]
struct HeaderMapBuilder(axum::http::HeaderMap);

impl HeaderMapBuilder {
    fn push(&mut self, k: &'static str, v: &str) {
        self.0.insert(k, v.parse().unwrap());
    }
    fn received(self, body: &str) -> Received {
        Received {
            headers: self.0,
            body: axum::body::Bytes::copy_from_slice(body.as_bytes()),
            path: "/".into(),
            method: "POST".into(),
            at: Instant::now(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Per-endpoint delivery policy.

async fn per_endpoint_retry_schedule_overrides_the_server_default() {
    let app = spawn_app_with(|c| c.retry_schedule = vec![300]).await;
    let rx = Receiver::start().await;
    rx.script(&[500, 500, 500, 500, 500]);
    let a = app.create_app("acme").await;
    let (ep, _) = app
        .create_endpoint(&a, json!({"url": rx.url("/hook"), "retrySchedule": [1, 1]}))
        .await;
    assert_eq!(
        get_endpoint(&app, &a, &ep).await["retrySchedule"],
        json!([1, 1])
    );
    let msg = app
        .publish(&a, json!({"eventType": "x.y", "payload": {"k": 1}}))
        .await;
    let id = msg["id"].as_str().unwrap();

    // The server's own schedule would wait five minutes before the second try.
    let got = rx.wait_for(3, WAIT).await;
    let spread = got[2].at - got[0].at;
    assert!(
        spread >= Duration::from_millis(1900) && spread < Duration::from_secs(15),
        "three tries about a second apart, took {spread:?}"
    );
    eventually("the delivery to be marked failed", WAIT, || async {
        (delivery_status(&app, &a, id).await == "fail").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(rx.received().len(), 3, "no fourth try");
    let attempts = app.attempts(&a, id).await;
    assert_eq!(attempts.len(), 3);
    for at in &attempts {
        assert_eq!(at["status"], 2);
        assert_eq!(at["responseStatusCode"], 500);
    }
}

async fn per_endpoint_timeout_cuts_a_slow_receiver_short() {
    // The server's own timeout is long; only the endpoint's 1 s can fail the attempt.
    let app = spawn_app_with(|c| {
        c.request_timeout_ms = 25_000;
        c.retry_schedule = vec![300];
    })
    .await;
    let rx = Receiver::start().await;
    rx.set_delay(Duration::from_secs(10));
    let a = app.create_app("acme").await;
    let (ep, _) = app
        .create_endpoint(&a, json!({"url": rx.url("/slow"), "timeoutMs": 1000}))
        .await;
    assert_eq!(get_endpoint(&app, &a, &ep).await["timeoutMs"], 1000);
    let start = Instant::now();
    let msg = app
        .publish(&a, json!({"eventType": "x.y", "payload": {"k": 1}}))
        .await;
    let id = msg["id"].as_str().unwrap();
    let attempts = app.wait_attempts(&a, id, 1).await;
    let took = start.elapsed();
    assert_eq!(attempts[0]["status"], 2, "{attempts:?}");
    assert_eq!(attempts[0]["responseStatusCode"], 0, "{attempts:?}");
    assert!(
        took < Duration::from_secs(8),
        "failed well before the receiver's 10 s answer, took {took:?}"
    );
}

async fn per_endpoint_user_agent_is_sent() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let a = app.create_app("acme").await;
    let (ep, _) = app
        .create_endpoint(
            &a,
            json!({"url": rx.url("/custom"), "userAgent": "Treble-Webhooks/1.0"}),
        )
        .await;
    assert_eq!(
        get_endpoint(&app, &a, &ep).await["userAgent"],
        "Treble-Webhooks/1.0"
    );
    app.create_endpoint(&a, json!({"url": rx.url("/default")}))
        .await;
    app.publish(&a, json!({"eventType": "x.y", "payload": {"k": 1}}))
        .await;
    let got = rx.wait_for(2, WAIT).await;
    assert_eq!(
        by_path(&got, "/custom")[0].header("user-agent"),
        "Treble-Webhooks/1.0"
    );
    assert!(
        by_path(&got, "/default")[0]
            .header("user-agent")
            .starts_with("Herald-Webhooks/")
    );
}

async fn retry_after_on_429_is_honoured() {
    let app = spawn_app_with(|c| c.retry_schedule = vec![300]).await;
    let rx = Receiver::start().await;
    rx.script_with_headers(429, &[("Retry-After", "2")]);
    let a = app.create_app("acme").await;
    app.create_endpoint(&a, json!({"url": rx.url("/hook"), "retrySchedule": [1, 5]}))
        .await;
    let msg = app
        .publish(&a, json!({"eventType": "x.y", "payload": {"k": 1}}))
        .await;
    let id = msg["id"].as_str().unwrap();
    let got = rx.wait_for(2, WAIT).await;
    let gap = got[1].at - got[0].at;
    // The schedule alone would retry after about 1 s. 100 ms of slack for clock granularity.
    assert!(
        gap >= Duration::from_millis(1900),
        "the second try came {gap:?} after the first, sooner than Retry-After: 2"
    );
    eventually("the retry to succeed", WAIT, || async {
        (delivery_status(&app, &a, id).await == "success").then_some(())
    })
    .await;
    let attempts = app.attempts(&a, id).await;
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[1]["responseStatusCode"], 429);
    assert_eq!(attempts[0]["responseStatusCode"], 200);
}

async fn retry_after_on_503_is_capped_by_the_schedule() {
    let app = spawn_app_with(|c| c.retry_schedule = vec![300]).await;
    let rx = Receiver::start().await;
    rx.script_with_headers(503, &[("Retry-After", "3600")]);
    let a = app.create_app("acme").await;
    app.create_endpoint(&a, json!({"url": rx.url("/hook"), "retrySchedule": [1, 2]}))
        .await;
    let msg = app
        .publish(&a, json!({"eventType": "x.y", "payload": {"k": 1}}))
        .await;
    let id = msg["id"].as_str().unwrap();
    // An hour is capped at the schedule's largest gap, 2 s: honoured that far, no further.
    let got = rx.wait_for(2, WAIT).await;
    let gap = got[1].at - got[0].at;
    assert!(
        gap >= Duration::from_millis(1900),
        "Retry-After honoured up to the cap, got {gap:?}"
    );
    eventually("the retry to succeed", WAIT, || async {
        (delivery_status(&app, &a, id).await == "success").then_some(())
    })
    .await;
}

async fn gone_disables_the_endpoint_at_once() {
    let app = spawn_app().await; // schedule [1, 1]
    let rx = Receiver::start().await;
    rx.script(&[410]);
    let a = app.create_app("acme").await;
    let (ep, _) = app
        .create_endpoint(&a, json!({"url": rx.url("/hook")}))
        .await;
    let msg = app
        .publish(&a, json!({"eventType": "x.y", "payload": {"k": 1}}))
        .await;
    let id = msg["id"].as_str().unwrap();
    rx.wait_for(1, WAIT).await;
    let out = eventually("the endpoint to be disabled", WAIT, || async {
        let e = get_endpoint(&app, &a, &ep).await;
        (e["disabled"] == true).then_some(e)
    })
    .await;
    let reason = out["disabledReason"].as_str().unwrap_or("");
    assert!(!reason.is_empty(), "a disabledReason is given: {out}");
    let attempts = app.wait_attempts(&a, id, 1).await;
    assert_eq!(attempts[0]["responseStatusCode"], 410);
    assert_eq!(attempts[0]["status"], 2);

    // No retry (the schedule would have retried after 1 s), and nothing new is sent.
    app.publish(&a, json!({"eventType": "x.y", "payload": {"k": 2}}))
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(rx.received().len(), 1, "nothing after the 410");
    assert_eq!(app.attempts(&a, id).await.len(), 1);
}

async fn a_redirect_is_a_failure_and_is_not_followed() {
    let app = spawn_app().await; // schedule [1, 1]
    let rx = Receiver::start().await;
    let elsewhere = rx.url("/elsewhere");
    rx.script_with_headers(302, &[("Location", elsewhere.as_str())]);
    let a = app.create_app("acme").await;
    app.create_endpoint(&a, json!({"url": rx.url("/hook")}))
        .await;
    let msg = app
        .publish(&a, json!({"eventType": "x.y", "payload": {"k": 1}}))
        .await;
    let id = msg["id"].as_str().unwrap();
    let attempts = app.wait_attempts(&a, id, 2).await;
    // Newest first.
    assert_eq!(attempts[1]["responseStatusCode"], 302);
    assert_eq!(attempts[1]["status"], 2);
    assert_eq!(attempts[0]["responseStatusCode"], 200);
    assert_eq!(attempts[0]["status"], 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = rx.received();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got.iter().all(|r| r.path == "/hook" && r.method == "POST"),
        "the Location was not followed: {got:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Validation and round trip of the options.

async fn endpoint_options_are_validated() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let a = app.create_app("acme").await;
    let path = format!("/app/{a}/endpoint");
    let url = rx.url("/hook");

    for bad in [500, 999, 30_001] {
        let (s, b) = app.post(&path, json!({"url": url, "timeoutMs": bad})).await;
        assert_eq!(s, 422, "timeoutMs {bad}: {b}");
        assert!(has_loc(&b, json!(["body", "timeoutMs"])), "{b}");
    }
    let (s, b) = app
        .post(&path, json!({"url": url, "retrySchedule": vec![1; 21]}))
        .await;
    assert_eq!(s, 422, "{b}");
    assert!(has_loc_prefix(&b, &["body", "retrySchedule"]), "{b}");
    let (s, b) = app.post(&path, json!({"url": url, "format": "xml"})).await;
    assert_eq!(s, 422, "{b}");
    assert!(has_loc(&b, json!(["body", "format"])), "{b}");

    // The bounds themselves are fine.
    for ok in [1000, 30_000] {
        let (s, b) = app.post(&path, json!({"url": url, "timeoutMs": ok})).await;
        assert_eq!(s, 201, "timeoutMs {ok}: {b}");
    }
    let (s, b) = app
        .post(&path, json!({"url": url, "retrySchedule": vec![1; 20]}))
        .await;
    assert_eq!(s, 201, "{b}");
    let ep = b["id"].as_str().unwrap().to_string();

    // Updates are checked too.
    let (s, b) = app
        .req(
            reqwest::Method::PATCH,
            &format!("{path}/{ep}"),
            Some(json!({"timeoutMs": 500})),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert!(has_loc(&b, json!(["body", "timeoutMs"])), "{b}");
    let (s, b) = app
        .req(
            reqwest::Method::PUT,
            &format!("{path}/{ep}"),
            Some(json!({"url": url, "format": "xml"})),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert!(has_loc(&b, json!(["body", "format"])), "{b}");
}

async fn endpoint_options_round_trip() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let a = app.create_app("acme").await;
    let path = format!("/app/{a}/endpoint");

    let plain = create_endpoint_only(&app, &a, json!({"url": rx.url("/plain")})).await;
    assert_eq!(
        get_endpoint(&app, &a, &plain).await["format"],
        "standard",
        "the default format"
    );

    let (s, created) = app
        .post(
            &path,
            json!({
                "url": rx.url("/hook"),
                "format": "hmac-header",
                "secret": "s3cret",
                "signatureHeader": "X-Hub-Signature-256",
                "signaturePrefix": "sha256=",
                "timeoutMs": 2000,
                "retrySchedule": [1, 60, 300],
                "userAgent": "Acme-Hooks/2",
            }),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let ep = created["id"].as_str().unwrap().to_string();
    for out in [created, get_endpoint(&app, &a, &ep).await] {
        assert_eq!(out["format"], "hmac-header", "{out}");
        assert_eq!(out["signatureHeader"], "X-Hub-Signature-256");
        assert_eq!(out["signaturePrefix"], "sha256=");
        assert_eq!(out["timeoutMs"], 2000);
        assert_eq!(out["retrySchedule"], json!([1, 60, 300]));
        assert_eq!(out["userAgent"], "Acme-Hooks/2");
    }

    let (s, b) = app
        .req(
            reqwest::Method::PATCH,
            &format!("{path}/{ep}"),
            Some(json!({"timeoutMs": 3000})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let out = get_endpoint(&app, &a, &ep).await;
    assert_eq!(out["timeoutMs"], 3000);
    assert_eq!(out["format"], "hmac-header", "PATCH keeps what it omits");
    assert_eq!(out["userAgent"], "Acme-Hooks/2");
    assert_eq!(out["retrySchedule"], json!([1, 60, 300]));

    let (s, b) = app
        .req(
            reqwest::Method::PUT,
            &format!("{path}/{ep}"),
            Some(json!({"url": rx.url("/hook"), "format": "envelope", "timeoutMs": 5000})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let out = get_endpoint(&app, &a, &ep).await;
    assert_eq!(out["format"], "envelope");
    assert_eq!(out["timeoutMs"], 5000);

    // The endpoint now delivers envelopes signed with the same UTF-8 secret.
    app.publish(&a, json!({"eventType": "x.y", "payload": {"n": 1}}))
        .await;
    let got = rx.wait_for(2, WAIT).await;
    let r = by_path(&got, "/hook")[0];
    let body = r.json();
    let p = body["payload"].as_str().unwrap();
    assert_eq!(serde_json::from_str::<Value>(p).unwrap(), json!({"n": 1}));
    assert!(treble_verify(
        p,
        body["signature"].as_str().unwrap(),
        "s3cret"
    ));
}

backend_tests!(
    envelope_format_verifies_like_the_treble_sdk,
    payload_string_format_verifies_like_speckle,
    hmac_header_format_verifies_like_sematryx,
    hmac_header_format_verifies_like_github,
    ed25519_signatures_verify_with_the_public_key_alone,
    per_endpoint_retry_schedule_overrides_the_server_default,
    per_endpoint_timeout_cuts_a_slow_receiver_short,
    per_endpoint_user_agent_is_sent,
    retry_after_on_429_is_honoured,
    retry_after_on_503_is_capped_by_the_schedule,
    gone_disables_the_endpoint_at_once,
    a_redirect_is_a_failure_and_is_not_followed,
    endpoint_options_are_validated,
    endpoint_options_round_trip,
);
