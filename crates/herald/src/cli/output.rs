//! What the commands print: tables and key/value lists for people, JSON for scripts, and a
//! progress bar on stderr for long work.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A field of a JSON object as table text: strings as they are, `null` or absent as `-`.
pub fn field(v: &Value, key: &str) -> String {
    text(&v[key])
}

pub fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "-".into(),
        Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Prints `v` as pretty JSON on stdout.
pub fn json(v: &Value) {
    say!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

/// Prints rows under a header, each column as wide as its widest cell (the last one unpadded).
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let n = cells.len();
        let mut s = String::new();
        for (i, (cell, w)) in cells.into_iter().zip(&widths).enumerate() {
            s.push_str(cell);
            if i + 1 < n {
                s.push_str(&" ".repeat(w - cell.chars().count() + 2));
            }
        }
        s
    };
    let mut out = String::new();
    out.push_str(&line(header.to_vec()));
    out.push('\n');
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
}

/// Prints `key  value` lines, keys aligned.
pub fn pairs(items: &[(&str, String)]) {
    let w = items.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in items {
        say!("{k:<w$}  {v}");
    }
}

/// A progress bar on stderr: redrawn in place on a terminal (at most ten times a second), a
/// single summary line otherwise, so logs stay readable.
pub struct Progress {
    label: String,
    total: u64,
    done: u64,
    failed: u64,
    tty: bool,
    last: Option<Instant>,
    started: Instant,
}

impl Progress {
    pub fn new(label: &str, total: u64) -> Self {
        Progress {
            label: label.to_string(),
            total,
            done: 0,
            failed: 0,
            tty: std::io::stderr().is_terminal(),
            last: None,
            started: Instant::now(),
        }
    }

    pub fn set_total(&mut self, total: u64) {
        self.total = total;
    }

    /// Sets the count of finished items, `failed` of them failed.
    pub fn set(&mut self, done: u64, failed: u64) {
        self.done = done;
        self.failed = failed;
        self.draw(false);
    }

    pub fn inc(&mut self, ok: bool) {
        self.done += 1;
        if !ok {
            self.failed += 1;
        }
        self.draw(false);
    }

    fn line(&self) -> String {
        const WIDTH: u64 = 30;
        let filled = (self.done.min(self.total) * WIDTH)
            .checked_div(self.total)
            .unwrap_or(WIDTH) as usize;
        let failed = if self.failed > 0 {
            format!(", {} failed", self.failed)
        } else {
            String::new()
        };
        format!(
            "{} [{}{}] {}/{}{failed} {:.1}s",
            self.label,
            "#".repeat(filled),
            "-".repeat(WIDTH as usize - filled),
            self.done,
            self.total,
            self.started.elapsed().as_secs_f64()
        )
    }

    fn draw(&mut self, last: bool) {
        if !self.tty {
            return;
        }
        if !last
            && self
                .last
                .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(Instant::now());
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{}", self.line());
        let _ = err.flush();
    }

    /// Draws the final state and ends the line.
    pub fn finish(mut self) {
        if self.tty {
            self.draw(true);
            eprintln!();
        } else {
            eprintln!("{}", self.line());
        }
    }
}
