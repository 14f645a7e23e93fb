//! A Herald node for one scenario: the real binary as a child process, with a fresh database,
//! measured from /proc.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::client::{Conn, Error};

pub const TOKEN: &str = "bench-operator-token";

/// Where a scenario's data lives.
#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    /// An admin URL of a PostgreSQL server; each node gets a fresh `herald_bench` database, at
    /// the same URL with its database replaced (its query, `sslmode` and the like, kept). `tls`
    /// marks the runs made with `sslmode=require` (`--postgres-tls`).
    Postgres {
        admin: String,
        tls: bool,
    },
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres { .. } => "postgres",
        }
    }

    /// A scenario's label: `what` after the backend's name, and " (TLS)" after both for runs
    /// over TLS.
    pub fn scenario(&self, what: impl std::fmt::Display) -> String {
        match self {
            Backend::Postgres { tls: true, .. } => format!("{} {what} (TLS)", self.name()),
            _ => format!("{} {what}", self.name()),
        }
    }
}

/// `url` with its `sslmode` parameter set to `mode` (added, or replacing the URL's own).
pub fn with_sslmode(url: &str, mode: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("sslmode="))
        .collect();
    let sslmode = format!("sslmode={mode}");
    params.push(&sslmode);
    format!("{base}?{}", params.join("&"))
}

/// `url` naming the database `db` instead of its own, with its query (`?sslmode=...`) kept.
fn with_database(url: &str, db: &str) -> Result<String, Error> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let (scheme, rest) = base
        .split_once("://")
        .ok_or("a PostgreSQL URL starts with postgres://")?;
    let (authority, _) = rest
        .split_once('/')
        .ok_or("a PostgreSQL URL ends in /DATABASE")?;
    Ok(format!("{scheme}://{authority}/{db}{query}"))
}

pub struct Node {
    child: Child,
    pub port: u16,
    pid: u32,
    _dir: tempfile::TempDir,
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A fresh PostgreSQL database for one node, made with `psql` (PostgreSQL's client).
async fn fresh_pg_database(admin: &str) -> Result<String, Error> {
    for sql in [
        "DROP DATABASE IF EXISTS herald_bench WITH (FORCE)",
        "CREATE DATABASE herald_bench",
    ] {
        let out = Command::new("psql")
            .args([admin, "-q", "-c", sql])
            .output()
            .await?;
        if !out.status.success() {
            return Err(format!("psql: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
    }
    with_database(admin, "herald_bench")
}

impl Node {
    pub async fn start(
        bin: &Path,
        backend: &Backend,
        env: &[(&str, String)],
    ) -> Result<Node, Error> {
        let dir = tempfile::tempdir()?;
        let db = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("herald.db").display()),
            Backend::Postgres { admin, .. } => fresh_pg_database(admin).await?,
        };
        let port = free_port()?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
            .env("HERALD_DATABASE_URL", db)
            .env("HERALD_TOKEN", TOKEN)
            .env("HERALD_ALLOW_TARGETS", "127.0.0.1/32")
            .env("HERALD_LOG", "warn")
            .stdout(Stdio::null())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let pid = child.id().ok_or("herald exited at once")?;
        let node = Node {
            child,
            port,
            pid,
            _dir: dir,
        };
        let start = Instant::now();
        while Conn::open(port).await.is_err() {
            if start.elapsed() > Duration::from_secs(30) {
                return Err("herald did not start listening within 30 s".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(node)
    }

    /// A field of /proc/PID/status in MiB (`VmRSS` now, `VmHWM` the peak so far).
    pub fn mem_mib(&self, field: &str) -> f64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    }

    /// Creates an application and returns its id.
    pub async fn app(&self, name: &str) -> Result<String, Error> {
        let mut c = Conn::open(self.port).await?;
        let (s, b) = c
            .post_json("/api/v1/app", TOKEN, &serde_json::json!({"name": name}))
            .await?;
        if s != 201 {
            return Err(format!("creating an app: {s} {b}").into());
        }
        Ok(b["id"].as_str().unwrap_or_default().to_string())
    }

    /// Creates an endpoint of `app` delivering to `url`.
    pub async fn endpoint(&self, app: &str, url: &str) -> Result<(), Error> {
        self.endpoint_with(app, serde_json::json!({"url": url}))
            .await
    }

    /// Creates an endpoint of `app` from `body` (the API's endpoint fields).
    pub async fn endpoint_with(&self, app: &str, body: serde_json::Value) -> Result<(), Error> {
        let mut c = Conn::open(self.port).await?;
        let (s, b) = c
            .post_json(&format!("/api/v1/app/{app}/endpoint"), TOKEN, &body)
            .await?;
        if s != 201 {
            return Err(format!("creating an endpoint: {s} {b}").into());
        }
        Ok(())
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// The `herald` binary next to this one (both are built by `cargo build --release`).
pub fn default_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.with_file_name("herald")
}

#[cfg(test)]
mod tests {
    use super::{with_database, with_sslmode};

    #[test]
    fn the_database_is_replaced_and_the_query_kept() {
        let url = "postgres://u@h:5432/postgres?sslmode=disable&sslrootcert=/etc/ca.pem";
        assert_eq!(
            with_database(url, "herald_bench").unwrap(),
            "postgres://u@h:5432/herald_bench?sslmode=disable&sslrootcert=/etc/ca.pem"
        );
        assert_eq!(
            with_database("postgres://u@h/postgres", "herald_bench").unwrap(),
            "postgres://u@h/herald_bench"
        );
        assert!(with_database("postgres://u@h", "herald_bench").is_err());
    }

    #[test]
    fn sslmode_is_added_or_replaced() {
        assert_eq!(
            with_sslmode("postgres://h/db", "require"),
            "postgres://h/db?sslmode=require"
        );
        assert_eq!(
            with_sslmode("postgres://h/db?sslmode=prefer&x=1", "disable"),
            "postgres://h/db?x=1&sslmode=disable"
        );
    }
}
