//! Several nodes on one PostgreSQL database: they share the queue, and when one is SIGKILLed
//! mid-run the others finish its work once its leases expire.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

const NODES: usize = 3;
const MESSAGES: usize = 5000;
const PUBLISHERS: usize = 24;
/// In-flight deliveries per node: the most the killed node can have sent but not recorded.
const IN_FLIGHT: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(herald_pg),
    ignore = "PostgreSQL: set HERALD_TEST_POSTGRES_URL (see scripts/pg-test-server) and rebuild"
)]
async fn three_nodes_share_one_database_and_survive_a_sigkill() {
    let db = fresh_postgres_database().await;
    let in_flight = IN_FLIGHT.to_string();
    let env = [("HERALD_MAX_IN_FLIGHT", in_flight.as_str())];
    let mut nodes = Vec::new();
    for _ in 0..NODES {
        nodes.push(Node::start(&db, free_port(), &env).await);
    }
    let bases: Arc<Vec<String>> = Arc::new(nodes.iter().map(|n| n.base.clone()).collect());
    let rx = Receiver::start().await;
    // Deliveries take a moment, so the killed node has some in flight.
    rx.set_delay(Duration::from_millis(20));
    let client = client();
    let app_id = nodes[0]
        .app_with_endpoint("multinode", &rx.url("/hook"))
        .await;

    // Publishers spread messages over the nodes; a request that fails (the node was killed) is
    // sent again to the next node. Only 202s count as accepted.
    let next = Arc::new(AtomicUsize::new(0));
    let dead = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(Mutex::new(HashSet::new()));
    let mut publishers = Vec::new();
    for _ in 0..PUBLISHERS {
        let (client, bases, next, dead, accepted, app_id) = (
            client.clone(),
            bases.clone(),
            next.clone(),
            dead.clone(),
            accepted.clone(),
            app_id.clone(),
        );
        publishers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= MESSAGES {
                    return;
                }
                for attempt in 0..10 {
                    let mut node = (i + attempt) % NODES;
                    if node == NODES - 1 && dead.load(Ordering::Relaxed) {
                        node = 0;
                    }
                    let r = client
                        .post(format!("{}/app/{app_id}/msg", bases[node]))
                        .bearer_auth(TOKEN)
                        .json(&json!({"eventType": "multi.node", "payload": {"i": i}}))
                        .send()
                        .await;
                    if let Ok(r) = r
                        && r.status().as_u16() == 202
                        && let Ok(m) = r.json::<Value>().await
                    {
                        accepted
                            .lock()
                            .unwrap()
                            .insert(m["id"].as_str().unwrap().to_string());
                        break;
                    }
                }
            }
        }));
    }
    eventually(
        "half the messages accepted",
        Duration::from_secs(120),
        || async { (accepted.lock().unwrap().len() >= MESSAGES / 2).then_some(()) },
    )
    .await;
    let killed_at = Instant::now();
    nodes[NODES - 1].kill().await;
    dead.store(true, Ordering::Relaxed);
    for p in publishers {
        p.await.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    assert!(
        accepted.len() >= MESSAGES - PUBLISHERS,
        "publishes failed over to the surviving nodes ({} accepted)",
        accepted.len()
    );

    let start = Instant::now();
    let counts = loop {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for r in rx.received() {
            *counts
                .entry(r.header("webhook-id").to_string())
                .or_default() += 1;
        }
        if accepted.iter().all(|id| counts.contains_key(id)) {
            break counts;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "{} of {} accepted messages delivered",
            accepted
                .iter()
                .filter(|id| counts.contains_key(*id))
                .count(),
            accepted.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let twice = counts.values().filter(|&&n| n > 1).count();
    println!(
        "multi-node: {} accepted, all delivered {:.1}s after the kill; delivered more than once: {twice}",
        accepted.len(),
        killed_at.elapsed().as_secs_f64()
    );
    // A duplicate needs a request the killed node sent whose outcome it never recorded: at most
    // its in-flight deliveries at the instant of the kill.
    assert!(
        twice <= IN_FLIGHT,
        "{twice} messages delivered twice, more than the killed node had in flight"
    );
}

/// Two nodes receive the same `eventId` at the same moment: exactly one accepts it (their
/// committers serialize on an advisory lock per eventId).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(herald_pg),
    ignore = "PostgreSQL: set HERALD_TEST_POSTGRES_URL (see scripts/pg-test-server) and rebuild"
)]
async fn a_duplicate_event_id_is_refused_across_nodes() {
    let db = fresh_postgres_database().await;
    let a = Node::start(&db, free_port(), &[]).await;
    let b = Node::start(&db, free_port(), &[]).await;
    let (s, app) = a
        .post("/app", json!({"name": "dedupe", "uid": "dedupe"}))
        .await;
    assert_eq!(s, 201, "{app}");
    for round in 0..10 {
        let body = json!({"eventType": "x.y", "eventId": format!("evt-{round}"), "payload": {}});
        let urls = [&a.base, &b.base, &a.base, &b.base]
            .map(|base| format!("{base}/app/dedupe/msg"))
            .to_vec();
        let statuses = post_all_at_once(urls, &body).await;
        assert_eq!(
            statuses.iter().filter(|&&s| s == 202).count(),
            1,
            "round {round}: {statuses:?}"
        );
        assert!(
            statuses.iter().all(|&s| s == 202 || s == 409),
            "{statuses:?}"
        );
    }
}
