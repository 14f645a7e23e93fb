//! The official `svix` Python SDK, from PyPI, drives Herald unchanged
//! (the script is `tests/sdk/svix_sdk_test.py`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use crate::helpers::*;

/// The SDK version the test pins, so a new release cannot break CI unnoticed.
const SVIX_VERSION: &str = "2.9.1";

/// Runs `cmd` to completion; panics with its output if it fails.
pub async fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .await
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throwaway virtual environment with the SDK, made once per target directory (and once per
/// test process: both backends' tests share it).
async fn venv() -> PathBuf {
    static VENV: tokio::sync::OnceCell<PathBuf> = tokio::sync::OnceCell::const_new();
    VENV.get_or_init(make_venv).await.clone()
}

async fn make_venv() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("svix-venv-{SVIX_VERSION}"));
    let python = dir.join("bin").join("python");
    // Written last, so an interrupted install is redone.
    let ready = dir.join("herald-ready");
    if !ready.exists() {
        run(
            Command::new("python3").args(["-m", "venv"]).arg(&dir),
            "python3 -m venv",
        )
        .await;
        run(
            Command::new(&python).args([
                "-m",
                "pip",
                "install",
                "-q",
                &format!("svix=={SVIX_VERSION}"),
            ]),
            "pip install svix",
        )
        .await;
        std::fs::write(&ready, SVIX_VERSION).expect("the venv directory is writable");
    }
    python
}

async fn svix_python_sdk_works_unchanged() {
    let python = venv().await;
    let app = spawn_app_with(|c| c.retry_schedule = vec![1, 1, 1]).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/svix_sdk_test.py");
    let out = tokio::time::timeout(
        Duration::from_secs(180),
        Command::new(&python)
            .arg(&script)
            .env("HERALD_URL", &app.base)
            .env("HERALD_TOKEN", TOKEN)
            .output(),
    )
    .await
    .expect("the SDK script finishes")
    .expect("the SDK script runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "SDK script failed:\n{stdout}\n{stderr}"
    );
    println!("{stdout}");
}

backend_tests!();

backend_tests!(svix_python_sdk_works_unchanged);
