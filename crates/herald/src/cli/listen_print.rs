//! How `herald listen` shows a request: a readable block, or one JSON line.

use std::io::{IsTerminal, Write};

use herald::pretty_json::pretty;
use serde_json::{Value, json};

/// One request as received, its verification, and the answer given.
pub struct Record {
    pub n: u64,
    pub time: String,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// `None`: no secret to verify with.
    pub verdict: Option<Result<herald_verify::Verified, herald_verify::Error>>,
    pub now: i64,
    pub status: u16,
    /// Where the request was forwarded, and what came of it.
    pub forwarded: Option<(String, Result<u16, String>)>,
}

impl Record {
    /// `VALID ...`, `INVALID: reason` or `UNVERIFIED ...`.
    pub fn verdict_line(&self) -> String {
        match &self.verdict {
            None => "UNVERIFIED (no --secret given)".into(),
            Some(Err(e)) => format!("INVALID: {e}"),
            Some(Ok(v)) => {
                let mut s = format!("VALID {} {}", v.format, v.detail);
                if let Some(id) = &v.id {
                    s.push_str(&format!(", id {id}"));
                }
                if let Some(ts) = v.timestamp {
                    s.push_str(&format!(", signed {} s ago", self.now - ts));
                }
                s
            }
        }
    }

    /// The signed payload when it is not the body itself (envelope, payload-string).
    fn inner_payload(&self) -> Option<&str> {
        match &self.verdict {
            Some(Ok(v)) if v.payload.as_bytes() != self.body.as_slice() => Some(&v.payload),
            _ => None,
        }
    }

    pub fn to_json(&self) -> Value {
        let text = String::from_utf8_lossy(&self.body);
        let as_json = |t: &str| serde_json::from_str::<Value>(t).unwrap_or_else(|_| t.into());
        let mut headers = serde_json::Map::new();
        for (k, v) in &self.headers {
            match headers.get_mut(k) {
                Some(Value::String(prev)) => {
                    prev.push_str(", ");
                    prev.push_str(v);
                }
                _ => {
                    headers.insert(k.clone(), v.clone().into());
                }
            }
        }
        let (valid, reason, verified) = match &self.verdict {
            None => (Value::Null, Value::Null, None),
            Some(Err(e)) => (false.into(), e.to_string().into(), None),
            Some(Ok(v)) => (true.into(), Value::Null, Some(v)),
        };
        json!({
            "n": self.n,
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "headers": headers,
            "body": as_json(&text),
            "payload": self.inner_payload().map(as_json),
            "valid": valid,
            "reason": reason,
            "format": verified.map(|v| v.format.as_str()),
            "id": verified.and_then(|v| v.id.clone()),
            "timestamp": verified.and_then(|v| v.timestamp),
            "verdict": self.verdict_line(),
            "status": self.status,
            "forwarded": self.forwarded.as_ref().map(|(url, r)| match r {
                Ok(s) => json!({"url": url, "status": s}),
                Err(e) => json!({"url": url, "error": e}),
            }),
        })
    }

    pub fn to_text(&self, color: bool) -> String {
        let paint = |code: &str, s: &str| {
            if color {
                format!("\x1b[{code}m{s}\x1b[0m")
            } else {
                s.to_string()
            }
        };
        let mut out = String::new();
        let title = format!("#{} {} {} {}", self.n, self.time, self.method, self.path);
        out.push_str(&paint("1", &format!("── {title} ──")));
        out.push('\n');
        for (k, v) in &self.headers {
            out.push_str(&format!("{}: {v}\n", paint("2", k)));
        }
        out.push('\n');
        let text = String::from_utf8_lossy(&self.body);
        if text.is_empty() {
            out.push_str("(empty body)\n");
        } else {
            out.push_str(&pretty(&text).unwrap_or_else(|| text.to_string()));
            out.push('\n');
        }
        if let Some(p) = self.inner_payload() {
            out.push_str("\npayload (the signed string):\n");
            out.push_str(&pretty(p).unwrap_or_else(|| p.to_string()));
            out.push('\n');
        }
        out.push('\n');
        let line = self.verdict_line();
        let code = match &self.verdict {
            Some(Ok(_)) => "32",
            Some(Err(_)) => "31",
            None => "33",
        };
        out.push_str(&paint(code, &line));
        out.push('\n');
        match &self.forwarded {
            Some((url, Ok(s))) => out.push_str(&format!("→ forwarded to {url}: {s}\n")),
            Some((url, Err(e))) => out.push_str(&format!("→ forwarding to {url} failed: {e}\n")),
            None => {}
        }
        out.push_str(&format!("← answered {}\n\n", self.status));
        out
    }

    /// Prints the record on stdout at once (requests arriving together do not interleave).
    pub fn print(&self, as_json: bool) {
        let text = if as_json {
            format!("{}\n", self.to_json())
        } else {
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            self.to_text(color)
        };
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}
