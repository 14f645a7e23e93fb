//! The webhook loop: publish, sign, deliver, retry, fail, recover, resend.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(15);

async fn delivers_signed_payload_bytes_exactly() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let a = app.create_app("acme").await;
    let (ep, secret) = app
        .create_endpoint(
            &a,
            json!({"url": rx.url("/hook"), "headers": {"X-Custom": "yes"}}),
        )
        .await;
    // Odd spacing and key order must survive: the signature covers the bytes as published.
    let raw = r#"{"eventType":"user.created","payload":{ "b" : 1,"a":[1, 2.50, "é"] }}"#;
    let resp = app
        .client
        .post(app.url(&format!("/app/{a}/msg")))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let msg: serde_json::Value = resp.json().await.unwrap();
    let got = rx.wait_for(1, WAIT).await;
    let r = &got[0];
    assert_eq!(&r.body[..], r#"{ "b" : 1,"a":[1, 2.50, "é"] }"#.as_bytes());
    assert!(
        verify_standard(&secret, r),
        "signature verifies independently"
    );
    assert!(
        !verify_standard("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", r),
        "a wrong secret does not"
    );
    assert_eq!(r.header("webhook-id"), msg["id"].as_str().unwrap());
    assert_eq!(r.header("svix-id"), r.header("webhook-id"));
    assert_eq!(r.header("svix-signature"), r.header("webhook-signature"));
    assert_eq!(r.header("content-type"), "application/json");
    assert!(r.header("user-agent").starts_with("Herald-Webhooks/"));
    assert_eq!(r.header("x-custom"), "yes");
    let ts: i64 = r.header("webhook-timestamp").parse().unwrap();
    assert!((ts - chrono::Utc::now().timestamp()).abs() < 30);

    let id = msg["id"].as_str().unwrap();
    let attempts = app.wait_attempts(&a, id, 1).await;
    assert_eq!(attempts[0]["status"], 0);
    assert_eq!(attempts[0]["responseStatusCode"], 200);
    assert_eq!(attempts[0]["endpointId"], ep.as_str());
    assert_eq!(attempts[0]["response"], "ok");
    assert_eq!(attempts[0]["triggerType"], 0);
}

async fn filters_by_event_type_and_channel() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let a = app.create_app("acme").await;
    app.create_endpoint(
        &a,
        json!({"url": rx.url("/types"), "eventTypes": ["invoice.paid"]}),
    )
    .await;
    app.create_endpoint(&a, json!({"url": rx.url("/channels"), "channels": ["eu"]}))
        .await;
    app.create_endpoint(&a, json!({"url": rx.url("/all")}))
        .await;

    app.publish(
        &a,
        json!({"eventType": "invoice.paid", "payload": {"n": 1}}),
    )
    .await;
    app.publish(
        &a,
        json!({"eventType": "invoice.void", "payload": {"n": 2}, "channels": ["eu"]}),
    )
    .await;
    app.publish(
        &a,
        json!({"eventType": "invoice.void", "payload": {"n": 3}, "channels": ["us"]}),
    )
    .await;

    let got = rx.wait_for(5, WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_after = rx.received();
    assert_eq!(got.len(), got_after.len(), "no extra deliveries");
    let ns = |path: &str| {
        let mut v: Vec<i64> = got_after
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.json()["n"].as_i64().unwrap())
            .collect();
        v.sort();
        v
    };
    assert_eq!(ns("/types"), vec![1]);
    assert_eq!(ns("/channels"), vec![2]);
    assert_eq!(ns("/all"), vec![1, 2, 3]);
}

async fn retries_after_a_500_then_succeeds() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    rx.script(&[500]);
    let a = app.create_app("acme").await;
    let (ep, secret) = app
        .create_endpoint(&a, json!({"url": rx.url("/hook")}))
        .await;
    let msg = app
        .publish(&a, json!({"eventType": "x.y", "payload": {"k": "v"}}))
        .await;
    let got = rx.wait_for(2, WAIT).await;
    assert!(got.iter().all(|r| verify_standard(&secret, r)));
    assert_eq!(
        got[0].header("webhook-id"),
        got[1].header("webhook-id"),
        "stable id across retries"
    );
    let id = msg["id"].as_str().unwrap();
    let attempts = app.wait_attempts(&a, id, 2).await;
    assert_eq!(attempts.len(), 2);
    // Newest first.
    assert_eq!(attempts[0]["responseStatusCode"], 200);
    assert_eq!(attempts[0]["status"], 0);
    assert_eq!(attempts[1]["responseStatusCode"], 500);
    assert_eq!(attempts[1]["status"], 2);
    let (_, stats) = app.get(&format!("/app/{a}/endpoint/{ep}/stats")).await;
    assert_eq!(stats["success"], 1);
    assert_eq!(stats["fail"], 0);
}

