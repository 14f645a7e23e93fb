//! Metrics and logs, as an operator sees them: `/metrics` scraped and parsed while messages
//! are delivered and fail, on the API's port or `--metrics-listen`; JSON log lines of the real
//! binary carrying the request id the response echoes.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::helpers::*;

/// A parsed exposition: `name{labels}` (labels as rendered) -> value. Every sample line must
/// be `name[{k="v",...}] value`, every family announced by `# TYPE` first.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut typed = std::collections::HashSet::new();
    let mut out = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap();
            let kind = parts.next().unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            typed.insert(name.to_string());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
            .unwrap_or(name);
        assert!(typed.contains(family), "{name} has no # TYPE line");
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "{line}"
            );
        }
        out.insert(series.to_string(), value);
    }
    out
}

async fn scrape(url: &str) -> HashMap<String, f64> {
    let resp = client().get(url).send().await.expect("/metrics answers");
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    parse(&resp.text().await.unwrap())
}

fn get(m: &HashMap<String, f64>, series: &str) -> f64 {
    *m.get(series)
        .unwrap_or_else(|| panic!("{series} is not in the metrics: {m:?}"))
}

async fn metrics_count_publishes_deliveries_and_failures() {
    // One retry, a second apart: each failing delivery fails twice, then is exhausted.
    let app = spawn_app_with(|c| c.retry_schedule = vec![1]).await;
    let metrics_url = format!("{}/metrics", app.base);
    let before = scrape(&metrics_url).await;
    assert_eq!(get(&before, "herald_messages_published_total"), 0.0);
    let ok = Receiver::start().await;
    let bad = Receiver::start().await;
    const N: usize = 5;
    bad.script(&[500; 2 * N]);
    let app_id = app.create_app("metrics").await;
    app.create_endpoint(&app_id, json!({"url": ok.url("/ok")}))
        .await;
    app.create_endpoint(&app_id, json!({"url": bad.url("/bad")}))
        .await;
    for i in 0..N {
        app.publish(&app_id, json!({"eventType": "t.x", "payload": {"i": i}}))
            .await;
    }
    ok.wait_for(N, Duration::from_secs(15)).await;
    bad.wait_for(2 * N, Duration::from_secs(15)).await;
    // Recorded after the receiver answered: wait for the last outcome to be counted.
    let m = eventually("every outcome counted", Duration::from_secs(15), || async {
        let m = scrape(&metrics_url).await;
        (get(&m, "herald_attempt_duration_seconds_count") >= (3 * N) as f64).then_some(m)
    })
    .await;
    let n = N as f64;
    assert_eq!(get(&m, "herald_messages_published_total"), n);
    assert_eq!(get(&m, "herald_deliveries_total{outcome=\"success\"}"), n);
    assert_eq!(get(&m, "herald_deliveries_total{outcome=\"retry\"}"), n);
    assert_eq!(get(&m, "herald_deliveries_total{outcome=\"exhausted\"}"), n);
    assert_eq!(get(&m, "herald_deliveries_total{outcome=\"failed\"}"), 0.0);
    assert_eq!(get(&m, "herald_attempts_total{status_class=\"2xx\"}"), n);
    assert_eq!(
        get(&m, "herald_attempts_total{status_class=\"5xx\"}"),
        2.0 * n
    );
    assert_eq!(get(&m, "herald_attempt_duration_seconds_count"), 3.0 * n);
    assert_eq!(
        get(&m, "herald_attempt_duration_seconds_bucket{le=\"+Inf\"}"),
        3.0 * n
    );
    assert_eq!(get(&m, "herald_delivery_latency_seconds_count"), n);
    assert_eq!(
        get(
            &m,
            "herald_http_requests_total{method=\"POST\",route=\"/api/v1/app/{app_id}/msg\",status=\"202\"}"
        ),
        n
    );
    // Each publish and each recorded attempt went through a group commit.
    assert!(get(&m, "herald_commit_batch_size_sum") >= 4.0 * n);
    assert!(get(&m, "herald_commit_duration_seconds_count") >= 1.0);
    assert_eq!(get(&m, "herald_in_flight_requests"), 0.0);
    for gauge in [
        "herald_queue_depth",
        "herald_queue_oldest_due_age_seconds",
        "herald_parked_endpoints",
    ] {
        assert!(get(&m, gauge) >= 0.0);
    }
    // Label values are route patterns: no application id made it into a series.
    let text = client()
        .get(&metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains(&app_id), "an id in the metrics");
    // No per-endpoint series without the flag.
    assert!(!text.contains("herald_endpoint_attempts_total"));
}

