//! Durability: SIGKILL the only node in the middle of a publish burst; after a restart every
//! message that got a 202 is delivered.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

/// Publishers running at once, so the kill lands with requests in flight.
const PUBLISHERS: usize = 8;
/// Accepted messages before the kill.
const KILL_AFTER: usize = 150;

async fn sigkill_during_a_publish_burst_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = test_database_url(&dir).await;
    let port = free_port();
    // Few deliveries in flight, so most are still queued when the node is killed.
    let env = [("HERALD_MAX_IN_FLIGHT_PER_ENDPOINT", "8")];
    let mut node = Node::start(&db, port, &env).await;
    let base = node.base.clone();
    let client = client();
    let rx = Receiver::start().await;
    // A slow receiver keeps most deliveries queued or in flight when the node dies.
    rx.set_delay(Duration::from_millis(200));

    let app_id = node.app_with_endpoint("crash", &rx.url("/hook")).await;

    // Publishers go on until their requests fail (the node is gone); only 202s count.
    let accepted = Arc::new(Mutex::new(HashSet::new()));
    let mut publishers = Vec::new();
    for p in 0..PUBLISHERS {
        let (client, url, accepted) = (
            client.clone(),
            format!("{base}/app/{app_id}/msg"),
            accepted.clone(),
        );
        publishers.push(tokio::spawn(async move {
            for i in 0.. {
                let sent = client
                    .post(&url)
                    .bearer_auth(TOKEN)
                    .json(&json!({"eventType": "crash.test", "payload": {"p": p, "i": i}}))
                    .send()
                    .await;
                let Ok(r) = sent else { return };
                if r.status().as_u16() != 202 {
                    return;
                }
                let Ok(m) = r.json::<Value>().await else {
                    return;
                };
                accepted
                    .lock()
                    .unwrap()
                    .insert(m["id"].as_str().unwrap().to_string());
            }
        }));
    }
    eventually(
        "publishes before the kill",
        Duration::from_secs(60),
        || async { (accepted.lock().unwrap().len() >= KILL_AFTER).then_some(()) },
    )
    .await;
    node.kill().await;
    for p in publishers {
        p.await.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    let before = rx.received().len();
    assert!(
        before < accepted.len(),
        "some deliveries were still pending at the kill ({before} of {})",
        accepted.len()
    );

    let _node = Node::start(&db, port, &env).await;
    let start = Instant::now();
    loop {
        let got: HashSet<String> = rx
            .received()
            .iter()
            .map(|r| r.header("webhook-id").to_string())
            .collect();
        if accepted.is_subset(&got) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "{} of {} accepted messages delivered after restart",
            accepted.intersection(&got).count(),
            accepted.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

backend_tests!(sigkill_during_a_publish_burst_loses_nothing);
