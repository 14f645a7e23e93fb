//! Retention: payloads expire after `--payload-retention` (or the message's own period) and are
//! gone from the database while the message stays, reported `expunged`; attempts and their
//! response bodies go after `--attempt-retention`; erasure on request expunges an
//! application's payloads, or those of its messages with a tag, and says how many.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;

async fn message(app: &TestApp, app_id: &str, msg: &str) -> Value {
    let (s, m) = app.get(&format!("/app/{app_id}/msg/{msg}")).await;
    assert_eq!(s, 200, "{m}");
    m
}

async fn payloads_and_attempts_expire_after_their_retention() {
    let app = spawn_app_with(|c| {
        c.payload_retention = Duration::from_secs(2);
        c.attempt_retention = Duration::from_secs(4);
    })
    .await;
    let rx = Receiver::start().await;
    rx.set_body("response-marker-7f3");
    let app_id = app.create_app("retained").await;
    app.create_endpoint(&app_id, json!({"url": rx.url("/r")}))
        .await;
    // Out of range: Svix's 5 to 90 days, 1 to 2160 hours.
    for bad in [
        json!({"payloadRetentionPeriod": 4}),
        json!({"payloadRetentionHours": 0}),
        json!({"payloadRetentionPeriod": 5, "payloadRetentionHours": 1}),
    ] {
        let mut body = json!({"eventType": "t.x", "payload": {}});
        body.as_object_mut()
            .unwrap()
            .extend(bad.as_object().unwrap().clone());
        let (s, b) = app.post(&format!("/app/{app_id}/msg"), body).await;
        assert_eq!(s, 422, "{b}");
    }
    let short = app
        .publish(
            &app_id,
            json!({"eventType": "t.x", "payload": {"who": "short-lived-marker-1"}}),
        )
        .await;
    let kept = app
        .publish(
            &app_id,
            json!({"eventType": "t.x", "payload": {"who": "kept-marker-2"},
                   "payloadRetentionHours": 1}),
        )
        .await;
    let (short, kept) = (
        short["id"].as_str().unwrap().to_string(),
        kept["id"].as_str().unwrap().to_string(),
    );
    assert_eq!(short.len(), kept.len());
    rx.wait_for(2, Duration::from_secs(15)).await;
    assert_eq!(message(&app, &app_id, &short).await["expunged"], false);
    assert_eq!(app.wait_attempts(&app_id, &short, 1).await.len(), 1);

    // The short-lived payload goes; the message stays, reported expunged.
    let m = eventually("the payload expired", Duration::from_secs(15), || async {
        let m = message(&app, &app_id, &short).await;
        (m["expunged"] == true).then_some(m)
    })
    .await;
    assert_eq!(m["payload"], json!({}));
    assert_eq!(m["eventType"], "t.x");
    let k = message(&app, &app_id, &kept).await;
    assert_eq!(k["expunged"], false);
    assert_eq!(k["payload"]["who"], "kept-marker-2");
    let rows = app.dump("messages").await;
    assert!(!rows.contains("short-lived-marker-1"), "{rows}");
    assert!(rows.contains("kept-marker-2"));
    assert!(rows.contains(&short), "the message row stays");

    // Attempts, response bodies and all, go after theirs.
    assert!(app.dump("attempts").await.contains("response-marker-7f3"));
    eventually("the attempts deleted", Duration::from_secs(15), || async {
        (app.attempts(&app_id, &kept).await.is_empty()
            && app.attempts(&app_id, &short).await.is_empty())
        .then_some(())
    })
    .await;
    assert!(!app.dump("attempts").await.contains("response-marker-7f3"));
}

