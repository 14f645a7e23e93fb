//! Ordered delivery, checked strictly at a real receiver: per-key order under failures and
//! retries, keys in parallel, a message exhausted for good skipped (visibly) so its key goes
//! on, FIFO endpoints, and order kept across a node's restart (SIGTERM and SIGKILL).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::{Value, json};

use crate::helpers::*;

/// What the ordered receiver saw and will answer.
#[derive(Default)]
struct Seen {
    /// Every request, in arrival order: (key, index, status answered).
    log: Vec<(String, u64, u16)>,
    /// (key, index) -> how many more requests of it to refuse with 500.
    fail: HashMap<(String, u64), usize>,
}

/// A receiver of `{"k": key, "i": index}` payloads that refuses some as scripted.
#[derive(Clone)]
struct Ordered {
    url: String,
    seen: Arc<Mutex<Seen>>,
}

impl Ordered {
    async fn start(delay: Duration) -> Ordered {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state((seen.clone(), delay));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Ordered { url, seen }
    }

    fn fail(&self, key: &str, i: u64, times: usize) {
        self.seen
            .lock()
            .unwrap()
            .fail
            .insert((key.to_string(), i), times);
    }

    fn log(&self) -> Vec<(String, u64, u16)> {
        self.seen.lock().unwrap().log.clone()
    }

    /// Waits until every index below `n` of each key in `keys` was answered 2xx.
    async fn wait_delivered(&self, keys: &[&str], n: u64, timeout: Duration) {
        eventually("every message delivered", timeout, || async {
            let log = self.log();
            keys.iter()
                .all(|k| {
                    (0..n).all(|i| {
                        log.iter()
                            .any(|(lk, li, s)| lk == k && *li == i && *s == 200)
                    })
                })
                .then_some(())
        })
        .await
    }
}

async fn receive(
    State((seen, delay)): State<(Arc<Mutex<Seen>>, Duration)>,
    body: Bytes,
) -> StatusCode {
    tokio::time::sleep(delay).await;
    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
    let key = v["k"].as_str().unwrap_or_default().to_string();
    let i = v["i"].as_u64().unwrap_or(u64::MAX);
    let mut s = seen.lock().unwrap();
    let status = match s.fail.get_mut(&(key.clone(), i)) {
        Some(n) if *n > 0 => {
            *n -= 1;
            500
        }
        _ => 200,
    };
    s.log.push((key, i, status));
    StatusCode::from_u16(status).unwrap()
}

/// Per key, the indexes arrived in never go back: a message is sent only after every earlier
/// one of its key was answered for good (a retry of the same message may repeat it).
fn assert_in_order(log: &[(String, u64, u16)]) {
    let mut last: HashMap<&str, u64> = HashMap::new();
    for (k, i, _) in log {
        if let Some(prev) = last.get(k.as_str()) {
            assert!(
                i >= prev,
                "key {k}: message {i} arrived after message {prev}: {log:?}"
            );
        }
        last.insert(k, *i);
    }
}

async fn each_key_in_order_under_failures_and_keys_in_parallel() {
    let app = spawn_app().await;
    let rx = Ordered::start(Duration::from_millis(5)).await;
    // Some messages fail once or twice: their retries (1 s apart) hold their key only.
    for (k, i, n) in [("a", 0, 2), ("a", 4, 1), ("b", 2, 1), ("c", 7, 1)] {
        rx.fail(k, i, n);
    }
    let a = app.create_app("ordered").await;
    app.create_endpoint(&a, json!({"url": rx.url})).await;
    for i in 0..10u64 {
        for k in ["a", "b", "c"] {
            app.publish(
                &a,
                json!({"eventType": "o.x", "orderingKey": k, "payload": {"k": k, "i": i}}),
            )
            .await;
        }
    }
    rx.wait_delivered(&["a", "b", "c"], 10, Duration::from_secs(30))
        .await;
    let log = rx.log();
    assert_in_order(&log);
    // Keys go in parallel: while a's first message waited 2 s for its retries, c's all went.
    let a0 = log
        .iter()
        .position(|(k, i, s)| k == "a" && *i == 0 && *s == 200)
        .unwrap();
    let c_done = log
        .iter()
        .position(|(k, i, s)| k == "c" && *i == 6 && *s == 200)
        .unwrap();
    assert!(c_done < a0, "key c was not held up by key a: {log:?}");
    // Every message was delivered exactly once successfully.
    assert_eq!(log.iter().filter(|(_, _, s)| *s == 200).count(), 30);
}

