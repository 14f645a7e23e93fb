//! Configuration: command-line flags, each with a `HERALD_*` environment variable.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use ipnet::IpNet;

/// Settings of one Herald node.
#[derive(Parser, Debug, Clone)]
#[command(name = "herald")]
pub struct Config {
    /// Address the API listens on.
    #[arg(long, env = "HERALD_LISTEN", default_value = "127.0.0.1:8071")]
    pub listen: SocketAddr,

    /// Database: `sqlite://PATH` (a file, created if missing) or `postgres://USER:PASS@HOST/DB`
    /// (several nodes may share one PostgreSQL database).
    #[arg(
        long,
        env = "HERALD_DATABASE_URL",
        default_value = "sqlite://herald.db"
    )]
    pub database_url: String,

    /// Operator token. If unset, the first start generates one, prints it once and stores its hash.
    #[arg(long, env = "HERALD_TOKEN", hide_env_values = true)]
    pub token: Option<crate::secret::Secret>,

    /// CIDRs that may be delivered to although they are not public, e.g. `127.0.0.1/32`.
    #[arg(
        long = "allow-target",
        env = "HERALD_ALLOW_TARGETS",
        value_delimiter = ','
    )]
    pub allow_targets: Vec<IpNet>,

    /// Deliver over https only: endpoint URLs must be https, at creation, on every change and
    /// when sending (as the Sematryx and Treble documentation require of their customers).
    #[arg(long, env = "HERALD_HTTPS_ONLY")]
    pub https_only: bool,

    /// Seconds to wait before each retry, in order; the delivery fails after the last one.
    #[arg(
        long,
        env = "HERALD_RETRY_SCHEDULE",
        value_delimiter = ',',
        default_value = "5,300,1800,7200,18000,36000,36000"
    )]
    pub retry_schedule: Vec<u64>,

    /// Timeout of one delivery attempt, in milliseconds.
    #[arg(long, env = "HERALD_REQUEST_TIMEOUT_MS", default_value_t = 15_000)]
    pub request_timeout_ms: u64,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "HERALD_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Most HTTP requests in flight at once, over all endpoints.
    #[arg(long, env = "HERALD_MAX_IN_FLIGHT", default_value_t = 512)]
    pub max_in_flight: usize,

    /// Most HTTP requests in flight at once to one endpoint.
    #[arg(long, env = "HERALD_MAX_IN_FLIGHT_PER_ENDPOINT", default_value_t = 32)]
    pub max_in_flight_per_endpoint: usize,

    /// Threads running the API and the dispatcher (default: one per core).
    #[arg(long, env = "HERALD_WORKER_THREADS")]
    pub worker_threads: Option<usize>,

    /// Base URL this node is reached at, used in portal links.
    #[arg(long, env = "HERALD_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Seals endpoint secrets, endpoint headers and stored response bodies at rest: 32 bytes,
    /// base64 (`openssl rand -base64 32`). Without it they are stored in plain text.
    #[arg(long, env = "HERALD_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<crate::secret::Secret>,

    /// Most API requests served at once; beyond that a request waits up to a second for a
    /// turn, then gets 503 with `Retry-After` (health checks are not counted).
    #[arg(long, env = "HERALD_MAX_CONCURRENT_REQUESTS", default_value_t = 512)]
    pub max_concurrent_requests: usize,

    /// Longest an API request may take before it is answered 503 (work it started, such as a
    /// publish with an idempotency key, still completes), e.g. `30s`.
    #[arg(long, env = "HERALD_API_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub api_timeout: Duration,

    /// On SIGTERM or Ctrl-C, how long requests in flight (deliveries and API calls) may take
    /// to finish before they are abandoned, e.g. `30s`, `500ms`, `2m`.
    #[arg(long, env = "HERALD_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// Messages per second each endpoint receives at most when neither it nor its application
    /// has a `throttleRate` (default: unthrottled).
    #[arg(long, env = "HERALD_DEFAULT_THROTTLE", value_parser = clap::value_parser!(u32).range(1..=65535))]
    pub default_throttle: Option<u32>,

    /// Publishes per second caused by one endpoint's deliveries (echoing `x-herald-caused-by`)
    /// into its own application, sustained over 10 s, that flag a delivery loop (0: never).
    #[arg(long, env = "HERALD_LOOP_RATE", default_value_t = 10)]
    pub loop_rate: u32,

    /// Messages per second an endpoint flagged for a delivery loop receives at most.
    #[arg(long, env = "HERALD_LOOP_THROTTLE", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=65535))]
    pub loop_throttle: u32,

    /// How long a loop flag holds (renewed while the loop goes on), e.g. `10m`.
    #[arg(long, env = "HERALD_LOOP_HOLD", default_value = "10m", value_parser = parse_duration)]
    pub loop_hold: Duration,

    /// Check every published payload against its event type's latest JSON Schema (422 on a
    /// violation); without it only event types with `validatePayloads` are checked.
    #[arg(long, env = "HERALD_VALIDATE_PAYLOADS")]
    pub validate_payloads: bool,

    /// Send deliveries through this proxy: `http://host:port` (HTTP CONNECT) or
    /// `socks5://host:port` (user:pass@ allowed). The SSRF guard still checks each target.
    #[arg(long, env = "HERALD_PROXY", hide_env_values = true)]
    pub proxy: Option<String>,

    /// PEM file of certificates trusted as roots for deliveries besides the system's (receivers
    /// on a private CA).
    #[arg(long, env = "HERALD_CA_CERT")]
    pub ca_cert: Option<std::path::PathBuf>,

    /// Hosts delivered to directly despite `--proxy`: comma-separated names (a leading `.`
    /// or none matches subdomains too), IPs or CIDRs, as in `NO_PROXY`.
    #[arg(long, env = "HERALD_NO_PROXY")]
    pub no_proxy: Option<String>,

    /// Log format: `text` (for people) or `json` (one JSON object a line, for collectors).
    #[arg(long, env = "HERALD_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Serve `GET /metrics` on this address only, instead of on the API's listener (so that it
    /// need not be exposed where the API is), e.g. `127.0.0.1:9090`.
    #[arg(long, env = "HERALD_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Also export attempts per endpoint (`herald_endpoint_attempts_total{endpoint=...}`): one
    /// series per endpoint and status class, so only where endpoints are few.
    #[arg(long, env = "HERALD_METRICS_PER_ENDPOINT")]
    pub metrics_per_endpoint: bool,

    /// Disable an endpoint whose deliveries have all failed for this long with no success in
    /// between, e.g. `5d`, `12h`, `3s` (`0` never disables).
    #[arg(long, env = "HERALD_DISABLE_AFTER", default_value = "5d", value_parser = parse_duration)]
    pub disable_after: Duration,

    /// Send the operational event `message.attempt.failing` when a delivery's Nth try in a row
    /// fails (Svix: the 4th); `0` never sends it.
    #[arg(long, env = "HERALD_FAILING_EVENT_AFTER", default_value_t = 4)]
    pub failing_event_after: u32,

    /// How long a message's payload is kept when neither the message
    /// (`payloadRetentionPeriod`, days, or `payloadRetentionHours`) says: then the payload is
    /// expunged, the message row stays. E.g. `90d`, `12h`.
    #[arg(long, env = "HERALD_PAYLOAD_RETENTION", default_value = "90d", value_parser = parse_duration)]
    pub payload_retention: Duration,

    /// How long attempts (with their response bodies) are kept, e.g. `90d`, `30d`.
    #[arg(long, env = "HERALD_ATTEMPT_RETENTION", default_value = "90d", value_parser = parse_duration)]
    pub attempt_retention: Duration,
}

