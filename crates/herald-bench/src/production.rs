//! The cost of running Herald in production (issue 14), in interleaved rounds so that the
//! shared machine's drift hits every variant alike:
//!
//! - `metrics`: fan-out 1, publish rate and delivery rate of this build with nobody reading
//!   `/metrics`, and with `/metrics` scraped every second; and of `--baseline-herald` (a build
//!   without metrics, e.g. the commit before them) if given.
//! - `retention`: a publish burst (no endpoints, per-request latency measured) right after a
//!   prefill whose payloads and attempts have all expired, with the retention job idle
//!   (default periods: nothing to do) and busy (1 s / 2 s: it expunges and deletes the prefill
//!   in batches of 500 during the burst).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;

use crate::client::{Conn, Error};
use crate::clock::now_ns;
use crate::load::{self, secs};
use crate::node::{Backend, Node, TOKEN};
use crate::{Bench, median, percentile};

/// One variant of a round: its label, its binary, its environment, whether /metrics is scraped.
struct Variant {
    label: &'static str,
    bin: PathBuf,
    env: Vec<(&'static str, String)>,
    scrape: bool,
}

/// GETs `/metrics` every second until `stop`; returns how many scrapes answered 200.
fn scraper(port: u16, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut ok = 0;
        while !stop.load(Ordering::Relaxed) {
            if let Ok(mut c) = Conn::open(port).await
                && let Ok((200, _)) = c.request(Method::GET, "/metrics", &[], Bytes::new()).await
            {
                ok += 1;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        ok
    })
}

/// Publishes `n` messages to `app` with `conns` connections as fast as accepted; returns the
/// rate, the sorted request latencies (ns) and the first message's id.
async fn publish_timed(
    port: u16,
    app: &str,
    n: u64,
    conns: usize,
) -> (f64, Vec<u64>, Option<String>) {
    let next = Arc::new(AtomicU64::new(0));
    let path = Arc::new(format!("/api/v1/app/{app}/msg"));
    let start = now_ns();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (next, path) = (next.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut first = None;
            let Ok(mut conn) = Conn::open(port).await else {
                return (lat, first);
            };
            let auth = format!("Bearer {TOKEN}");
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return (lat, first);
                }
                let body = format!(
                    r#"{{"eventType":"bench.event","payload":{{"seq":{i},"pad":"{}"}}}}"#,
                    "x".repeat(960)
                );
                let t = now_ns();
                let r = conn
                    .request(
                        Method::POST,
                        &path,
                        &[("authorization", &auth)],
                        Bytes::from(body),
                    )
                    .await;
                if let Ok((202, b)) = r {
                    lat.push(now_ns() - t);
                    if i == 0 {
                        let v: serde_json::Value = serde_json::from_slice(&b).unwrap_or_default();
                        first = v["id"].as_str().map(str::to_string);
                    }
                }
            }
        }));
    }
    let mut all = Vec::new();
    let mut first = None;
    for t in tasks {
        if let Ok((lat, f)) = t.await {
            all.extend(lat);
            first = first.or(f);
        }
    }
    let rate = all.len() as f64 / secs(now_ns() - start);
    all.sort_unstable();
    (rate, all, first)
}

impl Bench {
    fn variants(&self, with_scrape: bool) -> Vec<Variant> {
        let mut v = Vec::new();
        if let Some(b) = &self.args.baseline_herald {
            v.push(Variant {
                label: "baseline (no metrics)",
                bin: b.clone(),
                env: Vec::new(),
                scrape: false,
            });
        }
        v.push(Variant {
            label: "metrics, not scraped",
            bin: self.bin.clone(),
            env: Vec::new(),
            scrape: false,
        });
        if with_scrape {
            v.push(Variant {
                label: "metrics, scraped 1/s",
                bin: self.bin.clone(),
                env: Vec::new(),
                scrape: true,
            });
        }
        v
    }

