//! Schema-driven fuzzing: Schemathesis (PyPI, pinned) reads Herald's own OpenAPI document from a
//! live server and sends what it derives from it, valid and invalid, then the stateful
//! sequences its links suggest. It fails on any 5xx, any response the document does not
//! describe (status, content type, headers, body schema) and any crash. SQLite only: the API
//! layer under test is the same on both backends.
//!
//! The run reaches past "not found" because its path parameters are drawn, most of the time,
//! from objects made beforehand (an application, an endpoint, a message and its attempt, an
//! event type); deletions get their own applications, and `clientCert` and `deliverAt` are drawn
//! mostly from values Herald takes (random text is never a certificate). Every endpoint URL it
//! sends is one of the test's receiver on 127.0.0.1, so no delivery leaves the machine (not even
//! a name lookup); the test checks every endpoint after. Schemathesis's coverage phase ignores the dictionaries, so
//! it is off for the operations that take a URL (the fuzzing and stateful phases cover them).
//!
//! `HERALD_FUZZ_EXAMPLES` (default 100 per operation) and `HERALD_FUZZ_SEED` change the run.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::process::Command;

use crate::helpers::*;

const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// The checks that make the run fail.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance";

/// Objects for the run to find, and its configuration (`schemathesis.toml`) naming them.
async fn seed(app: &TestApp, receiver: &Receiver) -> String {
    let (s, b) = app
        .post("/app", json!({"name": "fuzz", "uid": "fuzz-app"}))
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = app
        .post(
            "/event-type",
            json!({"name": "fuzz.event", "description": "made by the fuzz test"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    app.create_endpoint(
        "fuzz-app",
        json!({"url": receiver.url("/fuzz"), "uid": "fuzz-ep"}),
    )
    .await;
    app.publish(
        "fuzz-app",
        json!({"eventType": "fuzz.event", "eventId": "fuzz-msg", "payload": {"n": 1}}),
    )
    .await;
    let attempt = app.wait_attempts("fuzz-app", "fuzz-msg", 1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut doomed = Vec::new();
    for i in 0..8 {
        let uid = format!("doomed-{i}");
        let (s, b) = app.post("/app", json!({"name": uid, "uid": uid})).await;
        assert_eq!(s, 201, "{b}");
        doomed.push(format!("{uid:?}"));
    }
    let urls = [receiver.url("/fuzz"), receiver.url("/other")];
    // Delivery control's fields, drawn mostly from values Herald takes, so that endpoint
    // creation and publishes get past their checks: a real client certificate (test fixture)
    // and times within `deliverAt`'s 30 days (a past one, and two seconds ahead).
    let cert = format!(
        "{}{}",
        include_str!("certs/client.pem"),
        include_str!("certs/client.key")
    );
    let cert = serde_json::to_string(&cert).unwrap();
    let now = herald::clock::now_ms();
    let times = [
        herald::clock::rfc3339(now - 60_000),
        herald::clock::rfc3339(now + 2_000),
    ];
    format!(
        r#"
[parameters]
"path.app_id" = {{ dictionary = "apps", probability = 0.8 }}
"path.endpoint_id" = {{ dictionary = "endpoints", probability = 0.8 }}
"path.msg_id" = {{ dictionary = "messages", probability = 0.8 }}
"path.attempt_id" = {{ dictionary = "attempts", probability = 0.8 }}
"path.event_type_name" = {{ dictionary = "event_types", probability = 0.8 }}
"body.eventType" = {{ dictionary = "event_types", probability = 0.5 }}
"body.url" = {{ dictionary = "urls", probability = 1.0 }}
"body.clientCert" = {{ dictionary = "certs", probability = 0.9 }}
"body.deliverAt" = {{ dictionary = "times", probability = 0.8 }}

[[operations]]
include-operation-id = ["v1.endpoint.create", "v1.endpoint.update", "v1.endpoint.patch", "v1.operational-webhook.endpoint.create", "v1.operational-webhook.endpoint.update"]
phases.coverage.enabled = false

[[operations]]
include-operation-id = "v1.application.delete"
parameters = {{ "path.app_id" = {{ dictionary = "doomed", probability = 0.8 }} }}

[dictionaries.apps]
values = ["fuzz-app"]
[dictionaries.doomed]
values = [{doomed}]
[dictionaries.endpoints]
values = ["fuzz-ep"]
[dictionaries.messages]
values = ["fuzz-msg"]
[dictionaries.attempts]
values = ["{attempt}"]
[dictionaries.event_types]
values = ["fuzz.event"]
[dictionaries.urls]
values = ["{}", "{}"]
[dictionaries.certs]
values = [{cert}]
[dictionaries.times]
values = ["{}", "{}"]
"#,
        urls[0],
        urls[1],
        times[0],
        times[1],
        doomed = doomed.join(", "),
    )
}

/// The figure after `label` in Schemathesis's summary (e.g. `3037 generated`).
fn figure(out: &str, label: &str) -> Option<u64> {
    out.lines()
        .filter_map(|l| {
            let words: Vec<&str> = l.split(|c: char| c == ',' || c.is_whitespace()).collect();
            words
                .windows(2)
                .find(|w| w[1] == label)
                .and_then(|w| w[0].parse().ok())
        })
        .next_back()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_nor_undocumented_response() {
    on_backend(Backend::Sqlite, async {
        let venv = crate::python::venv("schemathesis", SCHEMATHESIS_VERSION).await;
        let receiver = Receiver::start().await;
        let app = spawn_app_with(|c| c.retry_schedule = vec![1]).await;
        let config = seed(&app, &receiver).await;
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("schemathesis.toml");
        std::fs::write(&config_path, config).unwrap();
        let examples = std::env::var("HERALD_FUZZ_EXAMPLES").unwrap_or_else(|_| "100".into());
        let seed = std::env::var("HERALD_FUZZ_SEED").unwrap_or_else(|_| "20261130".into());
        let started = Instant::now();
        let out = tokio::time::timeout(
            Duration::from_secs(600),
            Command::new(venv.join("bin").join("schemathesis"))
                .arg("--config-file")
                .arg(&config_path)
                .arg("run")
                .arg(app.url("/openapi.json"))
                .args(["--header", &format!("Authorization: Bearer {TOKEN}")])
                .args(["--checks", CHECKS])
                .args(["--max-examples", &examples, "--seed", &seed])
                // One worker: two threads have tripped a CPython 3.11 compiler bug (SystemError:
                // AST constructor recursion depth mismatch) inside Schemathesis.
                .args(["--workers", "1", "--no-color", "--request-timeout", "30"])
                .current_dir(dir.path())
                .output(),
        )
        .await
        .expect("Schemathesis finishes within 10 minutes")
        .expect("Schemathesis runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let generated = figure(&stdout, "generated").unwrap_or(0);
        println!(
            "Schemathesis {SCHEMATHESIS_VERSION}: {generated} test cases in {:.0?} \
             (max {examples} per operation, seed {seed})\n{stdout}",
            started.elapsed()
        );
        assert!(
            out.status.success(),
            "Schemathesis found problems:\n{stdout}\n{stderr}"
        );
        assert!(generated >= 1000, "only {generated} test cases were run");

        // Every endpoint the run made points at the receiver: nothing was sent off the machine.
        let db = app.db_url.strip_prefix("sqlite://").unwrap();
        let urls: Vec<String> = rusqlite::Connection::open(Path::new(db))
            .unwrap()
            .prepare("SELECT url FROM endpoints")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let base = receiver.url("/");
        let elsewhere: Vec<&String> = urls.iter().filter(|u| !u.starts_with(&base)).collect();
        assert!(
            elsewhere.is_empty(),
            "endpoints off the machine: {elsewhere:?}"
        );
        println!(
            "{} endpoints, all on the receiver, which got {} requests",
            urls.len(),
            receiver.received().len()
        );
    })
    .await
}
