//! `herald-bench`: Herald's throughput, latency and memory, measured end to end on loopback.
//!
//! Starts the real `herald` binary (a fresh database per scenario), a fast receiver, and a load
//! generator publishing through Herald's HTTP API, then prints every figure with its target and
//! Herald's delivery rate as a fraction of the ceiling (the same receiver fed signed POSTs with
//! no Herald in between). Run it with `scripts/bench`.

mod args;
mod client;
mod clock;
mod isolation;
mod latency;
mod load;
mod node;
mod ordered;
mod production;
mod receiver;
mod tls;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use args::Args;
use clap::Parser;

use client::Error;
use clock::now_ns;
use load::secs;
use node::{Backend, Node};
use receiver::Receiver;

/// One reported figure.
struct Row {
    scenario: String,
    metric: &'static str,
    value: String,
    target: &'static str,
}

/// One load run's outcome.
struct LoadRun {
    publish: load::Published,
    want: u64,
    done: bool,
    delivered: u64,
    rate: f64,
    idle_rss: f64,
    peak_rss: f64,
}

struct Bench {
    args: Args,
    bin: PathBuf,
    rx: Receiver,
    ceiling: Option<f64>,
    rows: Vec<Row>,
}

fn fmt_ms(ns: u64) -> String {
    format!("{:.2} ms", ns as f64 / 1e6)
}

/// Runs of each variant in the hanging-endpoint scenario.
const HANG_ROUNDS: usize = 3;

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

impl Bench {
    fn report(
        &mut self,
        scenario: &str,
        metric: &'static str,
        value: String,
        target: &'static str,
    ) {
        println!("  {scenario:<28} {metric:<26} {value:>16}   {target}");
        self.rows.push(Row {
            scenario: scenario.to_string(),
            metric,
            value,
            target,
        });
    }

    fn of_ceiling(&self, rate: f64) -> String {
        match self.ceiling {
            Some(c) => format!("{:.0}/s ({:.0}% of ceiling)", rate, 100.0 * rate / c),
            None => format!("{rate:.0}/s"),
        }
    }

