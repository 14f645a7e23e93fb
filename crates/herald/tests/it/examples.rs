//! The receivers in `examples/` (Flask and Express, each verifying with the public
//! `standardwebhooks` library) get a real delivery from a real server and verify it, and refuse
//! a changed body; `examples/walkthrough.sh` runs start to end with the CLI alone. The
//! libraries come from PyPI and npm, pinned, installed once per target directory.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncBufReadExt;
use tokio::process::Command;

use crate::helpers::*;
use crate::python::run;

const WAIT: Duration = Duration::from_secs(30);
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Installs with `install` into `dir` unless a previous install of the same `spec` finished.
async fn once(dir: &Path, spec: &str, install: impl AsyncFnOnce()) {
    let ready = dir.join("herald-ready");
    if std::fs::read_to_string(&ready).ok().as_deref() == Some(spec) {
        return;
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("the target directory is writable");
    install().await;
    std::fs::write(&ready, spec).expect("the target directory is writable");
}

async fn python() -> PathBuf {
    static VENV: tokio::sync::OnceCell<PathBuf> = tokio::sync::OnceCell::const_new();
    VENV.get_or_init(|| async {
        let reqs = examples().join("python-flask/requirements.txt");
        let spec = std::fs::read_to_string(&reqs).expect("requirements.txt");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("example-flask-venv");
        let python = dir.join("bin/python");
        once(&dir, &spec, async || {
            run(
                Command::new("python3").args(["-m", "venv"]).arg(&dir),
                "python3 -m venv",
            )
            .await;
            run(
                Command::new(&python)
                    .args(["-m", "pip", "install", "-q", "-r"])
                    .arg(&reqs),
                "pip install -r examples/python-flask/requirements.txt",
            )
            .await;
        })
        .await;
        python
    })
    .await
    .clone()
}

/// A copy of the Express example with its dependencies installed; returns its directory.
async fn node_app() -> PathBuf {
    static DIR: tokio::sync::OnceCell<PathBuf> = tokio::sync::OnceCell::const_new();
    DIR.get_or_init(|| async {
        let src = examples().join("node-express");
        let spec = std::fs::read_to_string(src.join("package.json")).expect("package.json");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("example-express");
        once(&dir, &spec, async || {
            std::fs::copy(src.join("package.json"), dir.join("package.json")).unwrap();
            run(
                Command::new("npm")
                    .args([
                        "install",
                        "--no-audit",
                        "--no-fund",
                        "--omit=dev",
                        "--no-package-lock",
                    ])
                    .current_dir(&dir),
                "npm install (examples/node-express)",
            )
            .await;
        })
        .await;
        std::fs::copy(src.join("server.js"), dir.join("server.js")).unwrap();
        dir
    })
    .await
    .clone()
}

/// A receiver process on `port`; its stdout collected.
struct Example {
    _child: tokio::process::Child,
    out: Arc<Mutex<String>>,
}

impl Example {
    async fn start(mut cmd: Command, port: u16) -> Example {
        let mut child = cmd
            .env("WEBHOOK_SECRET", SECRET)
            .env("PORT", port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the example starts");
        let out = Arc::new(Mutex::new(String::new()));
        let (stdout, sink) = (child.stdout.take().unwrap(), out.clone());
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stdout).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                sink.lock().unwrap().push_str(&format!("{l}\n"));
            }
        });
        eventually("the example receiver listens", WAIT, || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        Example { _child: child, out }
    }
}

/// A real delivery reaches the example, which verifies it (204); the same request with a changed
/// body is refused (400).
async fn delivers_to(cmd: Command) {
    let port = free_port();
    let ex = Example::start(cmd, port).await;
    let app = spawn_app().await;
    let a = app.create_app("example").await;
    let url = format!("http://127.0.0.1:{port}/webhook");
    app.create_endpoint(&a, json!({"url": url, "secret": SECRET}))
        .await;
    let m = app
        .publish(
            &a,
            json!({"eventType": "invoice.paid", "payload": {"invoice": 42}}),
        )
        .await;
    let id = m["id"].as_str().unwrap();
    let att = app.wait_attempts(&a, id, 1).await;
    assert_eq!(att[0]["responseStatusCode"], 204, "{}", att[0]);
    let out = eventually("the example's log line", WAIT, || async {
        let o = ex.out.lock().unwrap().clone();
        o.contains(&format!("verified {id}")).then_some(o)
    })
    .await;
    assert!(out.contains("42"), "{out}");

    // Replayed with a changed body: refused.
    let ts = chrono::Utc::now().timestamp();
    let sig = herald_verify::standard::sign(SECRET, id, ts, br#"{"invoice": 42}"#).unwrap();
    let r = client()
        .post(&url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .body(r#"{"invoice": 43}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    eventually("the example's rejection", WAIT, || async {
        ex.out.lock().unwrap().contains("rejected").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_flask_example_verifies_a_real_delivery() {
    let mut cmd = Command::new(python().await);
    cmd.arg(examples().join("python-flask/app.py"));
    delivers_to(cmd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_express_example_verifies_a_real_delivery() {
    let dir = node_app().await;
    let mut cmd = Command::new("node");
    cmd.arg("server.js").current_dir(dir);
    delivers_to(cmd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_walkthrough_runs() {
    let app = spawn_app().await;
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        Command::new("bash")
            .arg(examples().join("walkthrough.sh"))
            .env("HERALD", env!("CARGO_BIN_EXE_herald"))
            .env("HERALD_URL", &app.base)
            .env("HERALD_TOKEN", TOKEN)
            .env("LISTEN_PORT", free_port().to_string())
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("the walk-through finishes")
    .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "walkthrough.sh failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("both deliveries verified"), "{stdout}");
    assert_eq!(stdout.matches("\nVALID standard v1").count(), 2, "{stdout}");
}
