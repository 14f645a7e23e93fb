//! The fast receiver: answers 200 at once and records when each delivery arrived.
//!
//! `/ok/...` deliveries are counted and their end-to-end latency taken from the `"sent"` field
//! the load generator put in the payload; other paths are answered at once, uncounted.
//! `/hang/...` requests are never answered (the sender's timeout ends them). While the receiver is "down", `/ok` requests wait until it comes up.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock;

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    hang: AtomicU64,
    /// Nanoseconds since the bench's epoch of the latest `/ok` delivery.
    last_ns: AtomicU64,
}

pub struct Receiver {
    pub port: u16,
    counts: Arc<Counts>,
    latencies: Arc<Mutex<Vec<u64>>>,
    up: watch::Sender<bool>,
}

impl Receiver {
    pub async fn start() -> std::io::Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let counts = Arc::new(Counts::default());
        let latencies = Arc::new(Mutex::new(Vec::with_capacity(1 << 20)));
        let (up, up_rx) = watch::channel(true);
        let (c, l) = (counts.clone(), latencies.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let (c, l, up) = (c.clone(), l.clone(), up_rx.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(req, c.clone(), l.clone(), up.clone()));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(Receiver {
            port,
            counts,
            latencies,
            up,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// While down, deliveries to `/ok` are held (not answered) until [`Receiver::set_up`].
    pub fn set_up(&self, up: bool) {
        let _ = self.up.send(up);
    }

    pub fn ok(&self) -> u64 {
        self.counts.ok.load(Ordering::Relaxed)
    }

    pub fn hung(&self) -> u64 {
        self.counts.hang.load(Ordering::Relaxed)
    }

    /// When the latest `/ok` delivery arrived (ns since the bench's epoch).
    pub fn last_ns(&self) -> u64 {
        self.counts.last_ns.load(Ordering::Relaxed)
    }

    /// Forgets counts and latencies (between scenarios).
    pub fn reset(&self) {
        self.counts.ok.store(0, Ordering::Relaxed);
        self.counts.hang.store(0, Ordering::Relaxed);
        self.counts.last_ns.store(0, Ordering::Relaxed);
        self.latencies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    pub fn latencies(&self) -> Vec<u64> {
        self.latencies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

async fn handle(
    req: Request<Incoming>,
    counts: Arc<Counts>,
    latencies: Arc<Mutex<Vec<u64>>>,
    mut up: watch::Receiver<bool>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path();
    if path.starts_with("/hang") {
        counts.hang.fetch_add(1, Ordering::Relaxed);
        std::future::pending::<()>().await;
    }
    // Other paths are answered at once and not counted (another endpoint's traffic).
    let counted = path.starts_with("/ok/");
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    if !counted {
        return Ok(Response::new(Full::new(Bytes::from_static(b"ok"))));
    }
    let _ = up.wait_for(|u| *u).await;
    let now = clock::now_ns();
    if let Some(sent) = sent_ns(&body) {
        latencies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(now.saturating_sub(sent));
    }
    counts.ok.fetch_add(1, Ordering::Relaxed);
    counts.last_ns.fetch_max(now, Ordering::Relaxed);
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

/// The `"sent":<ns>` number in a payload, found without parsing the whole JSON.
pub fn sent_ns(body: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"sent\":";
    let at = body.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits = body[at..].iter().take_while(|b| b.is_ascii_digit());
    let mut n: u64 = 0;
    let mut any = false;
    for d in digits {
        n = n.checked_mul(10)?.checked_add((d - b'0') as u64)?;
        any = true;
    }
    any.then_some(n)
}
