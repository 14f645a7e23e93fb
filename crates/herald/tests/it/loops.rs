//! Loop protection, end to end: a receiver that publishes back into the same application on
//! every delivery (echoing `x-herald-caused-by`, as the README asks receivers to) makes a loop;
//! Herald flags the endpoint (`loopDetectedAt`) and throttles it to `--loop-throttle`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::json;

use crate::helpers::*;

/// What the looping receiver needs: where to publish back, and whether it still does.
struct Echo {
    publish_url: String,
    client: reqwest::Client,
    on: AtomicBool,
    got: AtomicUsize,
    /// When each delivery arrived.
    at: std::sync::Mutex<Vec<Instant>>,
}

async fn echo(State(e): State<Arc<Echo>>, headers: HeaderMap) -> StatusCode {
    e.got.fetch_add(1, Ordering::SeqCst);
    e.at.lock().unwrap().push(Instant::now());
    let caused_by = headers
        .get("x-herald-caused-by")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if e.on.load(Ordering::SeqCst) {
        let (client, url) = (e.client.clone(), e.publish_url.clone());
        tokio::spawn(async move {
            let _ = client
                .post(url)
                .bearer_auth(TOKEN)
                .header("x-herald-caused-by", caused_by)
                .json(&json!({"eventType": "stream.changed", "payload": {"again": true}}))
                .send()
                .await;
        });
    }
    StatusCode::OK
}

async fn a_receiver_that_publishes_back_is_flagged_and_throttled() {
    let app = spawn_app_with(|c| {
        c.loop_rate = 5;
        c.loop_throttle = 2;
    })
    .await;
    let a = app.create_app("speckle-stream").await;
    let e = Arc::new(Echo {
        publish_url: app.url(&format!("/app/{a}/msg")),
        client: client(),
        on: AtomicBool::new(true),
        got: AtomicUsize::new(0),
        at: Default::default(),
    });
    let router = Router::new()
        .route("/hook", post(echo))
        .with_state(e.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let (ep, _) = app.create_endpoint(&a, json!({"url": url})).await;
    app.publish(&a, json!({"eventType": "stream.changed", "payload": {}}))
        .await;
    // 5/s over 10 s: flagged after 50 publishes caused by its deliveries, in well under 10 s.
    let flagged = eventually("the loop flagged", Duration::from_secs(10), || async {
        let (_, ep) = app.get(&format!("/app/{a}/endpoint/{ep}")).await;
        ep["loopDetectedAt"].as_str().map(str::to_string)
    })
    .await;
    assert!(flagged.ends_with('Z'));
    // Now throttled to 2/s, while the receiver keeps looping.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = e.got.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = e.got.load(Ordering::SeqCst) - before;
    e.on.store(false, Ordering::SeqCst);
    eprintln!("loop: {before} deliveries before the flag took hold, {during} in the 3 s after");
    assert!(
        during <= 8,
        "{during} deliveries in 3 s once flagged (throttled to 2/s)"
    );
    assert!(before > 50, "the loop ran fast before: {before}");
}

backend_tests!(a_receiver_that_publishes_back_is_flagged_and_throttled);
