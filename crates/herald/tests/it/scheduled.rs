//! Scheduled messages (`deliverAt`) and payload schemas.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;

/// An RFC 3339 time `ms` from now.
fn in_ms(ms: i64) -> String {
    herald::clock::rfc3339(herald::clock::now_ms() + ms)
}

async fn a_scheduled_message_waits_as_pending_and_arrives_on_time() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let a = app.create_app("later").await;
    app.create_endpoint(&a, json!({"url": rx.url("/hook")}))
        .await;
    let published = Instant::now();
    let m = app
        .publish(
            &a,
            json!({"eventType": "s.x", "payload": {"n": 1}, "deliverAt": in_ms(3000)}),
        )
        .await;
    let id = m["id"].as_str().unwrap();
    // Stored at once, listed as pending, not sent.
    let (s, eps) = app.get(&format!("/app/{a}/msg/{id}/endpoint")).await;
    assert_eq!(s, 200);
    assert_eq!(eps["data"][0]["status"], 1, "{eps}");
    assert!(eps["data"][0]["nextAttempt"].is_string(), "{eps}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(rx.received().len(), 0, "not before its time");
    let got = rx.wait_for(1, Duration::from_secs(10)).await;
    let after = got[0].at.duration_since(published);
    assert!(
        after >= Duration::from_millis(2950) && after < Duration::from_secs(5),
        "delivered {after:?} after publishing, for 3 s"
    );
}

async fn expunging_a_scheduled_message_cancels_it() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let a = app.create_app("cancel").await;
    app.create_endpoint(&a, json!({"url": rx.url("/hook")}))
        .await;
    let m = app
        .publish(
            &a,
            json!({"eventType": "s.x", "payload": {"n": 1}, "deliverAt": in_ms(1500)}),
        )
        .await;
    let id = m["id"].as_str().unwrap();
    let (s, _) = app
        .req(
            reqwest::Method::DELETE,
            &format!("/app/{a}/msg/{id}/content"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, eps) = app
        .get(&format!(
            "/app/{a}/msg/{id}/endpoint?expanded_statuses=true"
        ))
        .await;
    assert_eq!(s, 200);
    assert_eq!(eps["data"][0]["status"], 4, "canceled: {eps}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(rx.received().len(), 0, "never sent");
    assert!(app.attempts(&a, id).await.is_empty());
}

async fn deliver_at_is_checked() {
    let app = spawn_app().await;
    let a = app.create_app("bad").await;
    for (at, what) in [
        (in_ms(31 * 24 * 3600 * 1000), "30 days"),
        ("tomorrow".to_string(), "RFC 3339"),
    ] {
        let (s, b) = app
            .post(
                &format!("/app/{a}/msg"),
                json!({"eventType": "s.x", "payload": {}, "deliverAt": at}),
            )
            .await;
        assert_eq!(s, 422, "{b}");
        assert_eq!(b["detail"][0]["loc"], json!(["body", "deliverAt"]));
        assert!(
            b["detail"][0]["msg"].as_str().unwrap().contains(what),
            "{b}"
        );
    }
    // In the past: sent now.
    let (s, _) = app
        .post(
            &format!("/app/{a}/msg"),
            json!({"eventType": "s.x", "payload": {}, "deliverAt": in_ms(-60_000)}),
        )
        .await;
    assert_eq!(s, 202);
}

const SCHEMA: &str = r#"{"1": {"type": "object"}, "2": {
    "type": "object", "required": ["items"],
    "properties": {"items": {"type": "array", "items": {
        "type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}}}}}"#;

async fn a_payload_that_violates_its_schema_is_a_422_naming_the_path() {
    let app = spawn_app().await;
    let schemas: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
    let (s, et) = app
        .post(
            "/event-type",
            json!({"name": "order.placed", "description": "x", "schemas": schemas,
                   "validatePayloads": true}),
        )
        .await;
    assert_eq!(s, 201, "{et}");
    assert_eq!(et["validatePayloads"], true);
    // Another type with the same schema, not checked (no --validate-payloads).
    let (s, _) = app
        .post(
            "/event-type",
            json!({"name": "order.loose", "description": "x", "schemas": schemas}),
        )
        .await;
    assert_eq!(s, 201);
    let a = app.create_app("shop").await;
    let bad = json!({"items": [{"id": 1}, {"id": "two"}]});
    let (s, b) = app
        .post(
            &format!("/app/{a}/msg"),
            json!({"eventType": "order.placed", "payload": bad}),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(
        b["detail"][0]["loc"],
        json!(["body", "payload", "items", "1", "id"])
    );
    assert!(
        b["detail"][0]["msg"]
            .as_str()
            .unwrap()
            .contains("/items/1/id")
    );
    let (s, b) = app
        .post(
            &format!("/app/{a}/msg"),
            json!({"eventType": "order.placed", "payload": {}}),
        )
        .await;
    assert_eq!(s, 422, "the latest version (2) requires items: {b}");
    let ok = json!({"items": [{"id": 1}]});
    for et in ["order.placed", "order.loose"] {
        let (s, b) = app
            .post(
                &format!("/app/{a}/msg"),
                json!({"eventType": et, "payload": ok}),
            )
            .await;
        assert_eq!(s, 202, "{b}");
    }
    let (s, _) = app
        .post(
            &format!("/app/{a}/msg"),
            json!({"eventType": "order.loose", "payload": bad}),
        )
        .await;
    assert_eq!(s, 202, "a type without validatePayloads is not checked");
    // A schema that does not compile is refused at once.
    let (s, b) = app
        .post(
            "/event-type",
            json!({"name": "bad.schema", "description": "x",
                   "schemas": {"1": {"type": "nonsense"}}}),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["detail"][0]["loc"], json!(["body", "schemas"]));
}

async fn validate_payloads_checks_every_type_with_a_schema() {
    let app = spawn_app_with(|c| c.validate_payloads = true).await;
    let schemas: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
    let (s, _) = app
        .post(
            "/event-type",
            json!({"name": "order.placed", "description": "x", "schemas": schemas}),
        )
        .await;
    assert_eq!(s, 201);
    let a = app.create_app("strict").await;
    let (s, b) = app
        .post(
            &format!("/app/{a}/msg"),
            json!({"eventType": "order.placed", "payload": {"items": [{}]}}),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(
        b["detail"][0]["loc"],
        json!(["body", "payload", "items", "0"])
    );
    // Types without a schema, or unknown, publish as before.
    let (s, _) = app
        .post(
            &format!("/app/{a}/msg"),
            json!({"eventType": "no.schema", "payload": {"x": 1}}),
        )
        .await;
    assert_eq!(s, 202);
}

backend_tests!(
    a_scheduled_message_waits_as_pending_and_arrives_on_time,
    expunging_a_scheduled_message_cancels_it,
    deliver_at_is_checked,
    a_payload_that_violates_its_schema_is_a_422_naming_the_path,
    validate_payloads_checks_every_type_with_a_schema,
);