    /// `metrics`: fan-out 1 runs of each variant, interleaved.
    pub async fn metrics_cost(&mut self, backend: &Backend) -> Result<(), Error> {
        let n = self.args.production_messages;
        let variants = self.variants(true);
        let mut publish: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
        let mut deliver: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
        for round in 0..self.args.production_rounds {
            // Each round starts with another variant, so that none always follows the same
            // one (on PostgreSQL the previous run's checkpoint and vacuum spill into the next).
            for k in 0..variants.len() {
                let i = (k + round) % variants.len();
                let v = &variants[i];
                let node = Node::start(&v.bin, backend, &v.env).await?;
                let app = node.app("bench").await?;
                node.endpoint(&app, &self.rx.url("/ok/m")).await?;
                tokio::time::sleep(Duration::from_millis(500)).await;
                self.rx.reset();
                let stop = Arc::new(AtomicBool::new(false));
                let scrapes = v.scrape.then(|| scraper(node.port, stop.clone()));
                let p = load::publish(node.port, &[app], n, self.args.connections, None, false, 0)
                    .await;
                let done = self
                    .wait_delivered(p.accepted, Duration::from_secs(120))
                    .await;
                let rate = self.rx.ok() as f64 / secs(self.rx.last_ns().saturating_sub(p.start_ns));
                stop.store(true, Ordering::Relaxed);
                let scraped = match scrapes {
                    Some(t) => t.await.unwrap_or(0),
                    None => 0,
                };
                node.stop().await;
                println!(
                    "    round {round} {:<24} publish {:>6.0}/s  delivered {:>6.0}/s{}{}",
                    v.label,
                    p.rate(),
                    rate,
                    if v.scrape {
                        format!("  ({scraped} scrapes)")
                    } else {
                        String::new()
                    },
                    if done { "" } else { "  INCOMPLETE" }
                );
                publish[i].push(p.rate());
                deliver[i].push(rate);
            }
        }
        let scenario = backend.scenario(format_args!("metrics, fan-out 1, {n}"));
        let base = median(&publish[0]);
        let base_d = median(&deliver[0]);
        for (i, v) in variants.iter().enumerate() {
            let (p, d) = (median(&publish[i]), median(&deliver[i]));
            let vs = if i == 0 {
                String::new()
            } else {
                format!(
                    " ({:+.1}% / {:+.1}% vs {})",
                    100.0 * (p / base - 1.0),
                    100.0 * (d / base_d - 1.0),
                    variants[0].label
                )
            };
            self.report(
                &format!("{scenario}: {}", v.label),
                "publish / delivered (median)",
                format!("{p:.0}/s / {d:.0}/s{vs}"),
                "",
            );
        }
        Ok(())
    }

    /// `retention`: a publish burst after an expired prefill, the job idle then busy.
    pub async fn retention_cost(&mut self, backend: &Backend) -> Result<(), Error> {
        let n = self.args.production_messages;
        let prefill = self.args.retention_prefill;
        let variants: [(&str, Vec<(&str, String)>); 2] = [
            ("retention idle (90d)", Vec::new()),
            (
                "retention busy (1s/2s)",
                vec![
                    ("HERALD_PAYLOAD_RETENTION", "1s".to_string()),
                    ("HERALD_ATTEMPT_RETENTION", "2s".to_string()),
                ],
            ),
        ];
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); 2];
        let mut p50s: Vec<Vec<f64>> = vec![Vec::new(); 2];
        let mut p99s: Vec<Vec<f64>> = vec![Vec::new(); 2];
        for round in 0..self.args.production_rounds {
            for k in 0..variants.len() {
                let i = (k + round) % variants.len();
                let (label, env) = &variants[i];
                let node = Node::start(&self.bin, backend, env).await?;
                // The prefill: fan-out 1, so there are attempts to delete too.
                let app = node.app("prefill").await?;
                node.endpoint(&app, &self.rx.url("/ok/p")).await?;
                self.rx.reset();
                let (_, filled, first_prefill) =
                    publish_timed(node.port, &app, prefill, self.args.connections).await;
                self.wait_delivered(filled.len() as u64, Duration::from_secs(120))
                    .await;
                // Everything of the prefill has expired in the busy variant.
                tokio::time::sleep(Duration::from_secs(3)).await;
                let burst_app = node.app("burst").await?;
                let (rate, lat, _) =
                    publish_timed(node.port, &burst_app, n, self.args.connections).await;
                let (p50, p99) = (
                    percentile(&lat, 0.50) as f64 / 1e6,
                    percentile(&lat, 0.99) as f64 / 1e6,
                );
                // Whether the job worked during the burst: the prefill's first payload is
                // expunged by its end in the busy variant (and kept in the idle one).
                let expunged = match first_prefill {
                    Some(id) => {
                        let mut c = Conn::open(node.port).await?;
                        let auth = format!("Bearer {TOKEN}");
                        let path = format!("/api/v1/app/{app}/msg/{id}");
                        let (_, b) = c
                            .request(
                                Method::GET,
                                &path,
                                &[("authorization", &auth)],
                                Bytes::new(),
                            )
                            .await?;
                        let v: serde_json::Value = serde_json::from_slice(&b).unwrap_or_default();
                        v["expunged"].as_bool().unwrap_or(false)
                    }
                    None => false,
                };
                node.stop().await;
                println!(
                    "    round {round} {label:<24} publish {rate:>6.0}/s  p50 {p50:.2} ms  p99 {p99:.2} ms  (prefill expunged by the end: {expunged})"
                );
                rates[i].push(rate);
                p50s[i].push(p50);
                p99s[i].push(p99);
            }
        }
        let scenario = backend.scenario(format_args!("publish burst {n} after {prefill} expired"));
        for (i, (label, _)) in variants.iter().enumerate() {
            let (r, p50, p99) = (median(&rates[i]), median(&p50s[i]), median(&p99s[i]));
            let vs = if i == 0 {
                String::new()
            } else {
                format!(
                    " ({:+.1}% rate vs idle)",
                    100.0 * (r / median(&rates[0]) - 1.0)
                )
            };
            self.report(
                &format!("{scenario}: {label}"),
                "publish rate, p50 / p99",
                format!("{r:.0}/s, {p50:.2} / {p99:.2} ms{vs}"),
                "",
            );
        }
        Ok(())
    }
}