/// An application's own retention applies to its messages that name none; a message's own
/// wins over it.
async fn an_applications_retention_applies_to_its_messages() {
    let app = spawn_app().await;
    let (s, a) = app
        .post("/app", json!({"name": "short", "payloadRetentionHours": 1}))
        .await;
    assert_eq!(s, 201, "{a}");
    assert_eq!(a["payloadRetentionHours"], 1);
    let app_id = a["id"].as_str().unwrap().to_string();
    let (s, b) = app
        .post("/app", json!({"name": "bad", "payloadRetentionPeriod": 91}))
        .await;
    assert_eq!(s, 422, "{b}");
    let own = app
        .publish(&app_id, json!({"eventType": "t.x", "payload": {}}))
        .await;
    let long = app
        .publish(
            &app_id,
            json!({"eventType": "t.x", "payload": {}, "payloadRetentionPeriod": 30}),
        )
        .await;
    // Made an hour and 30 days after publishing: read straight from the database.
    let rows = app.dump("messages").await;
    let expiry = |id: &str| -> i64 {
        let line = rows
            .lines()
            .find(|l| l.contains(id))
            .unwrap_or_else(|| panic!("{id} in {rows}"));
        let created = herald::clock::now_ms();
        // The last integer column is expires_at; created_at is within a minute of now.
        line.split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse::<i64>().ok())
            .filter(|n| *n > created - 60_000)
            .max()
            .unwrap()
            - created
    };
    let hour = 3_600_000;
    let own_left = expiry(own["id"].as_str().unwrap());
    assert!((hour - 60_000..=hour).contains(&own_left), "{own_left}");
    let long_left = expiry(long["id"].as_str().unwrap());
    assert!(long_left > 29 * 24 * hour, "{long_left}");
    // PATCH changes it; null goes back to the node's default (90 days).
    let (s, b) = app
        .req(
            reqwest::Method::PATCH,
            &format!("/app/{app_id}"),
            Some(json!({"payloadRetentionHours": null})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert!(b.get("payloadRetentionHours").is_none(), "{b}");
}

async fn erasure_expunges_an_applications_payloads_or_a_tags() {
    let app = spawn_app().await;
    let app_id = app.create_app("gdpr").await;
    let mut ids = Vec::new();
    for (i, tags) in [
        json!(["user-1"]),
        json!(["user-1", "x"]),
        json!(["user-2"]),
        json!(["x", "user-1"]),
        json!(null),
    ]
    .into_iter()
    .enumerate()
    {
        let m = app
            .publish(
                &app_id,
                json!({"eventType": "t.x", "payload": {"n": format!("erase-marker-{i}")}, "tags": tags}),
            )
            .await;
        ids.push(m["id"].as_str().unwrap().to_string());
    }
    let other = app.create_app("other").await;
    let untouched = app
        .publish(
            &other,
            json!({"eventType": "t.x", "payload": {"n": "other-marker"}, "tags": ["user-1"]}),
        )
        .await;
    let path = format!("/app/{app_id}/erasure");
    let erase = |tag: Value| {
        let body = if tag.is_null() {
            json!({})
        } else {
            json!({ "tag": tag })
        };
        app.post(&path, body)
    };
    let (s, b) = erase(json!("user-1")).await;
    assert_eq!((s, &b), (200, &json!({"expunged": 3})));
    for (i, id) in ids.iter().enumerate() {
        let expected = [0, 1, 3].contains(&i);
        assert_eq!(
            message(&app, &app_id, id).await["expunged"],
            expected,
            "{i}"
        );
    }
    let rows = app.dump("messages").await;
    for i in [0, 1, 3] {
        assert!(!rows.contains(&format!("erase-marker-{i}")));
    }
    assert!(rows.contains("erase-marker-2") && rows.contains("other-marker"));
    assert_eq!(erase(json!("user-1")).await.1, json!({"expunged": 0}));
    assert_eq!(erase(Value::Null).await.1, json!({"expunged": 2}));
    assert!(!app.dump("messages").await.contains("erase-marker"));
    let other_msg = message(&app, &other, untouched["id"].as_str().unwrap()).await;
    assert_eq!(other_msg["expunged"], false);
    // Another application's token sees no such application.
    let token = app.app_token(&other).await;
    let (s, _) = app
        .req_as(
            &token,
            reqwest::Method::POST,
            &format!("/app/{app_id}/erasure"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 404);
    let (s, b) = erase(json!("")).await;
    assert_eq!(s, 422, "{b}");
}

backend_tests!(
    payloads_and_attempts_expire_after_their_retention,
    an_applications_retention_applies_to_its_messages,
    erasure_expunges_an_applications_payloads_or_a_tags,
);
