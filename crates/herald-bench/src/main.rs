//! `herald-bench`: Herald's throughput, latency and memory, measured end to end on loopback.
//!
//! Starts the real `herald` binary (a fresh database per scenario), a fast receiver, and a load
//! generator publishing through Herald's HTTP API, then prints every figure with its target and
//! Herald's delivery rate as a fraction of the ceiling (the same receiver fed signed POSTs with
//! no Herald in between). Run it with `scripts/bench`.

mod client;
mod clock;
mod load;
mod node;
mod receiver;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;

use client::Error;
use clock::now_ns;
use load::secs;
use node::{Backend, Node};
use receiver::Receiver;

#[derive(Parser, Debug)]
#[command(name = "herald-bench")]
struct Args {
    /// The herald binary (default: next to this one).
    #[arg(long)]
    herald: Option<PathBuf>,
    /// A PostgreSQL server to run the PostgreSQL scenarios on (admin URL; the bench creates and
    /// drops a `herald_bench` database). Without it they are skipped.
    #[arg(long, env = "HERALD_BENCH_POSTGRES_URL")]
    postgres_url: Option<String>,
    /// Run the PostgreSQL scenarios twice: without TLS (`sslmode=disable`) and over TLS
    /// (`sslmode=require`, rows marked "(TLS)"), replacing the URL's own `sslmode`.
    #[arg(long)]
    postgres_tls: bool,
    /// The scenarios of `--only` repeated over TLS with `--postgres-tls` (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "steady")]
    tls_only: Vec<String>,
    /// Messages of each run of the `tls` scenario (PostgreSQL fan-out 1, without then with TLS).
    #[arg(long, default_value_t = 50_000)]
    tls_messages: u64,
    /// Rounds of the `tls` scenario.
    #[arg(long, default_value_t = 3)]
    tls_rounds: usize,
    /// Messages in the fan-out 1 throughput run.
    #[arg(long, default_value_t = 100_000)]
    messages: u64,
    /// Messages in the fan-out 10 run (each makes 10 deliveries).
    #[arg(long, default_value_t = 20_000)]
    fanout_messages: u64,
    /// Concurrent keep-alive connections of the load generator.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Offered load of the latency run, messages per second.
    #[arg(long, default_value_t = 1000.0)]
    steady_rate: f64,
    /// Length of the latency run, seconds.
    #[arg(long, default_value_t = 10)]
    steady_secs: u64,
    /// Messages queued while the receiver is down, then drained.
    #[arg(long, default_value_t = 100_000)]
    backlog: u64,
    /// Messages per application in the hanging-endpoint run (enough that the hanging endpoint's
    /// requests time out, 2 s, and are retried several times within the run).
    #[arg(long, default_value_t = 60_000)]
    hang_messages: u64,
    /// Scenarios to run (comma-separated): ceiling, publish (no endpoints: the API alone),
    /// fanout1, spread (fan-out 1 over many applications), fanout10, steady, backlog, hanging,
    /// tls (PostgreSQL fan-out 1 without and with TLS, in rounds; with --postgres-tls).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ceiling,publish,fanout1,spread,fanout10,steady,backlog,hanging,tls"
    )]
    only: Vec<String>,
    /// Applications in the `spread` run (fan-out 1, one application with its own endpoint per
    /// customer, as platforms use Herald; messages go to them in turn).
    #[arg(long, default_value_t = 1000)]
    spread_apps: usize,
    /// Give every published message a unique eventId (deduplicated by Herald over 24 hours).
    #[arg(long)]
    event_ids: bool,
    /// Backends to run on (comma-separated): sqlite, postgres (the latter needs a server).
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    backends: Vec<String>,
}

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

    /// What TLS to PostgreSQL costs: fan-out 1 runs without and with TLS, back to back in each
    /// round so that both see the same machine, and the median of the rounds' ratios.
    async fn tls_cost(&mut self, admin: &str) -> Result<(), Error> {
        let n = self.args.tls_messages;
        let mut ratios = Vec::new();
        let mut rates = Vec::new();
        for _ in 0..self.args.tls_rounds {
            let mut pair = [0.0; 2];
            for (i, mode) in ["disable", "require"].into_iter().enumerate() {
                let backend = Backend::Postgres {
                    admin: node::with_sslmode(admin, mode),
                    tls: mode == "require",
                };
                let run = self.load_run(&backend, 1, 1, n).await?;
                if !run.done {
                    return Err(format!(
                        "sslmode={mode}: {} of {} delivered",
                        run.delivered, run.want
                    )
                    .into());
                }
                pair[i] = run.rate;
            }
            rates.push(format!("{:.0}/{:.0}", pair[0], pair[1]));
            ratios.push(100.0 * pair[1] / pair[0]);
        }
        let mut sorted = ratios.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        let scenario = format!("postgres fan-out 1, TLS vs plain, {n} msgs");
        self.report(&scenario, "plain / TLS msgs/s", rates.join(", "), "");
        let value = format!(
            "{median:.0}% (rounds: {})",
            ratios
                .iter()
                .map(|r| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.report(&scenario, "TLS rate as % of plain", value, ">= 80%");
        Ok(())
    }

    /// A steady offered load: end-to-end latency when Herald is not saturated.
    async fn steady(&mut self, backend: &Backend) -> Result<(), Error> {
        let scenario = backend.scenario(format_args!("{:.0} msg/s offered", self.args.steady_rate));
        let node = Node::start(&self.bin, backend, &[]).await?;
        let app = node.app("bench").await?;
        node.endpoint(&app, &self.rx.url("/ok/steady")).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        self.rx.reset();
        let n = (self.args.steady_rate * self.args.steady_secs as f64) as u64;
        let p = load::publish(
            node.port,
            &[app],
            n,
            self.args.connections,
            Some(self.args.steady_rate),
            self.args.event_ids,
        )
        .await;
        self.wait_delivered(p.accepted, Duration::from_secs(60))
            .await;
        self.report(
            &scenario,
            "published",
            format!("{} ({} errors)", p.accepted, p.errors),
            "",
        );
        self.latency_rows(&scenario, ("< 5 ms", "< 50 ms"));
        node.stop().await;
        Ok(())
    }

    /// A backlog queued while the receiver is down, drained once it is up.
    async fn backlog(&mut self, backend: &Backend) -> Result<(), Error> {
        let scenario = backend.scenario(format_args!("backlog {}", self.args.backlog));
        // Held requests must not time out while the backlog builds.
        let env = [("HERALD_REQUEST_TIMEOUT_MS", "600000".to_string())];
        let node = Node::start(&self.bin, backend, &env).await?;
        let app = node.app("bench").await?;
        node.endpoint(&app, &self.rx.url("/ok/backlog")).await?;
        self.rx.reset();
        self.rx.set_up(false);
        let p = load::publish(
            node.port,
            &[app],
            self.args.backlog,
            self.args.connections,
            None,
            self.args.event_ids,
        )
        .await;
        self.report(
            &scenario,
            "queued",
            format!("{} at {:.0}/s", p.accepted, p.rate()),
            "",
        );
        let up = now_ns();
        self.rx.set_up(true);
        let done = self
            .wait_delivered(p.accepted, Duration::from_secs(600))
            .await;
        let rate = self.rx.ok() as f64 / secs(self.rx.last_ns().saturating_sub(up));
        let value = if done {
            self.of_ceiling(rate)
        } else {
            "INCOMPLETE".into()
        };
        self.report(&scenario, "drain rate", value, "");
        let peak = node.mem_mib("VmHWM");
        self.report(&scenario, "peak RSS", format!("{peak:.1} MiB"), "< 150 MiB");
        node.stop().await;
        Ok(())
    }

    /// The healthy endpoint's delivery rate with, and without, a hanging endpoint beside it.
    async fn hanging(&mut self, backend: &Backend) -> Result<(), Error> {
        let scenario = backend.scenario("hanging endpoint");
        let n = self.args.hang_messages;
        // The other app: no endpoint (baseline), a hanging endpoint, a healthy endpoint, a
        // disabled endpoint (its messages stored for it, as for the hanging one, but never
        // sent: what storing them costs, apart from the hang). Each variant runs `HANG_ROUNDS`
        // times, interleaved, and the medians are compared: single runs on this shared machine
        // vary by about 10%.
        let rx = &self.rx;
        let variants = [
            None,
            Some(serde_json::json!({"url": rx.url("/hang/other")})),
            Some(serde_json::json!({"url": rx.url("/ok-other/other")})),
            Some(serde_json::json!({"url": rx.url("/ok-other/disabled"), "disabled": true})),
        ];
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
        let mut hung = 0;
        for _ in 0..HANG_ROUNDS {
            for (v, other_ep) in variants.iter().enumerate() {
                let env = [("HERALD_REQUEST_TIMEOUT_MS", "2000".to_string())];
                let node = Node::start(&self.bin, backend, &env).await?;
                let healthy = node.app("healthy").await?;
                node.endpoint(&healthy, &self.rx.url("/ok/healthy")).await?;
                let other = node.app("other").await?;
                if let Some(body) = other_ep {
                    node.endpoint_with(&other, body.clone()).await?;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                self.rx.reset();
                // Both apps get the same number of messages, interleaved.
                let p = load::publish(
                    node.port,
                    &[healthy, other],
                    2 * n,
                    self.args.connections,
                    None,
                    self.args.event_ids,
                )
                .await;
                self.wait_delivered(p.accepted / 2, Duration::from_secs(120))
                    .await;
                samples[v]
                    .push(self.rx.ok() as f64 / secs(self.rx.last_ns().saturating_sub(p.start_ns)));
                if v == 1 {
                    hung += self.rx.hung();
                }
                node.stop().await;
            }
        }
        let rates: Vec<f64> = samples.iter().map(|s| median(s)).collect();
        let labels = [
            "healthy rate, alone",
            "healthy rate, other hangs",
            "healthy rate, other healthy",
            "healthy rate, other disabled",
        ];
        for ((label, rate), runs) in labels.iter().zip(&rates).zip(&samples) {
            let runs: Vec<String> = runs.iter().map(|r| format!("{r:.0}")).collect();
            self.report(
                &scenario,
                label,
                format!("{rate:.0}/s (median of {})", runs.join(", ")),
                "",
            );
        }
        self.report(&scenario, "hung requests", hung.to_string(), "");
        // Each cost is the median of the rounds' own ratios: the variants of a round run back to
        // back, so a drift of the shared machine's speed between rounds cancels out.
        let cost_vs = |base: usize| {
            let ratios: Vec<f64> = samples[1]
                .iter()
                .zip(&samples[base])
                .map(|(hang, other)| 100.0 * (1.0 - hang / other))
                .collect();
            let each: Vec<String> = ratios.iter().map(|r| format!("{r:.1}")).collect();
            format!("{:.1}% (median of {})", median(&ratios), each.join(", "))
        };
        let (alone, healthy, disabled) = (cost_vs(0), cost_vs(2), cost_vs(3));
        self.report(&scenario, "cost of the hang vs alone", alone, "< 10%");
        self.report(
            &scenario,
            "cost of the hang vs a healthy other",
            healthy,
            "",
        );
        self.report(
            &scenario,
            "cost of the hang vs a disabled other",
            disabled,
            "",
        );
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
