//! Deleting endpoints and applications while messages are published and delivered: nothing of
//! them is left behind. On PostgreSQL deliveries and attempts have no foreign keys to cascade
//! from; Herald's own locking keeps them consistent, and this is its test.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const PUBLISHERS: usize = 8;
const PER_PUBLISHER: usize = 40;

/// A message accepted by Herald, and whether its publish began after the deletion had returned.
struct Accepted {
    id: String,
    after_delete: bool,
}

async fn deleting_an_endpoint_mid_burst_leaves_nothing_of_it() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let a = app.create_app("acme").await;
    let (keep, _) = app
        .create_endpoint(&a, json!({"url": rx.url("/keep")}))
        .await;
    let (gone, _) = app
        .create_endpoint(&a, json!({"url": rx.url("/gone")}))
        .await;

    let deleted = Arc::new(Mutex::new(false));
    let accepted = Arc::new(Mutex::new(Vec::<Accepted>::new()));
    let mut publishers = Vec::new();
    for p in 0..PUBLISHERS {
        let (client, url, deleted, accepted) = (
            app.client.clone(),
            app.url(&format!("/app/{a}/msg")),
            deleted.clone(),
            accepted.clone(),
        );
        publishers.push(tokio::spawn(async move {
            for i in 0..PER_PUBLISHER {
                let after_delete = *deleted.lock().unwrap();
                let r = client
                    .post(&url)
                    .bearer_auth(TOKEN)
                    .json(&json!({"eventType": "burst", "payload": {"p": p, "i": i}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 202);
                let m: Value = r.json().await.unwrap();
                let id = m["id"].as_str().unwrap().to_string();
                accepted.lock().unwrap().push(Accepted { id, after_delete });
            }
        }));
    }
    eventually(
        "a quarter of the burst accepted",
        Duration::from_secs(30),
        || async {
            (accepted.lock().unwrap().len() >= PUBLISHERS * PER_PUBLISHER / 4).then_some(())
        },
    )
    .await;
    let (s, b) = app
        .req(Method::DELETE, &format!("/app/{a}/endpoint/{gone}"), None)
        .await;
    assert_eq!(s, 204, "{b}");
    *deleted.lock().unwrap() = true;
    for p in publishers {
        p.await.unwrap();
    }
    let accepted = std::mem::take(&mut *accepted.lock().unwrap());
    assert!(
        accepted.iter().any(|m| m.after_delete),
        "the burst went on after the deletion"
    );

    // Every message reaches the endpoint that stays; none leaves a trace of the deleted one.
    for m in &accepted {
        let attempts = eventually(
            "an attempt to the kept endpoint",
            Duration::from_secs(30),
            || async {
                let v = app.attempts(&a, &m.id).await;
                v.iter()
                    .any(|t| t["endpointId"] == keep.as_str())
                    .then_some(v)
            },
        )
        .await;
        assert!(
            attempts.iter().all(|t| t["endpointId"] != gone.as_str()),
            "message {} kept an attempt of the deleted endpoint",
            m.id
        );
        let (s, eps) = app.get(&format!("/app/{a}/msg/{}/endpoint", m.id)).await;
        assert_eq!(s, 200, "{eps}");
        assert!(
            eps["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["id"] != gone.as_str()),
            "message {} kept a delivery to the deleted endpoint",
            m.id
        );
    }
    // A message published after the deletion returned is never sent to the deleted endpoint.
    let late: Vec<&str> = accepted
        .iter()
        .filter(|m| m.after_delete)
        .map(|m| m.id.as_str())
        .collect();
    for r in rx.received().iter().filter(|r| r.path == "/gone") {
        assert!(
            !late.contains(&r.header("webhook-id")),
            "{} was published after the deletion but sent to the deleted endpoint",
            r.header("webhook-id")
        );
    }
}

async fn deleting_an_application_mid_burst_leaves_nothing_of_it() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let a = app.create_app("doomed").await;
    let (ep, _) = app
        .create_endpoint(&a, json!({"url": rx.url("/hook")}))
        .await;
    let other = app.create_app("other").await;
    app.create_endpoint(&other, json!({"url": rx.url("/other")}))
        .await;

    // Publishes to the doomed app go on until it is gone: then they get 404, nothing else.
    let mut publishers = Vec::new();
    for p in 0..PUBLISHERS {
        let (client, url) = (app.client.clone(), app.url(&format!("/app/{a}/msg")));
        publishers.push(tokio::spawn(async move {
            for i in 0.. {
                let r = client
                    .post(&url)
                    .bearer_auth(TOKEN)
                    .json(&json!({"eventType": "burst", "payload": {"p": p, "i": i}}))
                    .send()
                    .await
                    .unwrap();
                match r.status().as_u16() {
                    202 => {}
                    404 => return i,
                    s => panic!("publishing to a deleted application answered {s}"),
                }
            }
            unreachable!()
        }));
    }
    rx.wait_for(50, Duration::from_secs(30)).await;
    let (s, b) = app.req(Method::DELETE, &format!("/app/{a}"), None).await;
    assert_eq!(s, 204, "{b}");
    for p in publishers {
        p.await.unwrap();
    }
    let (s, _) = app.get(&format!("/app/{a}/attempt/endpoint/{ep}")).await;
    assert_eq!(s, 404);
    // The other application is untouched and still delivers.
    let before = rx.received().len();
    let m = app
        .publish(&other, json!({"eventType": "after", "payload": {}}))
        .await;
    rx.wait_for(before + 1, Duration::from_secs(15)).await;
    app.wait_attempts(&other, m["id"].as_str().unwrap(), 1)
        .await;
}

backend_tests!(
    deleting_an_endpoint_mid_burst_leaves_nothing_of_it,
    deleting_an_application_mid_burst_leaves_nothing_of_it,
);
