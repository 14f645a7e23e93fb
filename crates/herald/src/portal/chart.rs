//! The success-rate chart of an endpoint, drawn on the server as SVG (no script, no library),
//! with the same figures as a table for screen readers and keyboard users.

use maud::{Markup, html};

use crate::store::AttemptBucket;

const W: f64 = 720.0;
const H: f64 = 180.0;
const LEFT: f64 = 40.0;
const BOTTOM: f64 = 22.0;
const TOP: f64 = 8.0;

/// How a chart's time axis is cut: `n` buckets of `bucket_ms` from `since`.
pub struct Span {
    pub since: i64,
    pub bucket_ms: i64,
    pub n: usize,
    /// e.g. "per hour over the last 24 hours".
    pub words: &'static str,
    /// chrono format of a bucket's start on the axis.
    pub label_fmt: &'static str,
}

fn at(ms: i64, fmt: &str) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format(fmt)
        .to_string()
}

fn pct(ok: i64, total: i64) -> f64 {
    if total == 0 {
        0.0
    } else {
        ok as f64 * 100.0 / total as f64
    }
}

pub fn success_rate(buckets: &[AttemptBucket], span: &Span) -> Markup {
    let total: i64 = buckets.iter().map(|b| b.total).sum();
    let ok: i64 = buckets.iter().map(|b| b.succeeded).sum();
    let summary = if total == 0 {
        format!("No attempts {}.", span.words)
    } else {
        format!(
            "{total} attempts {}, {:.0}% succeeded.",
            span.words,
            pct(ok, total)
        )
    };
    let plot_w = W - LEFT - 4.0;
    let plot_h = H - TOP - BOTTOM;
    let bw = plot_w / span.n.max(1) as f64;
    let bucket = |i: usize| {
        let start = span.since + i as i64 * span.bucket_ms;
        buckets.iter().find(|b| b.start == start).copied()
    };
    let label_every = (span.n / 4).max(1);
    html! {
        figure.chart {
            svg viewBox={"0 0 " (W) " " (H)} role="img" aria-labelledby="chart-title chart-desc" {
                title #chart-title { "Success rate " (span.words) }
                desc #chart-desc { (summary) }
                @for (frac, text) in [(0.0, "0%"), (0.5, "50%"), (1.0, "100%")] {
                    @let y = TOP + plot_h * (1.0 - frac);
                    line.grid x1=(LEFT) x2=(W - 4.0) y1=(y) y2=(y) {}
                    text.axis x=(LEFT - 6.0) y=(y + 4.0) text-anchor="end" { (text) }
                }
                @for i in 0..span.n {
                    @let x = LEFT + i as f64 * bw + bw * 0.15;
                    @let start = span.since + i as i64 * span.bucket_ms;
                    @match bucket(i) {
                        Some(b) if b.total > 0 => {
                            @let rate = pct(b.succeeded, b.total);
                            @let h = (plot_h * rate / 100.0).max(2.0);
                            @let class = if rate >= 95.0 { "bar ok" } else if rate >= 50.0 { "bar warn" } else { "bar bad" };
                            rect class=(class) x=(x) y=(TOP + plot_h - h) width=(bw * 0.7) height=(h) {
                                title { (at(start, "%Y-%m-%d %H:%M UTC")) ": " (b.succeeded) " of " (b.total) " succeeded (" (format!("{rate:.0}")) "%)" }
                            }
                        }
                        _ => {
                            rect.bar.none x=(x) y=(TOP + plot_h - 1.0) width=(bw * 0.7) height="1" {}
                        }
                    }
                    @if i % label_every == 0 {
                        text.axis x=(x) y=(H - 6.0) { (at(start, span.label_fmt)) }
                    }
                }
            }
            figcaption { (summary) }
            @if total > 0 {
                details {
                    summary { "Show as a table" }
                    table {
                        thead { tr { th scope="col" { "From (UTC)" } th scope="col" { "Attempts" } th scope="col" { "Succeeded" } th scope="col" { "Rate" } } }
                        tbody {
                            @for b in buckets {
                                tr {
                                    td { (at(b.start, "%Y-%m-%d %H:%M")) }
                                    td { (b.total) }
                                    td { (b.succeeded) }
                                    td { (format!("{:.0}%", pct(b.succeeded, b.total))) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
