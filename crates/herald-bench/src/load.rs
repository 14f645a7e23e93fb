//! The load generator: publishes through Herald's API with C keep-alive connections, flat out or
//! at a fixed offered rate; and the ceiling run, which posts signed requests straight to the
//! receiver.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use hyper::Method;

use crate::client::Conn;
use crate::clock::now_ns;
use crate::node::TOKEN;

/// Pads payloads to about 1 KiB.
const PAD: usize = 960;

/// A message payload carrying its send time.
fn payload(seq: u64) -> String {
    format!(
        r#"{{"sent":{},"seq":{seq},"pad":"{}"}}"#,
        now_ns(),
        "x".repeat(PAD)
    )
}

pub struct Published {
    pub accepted: u64,
    pub errors: u64,
    pub start_ns: u64,
    pub end_ns: u64,
}

impl Published {
    pub fn rate(&self) -> f64 {
        self.accepted as f64 / secs(self.end_ns - self.start_ns)
    }
}

pub fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// Publishes `n` messages, spread over `apps` in turn, with `conns` connections; at `rate`
/// messages per second if given, else as fast as Herald accepts them. With `event_ids`, each
/// message carries a unique `eventId` (Herald then checks it against the last 24 hours); with
/// `keys` > 0, an `orderingKey`, one of that many in turn.
pub async fn publish(
    port: u16,
    apps: &[String],
    n: u64,
    conns: usize,
    rate: Option<f64>,
    event_ids: bool,
    keys: u64,
) -> Published {
    let next = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let paths: Arc<Vec<String>> = Arc::new(
        apps.iter()
            .map(|a| format!("/api/v1/app/{a}/msg"))
            .collect(),
    );
    let start = now_ns();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (next, accepted, errors, paths) = (
            next.clone(),
            accepted.clone(),
            errors.clone(),
            paths.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let Ok(mut conn) = Conn::open(port).await else {
                errors.fetch_add(1, Ordering::Relaxed);
                return;
            };
            let auth = format!("Bearer {TOKEN}");
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return;
                }
                if let Some(rate) = rate {
                    let due = start + (i as f64 * 1e9 / rate) as u64;
                    let now = now_ns();
                    if due > now {
                        tokio::time::sleep(Duration::from_nanos(due - now)).await;
                    }
                }
                let event_id = if event_ids {
                    format!(r#","eventId":"bench-{start}-{i}""#)
                } else {
                    String::new()
                };
                let key = if keys > 0 {
                    format!(r#","orderingKey":"k{}""#, i % keys)
                } else {
                    String::new()
                };
                let body = format!(
                    r#"{{"eventType":"bench.event"{event_id}{key},"payload":{}}}"#,
                    payload(i)
                );
                let path = &paths[i as usize % paths.len()];
                match conn
                    .request(
                        Method::POST,
                        path,
                        &[("authorization", &auth)],
                        Bytes::from(body),
                    )
                    .await
                {
                    Ok((202, _)) => {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok((s, b)) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("publish answered {s}: {}", String::from_utf8_lossy(&b));
                        }
                    }
                    Err(e) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("publish failed: {e}");
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    Published {
        accepted: accepted.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        start_ns: start,
        end_ns: now_ns(),
    }
}

/// The ceiling: `n` requests signed as Herald signs them (Standard Webhooks, HMAC-SHA256), posted
/// straight to the receiver's `path` with `conns` connections. Returns requests per second.
pub async fn ceiling(port: u16, path: &str, n: u64, conns: usize) -> f64 {
    let key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA256,
        b"bench-ceiling-secret-0123456789ab",
    );
    let next = Arc::new(AtomicU64::new(0));
    let start = now_ns();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (next, key, path) = (next.clone(), key.clone(), path.to_string());
        tasks.push(tokio::spawn(async move {
            let Ok(mut conn) = Conn::open(port).await else {
                return;
            };
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return;
                }
                let body = payload(i);
                let id = format!("msg_{i:022}");
                let ts = (now_ns() / 1_000_000_000).to_string();
                let mut ctx = ring::hmac::Context::with_key(&key);
                ctx.update(id.as_bytes());
                ctx.update(b".");
                ctx.update(ts.as_bytes());
                ctx.update(b".");
                ctx.update(body.as_bytes());
                let sig = format!("v1,{}", B64.encode(ctx.sign().as_ref()));
                let headers = [
                    ("webhook-id", id.as_str()),
                    ("webhook-timestamp", ts.as_str()),
                    ("webhook-signature", sig.as_str()),
                ];
                if conn
                    .request(Method::POST, &path, &headers, Bytes::from(body))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    n as f64 / secs(now_ns() - start)
}
