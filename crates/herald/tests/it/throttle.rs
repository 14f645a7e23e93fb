//! Throttling and adaptive concurrency, measured at a real receiver: `throttleRate` on one node
//! and on three PostgreSQL nodes together, the application's rate and `--default-throttle`, and
//! an endpoint answering 429 getting fewer requests at once, then more as it recovers.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;

/// The rate deliveries arrived at, from the first to the last of `got` (per second).
fn arrival_rate(got: &[Received]) -> f64 {
    let mut at: Vec<Instant> = got.iter().map(|r| r.at).collect();
    at.sort();
    let span = at[at.len() - 1].duration_since(at[0]).as_secs_f64();
    (at.len() - 1) as f64 / span
}

/// Asserts `rate` is within 20% of `want`.
fn within_20_percent(rate: f64, want: f64, what: &str) {
    eprintln!("{what}: {rate:.2}/s at the receiver");
    assert!(
        (rate - want).abs() <= want * 0.2,
        "{what}: {rate:.1}/s measured at the receiver, want {want}/s +-20%"
    );
}

async fn a_throttle_rate_holds_at_the_receiver() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let a = app.create_app("throttled").await;
    app.create_endpoint(&a, json!({"url": rx.url("/hook"), "throttleRate": 20}))
        .await;
    // 60 messages published at once: at 20/s they take about 3 s.
    let published = Instant::now();
    for i in 0..60 {
        app.publish(&a, json!({"eventType": "t.x", "payload": {"i": i}}))
            .await;
    }
    let got = rx.wait_for(60, Duration::from_secs(20)).await;
    let took = published.elapsed();
    within_20_percent(arrival_rate(&got), 20.0, "throttleRate 20");
    assert!(
        took >= Duration::from_millis(2500),
        "60 messages at 20/s took {took:?}"
    );
    // Waiting for its turn consumed no attempt: one each.
    let (s, msgs) = app.get(&format!("/app/{a}/msg?limit=1")).await;
    assert_eq!(s, 200);
    let last = msgs["data"][0]["id"].as_str().unwrap();
    assert_eq!(app.attempts(&a, last).await.len(), 1);
}

async fn waiting_deliveries_show_as_pending_and_the_app_rate_applies() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let (s, a) = app
        .post("/app", json!({"name": "slow app", "throttleRate": 2}))
        .await;
    assert_eq!(s, 201, "{a}");
    let a = a["id"].as_str().unwrap().to_string();
    let (ep, _) = app
        .create_endpoint(&a, json!({"url": rx.url("/hook")}))
        .await;
    for i in 0..6 {
        app.publish(&a, json!({"eventType": "t.x", "payload": {"i": i}}))
            .await;
    }
    // At the application's 2/s, a second later most are still waiting, without attempts.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (s, stats) = app.get(&format!("/app/{a}/endpoint/{ep}/stats")).await;
    assert_eq!(s, 200);
    assert!(
        stats["pending"].as_i64().unwrap() >= 3,
        "waiting deliveries are pending: {stats}"
    );
    let got = rx.wait_for(6, Duration::from_secs(10)).await;
    within_20_percent(arrival_rate(&got), 2.0, "the application's throttleRate 2");
}

async fn the_default_throttle_applies_to_endpoints_without_a_rate() {
    let app = spawn_app_with(|c| c.default_throttle = Some(10)).await;
    let rx = Receiver::start().await;
    let a = app.create_app("default").await;
    app.create_endpoint(&a, json!({"url": rx.url("/hook")}))
        .await;
    for i in 0..31 {
        app.publish(&a, json!({"eventType": "t.x", "payload": {"i": i}}))
            .await;
    }
    let got = rx.wait_for(31, Duration::from_secs(10)).await;
    within_20_percent(arrival_rate(&got), 10.0, "--default-throttle 10");
}

async fn an_endpoint_answering_429_gets_fewer_requests_at_once_then_more() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    rx.set_delay(Duration::from_millis(200));
    // Four rounds of 429s: 32 at once, then 16, 8 and 4 (one halving per round trip).
    rx.script(&[429; 60]);
    let a = app.create_app("overloaded").await;
    app.create_endpoint(&a, json!({"url": rx.url("/hook")}))
        .await;
    let (client, url) = (app.client.clone(), app.url(&format!("/app/{a}/msg")));
    let publisher = tokio::spawn(async move {
        for i in 0..800 {
            let r = client
                .post(&url)
                .bearer_auth(TOKEN)
                .json(&json!({"eventType": "t.x", "payload": {"i": i}}))
                .send()
                .await
                .expect("publish");
            assert_eq!(r.status().as_u16(), 202);
        }
    });
    // (elapsed, requests in flight at the receiver, requests answered)
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(12) {
        let answered = rx.received().len();
        samples.push((start.elapsed(), rx.arrived() - answered, answered));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    publisher.await.unwrap();
    let peak = samples
        .iter()
        .take_while(|s| s.2 < 32)
        .map(|s| s.1)
        .max()
        .unwrap_or(0);
    eprintln!("429s: {peak} at once at first");
    assert!(peak >= 24, "at first up to 32 requests at once: {peak}");
    let refused_by = samples
        .iter()
        .find(|s| s.2 >= 60)
        .map(|s| s.0)
        .expect("the 429s were answered");
    let low = samples
        .iter()
        .filter(|s| s.0 >= refused_by && s.0 < refused_by + Duration::from_millis(300))
        .map(|s| s.1)
        .max()
        .unwrap_or(0);
    eprintln!("429s: at most {low} at once in the 300 ms after the 60th");
    assert!(low <= 4, "after 60 answers of 429, at most {low} at once");
    let later = samples
        .iter()
        .filter(|s| s.0 >= refused_by + Duration::from_millis(300))
        .map(|s| s.1)
        .max()
        .unwrap_or(0);
    eprintln!("429s: back to {later} at once as it answers 200");
    assert!(later >= 16, "concurrency recovered to {later} at once");
}

backend_tests!(
    a_throttle_rate_holds_at_the_receiver,
    waiting_deliveries_show_as_pending_and_the_app_rate_applies,
    the_default_throttle_applies_to_endpoints_without_a_rate,
    an_endpoint_answering_429_gets_fewer_requests_at_once_then_more,
);

/// Three nodes on one database keep one endpoint's rate together, not three times it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(herald_pg),
    ignore = "PostgreSQL: set HERALD_TEST_POSTGRES_URL (see scripts/pg-test-server) and rebuild"
)]
async fn three_nodes_keep_one_throttle_rate_together() {
    let db = fresh_postgres_database().await;
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(Node::start(&db, free_port(), &[]).await);
    }
    let rx = Receiver::start().await;
    let (s, app) = nodes[0].post("/app", json!({"name": "three"})).await;
    assert_eq!(s, 201);
    let app = app["id"].as_str().unwrap().to_string();
    let (s, _) = nodes[0]
        .post(
            &format!("/app/{app}/endpoint"),
            json!({"url": rx.url("/hook"), "throttleRate": 20}),
        )
        .await;
    assert_eq!(s, 201);
    // Every node takes a third of the publishes, so each hands deliveries to its own lanes.
    for i in 0..90 {
        let (s, b) = nodes[i % 3]
            .post(
                &format!("/app/{app}/msg"),
                json!({"eventType": "t.x", "payload": {"i": i}}),
            )
            .await;
        assert_eq!(s, 202, "{b}");
    }
    let got = rx.wait_for(90, Duration::from_secs(30)).await;
    within_20_percent(arrival_rate(&got), 20.0, "throttleRate 20 over three nodes");
}
