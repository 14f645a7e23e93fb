//! `herald send`, `herald messages`, `herald attempts`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::Args;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::app::{ListOpts, print_list};
use super::client::{Client, Conn};
use super::output::{self, Progress, field};
use super::{CliError, json_arg, time_arg};

#[derive(Args, Debug)]
pub struct SendArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// The application (id or uid).
    pub app: String,
    /// The event type, such as invoice.paid.
    pub event_type: String,
    /// The payload: JSON, or `-` to read it from stdin. Sent byte for byte as given.
    pub payload: String,
    /// Your id of the event (a repeat within 24 h is refused); with --count, `-1`, `-2`...
    /// are appended.
    #[arg(long)]
    pub event_id: Option<String>,
    #[arg(long = "channel", value_delimiter = ',')]
    pub channels: Vec<String>,
    #[arg(long = "tag", value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Publish the message this many times (a load test, or a backlog to watch drain).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub count: u64,
    /// With --count: how many publishes at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub concurrency: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Publish<'a> {
    event_type: &'a str,
    payload: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<String>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    channels: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    tags: &'a [String],
}

pub async fn send(a: SendArgs) -> Result<(), CliError> {
    let c = Client::new(&a.conn)?;
    let text = json_arg("the payload", &a.payload)?;
    let payload: &RawValue = serde_json::from_str(&text)
        .map_err(|e| CliError::Usage(format!("the payload is not JSON: {e}")))?;
    let body = |i: u64| {
        let event_id = match (&a.event_id, a.count) {
            (Some(id), 1) => Some(id.clone()),
            (Some(id), _) => Some(format!("{id}-{i}")),
            (None, _) => None,
        };
        serde_json::to_string(&Publish {
            event_type: &a.event_type,
            payload,
            event_id,
            channels: &a.channels,
            tags: &a.tags,
        })
        .unwrap_or_default()
    };
    let url = c.url(&["app", &a.app, "msg"], &[]);
    if a.count == 1 {
        let m = c.call(reqwest::Method::POST, url, Some(body(1))).await?;
        if c.json {
            output::json(&m);
        } else {
            output::pairs(&[
                ("id", field(&m, "id")),
                ("event type", field(&m, "eventType")),
                ("event id", field(&m, "eventId")),
                ("timestamp", field(&m, "timestamp")),
            ]);
        }
        return Ok(());
    }

    let bodies: Arc<Vec<String>> = Arc::new((1..=a.count).map(body).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..a.concurrency.min(a.count) {
        let (c, url, bodies, next, tx) = (
            c.clone(),
            url.clone(),
            bodies.clone(),
            next.clone(),
            tx.clone(),
        );
        tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(b) = bodies.get(i) else { break };
                let r = c
                    .call(reqwest::Method::POST, url.clone(), Some(b.clone()))
                    .await;
                if tx.send((i, r)).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut progress = Progress::new("publishing", a.count);
    let mut results: Vec<Option<Value>> = vec![None; bodies.len()];
    let mut errors: Vec<CliError> = Vec::new();
    while let Some((i, r)) = rx.recv().await {
        progress.inc(r.is_ok());
        match r {
            Ok(m) => results[i] = Some(m),
            Err(e) => errors.push(e),
        }
    }
    progress.finish();
    let published: Vec<Value> = results.into_iter().flatten().collect();
    if c.json {
        output::json(&Value::Array(published.clone()));
    } else if let (Some(first), Some(last)) = (published.first(), published.last()) {
        say!(
            "published {} messages: {} ... {}",
            published.len(),
            field(first, "id"),
            field(last, "id")
        );
    }
    if errors.is_empty() {
        return Ok(());
    }
    let n = errors.len();
    let first = errors.swap_remove(0);
    if published.is_empty() {
        if n > 1 {
            eprintln!("herald: all {n} publishes failed");
        }
        return Err(first);
    }
    Err(CliError::Failed(format!(
        "{n} of {} publishes failed, the first: {first}",
        a.count
    )))
}

#[derive(Args, Debug)]
pub struct MessagesArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// The application (id or uid).
    pub app: String,
    /// Only these event types.
    #[arg(long = "event-type", value_delimiter = ',')]
    pub event_types: Vec<String>,
    /// Only this channel.
    #[arg(long)]
    pub channel: Option<String>,
    /// Only messages since this time (RFC 3339) or age (30m, 2h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    #[command(flatten)]
    pub list: ListOpts,
}

pub async fn messages(a: MessagesArgs) -> Result<(), CliError> {
    let c = Client::new(&a.conn)?;
    let mut q: Vec<(&str, String)> = a
        .event_types
        .iter()
        .map(|t| ("event_types", t.clone()))
        .collect();
    if let Some(ch) = &a.channel {
        q.push(("channel", ch.clone()));
    }
    if let Some(s) = &a.since {
        q.push(("after", time_arg("--since", s)?));
    }
    if !c.json {
        q.push(("with_content", "false".into()));
    }
    let (items, more) = c.list(&["app", &a.app, "msg"], &q, a.list.limit()).await?;
    print_list(
        &c,
        &items,
        more,
        &["ID", "EVENT TYPE", "EVENT ID", "TIMESTAMP"],
        |m| {
            vec![
                field(m, "id"),
                field(m, "eventType"),
                field(m, "eventId"),
                field(m, "timestamp"),
            ]
        },
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct AttemptsArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// The application (id or uid).
    pub app: String,
    /// The message (id, or its eventId).
    pub msg: String,
    /// Only attempts to this endpoint.
    #[arg(long)]
    pub endpoint: Option<String>,
    #[command(flatten)]
    pub list: ListOpts,
}

pub async fn attempts(a: AttemptsArgs) -> Result<(), CliError> {
    let c = Client::new(&a.conn)?;
    let mut q = Vec::new();
    if let Some(ep) = &a.endpoint {
        q.push(("endpoint_id", ep.clone()));
    }
    let (items, more) = c
        .list(
            &["app", &a.app, "attempt", "msg", &a.msg],
            &q,
            a.list.limit(),
        )
        .await?;
    print_list(
        &c,
        &items,
        more,
        &[
            "ID",
            "ENDPOINT",
            "RESULT",
            "HTTP",
            "MS",
            "TIMESTAMP",
            "DETAIL",
        ],
        |t| {
            let detail = t["error"]
                .as_str()
                .or(t["response"].as_str())
                .unwrap_or("")
                .replace(['\n', '\r'], " ");
            let detail: String = detail.chars().take(60).collect();
            vec![
                field(t, "id"),
                field(t, "endpointId"),
                field(t, "statusText"),
                field(t, "responseStatusCode"),
                field(t, "responseDurationMs"),
                field(t, "timestamp"),
                if detail.is_empty() {
                    "-".into()
                } else {
                    detail
                },
            ]
        },
    );
    Ok(())
}
