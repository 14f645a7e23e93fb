//! Endpoint health: an endpoint whose deliveries all fail for `--disable-after` is disabled
//! with a reason, in the database (so a restarted node, or any other, sees it), its later
//! messages are kept as skipped, and `recover` brings them back once it is enabled again.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

async fn endpoint(node: &Node, app: &str) -> Value {
    let (s, list) = node.get(&format!("/app/{app}/endpoint")).await;
    assert_eq!(s, 200, "{list}");
    list["data"][0].clone()
}

async fn an_endpoint_failing_for_disable_after_is_disabled_and_stays_so_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = test_database_url(&dir).await;
    let port = free_port();
    let env = [("HERALD_DISABLE_AFTER", "3s")];
    let mut node = Node::start(&db, port, &env).await;
    // An operational webhook endpoint, told when the endpoint is disabled.
    let ops = Receiver::start().await;
    let (s, op) = node
        .post(
            "/operational-webhook/endpoint",
            json!({"url": ops.url("/ops"), "filterTypes": ["endpoint.disabled"]}),
        )
        .await;
    assert_eq!(s, 201, "{op}");
    let (_, secret) = node
        .get(&format!(
            "/operational-webhook/endpoint/{}/secret",
            op["id"].as_str().unwrap()
        ))
        .await;
    let secret = secret["key"].as_str().unwrap().to_string();
    let failing = Receiver::start().await;
    failing.script(&[500; 1000]);
    let app = node
        .app_with_endpoint("health", &failing.url("/down"))
        .await;
    let ep = endpoint(&node, &app).await;
    let ep_id = ep["id"].as_str().unwrap().to_string();
    assert_eq!(ep["disabled"], false);

    // Failures keep coming (retries every second, a new message every half second) until the
    // endpoint has failed for 3 s.
    let started = Instant::now();
    let disabled = loop {
        let (s, _) = node
            .post(
                &format!("/app/{app}/msg"),
                json!({"eventType": "t.x", "payload": {}}),
            )
            .await;
        assert_eq!(s, 202);
        let ep = endpoint(&node, &app).await;
        if ep["disabled"] == true {
            break ep;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "not disabled after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(3),
        "disabled after only {took:?}"
    );
    let reason = disabled["disabledReason"].as_str().expect("a reason");
    assert!(reason.contains("--disable-after"), "{reason}");
    assert!(failing.received().len() >= 4);
    // `endpoint.disabled` arrives, signed, in Svix's shape, saying since when it failed.
    let event = ops.wait_for(1, Duration::from_secs(15)).await.remove(0);
    assert!(verify_standard(&secret, &event));
    let body = event.json();
    assert_eq!(body["type"], "endpoint.disabled");
    assert_eq!(body["data"]["appId"], app.as_str());
    assert_eq!(body["data"]["endpointId"], ep_id.as_str());
    assert!(body["data"]["failSince"].as_str().unwrap().ends_with('Z'));
    assert!(
        reason.contains(&body["data"]["failSince"].as_str().unwrap()[..19]),
        "{reason}"
    );

    // A message published now is kept for the endpoint, as skipped, and not sent.
    let sent_before = failing.received().len();
    let (s, later) = node
        .post(
            &format!("/app/{app}/msg"),
            json!({"eventType": "t.x", "payload": {"later": true}}),
        )
        .await;
    assert_eq!(s, 202);
    let later_id = later["id"].as_str().unwrap().to_string();
    let (s, dests) = node
        .get(&format!(
            "/app/{app}/msg/{later_id}/endpoint?expanded_statuses=true"
        ))
        .await;
    assert_eq!(s, 200, "{dests}");
    assert_eq!(dests["data"][0]["statusText"], "canceled", "{dests}");

    // The state is the database's: a restarted node finds the endpoint disabled.
    node.kill().await;
    let node = Node::start(&db, port, &env).await;
    let ep = endpoint(&node, &app).await;
    assert_eq!(ep["disabled"], true);
    assert_eq!(ep["disabledReason"].as_str(), Some(reason));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Retries were not sent while disabled (at most one was in flight when it was disabled).
    assert!(failing.received().len() <= sent_before + 1);

    // Enabled again at a working address, `recover` delivers what was skipped.
    let working = Receiver::start().await;
    let (s, b) = patch(
        &node,
        &format!("/app/{app}/endpoint/{ep_id}"),
        json!({"url": working.url("/up"), "disabled": false}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(b.get("disabledReason").is_none(), "{b}");
    let since = chrono_ago(Duration::from_secs(120));
    let (s, b) = node
        .post(
            &format!("/app/{app}/endpoint/{ep_id}/recover"),
            json!({"since": since}),
        )
        .await;
    assert!(s == 202 || s == 200, "{s} {b}");
    let got = eventually(
        "the skipped message recovered",
        Duration::from_secs(15),
        || async {
            let got = working.received();
            got.iter()
                .any(|r| r.header("webhook-id") == later_id)
                .then_some(got)
        },
    )
    .await;
    assert!(!got.is_empty());
    // A success ends the run: the endpoint is not disabled again by its old failures.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(endpoint(&node, &app).await["disabled"], false);
}

async fn patch(node: &Node, path: &str, body: Value) -> (u16, Value) {
    let r = client()
        .patch(format!("{}{path}", node.base))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("request reaches Herald");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// RFC 3339 for `d` ago.
fn chrono_ago(d: Duration) -> String {
    let ms = herald::clock::now_ms() - d.as_millis() as i64;
    herald::clock::rfc3339(ms)
}

/// A success in between restarts the count: an endpoint that fails, succeeds, then fails
/// again is not disabled for its first failures.
async fn a_success_in_between_keeps_the_endpoint_enabled() {
    let app = spawn_app_with(|c| {
        c.disable_after = Duration::from_secs(2);
        c.retry_schedule = vec![];
    })
    .await;
    let rx = Receiver::start().await;
    let app_id = app.create_app("flaky").await;
    let (ep, _) = app
        .create_endpoint(&app_id, json!({"url": rx.url("/flaky")}))
        .await;
    // fail, (1.5 s) succeed, (1.5 s) fail, fail: 3 s of failures but never 2 s without success.
    rx.script(&[500, 200, 500, 500]);
    for i in 0..4 {
        app.publish(&app_id, json!({"eventType": "t.x", "payload": {"i": i}}))
            .await;
        rx.wait_for(i + 1, Duration::from_secs(10)).await;
        if i < 2 {
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (s, b) = app.get(&format!("/app/{app_id}/endpoint/{ep}")).await;
    assert_eq!(s, 200);
    assert_eq!(b["disabled"], false, "{b}");
}

backend_tests!(
    an_endpoint_failing_for_disable_after_is_disabled_and_stays_so_after_a_restart,
    a_success_in_between_keeps_the_endpoint_enabled,
);
