//! Durability: SIGKILL the real binary right after publishes were accepted; after a restart every
//! accepted message is delivered.

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::helpers::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_node(db: &Path, port: u16) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("serve")
        .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
        .env("HERALD_DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("HERALD_TOKEN", TOKEN)
        .env("HERALD_ALLOW_TARGETS", "127.0.0.1/32")
        .env("HERALD_RETRY_SCHEDULE", "1,1,1")
        .env("HERALD_REQUEST_TIMEOUT_MS", "2000")
        // Few deliveries in flight, so most are still queued when the node is killed.
        .env("HERALD_MAX_IN_FLIGHT_PER_ENDPOINT", "8")
        .env("HERALD_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the herald binary starts");
    let client = client();
    let start = Instant::now();
    loop {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/api/v1/health"))
            .send()
            .await
            && r.status().is_success()
        {
            return child;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "herald did not come up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn sigkill_after_202_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("herald.db");
    let port = free_port();
    let mut node = start_node(&db, port).await;
    let base = format!("http://127.0.0.1:{port}/api/v1");
    let client = client();
    let rx = Receiver::start().await;
    // A slow receiver keeps most deliveries queued or in flight when the node dies.
    rx.set_delay(Duration::from_millis(500));

    let app: Value = client
        .post(format!("{base}/app"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "crash"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let app_id = app["id"].as_str().unwrap().to_string();
    let r = client
        .post(format!("{base}/app/{app_id}/endpoint"))
        .bearer_auth(TOKEN)
        .json(&json!({"url": rx.url("/hook")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);

    let mut accepted = HashSet::new();
    for i in 0..100 {
        let r = client
            .post(format!("{base}/app/{app_id}/msg"))
            .bearer_auth(TOKEN)
            .json(&json!({"eventType": "crash.test", "payload": {"i": i}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202);
        let m: Value = r.json().await.unwrap();
        accepted.insert(m["id"].as_str().unwrap().to_string());
    }
    // SIGKILL: no graceful shutdown, no flushing.
    node.start_kill().unwrap();
    node.wait().await.unwrap();
    let before = rx.received().len();
    assert!(
        before < accepted.len(),
        "some deliveries were still pending at the kill ({before})"
    );

    let _node = start_node(&db, port).await;
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
            start.elapsed() < Duration::from_secs(60),
            "{} of {} accepted messages delivered after restart",
            accepted.intersection(&got).count(),
            accepted.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
