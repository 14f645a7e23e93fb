//! The client commands, the real binary against a live server: each command works, prints a
//! table or `--json`, and fails with a clear message and its documented exit code (1: Herald
//! said no, 2: usage, 3: Herald unreachable).

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::helpers::*;

pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Asserts exit code `code`; returns self for more checks.
    #[track_caller]
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        self
    }

    #[track_caller]
    pub fn ok(&self) -> &Self {
        self.code(0)
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }
}

/// Runs `herald ARGS` against `base` with the test token, `stdin` as its input.
pub async fn herald_at(base: &str, token: &str, args: &[&str], stdin: Option<&str>) -> Out {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"));
    cmd.args(args)
        .env("HERALD_URL", base)
        .env("HERALD_TOKEN", token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("the herald binary runs");
    let mut input = child.stdin.take().expect("stdin is piped");
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).await.unwrap();
    }
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the command finishes")
        .unwrap();
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub async fn herald(app: &TestApp, args: &[&str]) -> Out {
    herald_at(&app.base, TOKEN, args, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_app_commands() {
    let app = spawn_app().await;
    let made = herald(
        &app,
        &["app", "create", "Acme Inc", "--uid", "acme", "--json"],
    )
    .await;
    made.ok();
    let id = made.json()["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("app_"));
    let human = herald(
        &app,
        &["app", "create", "Beta", "--metadata", r#"{"tier":"gold"}"#],
    )
    .await;
    assert!(
        human.ok().stdout.contains("name      Beta"),
        "{}",
        human.stdout
    );

    let list = herald(&app, &["app", "list"]).await;
    let first = list
        .ok()
        .stdout
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(first.starts_with("ID") && first.contains("UID") && first.contains("NAME"));
    assert!(list.stdout.contains(&id) && list.stdout.contains("Acme Inc"));
    let list = herald(&app, &["app", "list", "--json", "--limit", "1"]).await;
    assert_eq!(list.ok().json().as_array().unwrap().len(), 1);
    assert!(list.stderr.contains("more than 1"), "{}", list.stderr);

    let got = herald(&app, &["app", "get", "acme", "--json"]).await;
    assert_eq!(got.ok().json()["id"], id.as_str());
    herald(&app, &["app", "delete", "acme"]).await.ok();

    // Errors: the server's detail, exit 1, no stack trace.
    let missing = herald(&app, &["app", "get", "acme"]).await;
    assert!(missing.code(1).stderr.contains("404") && missing.stderr.contains("not found"));
    let empty = herald(&app, &["app", "create", ""]).await;
    assert!(
        empty.code(1).stderr.contains("422: body.name"),
        "{}",
        empty.stderr
    );
    let bad = herald(&app, &["app", "create", "X", "--metadata", "{nope"]).await;
    assert!(bad.code(2).stderr.contains("--metadata is not JSON"));
    herald(&app, &["app", "delete", "acme"]).await.code(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_endpoint_commands() {
    let app = spawn_app().await;
    let a = app.create_app("eps").await;
    let made = herald(
        &app,
        &[
            "endpoint",
            "create",
            &a,
            "http://127.0.0.1:9/hook",
            "--uid",
            "main",
            "--event-type",
            "invoice.paid,invoice.void",
            "--format",
            "hmac-header",
            "--secret",
            "shh",
            "--signature-header",
            "X-Sig",
            "--header",
            "X-Tenant=acme",
        ],
    )
    .await;
    let text = &made.ok().stdout;
    assert!(text.contains("format            hmac-header"), "{text}");
    assert!(text.contains("secret            shh"), "{text}");
    assert!(text.contains("invoice.paid,invoice.void"), "{text}");

    let list = herald(&app, &["endpoint", "list", &a]).await;
    assert!(list.ok().stdout.contains("http://127.0.0.1:9/hook"));
    assert!(list.stdout.contains("enabled"));
    let ep = herald(&app, &["endpoint", "get", &a, "main", "--json"]).await;
    let ep = ep.ok().json();
    assert_eq!(
        ep["headers"],
        Value::Null,
        "headers are not part of the endpoint"
    );
    let id = ep["id"].as_str().unwrap().to_string();

    let up = herald(
        &app,
        &[
            "endpoint",
            "update",
            &a,
            &id,
            "--description",
            "primary",
            "--timeout-ms",
            "5000",
            "--json",
        ],
    )
    .await;
    let up = up.ok().json();
    assert_eq!(
        (up["description"].as_str(), up["timeoutMs"].as_i64()),
        (Some("primary"), Some(5000))
    );
    assert_eq!(up["format"], "hmac-header", "fields not given are kept");
    let off = herald(&app, &["endpoint", "disable", &a, &id, "--json"]).await;
    assert_eq!(off.ok().json()["disabled"], true);
    let on = herald(&app, &["endpoint", "enable", &a, &id]).await;
    assert!(on.ok().stdout.contains("enabled"));
    let secret = herald(&app, &["endpoint", "secret", &a, &id]).await;
    assert_eq!(secret.ok().stdout.trim(), "shh");
    let rotated = herald(
        &app,
        &[
            "endpoint", "secret", &a, &id, "--rotate", "--key", "new-one",
        ],
    )
    .await;
    assert_eq!(rotated.ok().stdout.trim(), "new-one");

    // Errors.
    let bad = herald(&app, &["endpoint", "create", &a, "ftp://nope"]).await;
    assert!(bad.code(1).stderr.contains("body.url"), "{}", bad.stderr);
    let nothing = herald(&app, &["endpoint", "update", &a, &id]).await;
    assert!(nothing.code(2).stderr.contains("nothing to update"));
    herald(
        &app,
        &["endpoint", "create", &a, "http://x", "--format", "xml"],
    )
    .await
    .code(2);
    herald(&app, &["endpoint", "secret", &a, &id, "--key", "k"])
        .await
        .code(2);
    herald(&app, &["endpoint", "delete", &a, &id]).await.ok();
    let gone = herald(&app, &["endpoint", "get", &a, &id]).await;
    assert!(gone.code(1).stderr.contains("404"));
    herald(&app, &["endpoint", "disable", &a, &id])
        .await
        .code(1);
    herald(&app, &["endpoint", "list", "no-such-app"])
        .await
        .code(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_event_type_commands() {
    let app = spawn_app().await;
    let made = herald(
        &app,
        &[
            "event-type",
            "create",
            "invoice.paid",
            "--description",
            "An invoice was paid",
            "--schemas",
            r#"{"1": {"type": "object"}}"#,
        ],
    )
    .await;
    assert!(made.ok().stdout.contains("invoice.paid"));
    let list = herald(&app, &["event-type", "list"]).await;
    assert!(list.ok().stdout.contains("An invoice was paid"));
    let list = herald(&app, &["event-type", "list", "--json"]).await;
    assert_eq!(list.ok().json()[0]["schemas"]["1"]["type"], "object");
    let bad = herald(&app, &["event-type", "create", "bad name!"]).await;
    assert!(bad.code(1).stderr.contains("422"), "{}", bad.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_send_messages_and_attempts() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let a = app.create_app("send").await;
    let (ep, secret) = app.create_endpoint(&a, json!({"url": rx.url("/in")})).await;

    let sent = herald(
        &app,
        &[
            "send",
            &a,
            "invoice.paid",
            r#"{"invoice":  1}"#,
            "--event-id",
            "inv-1",
            "--json",
        ],
    )
    .await;
    let msg = sent.ok().json()["id"].as_str().unwrap().to_string();
    let piped = herald_at(
        &app.base,
        TOKEN,
        &["send", &a, "invoice.paid", "-"],
        Some("{\"from\": \"stdin\"}\n"),
    )
    .await;
    assert!(piped.ok().stdout.contains("invoice.paid"));
    let many = herald(
        &app,
        &[
            "send",
            &a,
            "bulk",
            "{}",
            "--count",
            "5",
            "--event-id",
            "b",
            "--json",
        ],
    )
    .await;
    let many = many.ok().json();
    assert_eq!(many.as_array().unwrap().len(), 5);
    assert_eq!(many[4]["eventId"], "b-5");
    assert!(
        herald(&app, &["send", &a, "bulk", "{}", "--count", "3"])
            .await
            .ok()
            .stderr
            .contains("3/3")
    );

    let got = rx.wait_for(9, Duration::from_secs(20)).await;
    let first = got.iter().find(|r| r.header("webhook-id") == msg).unwrap();
    assert_eq!(
        &first.body[..],
        br#"{"invoice":  1}"#,
        "the payload is sent byte for byte"
    );
    assert!(verify_standard(&secret, first));

    let list = herald(&app, &["messages", &a]).await;
    assert!(list.ok().stdout.contains(&msg) && list.stdout.contains("inv-1"));
    let list = herald(
        &app,
        &["messages", &a, "--event-type", "invoice.paid", "--json"],
    )
    .await;
    assert_eq!(list.ok().json().as_array().unwrap().len(), 2);
    let att = app.wait_attempts(&a, &msg, 1).await;
    let attempts = herald(&app, &["attempts", &a, "inv-1"]).await;
    let text = &attempts.ok().stdout;
    assert!(
        text.contains(att[0]["id"].as_str().unwrap()) && text.contains(&ep),
        "{text}"
    );
    assert!(text.contains("success") && text.contains("200"), "{text}");

    // Errors.
    let bad = herald(&app, &["send", &a, "t", "{oops"]).await;
    assert!(bad.code(2).stderr.contains("not JSON"));
    herald(&app, &["send", "nope", "t", "{}"]).await.code(1);
    let dup = herald(&app, &["send", &a, "t", "{}", "--event-id", "inv-1"]).await;
    assert!(dup.code(1).stderr.contains("409"), "{}", dup.stderr);
    herald(&app, &["messages", "nope"]).await.code(1);
    herald(&app, &["messages", &a, "--since", "whenever"])
        .await
        .code(2);
    herald(&app, &["attempts", &a, "msg_nope"]).await.code(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_resend_and_recover() {
    let app = spawn_app_with(|c| c.retry_schedule = vec![]).await;
    let rx = Receiver::start().await;
    rx.script(&[500, 500]);
    let a = app.create_app("replay").await;
    let (ep, _) = app.create_endpoint(&a, json!({"url": rx.url("/r")})).await;
    let m1 = app
        .publish(&a, json!({"eventType": "t", "payload": {"n": 1}}))
        .await;
    let m1 = m1["id"].as_str().unwrap().to_string();
    app.wait_attempts(&a, &m1, 1).await;

    // Every failed message of the endpoint (the receiver fails it once more), then the message
    // itself to all its endpoints.
    let failed = herald(
        &app,
        &["resend", &a, "--endpoint", &ep, "--failed", "--since", "1h"],
    )
    .await;
    assert!(
        failed.ok().stdout.contains("resent 1 of 1"),
        "{}",
        failed.stdout
    );
    app.wait_attempts(&a, &m1, 2).await;
    let again = herald(&app, &["resend", &a, &m1, "--json"]).await;
    assert_eq!(again.ok().json()[0]["ok"], true);
    let att = app.wait_attempts(&a, &m1, 3).await;
    assert_eq!(att[0]["responseStatusCode"], 200);

    // A failed delivery recovered, waiting until it is delivered.
    rx.script(&[503]);
    let m2 = app
        .publish(&a, json!({"eventType": "t", "payload": {"n": 2}}))
        .await;
    app.wait_attempts(&a, m2["id"].as_str().unwrap(), 1).await;
    let rec = herald(
        &app,
        &["recover", &a, &ep, "--since", "10m", "--wait", "--json"],
    )
    .await;
    let rec = rec.ok().json();
    assert_eq!(
        (rec["delivered"].as_i64(), rec["failed"].as_i64()),
        (Some(1), Some(0)),
        "{rec}"
    );
    let missing = herald(
        &app,
        &[
            "recover",
            &a,
            &ep,
            "--since",
            "2026-01-01T00:00:00Z",
            "--missing",
        ],
    )
    .await;
    assert!(missing.ok().stdout.contains("missing messages queued"));

    // Errors.
    herald(&app, &["resend", &a]).await.code(2);
    herald(&app, &["resend", &a, "--failed"]).await.code(2);
    let nope = herald(&app, &["resend", &a, "msg_nope", "--endpoint", &ep]).await;
    assert!(nope.code(1).stderr.contains("404"));
    herald(&app, &["recover", &a, &ep, "--since", "someday"])
        .await
        .code(2);
    herald(&app, &["recover", &a, "ep_nope", "--since", "1h"])
        .await
        .code(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_portal_link_completions_and_exit_codes() {
    let app = spawn_app().await;
    let a = app.create_app("portal").await;
    let link = herald(&app, &["portal-link", &a]).await;
    assert!(
        link.ok().stdout.trim().contains("/portal/#key=appsk_"),
        "{}",
        link.stdout
    );
    let json = herald(&app, &["portal-link", &a, "--json"]).await.json();
    // The link's token is an application token: the CLI works with it, for that app only.
    let token = json["token"].as_str().unwrap();
    herald_at(&app.base, token, &["messages", &a], None)
        .await
        .ok();
    let other = app.create_app("other").await;
    let own = herald_at(&app.base, token, &["app", "list"], None).await;
    assert!(own.ok().stdout.contains(&a) && !own.stdout.contains(&other));
    herald_at(&app.base, token, &["app", "get", &other], None)
        .await
        .code(1);
    herald(&app, &["portal-link", "nope"]).await.code(1);

    // 3: nothing listening; 2: no token, or a URL that is not one; 1: a wrong token.
    let port = free_port();
    let down = herald_at(
        &format!("http://127.0.0.1:{port}"),
        TOKEN,
        &["app", "list"],
        None,
    )
    .await;
    assert!(
        down.code(3).stderr.contains("cannot reach Herald"),
        "{}",
        down.stderr
    );
    let no_token = herald_at(&app.base, "", &["app", "list"], None).await;
    assert!(no_token.code(2).stderr.contains("HERALD_TOKEN"));
    herald_at("localhost:8071", TOKEN, &["app", "list"], None)
        .await
        .code(2);
    let wrong = herald_at(&app.base, "wrong", &["app", "list"], None).await;
    assert!(wrong.code(1).stderr.contains("401"));
    // --url and --token win over the environment.
    let flags = herald_at(
        "http://127.0.0.1:1",
        "wrong",
        &["app", "list", "--url", &app.base, "--token", TOKEN],
        None,
    )
    .await;
    assert!(flags.ok().stdout.contains(&a));

    for shell in ["bash", "zsh", "fish"] {
        let c = herald(&app, &["completions", shell]).await;
        assert!(c.ok().stdout.contains("recover"), "{shell}");
    }
    herald(&app, &["completions", "tcsh"]).await.code(2);
    herald(&app, &["no-such-command"]).await.code(2);
}
