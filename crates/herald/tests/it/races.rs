//! Concurrent writers on one row: every change that answered 200 stays made. The probe saw a
//! `PATCH {"disabled": true}`, a headers PATCH and a secret rotation undone by description
//! PATCHes running at the same time (each read the whole endpoint and wrote it all back).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::helpers::*;

/// Description PATCHes running at once with the change under test.
const STORM: usize = 50;
const ROUNDS: usize = 8;

/// Sends `STORM` description PATCHes to `url` at once; the handles answer their statuses.
fn storm(app: &TestApp, url: &str) -> Vec<JoinHandle<u16>> {
    (0..STORM)
        .map(|i| {
            let (c, url) = (app.client.clone(), url.to_string());
            tokio::spawn(async move {
                let r = c
                    .patch(url)
                    .bearer_auth(TOKEN)
                    .json(&json!({"description": format!("storm {i}")}))
                    .send()
                    .await
                    .expect("PATCH reaches Herald");
                r.status().as_u16()
            })
        })
        .collect()
}

/// Keeps `STORM / 5` PATCH loops going on `url` until `stop` is set; the handles answer the
/// worst status seen.
fn storm_until(app: &TestApp, url: &str, stop: &Arc<AtomicBool>) -> Vec<JoinHandle<u16>> {
    (0..STORM / 5)
        .map(|i| {
            let (c, url, stop) = (app.client.clone(), url.to_string(), stop.clone());
            tokio::spawn(async move {
                let mut worst = 200;
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let r = c
                        .patch(&url)
                        .bearer_auth(TOKEN)
                        .json(&json!({"description": format!("storm {i}.{n}")}))
                        .send()
                        .await
                        .expect("PATCH reaches Herald");
                    worst = worst.max(r.status().as_u16());
                }
                worst
            })
        })
        .collect()
}

async fn calm(storm: Vec<JoinHandle<u16>>) {
    for h in storm {
        assert_eq!(h.await.unwrap(), 200, "a description PATCH failed");
    }
}

async fn concurrent_endpoint_changes_all_take_effect() {
    let app = spawn_app().await;
    let a = app.create_app("acme").await;
    for round in 0..ROUNDS {
        let (ep, _) = app
            .create_endpoint(&a, json!({"url": "https://example.com/h"}))
            .await;
        let path = format!("/app/{a}/endpoint/{ep}");

        let s = storm(&app, &app.url(&path));
        let (st, b) = app
            .req(Method::PATCH, &path, Some(json!({"disabled": true})))
            .await;
        assert_eq!(st, 200, "{b}");
        calm(s).await;
        let (_, got) = app.get(&path).await;
        assert_eq!(
            got["disabled"], true,
            "round {round}: the disable was undone"
        );

        let s = storm(&app, &app.url(&path));
        let (st, b) = app
            .req(
                Method::PATCH,
                &format!("{path}/headers"),
                Some(json!({"headers": {"x-round": round.to_string()}})),
            )
            .await;
        assert_eq!(st, 204, "{b}");
        calm(s).await;
        let (_, got) = app.get(&format!("{path}/headers")).await;
        assert_eq!(
            got["headers"]["x-round"],
            Value::String(round.to_string()),
            "round {round}: the headers PATCH was undone: {got}"
        );

        let s = storm(&app, &app.url(&path));
        let (st, rotated) = app.post(&format!("{path}/secret/rotate"), json!({})).await;
        assert_eq!(st, 200, "{rotated}");
        calm(s).await;
        let (_, got) = app.get(&format!("{path}/secret")).await;
        assert_eq!(
            got["key"], rotated["key"],
            "round {round}: the rotation was reverted"
        );
    }
}

/// The dispatcher's disable on 410 Gone is not undone by a PATCH that read the endpoint before.
async fn a_gone_disable_survives_concurrent_patches() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let a = app.create_app("acme").await;
    for round in 0..ROUNDS / 2 {
        let (ep, _) = app
            .create_endpoint(&a, json!({"url": rx.url("/gone")}))
            .await;
        let path = format!("/app/{a}/endpoint/{ep}");
        rx.script(&[410]);
        let before = rx.received().len();
        let stop = Arc::new(AtomicBool::new(false));
        let s = storm_until(&app, &app.url(&path), &stop);
        let m = app
            .publish(&a, json!({"eventType": "x.y", "payload": {"round": round}}))
            .await;
        rx.wait_for(before + 1, Duration::from_secs(15)).await;
        app.wait_attempts(&a, m["id"].as_str().unwrap(), 1).await;
        // The disable follows the attempt's record: let the PATCHes overlap it.
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop.store(true, Ordering::Relaxed);
        calm(s).await;
        let (_, got) = app.get(&path).await;
        assert_eq!(
            got["disabled"], true,
            "round {round}: the 410 disable was undone"
        );
        // Done with it: its messages must not reach the next round's endpoint.
        let (st, _) = app.req(Method::DELETE, &path, None).await;
        assert_eq!(st, 204);
    }
}

backend_tests!(
    concurrent_endpoint_changes_all_take_effect,
    a_gone_disable_survives_concurrent_patches,
);
