//! `herald listen`, the real binary as a process: a real server delivers to it in every format
//! and it says VALID; a wrong secret, a changed body and a stale timestamp are INVALID, each with
//! its reason; `--status`, `--forward-to`, `--json` and `--count` do what they say.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(20);

/// A running `herald listen`, its stdout collected as it comes.
pub struct Listen {
    pub port: u16,
    pub child: tokio::process::Child,
    out: Arc<Mutex<String>>,
}

impl Listen {
    /// Starts `herald listen --port <free> ARGS` and waits until it accepts connections.
    pub async fn start(args: &[&str]) -> Listen {
        let port = free_port();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("listen")
            .args(["--port", &port.to_string()])
            .args(args)
            .env_remove("HERALD_LISTEN_SECRET")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("herald listen starts");
        let out = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let sink = out.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        eventually("herald listen accepts connections", WAIT, || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        Listen { port, child, out }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn output(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    /// Waits until the output holds `needle` `n` times; returns the output.
    pub async fn wait_for(&self, needle: &str, n: usize) -> String {
        eventually(
            &format!("{n} x {needle:?} from herald listen"),
            WAIT,
            || async {
                let out = self.output();
                (out.matches(needle).count() >= n).then_some(out)
            },
        )
        .await
    }

    /// The JSON lines printed so far (with `--json`).
    pub async fn json_lines(&self, n: usize) -> Vec<Value> {
        self.wait_for("\"verdict\"", n).await;
        self.output()
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect()
    }
}

const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const WHSK: &str =
    "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_says_valid_for_real_deliveries_in_every_format() {
    let app = spawn_app().await;
    let a = app.create_app("formats").await;
    // (endpoint options, listen's arguments, what its VALID line says)
    let cases: Vec<(Value, Vec<&str>, &str)> = vec![
        (
            json!({"secret": WHSEC}),
            vec!["--secret", WHSEC],
            "VALID standard v1",
        ),
        (
            json!({"secret": WHSK}),
            vec![
                "--secret",
                "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=",
            ],
            "VALID standard v1a",
        ),
        (
            json!({"format": "envelope", "secret": "test"}),
            vec!["--format", "envelope", "--secret", "test"],
            "VALID envelope",
        ),
        (
            json!({"format": "payload-string", "secret": "YOUR_SECRET_HERE"}),
            vec!["--format", "payload-string", "--secret", "YOUR_SECRET_HERE"],
            "VALID payload-string",
        ),
        (
            json!({"format": "hmac-header", "secret": "your-webhook-secret",
                   "signatureHeader": "X-Hub-Signature-256", "signaturePrefix": "sha256="}),
            vec![
                "--format",
                "hmac-header",
                "--secret",
                "your-webhook-secret",
                "--signature-header",
                "X-Hub-Signature-256",
                "--signature-prefix",
                "sha256=",
            ],
            "VALID hmac-header",
        ),
    ];
    let mut listeners = Vec::new();
    for (mut ep, args, expect) in cases {
        let l = Listen::start(&args).await;
        ep["url"] = l.url("/hook").into();
        app.create_endpoint(&a, ep).await;
        listeners.push((l, expect));
    }
    app.publish(
        &a,
        json!({"eventType": "invoice.paid", "eventId": "inv-7", "payload": {"invoice": 7, "paid": true}}),
    )
    .await;
    for (l, expect) in &listeners {
        let out = l.wait_for("answered", 1).await;
        assert!(out.contains(expect), "expected {expect:?} in:\n{out}");
        assert!(!out.contains("INVALID"), "{out}");
        assert!(out.contains("POST /hook"), "{out}");
        // The payload, pretty-printed (inside the envelope or payload string too).
        assert!(out.contains("  \"invoice\": 7,\n  \"paid\": true"), "{out}");
        assert!(out.contains("← answered 200"), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_says_invalid_for_a_wrong_secret_a_changed_body_and_a_stale_timestamp() {
    let app = spawn_app_with(|c| c.retry_schedule = vec![]).await;
    let a = app.create_app("invalid").await;
    let l = Listen::start(&["--secret", WHSEC]).await;

    // A real delivery signed with another secret: refused with 401, which Herald records.
    let (_, other) = app
        .create_endpoint(&a, json!({"url": l.url("/wrong-secret")}))
        .await;
    assert_ne!(other, WHSEC);
    let m = app
        .publish(&a, json!({"eventType": "t", "payload": {"n": 1}}))
        .await;
    let out = l.wait_for("answered", 1).await;
    assert!(out.contains("INVALID: signature does not match"), "{out}");
    assert!(out.contains("← answered 401"), "{out}");
    let attempts = app.wait_attempts(&a, m["id"].as_str().unwrap(), 1).await;
    assert_eq!(attempts[0]["responseStatusCode"], 401);

    // A real delivery signed with the right secret, captured, then replayed to listen as is
    // (VALID), with its body changed (INVALID), and re-signed ten minutes in the past (INVALID).
    let rx = Receiver::start().await;
    let a2 = app.create_app("captured").await;
    app.create_endpoint(&a2, json!({"url": rx.url("/capture"), "secret": WHSEC}))
        .await;
    app.publish(&a2, json!({"eventType": "t", "payload": {"n": 2}}))
        .await;
    let got = rx.wait_for(1, WAIT).await.remove(0);
    let replay = |body: Vec<u8>, ts: Option<i64>| {
        let mut req = client().post(l.url("/replayed")).body(body.clone());
        req = req
            .header("content-type", got.header("content-type"))
            .header("webhook-id", got.header("webhook-id"));
        if ts.is_none() {
            req = req
                .header("webhook-timestamp", got.header("webhook-timestamp"))
                .header("webhook-signature", got.header("webhook-signature"));
        }
        if let Some(ts) = ts {
            let sig =
                herald_verify::standard::sign(WHSEC, got.header("webhook-id"), ts, &body).unwrap();
            req = req
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", sig);
        }
        req.send()
    };
    let ok = replay(got.body.to_vec(), None).await.unwrap();
    assert_eq!(ok.status(), 200);
    let tampered = replay(br#"{"n": 3}"#.to_vec(), None).await.unwrap();
    assert_eq!(tampered.status(), 401);
    let signed_at = got.header("webhook-timestamp").parse::<i64>().unwrap() - 600;
    let stale = replay(got.body.to_vec(), Some(signed_at)).await.unwrap();
    assert_eq!(stale.status(), 401);
    let out = l.wait_for("answered", 4).await;
    let verdicts: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("VALID") || l.starts_with("INVALID"))
        .collect();
    assert_eq!(verdicts.len(), 4, "{out}");
    assert!(verdicts[1].starts_with("VALID standard v1"), "{out}");
    assert_eq!(
        verdicts[2],
        "INVALID: signature does not match (a wrong secret, or the body or headers were changed)"
    );
    assert!(
        verdicts[3].starts_with("INVALID: timestamp is 6") && verdicts[3].contains("s old"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_status_json_and_count_exercise_retries() {
    let app = spawn_app_with(|c| c.retry_schedule = vec![1]).await;
    let a = app.create_app("retries").await;
    let mut l = Listen::start(&[
        "--secret", WHSEC, "--status", "503", "--json", "--count", "2",
    ])
    .await;
    app.create_endpoint(&a, json!({"url": l.url("/r"), "secret": WHSEC}))
        .await;
    let m = app
        .publish(&a, json!({"eventType": "t", "payload": {"try": true}}))
        .await;
    let lines = l.json_lines(2).await;
    assert_eq!(lines.len(), 2);
    for line in &lines {
        assert_eq!(line["valid"], true, "{line}");
        assert_eq!(line["status"], 503);
        assert_eq!(line["id"], m["id"], "retries carry the same id");
        assert_eq!(line["body"], json!({"try": true}));
        assert_eq!(line["format"], "standard");
        assert_eq!(line["method"], "POST");
        assert!(line["headers"]["webhook-signature"].is_string());
    }
    assert_eq!(lines[0]["n"], 1);
    assert_eq!(lines[1]["n"], 2);
    // --count 2: it exits by itself, with 0.
    let status = tokio::time::timeout(WAIT, l.child.wait())
        .await
        .expect("listen exits after --count requests")
        .unwrap();
    assert!(status.success());
    let attempts = app.wait_attempts(&a, m["id"].as_str().unwrap(), 2).await;
    assert!(attempts.iter().all(|t| t["responseStatusCode"] == 503));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_forwards_verified_requests_and_relays_the_answer() {
    let app = spawn_app_with(|c| c.retry_schedule = vec![]).await;
    let rx = Receiver::start().await;
    rx.script(&[418]);
    let target = rx.url("/app-under-test");
    let l = Listen::start(&["--secret", WHSEC, "--forward-to", &target]).await;
    let a = app.create_app("forward").await;
    app.create_endpoint(&a, json!({"url": l.url("/in"), "secret": WHSEC}))
        .await;
    let m = app
        .publish(&a, json!({"eventType": "t", "payload": {"fwd": 1}}))
        .await;
    let got = rx.wait_for(1, WAIT).await.remove(0);
    assert_eq!(got.path, "/app-under-test");
    assert!(
        verify_standard(WHSEC, &got),
        "forwarded with its signature intact"
    );
    let attempts = app.wait_attempts(&a, m["id"].as_str().unwrap(), 1).await;
    assert_eq!(
        attempts[0]["responseStatusCode"], 418,
        "the app's answer is relayed"
    );
    let out = l.wait_for("answered", 1).await;
    assert!(
        out.contains(&format!("→ forwarded to {target}: 418")),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_rotation_and_usage_errors() {
    // A rotated endpoint signs with the new and the old secret; a listener that knows only the
    // old one finds its entry.
    let app = spawn_app().await;
    let a = app.create_app("rotation").await;
    let l = Listen::start(&["--secret", WHSEC]).await;
    let (ep, _) = app
        .create_endpoint(&a, json!({"url": l.url("/rot"), "secret": WHSEC}))
        .await;
    let (s, _) = app
        .post(&format!("/app/{a}/endpoint/{ep}/secret/rotate"), json!({}))
        .await;
    assert_eq!(s, 200);
    app.publish(&a, json!({"eventType": "t", "payload": {}}))
        .await;
    let out = l.wait_for("answered", 1).await;
    assert!(
        out.contains("VALID standard v1 (entry 2 of 2, key 1)"),
        "{out}"
    );

    // Usage errors exit 2 with a reason; a port in use exits 1.
    let run = |args: Vec<String>| async move {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("listen")
            .args(args)
            .env_remove("HERALD_LISTEN_SECRET")
            .output()
            .await
            .unwrap()
    };
    let port = l.port.to_string();
    let busy = run(vec!["--port".into(), port]).await;
    assert_eq!(busy.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&busy.stderr).contains("cannot listen on"));
    let bad = run(vec![
        "--secret".into(),
        "whsec_!!".into(),
        "--port".into(),
        "0".into(),
    ])
    .await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--secret: unusable secret"));
    let bad = run(vec![
        "--status".into(),
        "42".into(),
        "--port".into(),
        "0".into(),
    ])
    .await;
    assert_eq!(bad.status.code(), Some(2));
    let bad = run(vec!["--format".into(), "xml".into()]).await;
    assert_eq!(bad.status.code(), Some(2));
}
