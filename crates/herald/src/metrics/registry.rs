//! The few Prometheus primitives Herald needs, on atomics: counters, gauges, histograms with
//! fixed buckets, and their text exposition (format 0.0.4).
//!
//! Hand-written rather than the `metrics` + `metrics-exporter-prometheus` crates: those keep
//! one process-wide recorder, while Herald runs several nodes in one process in its tests and
//! each must count its own; and every series here is known when the node starts, so a
//! registry keyed by name at run time would only add hashing to the publish path (and ~40
//! crates to the build, with the exporter's default features off).

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// A monotonic counter.
#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Buckets for durations in seconds: 1 ms to 60 s.
pub const SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Buckets for end-to-end latencies in seconds: 5 ms to a day (retries take hours).
pub const LATENCY: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
    7200.0, 86400.0,
];
/// Buckets for batch sizes.
pub const SIZES: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// A histogram with fixed upper bounds; each observation touches one bucket, the count and the
/// sum (bucket counts are made cumulative when rendered).
pub struct Histogram {
    bounds: &'static [f64],
    /// One per bound, plus `+Inf`.
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    /// The sum, as f64 bits.
    sum: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    pub fn observe(&self, v: f64) {
        let i = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + v).to_bits())
            });
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// Writes series in the text exposition format.
#[derive(Default)]
pub struct Text(pub String);

impl Text {
    /// The `# HELP` and `# TYPE` lines of a metric family.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample; `labels` are `(name, value)` pairs, escaped here.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    /// A histogram's `_bucket`, `_sum` and `_count` samples.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &Histogram) {
        let mut cumulative = 0;
        let bucket = format!("{name}_bucket");
        for (i, n) in h.buckets.iter().enumerate() {
            cumulative += n.load(Ordering::Relaxed);
            let le = h
                .bounds
                .get(i)
                .map_or("+Inf".to_string(), |b| b.to_string());
            let mut l = labels.to_vec();
            l.push(("le", &le));
            self.sample(&bucket, &l, cumulative);
        }
        let sum = f64::from_bits(h.sum.load(Ordering::Relaxed));
        self.sample(&format!("{name}_sum"), labels, sum);
        // The count written is the buckets' total, so the two never disagree mid-scrape.
        self.sample(&format!("{name}_count"), labels, cumulative);
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_render_cumulative_buckets() {
        let h = Histogram::new(&[1.0, 2.0]);
        h.observe(0.5);
        h.observe(1.5);
        h.observe(7.0);
        let mut t = Text::default();
        t.histogram("x", &[("a", "b")], &h);
        assert_eq!(
            t.0,
            "x_bucket{a=\"b\",le=\"1\"} 1\nx_bucket{a=\"b\",le=\"2\"} 2\n\
             x_bucket{a=\"b\",le=\"+Inf\"} 3\nx_sum{a=\"b\"} 9\nx_count{a=\"b\"} 3\n"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let mut t = Text::default();
        t.sample("y", &[("route", "a\"b\\c\nd")], 1);
        assert_eq!(t.0, "y{route=\"a\\\"b\\\\c\\nd\"} 1\n");
    }

    #[test]
    fn counters_and_gauges_move() {
        let c = Counter::default();
        c.inc();
        c.add(2);
        assert_eq!(c.get(), 3);
        let g = Gauge::default();
        g.inc();
        g.inc();
        g.dec();
        assert_eq!(g.get(), 1);
        g.set(-4);
        assert_eq!(g.get(), -4);
    }
}
