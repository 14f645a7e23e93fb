//! Idempotency keys under the ways requests really fail: a client that hangs up right after
//! sending, retries racing the first request, and nodes sharing one database.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::helpers::*;

/// Sends a publish with `key` on a raw connection and hangs up `after` later, before the answer.
async fn publish_and_hang_up(base: &str, app: &str, key: &str, after: Duration) {
    let addr = base
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let body = json!({"eventType": "x.y", "payload": {"key": key}}).to_string();
    let req = format!(
        "POST /api/v1/app/{app}/msg HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {TOKEN}\r\n\
         content-type: application/json\r\nidempotency-key: {key}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    tokio::time::sleep(after).await;
    drop(s);
}

async fn post_with_key(app: &TestApp, a: &str, key: &str) -> (u16, Value) {
    let r = app
        .client
        .post(app.url(&format!("/app/{a}/msg")))
        .bearer_auth(TOKEN)
        .header("idempotency-key", key)
        .json(&json!({"eventType": "x.y", "payload": {"key": key}}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn message_count(app: &TestApp, a: &str) -> usize {
    let (s, b) = app.get(&format!("/app/{a}/msg?limit=250")).await;
    assert_eq!(s, 200, "{b}");
    b["data"].as_array().unwrap().len()
}

/// The probe's case: a client closes its socket 0-2 ms after sending. The key must not stay
/// stuck "in progress", and the retry must get the one message the first request made.
async fn a_client_that_hangs_up_does_not_leave_its_key_stuck() {
    let app = spawn_app().await;
    let a = app.create_app("acme").await;
    let delays = [0u64, 250, 500, 1000, 1500, 2000];
    let mut keys = Vec::new();
    for round in 0..3 {
        for &d in &delays {
            let key = format!("hangup-{round}-{d}");
            publish_and_hang_up(&app.base, &a, &key, Duration::from_micros(d)).await;
            keys.push(key);
        }
    }
    for key in &keys {
        let (s, b) = post_with_key(&app, &a, key).await;
        assert_eq!(s, 202, "the retry of {key}: {b}");
        assert_eq!(b["payload"]["key"], key.as_str(), "{b}");
        let (s, again) = post_with_key(&app, &a, key).await;
        assert_eq!((s, &again["id"]), (202, &b["id"]), "{key}");
    }
    assert_eq!(
        message_count(&app, &a).await,
        keys.len(),
        "one message per key, whether or not the first request's client stayed"
    );
}

/// Many requests with one key at once: one message, and everyone gets its response.
async fn concurrent_requests_with_one_key_make_one_message() {
    let app = spawn_app().await;
    let a = app.create_app("acme").await;
    for round in 0..5 {
        let key = format!("race-{round}");
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let (c, url, key) = (
                    app.client.clone(),
                    app.url(&format!("/app/{a}/msg")),
                    key.clone(),
                );
                tokio::spawn(async move {
                    let r = c
                        .post(url)
                        .bearer_auth(TOKEN)
                        .header("idempotency-key", key)
                        .json(&json!({"eventType": "x.y", "payload": {}}))
                        .send()
                        .await
                        .unwrap();
                    let s = r.status().as_u16();
                    (s, r.json::<Value>().await.unwrap()["id"].clone())
                })
            })
            .collect();
        let mut ids = Vec::new();
        for t in tasks {
            let (s, id) = t.await.unwrap();
            assert_eq!(s, 202);
            ids.push(id);
        }
        assert!(ids.iter().all(|i| *i == ids[0]), "round {round}: {ids:?}");
    }
    assert_eq!(message_count(&app, &a).await, 5);
}

backend_tests!(
    a_client_that_hangs_up_does_not_leave_its_key_stuck,
    concurrent_requests_with_one_key_make_one_message,
);

/// Two PostgreSQL nodes: the claim of a key is a row, so a retry sent to the other node gets the
/// first node's response, not a second message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(herald_pg),
    ignore = "PostgreSQL: set HERALD_TEST_POSTGRES_URL (see scripts/pg-test-server) and rebuild"
)]
async fn an_idempotency_key_holds_across_nodes() {
    let db = fresh_postgres_database().await;
    let n1 = Node::start(&db, free_port(), &[]).await;
    let n2 = Node::start(&db, free_port(), &[]).await;
    let (s, app) = n1.post("/app", json!({"name": "acme"})).await;
    assert_eq!(s, 201);
    let a = app["id"].as_str().unwrap().to_string();
    let c = client();
    for round in 0..5 {
        let key = format!("nodes-{round}");
        let send = |base: String| {
            let (c, key, a) = (c.clone(), key.clone(), a.clone());
            tokio::spawn(async move {
                let r = c
                    .post(format!("{base}/app/{a}/msg"))
                    .bearer_auth(TOKEN)
                    .header("idempotency-key", key)
                    .json(&json!({"eventType": "x.y", "payload": {}}))
                    .send()
                    .await
                    .unwrap();
                let s = r.status().as_u16();
                (s, r.json::<Value>().await.unwrap()["id"].clone())
            })
        };
        let (t1, t2) = (send(n1.base.clone()), send(n2.base.clone()));
        let (r1, r2) = (t1.await.unwrap(), t2.await.unwrap());
        assert_eq!((r1.0, r2.0), (202, 202));
        assert_eq!(r1.1, r2.1, "round {round}: one message for both nodes");
    }
    let r: Value = c
        .get(format!("{}/app/{a}/msg?limit=250", n1.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["data"].as_array().unwrap().len(), 5);
}
