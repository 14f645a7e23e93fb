//! Python tools the tests drive (the `svix` SDK, Schemathesis), each installed from PyPI at a
//! pinned version into its own virtual environment, once per target directory.

use std::path::{Path, PathBuf};

use tokio::process::Command;

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

/// The directory of a virtual environment holding `package==version`, made if needed. Tests in
/// one process that need the same package wait for one install.
pub async fn venv(package: &str, version: &str) -> PathBuf {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one_at_a_time = LOCK.lock().await;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{package}-venv-{version}"));
    // Written last, so an interrupted install is redone.
    let ready = dir.join("herald-ready");
    if !ready.exists() {
        run(
            Command::new("python3").args(["-m", "venv"]).arg(&dir),
            "python3 -m venv",
        )
        .await;
        run(
            Command::new(dir.join("bin").join("python")).args([
                "-m",
                "pip",
                "install",
                "-q",
                &format!("{package}=={version}"),
            ]),
            &format!("pip install {package}"),
        )
        .await;
        std::fs::write(&ready, version).expect("the venv directory is writable");
    }
    dir
}
