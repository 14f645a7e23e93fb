//! What a node measures, exposed at `GET /metrics` in Prometheus's text format.
//!
//! One [`Metrics`] per node (shared by the API, the pipeline and the dispatcher through an
//! `Arc`). Every label set is bounded: outcomes and status classes are fixed lists, API
//! routes are the router's own patterns (`/api/v1/app/{app_id}/msg`, never a concrete path),
//! and per-endpoint series exist only with `--metrics-per-endpoint` (one series per endpoint
//! and status class: size it to the endpoints a node serves).
//!
//! Gauges that need the database (queue depth, age of the oldest due delivery) are sampled by
//! the dispatcher every few seconds from an index (`store::queue::QueueStats`), so a scrape
//! costs no query, however often it comes.

pub mod registry;
mod serve;

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use registry::{Counter, Gauge, Histogram, LATENCY, SECONDS, SIZES, Text};
pub use serve::{render_handler, router};

/// How a finished attempt left its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted (2xx).
    Success,
    /// Failed; another try is scheduled.
    Retry,
    /// Failed for good without its schedule running out (410 Gone).
    Failed,
    /// Failed, and the retry schedule is used up.
    Exhausted,
}

const OUTCOMES: [&str; 4] = ["success", "retry", "failed", "exhausted"];
const CLASSES: [&str; 5] = ["2xx", "3xx", "4xx", "5xx", "error"];

/// The status class of an attempt's HTTP status (0: no response).
fn class(status: u16) -> usize {
    match status {
        200..=299 => 0,
        300..=399 => 1,
        400..=499 => 2,
        500..=599 => 3,
        _ => 4,
    }
}