async fn metrics_listen_serves_metrics_apart_from_the_api() {
    let port = free_port();
    let app = spawn_app_with(|c| {
        c.metrics_listen = Some(format!("127.0.0.1:{port}").parse().unwrap());
        c.metrics_per_endpoint = true;
    })
    .await;
    let on_api = client()
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        on_api.status(),
        404,
        "not on the API's port with --metrics-listen"
    );
    let rx = Receiver::start().await;
    let app_id = app.create_app("apart").await;
    let (ep, _) = app
        .create_endpoint(&app_id, json!({"url": rx.url("/apart")}))
        .await;
    app.publish(&app_id, json!({"eventType": "t.x", "payload": {}}))
        .await;
    rx.wait_for(1, Duration::from_secs(15)).await;
    let series =
        format!("herald_endpoint_attempts_total{{endpoint=\"{ep}\",status_class=\"2xx\"}}");
    let url = format!("http://127.0.0.1:{port}/metrics");
    eventually(
        "the per-endpoint series",
        Duration::from_secs(15),
        || async { (scrape(&url).await.get(&series) == Some(&1.0)).then_some(()) },
    )
    .await;
}

/// The real binary with `--log-format json`: every line it prints is a JSON object, and an
/// API request's line names its method, route, status, duration and the request id that the
/// response echoes (the caller's, or a generated one).
async fn json_logs_carry_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let db = test_database_url(&dir).await;
    let port = free_port();
    let mut node = Node::start_logging(
        &db,
        port,
        &[
            ("HERALD_LOG_FORMAT", "json"),
            ("HERALD_LOG", "info,herald::delivery=debug"),
        ],
        true,
    )
    .await;
    let resp = client()
        .get(format!("{}/app", node.base))
        .bearer_auth(TOKEN)
        .header("x-request-id", "trace-4711")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "trace-4711");
    let resp = client()
        .get(format!("{}/app/nope", node.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let generated = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(!generated.is_empty());
    // An attempt's lines carry its message's, endpoint's and attempt's ids.
    let rx = Receiver::start().await;
    let app = node.app_with_endpoint("logs", &rx.url("/logs")).await;
    let (s, msg) = node
        .post(
            &format!("/app/{app}/msg"),
            json!({"eventType": "t.x", "payload": {}}),
        )
        .await;
    assert_eq!(s, 202);
    let msg_id = msg["id"].as_str().unwrap().to_string();
    rx.wait_for(1, Duration::from_secs(15)).await;

    let stdout = node.child.stdout.take().expect("stdout is piped");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let mut found: HashMap<String, Value> = HashMap::new();
    let read = async {
        // The start's health checks are logged too: read on to the two requests of the test.
        let mut attempt: Option<Value> = None;
        while !(found.contains_key("trace-4711")
            && found.contains_key(&generated)
            && attempt.is_some())
        {
            let line = lines.next_line().await.unwrap().expect("the node logs on");
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
            assert!(v.is_object(), "{line}");
            if v["target"] == "herald::access" {
                // The request's span carries the id to every line it logs; its own line also
                // names it among its fields.
                let id = v["span"]["request_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                assert_eq!(v["fields"]["request_id"], id.as_str(), "{line}");
                found.insert(id, v);
            } else if v["fields"]["message"] == "attempt finished" {
                attempt = Some(v);
            }
        }
        attempt.unwrap()
    };
    let attempt = tokio::time::timeout(Duration::from_secs(15), read)
        .await
        .expect("both requests and the attempt logged");
    assert_eq!(attempt["span"]["msg_id"], msg_id.as_str(), "{attempt}");
    assert!(
        attempt["span"]["endpoint_id"]
            .as_str()
            .unwrap()
            .starts_with("ep_")
    );
    assert!(
        attempt["span"]["attempt_id"]
            .as_str()
            .unwrap()
            .starts_with("atmpt_")
    );
    assert_eq!(attempt["fields"]["status"], 200);
    let first = &found["trace-4711"];
    assert_eq!(first["level"], "INFO");
    assert_eq!(first["fields"]["method"], "GET");
    assert_eq!(first["fields"]["route"], "/api/v1/app");
    assert_eq!(first["fields"]["status"], 200);
    assert!(first["fields"]["duration_ms"].as_f64().unwrap() >= 0.0);
    let second = &found[&generated];
    assert_eq!(second["fields"]["route"], "/api/v1/app/{app_id}");
    assert_eq!(second["fields"]["status"], 404);
    node.kill().await;
}

backend_tests!(
    metrics_count_publishes_deliveries_and_failures,
    metrics_listen_serves_metrics_apart_from_the_api,
    json_logs_carry_the_request_id,
);
