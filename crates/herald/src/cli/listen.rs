//! `herald listen`: a local webhook receiver for developers. Every request is verified in the
//! chosen format (with `herald-verify`, as a real receiver would), printed readably or as one
//! JSON line, and answered with a chosen status, or forwarded to a local app whose answer is
//! relayed.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use clap::Args;
use herald_verify::{Format, Verifier};

use super::CliError;
use super::listen_print::Record;

#[derive(Args, Debug)]
pub struct ListenArgs {
    /// Port to listen on (0: any free port; the address is printed on stderr).
    #[arg(long, short, default_value_t = 9000)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Secret to verify with: whsec_ or whpk_ (standard), any string (other formats). Repeat it
    /// to accept several (a rotation). Without one, requests are shown unverified.
    #[arg(long = "secret", env = "HERALD_LISTEN_SECRET", hide_env_values = true)]
    pub secrets: Vec<String>,
    /// Wire format: standard, envelope, payload-string or hmac-header.
    #[arg(long, default_value = "standard")]
    pub format: Format,
    /// hmac-header: the header that carries the signature.
    #[arg(long, default_value = herald_verify::hmac_header::DEFAULT_HEADER)]
    pub signature_header: String,
    /// hmac-header: the text before the hex digest, such as sha256=.
    #[arg(long, default_value = "")]
    pub signature_prefix: String,
    /// standard: how far a timestamp may be from now (30s, 5m, 1h).
    #[arg(long, default_value = "5m", value_parser = herald::config::parse_duration)]
    pub tolerance: Duration,
    /// Status to answer verified requests with (try 500 or 429 to watch retries).
    #[arg(long, default_value_t = 200, conflicts_with = "forward_to")]
    pub status: u16,
    /// Status to answer requests whose signature is invalid with.
    #[arg(long, default_value_t = 401)]
    pub invalid_status: u16,
    /// Forward each verified request to this URL and relay its answer.
    #[arg(long)]
    pub forward_to: Option<url::Url>,
    /// Print one JSON object per line instead of readable blocks.
    #[arg(long)]
    pub json: bool,
    /// Exit after this many requests.
    #[arg(long)]
    pub count: Option<u64>,
}

struct Listener {
    verifier: Option<Verifier>,
    status: StatusCode,
    invalid_status: StatusCode,
    forward: Option<(url::Url, reqwest::Client)>,
    json: bool,
    seen: AtomicU64,
    count: Option<u64>,
    enough: tokio::sync::Notify,
}

fn status_arg(flag: &str, code: u16) -> Result<StatusCode, CliError> {
    StatusCode::from_u16(code)
        .ok()
        .filter(|s| s.as_u16() >= 200)
        .ok_or_else(|| CliError::Usage(format!("{flag} {code} is not an HTTP status (200-999)")))
}

pub async fn run(
    a: ListenArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), CliError> {
    let verifier = if a.secrets.is_empty() {
        None
    } else {
        let secrets: Vec<&str> = a.secrets.iter().map(String::as_str).collect();
        let v = Verifier::new(a.format, &secrets)
            .map_err(|e| CliError::Usage(format!("--secret: {e}")))?
            .signature_header(&a.signature_header)
            .signature_prefix(&a.signature_prefix)
            .tolerance(a.tolerance);
        Some(v)
    };
    let state = Arc::new(Listener {
        verifier,
        status: status_arg("--status", a.status)?,
        invalid_status: status_arg("--invalid-status", a.invalid_status)?,
        forward: a
            .forward_to
            .clone()
            .map(|u| (u, super::client::http_client(Duration::from_secs(30)))),
        json: a.json,
        seen: AtomicU64::new(0),
        count: a.count,
        enough: tokio::sync::Notify::new(),
    });
    let addr = SocketAddr::new(a.host, a.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::Failed(format!("cannot listen on {addr}: {e}")))?;
    let local = listener.local_addr().unwrap_or(addr);
    let what = match &state.verifier {
        Some(_) => format!("verifying {} with {} secret(s)", a.format, a.secrets.len()),
        None => "not verifying (no --secret)".into(),
    };
    let answer = match &a.forward_to {
        Some(u) => format!("forwarding to {u}"),
        None => format!("answering {}", a.status),
    };
    eprintln!("herald listen: listening on http://{local}, {what}, {answer}; Ctrl-C stops");

    let app = axum::Router::new()
        .fallback(receive)
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(state.clone());
    let stop = async move {
        tokio::select! {
            _ = shutdown => {}
            _ = state.enough.notified() => {}
        }
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
        .map_err(|e| CliError::Failed(format!("listening failed: {e}")))
}

async fn receive(
    State(st): State<Arc<Listener>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let n = st.seen.fetch_add(1, Ordering::SeqCst) + 1;
    let now = chrono::Utc::now();
    let pairs: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let verdict = st
        .verifier
        .as_ref()
        .map(|v| v.verify_at(&refs, &body, now.timestamp()));
    let valid = !matches!(verdict, Some(Err(_)));

    let mut forwarded = None;
    let response = if !valid {
        let reason = verdict
            .as_ref()
            .and_then(|v| v.as_ref().err())
            .map(ToString::to_string)
            .unwrap_or_default();
        (st.invalid_status, format!("invalid signature: {reason}\n")).into_response()
    } else if let Some((url, client)) = &st.forward {
        let (resp, result) = forward(client, url, &method, &headers, body.clone()).await;
        forwarded = Some((url.to_string(), result));
        resp
    } else {
        (st.status, "ok\n").into_response()
    };

    Record {
        n,
        time: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        method: method.to_string(),
        path: uri
            .path_and_query()
            .map_or_else(|| uri.path().to_string(), |p| p.to_string()),
        headers: pairs,
        body: body.to_vec(),
        verdict,
        now: now.timestamp(),
        status: response.status().as_u16(),
        forwarded,
    }
    .print(st.json);
    if st.count.is_some_and(|c| n >= c) {
        st.enough.notify_one();
    }
    response
}

/// Headers that belong to one connection, not to the request: not forwarded.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

async fn forward(
    client: &reqwest::Client,
    url: &url::Url,
    method: &Method,
    headers: &HeaderMap,
    body: Bytes,
) -> (Response, Result<u16, String>) {
    let mut req = client.request(method.clone(), url.clone()).body(body);
    for (k, v) in headers {
        if !HOP_BY_HOP.contains(&k.as_str()) && k.as_str() != "content-length" {
            req = req.header(k, v);
        }
    }
    let failed = |e: String| {
        let resp = (StatusCode::BAD_GATEWAY, format!("forwarding failed: {e}\n")).into_response();
        (resp, Err(e))
    };
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return failed(e.to_string()),
    };
    let status = resp.status();
    let content_type = resp.headers().get("content-type").cloned();
    match resp.bytes().await {
        Ok(b) => {
            let mut out = (status, b).into_response();
            if let Some(ct) = content_type {
                out.headers_mut().insert("content-type", ct);
            }
            (out, Ok(status.as_u16()))
        }
        Err(e) => failed(e.to_string()),
    }
}
