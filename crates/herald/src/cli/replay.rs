//! `herald resend` and `herald recover`: sending messages again.

use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};

use super::client::{Client, Conn};
use super::output::{self, Progress, field};
use super::{CliError, time_arg};

#[derive(Args, Debug)]
pub struct ResendArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// The application (id or uid).
    pub app: String,
    /// Messages to resend (ids or eventIds); to every endpoint each was for, or to --endpoint.
    pub msgs: Vec<String>,
    /// Resend to this endpoint only.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Instead of given messages: every message whose delivery to --endpoint failed.
    #[arg(long, requires = "endpoint", conflicts_with = "msgs")]
    pub failed: bool,
    /// With --failed: only messages since this time (RFC 3339) or age (30m, 2h, 7d).
    #[arg(long, requires = "failed")]
    pub since: Option<String>,
}

pub async fn resend(a: ResendArgs) -> Result<(), CliError> {
    let c = Client::new(&a.conn)?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    if a.failed {
        let ep = a.endpoint.clone().unwrap_or_default();
        let mut q = vec![
            ("status", "2".to_string()),
            ("with_content", "false".into()),
        ];
        if let Some(s) = &a.since {
            q.push(("after", time_arg("--since", s)?));
        }
        let (msgs, _) = c
            .list(&["app", &a.app, "endpoint", &ep, "msg"], &q, None)
            .await?;
        pairs.extend(msgs.iter().map(|m| (field(m, "id"), ep.clone())));
    } else if a.msgs.is_empty() {
        return Err(CliError::Usage(
            "name the messages to resend, or use --endpoint EP --failed".into(),
        ));
    } else {
        for m in &a.msgs {
            match &a.endpoint {
                Some(ep) => pairs.push((m.clone(), ep.clone())),
                None => {
                    let (eps, _) = c
                        .list(&["app", &a.app, "msg", m, "endpoint"], &[], None)
                        .await?;
                    pairs.extend(eps.iter().map(|e| (m.clone(), field(e, "id"))));
                }
            }
        }
    }

    let mut progress = Progress::new("resending", pairs.len() as u64);
    let mut report = Vec::new();
    let mut errors = Vec::new();
    for (msg, ep) in &pairs {
        let r = c
            .post(
                &["app", &a.app, "msg", msg, "endpoint", ep, "resend"],
                &json!({}),
            )
            .await;
        progress.inc(r.is_ok());
        report.push(json!({
            "msg": msg,
            "endpoint": ep,
            "ok": r.is_ok(),
            "error": r.as_ref().err().map(ToString::to_string),
        }));
        if let Err(e) = r {
            errors.push(e);
        }
    }
    if pairs.len() > 1 {
        progress.finish();
    }
    if c.json {
        output::json(&Value::Array(report));
    } else {
        say!(
            "resent {} of {} deliveries",
            pairs.len() - errors.len(),
            pairs.len()
        );
    }
    match errors.len() {
        0 => Ok(()),
        _ if pairs.len() == 1 => Err(errors.swap_remove(0)),
        n => Err(CliError::Failed(format!(
            "{n} of {} resends failed, the first: {}",
            pairs.len(),
            errors[0]
        ))),
    }
}

#[derive(Args, Debug)]
pub struct RecoverArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// The application (id or uid).
    pub app: String,
    /// The endpoint (id or uid).
    pub endpoint: String,
    /// From this time (RFC 3339) or age (30m, 2h, 7d).
    #[arg(long)]
    pub since: String,
    /// Up to this time or age (default: now).
    #[arg(long)]
    pub until: Option<String>,
    /// Queue the messages the endpoint never got (published while it was disabled, say),
    /// instead of its failed deliveries.
    #[arg(long)]
    pub missing: bool,
    /// Wait until the endpoint's queue has drained, with a progress bar.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this long (30s, 5m, 1h).
    #[arg(long, default_value = "5m", value_parser = herald::config::parse_duration)]
    pub wait_timeout: Duration,
}

pub async fn recover(a: RecoverArgs) -> Result<(), CliError> {
    let c = Client::new(&a.conn)?;
    let mut body = json!({"since": time_arg("--since", &a.since)?});
    if let Some(u) = &a.until {
        body["until"] = time_arg("--until", u)?.into();
    }
    let stats_path = [
        "app",
        a.app.as_str(),
        "endpoint",
        a.endpoint.as_str(),
        "stats",
    ];
    let before = if a.wait {
        Some(c.get(&stats_path, &[]).await?)
    } else {
        None
    };
    let verb = if a.missing {
        "replay-missing"
    } else {
        "recover"
    };
    let task = c
        .post(&["app", &a.app, "endpoint", &a.endpoint, verb], &body)
        .await?;
    if !a.wait {
        if c.json {
            output::json(&task);
        } else {
            say!(
                "{} queued for endpoint {} since {}",
                if a.missing {
                    "missing messages"
                } else {
                    "failed deliveries"
                },
                a.endpoint,
                field(&body, "since")
            );
        }
        return Ok(());
    }

    let before = before.unwrap_or(Value::Null);
    let count = |s: &Value, k: &str| s[k].as_u64().unwrap_or(0);
    let mut progress = Progress::new("delivering", 0);
    let mut total = 0;
    let started = Instant::now();
    let stats = loop {
        let s = c.get(&stats_path, &[]).await?;
        let queued = count(&s, "pending") + count(&s, "sending");
        total = total.max(queued);
        progress.set_total(total);
        let failed = count(&s, "fail").saturating_sub(count(&before, "fail"));
        progress.set(total - queued, failed);
        if queued == 0 {
            break s;
        }
        if started.elapsed() > a.wait_timeout {
            progress.finish();
            return Err(CliError::Failed(format!(
                "{queued} deliveries still queued after {:?} (they go on in Herald)",
                a.wait_timeout
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    progress.finish();
    let delivered = count(&stats, "success").saturating_sub(count(&before, "success"));
    let failed = count(&stats, "fail").saturating_sub(count(&before, "fail"));
    if c.json {
        output::json(&json!({"task": task, "delivered": delivered, "failed": failed}));
    } else {
        say!("delivered {delivered}, failed {failed}");
    }
    if failed > 0 {
        return Err(CliError::Failed(format!("{failed} deliveries failed")));
    }
    Ok(())
}
