//! The command line.

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "herald-bench")]
pub struct Args {
    /// The herald binary (default: next to this one).
    #[arg(long)]
    pub herald: Option<PathBuf>,
    /// A PostgreSQL server to run the PostgreSQL scenarios on (admin URL; the bench creates and
    /// drops a `herald_bench` database). Without it they are skipped.
    #[arg(long, env = "HERALD_BENCH_POSTGRES_URL")]
    pub postgres_url: Option<String>,
    /// Run the PostgreSQL scenarios twice: without TLS (`sslmode=disable`) and over TLS
    /// (`sslmode=require`, rows marked "(TLS)"), replacing the URL's own `sslmode`.
    #[arg(long)]
    pub postgres_tls: bool,
    /// The scenarios of `--only` repeated over TLS with `--postgres-tls` (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "steady")]
    pub tls_only: Vec<String>,
    /// Messages of each run of the `tls` scenario (PostgreSQL fan-out 1, without then with TLS).
    #[arg(long, default_value_t = 50_000)]
    pub tls_messages: u64,
    /// Rounds of the `tls` scenario.
    #[arg(long, default_value_t = 3)]
    pub tls_rounds: usize,
    /// Messages in the fan-out 1 throughput run.
    #[arg(long, default_value_t = 100_000)]
    pub messages: u64,
    /// Messages in the fan-out 10 run (each makes 10 deliveries).
    #[arg(long, default_value_t = 20_000)]
    pub fanout_messages: u64,
    /// Concurrent keep-alive connections of the load generator.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Offered load of the latency run, messages per second.
    #[arg(long, default_value_t = 1000.0)]
    pub steady_rate: f64,
    /// Length of the latency run, seconds.
    #[arg(long, default_value_t = 10)]
    pub steady_secs: u64,
    /// Messages queued while the receiver is down, then drained.
    #[arg(long, default_value_t = 100_000)]
    pub backlog: u64,
    /// Messages per application in the hanging-endpoint run (enough that the hanging endpoint's
    /// requests time out, 2 s, and are retried several times within the run).
    #[arg(long, default_value_t = 60_000)]
    pub hang_messages: u64,
    /// Scenarios to run (comma-separated): ceiling, publish (no endpoints: the API alone),
    /// fanout1, spread (fan-out 1 over many applications), fanout10, steady, backlog, hanging,
    /// ordered (fan-out 1 with ordering keys, beside the same run without), tls (PostgreSQL
    /// fan-out 1 without and with TLS, in rounds; with --postgres-tls), metrics (the cost of
    /// metrics, scraped or not), retention (a publish burst while the retention job works).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ceiling,publish,fanout1,spread,fanout10,steady,backlog,hanging,ordered,tls,metrics,retention"
    )]
    pub only: Vec<String>,
    /// Messages of each run of the `ordered` scenario.
    #[arg(long, default_value_t = 20_000)]
    pub ordered_messages: u64,
    /// Ordering keys of the `ordered` scenario (messages take them in turn).
    #[arg(long, default_value_t = 100)]
    pub ordering_keys: u64,
    /// Rounds of the `ordered` scenario (each an unordered run, then an ordered one).
    #[arg(long, default_value_t = 3)]
    pub ordered_rounds: usize,
    /// Applications in the `spread` run (fan-out 1, one application with its own endpoint per
    /// customer, as platforms use Herald; messages go to them in turn).
    #[arg(long, default_value_t = 1000)]
    pub spread_apps: usize,
    /// Give every published message a unique eventId (deduplicated by Herald over 24 hours).
    #[arg(long)]
    pub event_ids: bool,
    /// A herald binary to compare with in the `metrics` scenario (e.g. a build of the commit
    /// before metrics).
    #[arg(long)]
    pub baseline_herald: Option<PathBuf>,
    /// Messages of each run of the `metrics` and `retention` scenarios.
    #[arg(long, default_value_t = 50_000)]
    pub production_messages: u64,
    /// Rounds of the `metrics` and `retention` scenarios.
    #[arg(long, default_value_t = 3)]
    pub production_rounds: usize,
    /// Messages published (fan-out 1) and left to expire before the `retention` burst.
    #[arg(long, default_value_t = 50_000)]
    pub retention_prefill: u64,
    /// Backends to run on (comma-separated): sqlite, postgres (the latter needs a server).
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    pub backends: Vec<String>,
}