async fn an_exhausted_message_is_skipped_visibly_and_its_key_goes_on() {
    let app = spawn_app().await;
    let rx = Ordered::start(Duration::ZERO).await;
    // Fails every try (the schedule has 3: the first and two retries).
    rx.fail("k", 1, 100);
    let a = app.create_app("exhausted").await;
    app.create_endpoint(&a, json!({"url": rx.url})).await;
    let mut ids = Vec::new();
    for i in 0..4u64 {
        let m = app
            .publish(
                &a,
                json!({"eventType": "o.x", "orderingKey": "k", "payload": {"k": "k", "i": i}}),
            )
            .await;
        ids.push(m["id"].as_str().unwrap().to_string());
    }
    eventually(
        "the rest of the key delivered",
        Duration::from_secs(20),
        || async {
            let log = rx.log();
            (log.iter().any(|(_, i, s)| *i == 3 && *s == 200)).then_some(())
        },
    )
    .await;
    let log = rx.log();
    assert_in_order(&log);
    let tries = log.iter().filter(|(_, i, _)| *i == 1).count();
    assert_eq!(
        tries, 3,
        "message 1 was tried three times, then skipped: {log:?}"
    );
    // The skip is in the failed message's attempts.
    let attempts = app.wait_attempts(&a, &ids[1], 3).await;
    let last = &attempts[0];
    assert!(
        last["error"]
            .as_str()
            .is_some_and(|e| e.contains("skipped in its ordering key")),
        "{last}"
    );
}

async fn a_fifo_endpoint_delivers_everything_in_publish_order() {
    let app = spawn_app().await;
    let rx = Ordered::start(Duration::ZERO).await;
    rx.fail("", 3, 1);
    let a = app.create_app("fifo").await;
    let (s, ep) = app
        .post(
            &format!("/app/{a}/endpoint"),
            json!({"url": rx.url, "ordering": "fifo"}),
        )
        .await;
    assert_eq!(s, 201, "{ep}");
    assert_eq!(ep["ordering"], "fifo");
    for i in 0..12u64 {
        app.publish(&a, json!({"eventType": "o.x", "payload": {"i": i}}))
            .await;
    }
    rx.wait_delivered(&[""], 12, Duration::from_secs(20)).await;
    let log = rx.log();
    assert_in_order(&log);
    let order: Vec<u64> = log.iter().map(|(_, i, _)| *i).collect();
    assert_eq!(
        order,
        vec![0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11],
        "one at a time, the failed one retried before the next"
    );
    let (s, _) = app
        .post(
            &format!("/app/{a}/endpoint"),
            json!({"url": rx.url, "ordering": "random"}),
        )
        .await;
    assert_eq!(s, 422);
}

async fn order_holds_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = test_database_url(&dir).await;
    let port = free_port();
    let mut node = Node::start(&db, port, &[]).await;
    // Slow enough that the node is stopped with deliveries in flight and queued.
    let rx = Ordered::start(Duration::from_millis(30)).await;
    rx.fail("x", 5, 1);
    rx.fail("y", 12, 1);
    let (s, app) = node.post("/app", json!({"name": "restart"})).await;
    assert_eq!(s, 201);
    let app = app["id"].as_str().unwrap().to_string();
    let (s, _) = node
        .post(&format!("/app/{app}/endpoint"), json!({"url": rx.url}))
        .await;
    assert_eq!(s, 201);
    for i in 0..40u64 {
        for k in ["x", "y"] {
            let (s, _) = node
                .post(
                    &format!("/app/{app}/msg"),
                    json!({"eventType": "o.x", "orderingKey": k, "payload": {"k": k, "i": i}}),
                )
                .await;
            assert_eq!(s, 202);
        }
    }
    // A graceful stop part way, then a SIGKILL part way after the restart.
    eventually("some delivered", Duration::from_secs(20), || async {
        (rx.log().len() >= 10).then_some(())
    })
    .await;
    node.terminate();
    node.wait_exit(Duration::from_secs(30)).await;
    let mut node = Node::start(&db, port, &[]).await;
    eventually("more delivered", Duration::from_secs(20), || async {
        (rx.log().len() >= 40).then_some(())
    })
    .await;
    node.kill().await;
    let _node = Node::start(&db, port, &[]).await;
    rx.wait_delivered(&["x", "y"], 40, Duration::from_secs(60))
        .await;
    assert_in_order(&rx.log());
}

backend_tests!(
    each_key_in_order_under_failures_and_keys_in_parallel,
    an_exhausted_message_is_skipped_visibly_and_its_key_goes_on,
    a_fifo_endpoint_delivers_everything_in_publish_order,
    order_holds_across_a_restart,
);
