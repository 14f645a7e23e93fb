//! SIGTERM: a node stops accepting, lets the deliveries in flight finish and records them,
//! gives everything else back to the database at once, and exits 0. Nothing is lost and nothing
//! is sent twice; on PostgreSQL another node takes the released work at once.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;

/// Deliveries in flight when the node is stopped.
const IN_FLIGHT: usize = 200;

fn ids(rx: &Receiver) -> Vec<String> {
    rx.received()
        .iter()
        .map(|r| r.header("webhook-id").to_string())
        .collect()
}

async fn sigterm_lets_deliveries_in_flight_finish() {
    let dir = tempfile::tempdir().unwrap();
    let db = test_database_url(&dir).await;
    let port = free_port();
    let cap = IN_FLIGHT.to_string();
    let env = [
        ("HERALD_MAX_IN_FLIGHT_PER_ENDPOINT", cap.as_str()),
        ("HERALD_REQUEST_TIMEOUT_MS", "10000"),
    ];
    let mut node = Node::start(&db, port, &env).await;
    let rx = Receiver::start().await;
    rx.set_delay(Duration::from_secs(2));
    let app = node.app_with_endpoint("slow", &rx.url("/hook")).await;
    let url = format!("{}/app/{app}/msg", node.base);
    let statuses = post_all_at_once(
        vec![url; IN_FLIGHT],
        &json!({"eventType": "slow.test", "payload": {}}),
    )
    .await;
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    eventually(
        "every delivery in flight",
        Duration::from_secs(15),
        || async { (rx.arrived() >= IN_FLIGHT).then_some(()) },
    )
    .await;

    let stopping = Instant::now();
    node.terminate();
    let status = node.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "a SIGTERMed node exits 0, got {status}");
    assert_eq!(
        rx.received().len(),
        IN_FLIGHT,
        "the node waited for its requests in flight ({:?} after SIGTERM)",
        stopping.elapsed()
    );

    // A restart sends nothing again: every attempt was recorded before the exit.
    let node = Node::start(&db, port, &env).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = ids(&rx);
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(
        (rx.arrived(), unique.len()),
        (IN_FLIGHT, IN_FLIGHT),
        "every delivery arrived once"
    );
    let (s, msgs) = node.get(&format!("/app/{app}/msg?limit=1")).await;
    assert_eq!(s, 200);
    let msg = msgs["data"][0]["id"].as_str().unwrap().to_string();
    let (_, attempts) = node.get(&format!("/app/{app}/attempt/msg/{msg}")).await;
    assert_eq!(attempts["data"][0]["responseStatusCode"], 200, "{attempts}");
}

/// Requests that outlast `--shutdown-timeout` are abandoned, and their deliveries released for
/// the next node at once (not when their 15 s leases run out).
async fn a_shutdown_timeout_releases_what_is_still_in_flight() {
    const N: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let db = test_database_url(&dir).await;
    let port = free_port();
    let env = [
        ("HERALD_SHUTDOWN_TIMEOUT", "1s"),
        ("HERALD_REQUEST_TIMEOUT_MS", "10000"),
    ];
    let mut node = Node::start(&db, port, &env).await;
    let rx = Receiver::start().await;
    rx.set_delay(Duration::from_secs(30));
    let app = node.app_with_endpoint("hung", &rx.url("/hook")).await;
    let url = format!("{}/app/{app}/msg", node.base);
    let statuses =
        post_all_at_once(vec![url; N], &json!({"eventType": "x.y", "payload": {}})).await;
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    eventually("requests in flight", Duration::from_secs(10), || async {
        (rx.arrived() >= N).then_some(())
    })
    .await;
    let stopping = Instant::now();
    node.terminate();
    let status = node.wait_exit(Duration::from_secs(10)).await;
    assert!(status.success(), "{status}");
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "stopped after {:?}",
        stopping.elapsed()
    );
    rx.set_delay(Duration::ZERO);
    let _node = Node::start(&db, port, &env).await;
    eventually(
        "the abandoned deliveries, sent again at once",
        Duration::from_secs(8),
        || async {
            let got: HashSet<String> = ids(&rx).into_iter().collect();
            (got.len() >= N).then_some(())
        },
    )
    .await;
}

backend_tests!(
    sigterm_lets_deliveries_in_flight_finish,
    a_shutdown_timeout_releases_what_is_still_in_flight,
);

/// Two nodes on PostgreSQL: the stopped node's queued deliveries (leased to it at publish) go
/// back at once, and the other node starts on them within a second, not when the leases expire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(herald_pg),
    ignore = "PostgreSQL: set HERALD_TEST_POSTGRES_URL (see scripts/pg-test-server) and rebuild"
)]
async fn sigterm_hands_queued_work_to_another_node_at_once() {
    const MESSAGES: usize = 200;
    const CAP: usize = 20;
    let db = fresh_postgres_database().await;
    let cap = CAP.to_string();
    let env = [
        ("HERALD_MAX_IN_FLIGHT_PER_ENDPOINT", cap.as_str()),
        ("HERALD_REQUEST_TIMEOUT_MS", "10000"),
    ];
    let mut a = Node::start(&db, free_port(), &env).await;
    let _b = Node::start(&db, free_port(), &env).await;
    let rx = Receiver::start().await;
    rx.set_delay(Duration::from_secs(2));
    let app = a.app_with_endpoint("shared", &rx.url("/hook")).await;
    // Node a takes every delivery of its publishes: CAP in flight, the rest queued there.
    let url = format!("{}/app/{app}/msg", a.base);
    let statuses = post_all_at_once(
        vec![url; MESSAGES],
        &json!({"eventType": "shared.test", "payload": {}}),
    )
    .await;
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    eventually(
        "node a's requests in flight",
        Duration::from_secs(10),
        || async { (rx.arrived() >= CAP).then_some(()) },
    )
    .await;
    assert_eq!(rx.arrived(), CAP, "only node a's slots are busy");

    rx.set_delay(Duration::from_millis(10));
    let stopping = Instant::now();
    a.terminate();
    eventually(
        "node b starting on the released deliveries",
        Duration::from_secs(1),
        || async { (rx.arrived() > CAP).then_some(()) },
    )
    .await;
    let taken = stopping.elapsed();
    let status = a.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "{status}");
    eventually("every delivery", Duration::from_secs(60), || async {
        (rx.received().len() >= MESSAGES).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = ids(&rx);
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(
        (got.len(), unique.len()),
        (MESSAGES, MESSAGES),
        "every delivery once (node b started {taken:?} after the SIGTERM)"
    );
}
