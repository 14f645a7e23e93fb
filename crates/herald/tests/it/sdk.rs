//! The official `svix` Python SDK, from PyPI, drives Herald unchanged
//! (the script is `tests/sdk/svix_sdk_test.py`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use crate::helpers::*;

/// The SDK version the test pins, so a new release cannot break CI unnoticed.
const SVIX_VERSION: &str = "2.9.1";

async fn venv() -> PathBuf {
    crate::python::venv("svix", SVIX_VERSION)
        .await
        .join("bin")
        .join("python")
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