/// How log lines are written.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// A duration such as `30s`, `500ms`, `2m`, `12h` or `5d`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 30s, 500ms, 2m, 12h or 5d"))?;
    let ms = match unit.trim() {
        "ms" => Some(n),
        "" | "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        "d" => n.checked_mul(86_400_000),
        other => {
            return Err(format!(
                "unknown unit {other:?} in {s:?}: use ms, s, m, h or d"
            ));
        }
    };
    ms.map(Duration::from_millis)
        .ok_or_else(|| format!("{s:?} is too long"))
}

impl Config {
    /// The defaults, ignoring the command line (environment variables still apply).
    pub fn defaults() -> Self {
        Config::parse_from(["herald"])
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// How deliveries leave: the proxy and the extra roots (read from `--ca-cert`).
    pub fn transport(&self) -> Result<crate::net::transport::Transport, String> {
        let ca_certs = match &self.ca_cert {
            Some(path) => Some(
                std::fs::read(path).map_err(|e| format!("--ca-cert {}: {e}", path.display()))?,
            ),
            None => None,
        };
        Ok(crate::net::transport::Transport {
            proxy: self
                .proxy
                .as_ref()
                .map(|url| crate::net::transport::ProxySettings {
                    url: url.clone(),
                    no_proxy: self.no_proxy.clone(),
                }),
            ca_certs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists() {
        let c = Config::parse_from([
            "herald",
            "--allow-target",
            "127.0.0.1/32,::1/128",
            "--retry-schedule",
            "1,2",
        ]);
        assert_eq!(c.allow_targets.len(), 2);
        assert_eq!(c.retry_schedule, vec![1, 2]);
        let d = Config::parse_from(["herald"]);
        assert_eq!(
            d.retry_schedule,
            vec![5, 300, 1800, 7200, 18000, 36000, 36000]
        );
        assert_eq!(d.shutdown_timeout, Duration::from_secs(30));
        assert_eq!(d.disable_after, Duration::from_secs(5 * 86_400));
        assert_eq!(d.log_format, LogFormat::Text);
    }

    #[test]
    fn debug_does_not_print_the_token() {
        let c = Config::parse_from(["herald", "--token", "op-token-do-not-print"]);
        assert_eq!(c.token.as_deref(), Some("op-token-do-not-print"));
        assert!(!format!("{c:?}").contains("op-token-do-not-print"));
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse_duration("5d"), Ok(Duration::from_secs(432_000)));
        assert!(parse_duration("5 weeks").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }
}
