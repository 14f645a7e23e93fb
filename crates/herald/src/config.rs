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
    pub token: Option<String>,

    /// CIDRs that may be delivered to although they are not public, e.g. `127.0.0.1/32`.
    #[arg(
        long = "allow-target",
        env = "HERALD_ALLOW_TARGETS",
        value_delimiter = ','
    )]
    pub allow_targets: Vec<IpNet>,

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
}

impl Config {
    /// The defaults, ignoring the command line (environment variables still apply).
    pub fn defaults() -> Self {
        Config::parse_from(["herald"])
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
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
    }
}