/// API requests of one route pattern, by method and status.
type ByRoute = HashMap<String, HashMap<(&'static str, u16), Counter>>;

pub struct Metrics {
    per_endpoint: bool,
    pub published: Counter,
    deliveries: [Counter; 4],
    attempts: [Counter; 5],
    attempt_seconds: Histogram,
    /// Publish to the 2xx that delivered it.
    end_to_end_seconds: Histogram,
    pub in_flight: Gauge,
    pub parked_endpoints: Gauge,
    pub queue_depth: Gauge,
    /// Milliseconds; rendered as seconds.
    pub oldest_due_age_ms: Gauge,
    commit_batch: Histogram,
    commit_seconds: Histogram,
    /// Keyed by route first, so that a request finds its counter by `&str`, allocating nothing.
    http: RwLock<ByRoute>,
    http_seconds: Histogram,
    endpoints: RwLock<HashMap<String, [Counter; 5]>>,
    pub endpoints_disabled: Counter,
    pub operational_events: Counter,
}

impl Metrics {
    pub fn new(per_endpoint: bool) -> Self {
        Metrics {
            per_endpoint,
            published: Counter::default(),
            deliveries: Default::default(),
            attempts: Default::default(),
            attempt_seconds: Histogram::new(SECONDS),
            end_to_end_seconds: Histogram::new(LATENCY),
            in_flight: Gauge::default(),
            parked_endpoints: Gauge::default(),
            queue_depth: Gauge::default(),
            oldest_due_age_ms: Gauge::default(),
            commit_batch: Histogram::new(SIZES),
            commit_seconds: Histogram::new(SECONDS),
            http: RwLock::default(),
            http_seconds: Histogram::new(SECONDS),
            endpoints: RwLock::default(),
            endpoints_disabled: Counter::default(),
            operational_events: Counter::default(),
        }
    }

    /// One attempt: its HTTP status (0 if none came), how long it took, and where it left the
    /// delivery; `published_ms` ago is when its message was published (for the end-to-end
    /// latency of successes).
    pub fn attempt(
        &self,
        endpoint: &str,
        status: u16,
        took: Duration,
        outcome: Outcome,
        since_publish: Duration,
    ) {
        let c = class(status);
        self.attempts[c].inc();
        self.attempt_seconds.observe(took.as_secs_f64());
        self.deliveries[outcome as usize].inc();
        if outcome == Outcome::Success {
            self.end_to_end_seconds.observe(since_publish.as_secs_f64());
        }
        if self.per_endpoint {
            if let Some(counters) = self
                .endpoints
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(endpoint)
            {
                counters[c].inc();
                return;
            }
            let mut map = self.endpoints.write().unwrap_or_else(|p| p.into_inner());
            map.entry(endpoint.to_string()).or_default()[c].inc();
        }
    }

    /// One group commit of `writes` writes that took `took`.
    pub fn commit(&self, writes: usize, took: Duration) {
        self.commit_batch.observe(writes as f64);
        self.commit_seconds.observe(took.as_secs_f64());
    }

    /// One API request.
    pub fn request(&self, method: &'static str, route: &str, status: u16, took: Duration) {
        self.http_seconds.observe(took.as_secs_f64());
        {
            let map = self.http.read().unwrap_or_else(|p| p.into_inner());
            if let Some(c) = map.get(route).and_then(|r| r.get(&(method, status))) {
                c.inc();
                return;
            }
        }
        let mut map = self.http.write().unwrap_or_else(|p| p.into_inner());
        map.entry(route.to_string())
            .or_default()
            .entry((method, status))
            .or_default()
            .inc();
    }

    /// Every series, in the text exposition format.
    pub fn render(&self) -> String {
        let mut t = Text::default();
        t.family(
            "herald_messages_published_total",
            "counter",
            "Messages published (accepted and stored).",
        );
        t.sample("herald_messages_published_total", &[], self.published.get());
        t.family(
            "herald_deliveries_total",
            "counter",
            "Finished attempts by what they left the delivery: success, retry (scheduled), \
             failed (for good, e.g. 410 Gone) or exhausted (retry schedule used up).",
        );
        for (i, o) in OUTCOMES.iter().enumerate() {
            t.sample(
                "herald_deliveries_total",
                &[("outcome", o)],
                self.deliveries[i].get(),
            );
        }
        t.family(
            "herald_attempts_total",
            "counter",
            "Delivery attempts by HTTP status class (error: no response).",
        );
        for (i, c) in CLASSES.iter().enumerate() {
            t.sample(
                "herald_attempts_total",
                &[("status_class", c)],
                self.attempts[i].get(),
            );
        }
        t.family(
            "herald_attempt_duration_seconds",
            "histogram",
            "Time from sending an attempt to its response (or error).",
        );
        t.histogram(
            "herald_attempt_duration_seconds",
            &[],
            &self.attempt_seconds,
        );
        t.family(
            "herald_delivery_latency_seconds",
            "histogram",
            "Time from publish to the 2xx that delivered it, retries included.",
        );
        t.histogram(
            "herald_delivery_latency_seconds",
            &[],
            &self.end_to_end_seconds,
        );
        let gauges: [(&str, &str, i64); 3] = [
            (
                "herald_in_flight_requests",
                "Delivery requests in flight on this node.",
                self.in_flight.get(),
            ),
            (
                "herald_parked_endpoints",
                "Endpoints whose lanes are stalled, their backlog parked (this node).",
                self.parked_endpoints.get(),
            ),
            (
                "herald_queue_depth",
                "Pending deliveries, due or scheduled (sampled; counted up to 100000).",
                self.queue_depth.get(),
            ),
        ];
        for (name, help, v) in gauges {
            t.family(name, "gauge", help);
            t.sample(name, &[], v);
        }
        t.family(
            "herald_queue_oldest_due_age_seconds",
            "gauge",
            "How long the oldest due pending delivery has been due (sampled; 0 when none is).",
        );
        t.sample(
            "herald_queue_oldest_due_age_seconds",
            &[],
            self.oldest_due_age_ms.get() as f64 / 1000.0,
        );
        t.family(
            "herald_commit_batch_size",
            "histogram",
            "Writes per group commit.",
        );
        t.histogram("herald_commit_batch_size", &[], &self.commit_batch);
        t.family(
            "herald_commit_duration_seconds",
            "histogram",
            "Time to apply and commit a group commit.",
        );
        t.histogram("herald_commit_duration_seconds", &[], &self.commit_seconds);
        t.family(
            "herald_endpoints_disabled_total",
            "counter",
            "Endpoints this node disabled for failing (--disable-after) or answering 410.",
        );
        t.sample(
            "herald_endpoints_disabled_total",
            &[],
            self.endpoints_disabled.get(),
        );
        t.family(
            "herald_operational_events_total",
            "counter",
            "Operational webhook events published.",
        );
        t.sample(
            "herald_operational_events_total",
            &[],
            self.operational_events.get(),
        );
        t.family(
            "herald_http_requests_total",
            "counter",
            "API requests by method, route pattern and status.",
        );
        {
            let map = self.http.read().unwrap_or_else(|p| p.into_inner());
            let mut rows: Vec<_> = map
                .iter()
                .flat_map(|(route, m)| {
                    m.iter()
                        .map(move |((method, status), c)| (route, *method, *status, c))
                })
                .collect();
            rows.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
            for (route, method, status, c) in rows {
                let status = status.to_string();
                t.sample(
                    "herald_http_requests_total",
                    &[("method", method), ("route", route), ("status", &status)],
                    c.get(),
                );
            }
        }
        t.family(
            "herald_http_request_duration_seconds",
            "histogram",
            "API request durations.",
        );
        t.histogram(
            "herald_http_request_duration_seconds",
            &[],
            &self.http_seconds,
        );
        if self.per_endpoint {
            t.family(
                "herald_endpoint_attempts_total",
                "counter",
                "Attempts per endpoint and status class (--metrics-per-endpoint).",
            );
            let map = self.endpoints.read().unwrap_or_else(|p| p.into_inner());
            let mut rows: Vec<_> = map.iter().collect();
            rows.sort_by(|a, b| a.0.cmp(b.0));
            for (ep, counters) in rows {
                for (i, c) in CLASSES.iter().enumerate() {
                    t.sample(
                        "herald_endpoint_attempts_total",
                        &[("endpoint", ep), ("status_class", c)],
                        counters[i].get(),
                    );
                }
            }
        }
        t.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_moves_its_outcome_class_and_histograms() {
        let m = Metrics::new(true);
        m.attempt(
            "ep_1",
            503,
            Duration::from_millis(20),
            Outcome::Retry,
            Duration::ZERO,
        );
        m.attempt(
            "ep_1",
            200,
            Duration::from_millis(20),
            Outcome::Success,
            Duration::from_secs(2),
        );
        m.attempt(
            "ep_2",
            0,
            Duration::from_millis(20),
            Outcome::Exhausted,
            Duration::ZERO,
        );
        let text = m.render();
        for line in [
            "herald_deliveries_total{outcome=\"success\"} 1",
            "herald_deliveries_total{outcome=\"retry\"} 1",
            "herald_deliveries_total{outcome=\"exhausted\"} 1",
            "herald_attempts_total{status_class=\"5xx\"} 1",
            "herald_attempts_total{status_class=\"error\"} 1",
            "herald_attempt_duration_seconds_count 3",
            "herald_delivery_latency_seconds_count 1",
            "herald_endpoint_attempts_total{endpoint=\"ep_1\",status_class=\"2xx\"} 1",
            "herald_endpoint_attempts_total{endpoint=\"ep_2\",status_class=\"error\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }

    #[test]
    fn per_endpoint_series_only_behind_the_flag() {
        let m = Metrics::new(false);
        m.attempt(
            "ep_1",
            200,
            Duration::ZERO,
            Outcome::Success,
            Duration::ZERO,
        );
        assert!(!m.render().contains("ep_1"));
    }

    #[test]
    fn requests_are_counted_by_route_pattern() {
        let m = Metrics::new(false);
        m.request("POST", "/api/v1/app/{app_id}/msg", 202, Duration::ZERO);
        m.request("POST", "/api/v1/app/{app_id}/msg", 202, Duration::ZERO);
        assert!(m.render().lines().any(|l| l
            == "herald_http_requests_total{method=\"POST\",route=\"/api/v1/app/{app_id}/msg\",status=\"202\"} 2"));
    }
}