async fn exhausted_schedule_fails_then_recover_redelivers() {
    let app = spawn_app().await; // schedule [1, 1]: three tries
    let rx = Receiver::start().await;
    rx.script(&[500, 502, 503]);
    let a = app.create_app("acme").await;
    let (ep, _) = app
        .create_endpoint(&a, json!({"url": rx.url("/hook")}))
        .await;
    let since = chrono::Utc::now() - chrono::Duration::minutes(1);
    let msg = app
        .publish(&a, json!({"eventType": "x.y", "payload": {"k": 1}}))
        .await;
    let id = msg["id"].as_str().unwrap();
    rx.wait_for(3, WAIT).await;
    let delivery_state = |app: &TestApp, a: String, id: String| {
        let app_base = app.base.clone();
        async move {
            let c = client();
            let v: serde_json::Value = c
                .get(format!("{app_base}/api/v1/app/{a}/msg/{id}/endpoint"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["data"][0]["statusText"]
                .as_str()
                .unwrap_or("")
                .to_string()
        }
    };
    eventually("the delivery to be marked failed", WAIT, || async {
        (delivery_state(&app, a.clone(), id.to_string()).await == "fail").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        rx.received().len(),
        3,
        "no fourth try after the schedule is exhausted"
    );
    assert_eq!(app.attempts(&a, id).await.len(), 3);
    let (_, stats) = app.get(&format!("/app/{a}/endpoint/{ep}/stats")).await;
    assert_eq!(stats["fail"], 1);

    let (s, body) = app
        .post(
            &format!("/app/{a}/endpoint/{ep}/recover"),
            json!({"since": since.to_rfc3339()}),
        )
        .await;
    assert_eq!(s, 202, "{body}");
    assert!(body["id"].as_str().unwrap().starts_with("qtask_"));
    let got = rx.wait_for(4, WAIT).await;
    assert_eq!(got[3].header("webhook-id"), id);
    eventually("the recovered delivery to succeed", WAIT, || async {
        (delivery_state(&app, a.clone(), id.to_string()).await == "success").then_some(())
    })
    .await;
    let attempts = app.attempts(&a, id).await;
    assert_eq!(attempts.len(), 4);
    assert_eq!(
        attempts[0]["triggerType"], 1,
        "recovery is a manual trigger"
    );
}

async fn resend_makes_a_manual_attempt() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let a = app.create_app("acme").await;
    let (ep, secret) = app
        .create_endpoint(&a, json!({"url": rx.url("/hook")}))
        .await;
    let msg = app
        .publish(&a, json!({"eventType": "x.y", "payload": {"k": 1}}))
        .await;
    let id = msg["id"].as_str().unwrap();
    rx.wait_for(1, WAIT).await;
    let (s, body) = app
        .post(
            &format!("/app/{a}/msg/{id}/endpoint/{ep}/resend"),
            json!(null),
        )
        .await;
    assert_eq!(s, 202, "{body}");
    assert_eq!(body, json!({}));
    let got = rx.wait_for(2, WAIT).await;
    assert_eq!(got[1].body, got[0].body);
    assert!(verify_standard(&secret, &got[1]));
    let attempts = app.wait_attempts(&a, id, 2).await;
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["triggerType"], 1);
    assert_eq!(attempts[1]["triggerType"], 0);
    let (s, one) = app
        .get(&format!(
            "/app/{a}/msg/{id}/attempt/{}",
            attempts[0]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, 200);
    assert_eq!(one["id"], attempts[0]["id"]);
}

async fn disabled_endpoint_keeps_messages_for_replay() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let a = app.create_app("acme").await;
    let (ep, _) = app
        .create_endpoint(&a, json!({"url": rx.url("/hook"), "disabled": true}))
        .await;
    let since = chrono::Utc::now() - chrono::Duration::minutes(1);
    let msg = app
        .publish(&a, json!({"eventType": "x.y", "payload": {"k": 1}}))
        .await;
    let id = msg["id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        rx.received().is_empty(),
        "nothing is sent to a disabled endpoint"
    );
    // It is listed for the endpoint, not dropped.
    let (_, listed) = app.get(&format!("/app/{a}/endpoint/{ep}/msg")).await;
    assert_eq!(listed["data"][0]["id"], id);
    assert_eq!(listed["data"][0]["statusText"], "fail");
    let (_, listed) = app
        .get(&format!(
            "/app/{a}/endpoint/{ep}/msg?expanded_statuses=true"
        ))
        .await;
    assert_eq!(listed["data"][0]["statusText"], "canceled");
    let (_, stats) = app.get(&format!("/app/{a}/endpoint/{ep}/stats")).await;
    assert_eq!(stats["canceled"], 1);

    let (s, _) = app
        .req(
            reqwest::Method::PATCH,
            &format!("/app/{a}/endpoint/{ep}"),
            Some(json!({"disabled": false})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .post(
            &format!("/app/{a}/endpoint/{ep}/replay-missing"),
            json!({"since": since.to_rfc3339()}),
        )
        .await;
    assert_eq!(s, 202);
    let got = rx.wait_for(1, WAIT).await;
    assert_eq!(got[0].header("webhook-id"), id);
}

async fn endpoint_changes_apply_to_the_next_delivery() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let a = app.create_app("acme").await;
    let (ep, old_secret) = app
        .create_endpoint(&a, json!({"url": rx.url("/one")}))
        .await;
    app.publish(&a, json!({"eventType": "x.y", "payload": {"n": 1}}))
        .await;
    rx.wait_for(1, WAIT).await;

    let (s, _) = app
        .req(
            reqwest::Method::PATCH,
            &format!("/app/{a}/endpoint/{ep}"),
            Some(json!({"url": rx.url("/two")})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .req(
            reqwest::Method::PUT,
            &format!("/app/{a}/endpoint/{ep}/headers"),
            Some(json!({"headers": {"X-Tenant": "t1"}})),
        )
        .await;
    assert_eq!(s, 204);
    let (s, rotated) = app
        .post(&format!("/app/{a}/endpoint/{ep}/secret/rotate"), json!({}))
        .await;
    assert_eq!(s, 200, "{rotated}");
    let new_secret = rotated["key"].as_str().unwrap().to_string();
    assert_ne!(new_secret, old_secret);
    let (_, sec) = app.get(&format!("/app/{a}/endpoint/{ep}/secret")).await;
    assert_eq!(sec["key"], new_secret.as_str());

    app.publish(&a, json!({"eventType": "x.y", "payload": {"n": 2}}))
        .await;
    let got = rx.wait_for(2, WAIT).await;
    let r = &got[1];
    assert_eq!(r.path, "/two");
    assert_eq!(r.header("x-tenant"), "t1");
    assert!(
        verify_standard(&new_secret, r),
        "signed with the new secret"
    );
    assert!(
        verify_standard(&old_secret, r),
        "and with the old one during the grace period"
    );
    assert_eq!(r.header("webhook-signature").split(' ').count(), 2);

    // A filter change applies at once too.
    let (s, _) = app
        .req(
            reqwest::Method::PATCH,
            &format!("/app/{a}/endpoint/{ep}"),
            Some(json!({"eventTypes": ["only.this"]})),
        )
        .await;
    assert_eq!(s, 200);
    app.publish(&a, json!({"eventType": "x.y", "payload": {"n": 3}}))
        .await;
    app.publish(&a, json!({"eventType": "only.this", "payload": {"n": 4}}))
        .await;
    let got = rx.wait_for(3, WAIT).await;
    assert_eq!(got[2].json()["n"], 4);
}

async fn ssrf_guard_blocks_private_targets_without_allow_list() {
    let app = spawn_app_with(|c| c.allow_targets.clear()).await;
    let rx = Receiver::start().await;
    let a = app.create_app("acme").await;
    // A literal private address is refused when the endpoint is created...
    let (s, b) = app
        .post(
            &format!("/app/{a}/endpoint"),
            json!({"url": rx.url("/hook")}),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["detail"][0]["loc"], json!(["body", "url"]));
    // ...and a name that resolves to one is refused where the sender connects.
    let url = format!("http://localhost:{}/hook", rx.addr.port());
    let (ep, _) = app.create_endpoint(&a, json!({"url": url})).await;
    let msg = app
        .publish(&a, json!({"eventType": "x.y", "payload": {}}))
        .await;
    let id = msg["id"].as_str().unwrap();
    let attempts = app.wait_attempts(&a, id, 1).await;
    assert_eq!(attempts[0]["status"], 2);
    assert_eq!(attempts[0]["responseStatusCode"], 0);
    assert_eq!(attempts[0]["endpointId"], ep.as_str());
    assert!(
        rx.received().is_empty(),
        "nothing reached the private address"
    );
}

async fn a_hanging_endpoint_does_not_hold_up_others() {
    let app = spawn_app_with(|c| c.request_timeout_ms = 6000).await;
    let slow = Receiver::start().await;
    slow.set_delay(Duration::from_secs(10));
    let fast = Receiver::start().await;
    let a = app.create_app("slow").await;
    let b = app.create_app("fast").await;
    app.create_endpoint(&a, json!({"url": slow.url("/hook")}))
        .await;
    app.create_endpoint(&b, json!({"url": fast.url("/hook")}))
        .await;
    for i in 0..50 {
        app.publish(&a, json!({"eventType": "x.y", "payload": {"i": i}}))
            .await;
    }
    for i in 0..20 {
        app.publish(&b, json!({"eventType": "x.y", "payload": {"i": i}}))
            .await;
    }
    // Well before the slow endpoint's timeout, the fast one has everything.
    fast.wait_for(20, Duration::from_secs(4)).await;
}

/// An endpoint that hangs long enough to be found stalled (every slot busy, nothing answered
/// for a second) has its queued work put back and parked; once it answers again, every message
/// arrives, each retried as the schedule says.
async fn a_stalled_endpoint_gets_everything_once_it_recovers() {
    let app = spawn_app_with(|c| {
        c.request_timeout_ms = 1500;
        c.max_in_flight_per_endpoint = 2;
        c.retry_schedule = vec![1, 1, 1, 1, 1, 1];
    })
    .await;
    let rx = Receiver::start().await;
    rx.set_delay(Duration::from_secs(10));
    let a = app.create_app("stall").await;
    app.create_endpoint(&a, json!({"url": rx.url("/hook")}))
        .await;
    let mut ids = Vec::new();
    for i in 0..20 {
        let m = app
            .publish(&a, json!({"eventType": "x.y", "payload": {"i": i}}))
            .await;
        ids.push(m["id"].as_str().unwrap().to_string());
    }
    // Long enough to be found stalled and have its queue parked.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // More messages while it is stalled are stored parked.
    for i in 20..30 {
        let m = app
            .publish(&a, json!({"eventType": "x.y", "payload": {"i": i}}))
            .await;
        ids.push(m["id"].as_str().unwrap().to_string());
    }
    rx.set_delay(Duration::ZERO);
    eventually(
        "every message delivered after recovery",
        Duration::from_secs(30),
        || async {
            let got: std::collections::HashSet<String> = rx
                .received()
                .iter()
                .filter(|r| r.header("webhook-id").starts_with("msg_"))
                .map(|r| r.header("webhook-id").to_string())
                .collect();
            ids.iter().all(|id| got.contains(id)).then_some(())
        },
    )
    .await;
}

/// A receiver that is slow but answers (a backlog behind an outage): once its held requests
/// succeed, its parked work is due at once, not when the parking (its 20 s timeout) runs out.
async fn a_slow_endpoint_that_answers_is_unparked_at_once() {
    let app = spawn_app_with(|c| {
        c.request_timeout_ms = 20_000;
        c.max_in_flight_per_endpoint = 2;
    })
    .await;
    let rx = Receiver::start().await;
    rx.set_delay(Duration::from_millis(2500));
    let a = app.create_app("slow").await;
    app.create_endpoint(&a, json!({"url": rx.url("/hook")}))
        .await;
    for i in 0..20 {
        app.publish(&a, json!({"eventType": "x.y", "payload": {"i": i}}))
            .await;
    }
    // Found stalled after a second without an answer; its queue is parked.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    rx.set_delay(Duration::ZERO);
    // The two held requests answer within about a second; the rest must follow promptly.
    rx.wait_for(20, Duration::from_secs(10)).await;
}

backend_tests!(
    a_slow_endpoint_that_answers_is_unparked_at_once,
    a_stalled_endpoint_gets_everything_once_it_recovers,
    delivers_signed_payload_bytes_exactly,
    filters_by_event_type_and_channel,
    retries_after_a_500_then_succeeds,
    exhausted_schedule_fails_then_recover_redelivers,
    resend_makes_a_manual_attempt,
    disabled_endpoint_keeps_messages_for_replay,
    endpoint_changes_apply_to_the_next_delivery,
    ssrf_guard_blocks_private_targets_without_allow_list,
    a_hanging_endpoint_does_not_hold_up_others,
);