    /// Waits until the receiver has `n` deliveries at `/ok`, or `timeout` passes.
    async fn wait_delivered(&self, n: u64, timeout: Duration) -> bool {
        let start = Instant::now();
        while self.rx.ok() < n {
            if start.elapsed() > timeout {
                eprintln!("  timed out: {} of {n} delivered", self.rx.ok());
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    fn latency_rows(&mut self, scenario: &str, targets: (&'static str, &'static str)) {
        let mut lat = self.rx.latencies();
        lat.sort_unstable();
        self.report(
            scenario,
            "latency p50",
            fmt_ms(percentile(&lat, 0.50)),
            targets.0,
        );
        self.report(scenario, "latency p95", fmt_ms(percentile(&lat, 0.95)), "");
        self.report(
            scenario,
            "latency p99",
            fmt_ms(percentile(&lat, 0.99)),
            targets.1,
        );
    }

    async fn ceiling(&mut self) {
        let n = self.args.messages;
        self.rx.reset();
        let rate = load::ceiling(self.rx.port, "/ok/ceiling", n, self.args.connections).await;
        self.ceiling = Some(rate);
        self.report(
            "ceiling (no Herald)",
            "signed POSTs/s",
            format!("{rate:.0}/s"),
            "",
        );
    }

    /// Publishes `n` messages to `napps` apps in turn, each with `fanout` endpoints; every
    /// delivery must arrive.
    /// Starts a node with `napps` applications of `fanout` endpoints each, publishes `n`
    /// messages round-robin over them and waits for their deliveries.
    async fn load_run(
        &mut self,
        backend: &Backend,
        fanout: usize,
        napps: usize,
        n: u64,
    ) -> Result<LoadRun, Error> {
        self.keyed_run(backend, fanout, napps, n, 0).await
    }

    /// [`Bench::load_run`] with an `orderingKey` on each message, one of `keys` in turn (0:
    /// none).
    async fn keyed_run(
        &mut self,
        backend: &Backend,
        fanout: usize,
        napps: usize,
        n: u64,
        keys: u64,
    ) -> Result<LoadRun, Error> {
        let node = Node::start(&self.bin, backend, &[]).await?;
        let mut apps = Vec::with_capacity(napps);
        for a in 0..napps {
            let app = node.app(&format!("bench-{a}")).await?;
            for e in 0..fanout {
                node.endpoint(&app, &self.rx.url(&format!("/ok/{a}/{e}")))
                    .await?;
            }
            apps.push(app);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle_rss = node.mem_mib("VmRSS");
        self.rx.reset();
        let p = load::publish(
            node.port,
            &apps,
            n,
            self.args.connections,
            None,
            self.args.event_ids,
            keys,
        )
        .await;
        let want = p.accepted * fanout as u64;
        let done = fanout == 0
            || self
                .wait_delivered(want, Duration::from_secs(60 + want / 500))
                .await;
        let delivered = self.rx.ok();
        let rate = delivered as f64 / secs(self.rx.last_ns().saturating_sub(p.start_ns));
        let peak_rss = node.mem_mib("VmHWM");
        node.stop().await;
        Ok(LoadRun {
            publish: p,
            want,
            done,
            delivered,
            rate,
            idle_rss,
            peak_rss,
        })
    }

    async fn throughput(
        &mut self,
        backend: &Backend,
        fanout: usize,
        napps: usize,
        n: u64,
    ) -> Result<(), Error> {
        let napps = napps.max(1);
        let scenario = match napps {
            1 => backend.scenario(format_args!("fan-out {fanout}")),
            _ => backend.scenario(format_args!("fan-out {fanout}, {napps} apps")),
        };
        let run = self.load_run(backend, fanout, napps, n).await?;
        let p = &run.publish;
        if fanout == 0 {
            self.report(
                &scenario,
                "publish rate (no endpoints)",
                format!("{:.0}/s", p.rate()),
                "",
            );
            return Ok(());
        }
        if fanout == 1 {
            let idle = format!("{:.1} MiB", run.idle_rss);
            self.report(&scenario, "idle RSS", idle, "< 40 MiB");
        }
        self.report(
            &scenario,
            "published",
            format!("{} ({} errors)", p.accepted, p.errors),
            "",
        );
        self.report(&scenario, "publish rate", format!("{:.0}/s", p.rate()), "");
        let target = match (fanout, backend) {
            (1, Backend::Sqlite) => ">= 10000/s",
            (1, Backend::Postgres { .. }) => ">= 5000/s",
            _ => ">= 20000/s (SQLite)",
        };
        let value = if run.done {
            self.of_ceiling(run.rate)
        } else {
            format!("INCOMPLETE {}/{}", run.delivered, run.want)
        };
        self.report(
            &scenario,
            if fanout == 1 {
                "delivery rate (msgs)"
            } else {
                "delivery rate"
            },
            value,
            target,
        );
        self.latency_rows(&scenario, ("(saturated)", ""));
        let peak = format!("{:.1} MiB", run.peak_rss);
        self.report(&scenario, "peak RSS", peak, "");
        Ok(())
    }

    async fn run_backend(&mut self, backend: Backend) {
        let only = self.args.only.clone();
        let tls = matches!(backend, Backend::Postgres { tls: true, .. });
        let tls_only = self.args.tls_only.clone();
        let wants =
            |s: &str| only.iter().any(|o| o == s) && (!tls || tls_only.iter().any(|o| o == s));
        let results = [
            ("publish", wants("publish")),
            ("fanout1", wants("fanout1")),
            ("spread", wants("spread")),
            (
                "fanout10",
                wants("fanout10") && matches!(backend, Backend::Sqlite),
            ),
            ("steady", wants("steady")),
            ("backlog", wants("backlog")),
            ("hanging", wants("hanging")),
            ("ordered", wants("ordered")),
            ("metrics", wants("metrics")),
            ("retention", wants("retention")),
        ];
        for (name, on) in results {
            if !on {
                continue;
            }
            let r = match name {
                "publish" => self.throughput(&backend, 0, 1, self.args.messages).await,
                "fanout1" => self.throughput(&backend, 1, 1, self.args.messages).await,
                "spread" => {
                    let apps = self.args.spread_apps;
                    self.throughput(&backend, 1, apps, self.args.messages).await
                }
                "fanout10" => {
                    self.throughput(&backend, 10, 1, self.args.fanout_messages)
                        .await
                }
                "steady" => self.steady(&backend).await,
                "backlog" => self.backlog(&backend).await,
                "ordered" => self.ordered(&backend).await,
                "metrics" => self.metrics_cost(&backend).await,
                "retention" => self.retention_cost(&backend).await,
                _ => self.hanging(&backend).await,
            };
            if let Err(e) = r {
                eprintln!("  {} failed: {e}", backend.scenario(name));
            }
        }
    }

    fn markdown(&self) -> String {
        let mut s = String::from("| scenario | figure | value | target |\n|---|---|---|---|\n");
        for r in &self.rows {
            s.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                r.scenario, r.metric, r.value, r.target
            ));
        }
        s
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = Args::parse();
    let bin = args.herald.clone().unwrap_or_else(node::default_binary);
    if !bin.exists() {
        return Err(format!(
            "no herald binary at {} (cargo build --release)",
            bin.display()
        )
        .into());
    }
    now_ns();
    let rx = Receiver::start().await?;
    println!(
        "herald-bench: {} messages, {} connections, herald {}",
        args.messages,
        args.connections,
        bin.display()
    );
    let pg = args.postgres_url.clone();
    let mut bench = Bench {
        args,
        bin,
        rx,
        ceiling: None,
        rows: Vec::new(),
    };
    if bench.args.only.iter().any(|o| o == "ceiling") {
        bench.ceiling().await;
    }
    let backends = bench.args.backends.clone();
    if backends.iter().any(|b| b == "sqlite") {
        bench.run_backend(Backend::Sqlite).await;
    }
    if backends.iter().any(|b| b == "postgres") {
        match pg {
            Some(url) if bench.args.postgres_tls => {
                for tls in [false, true] {
                    let mode = if tls { "require" } else { "disable" };
                    let admin = node::with_sslmode(&url, mode);
                    bench.run_backend(Backend::Postgres { admin, tls }).await;
                }
                if bench.args.only.iter().any(|o| o == "tls")
                    && let Err(e) = bench.tls_cost(&url).await
                {
                    eprintln!("  postgres tls failed: {e}");
                }
            }
            Some(admin) => {
                let backend = Backend::Postgres { admin, tls: false };
                bench.run_backend(backend).await
            }
            None => println!(
                "  PostgreSQL scenarios skipped: set HERALD_BENCH_POSTGRES_URL or --postgres-url"
            ),
        }
    }
    println!("\n{}", bench.markdown());
    Ok(())
}
