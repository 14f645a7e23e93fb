//! The HTTP side of delivery: one pooled client, no redirects, a deadline per attempt, the
//! response body read up to a cap, and every connection checked by the SSRF guard.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::guard::{AddressPolicy, GuardedResolver, literal_ip};

/// How much of a response body is kept in the attempt log.
pub const BODY_CAP: usize = 8 * 1024;

pub const DEFAULT_USER_AGENT: &str = concat!("Herald-Webhooks/", env!("CARGO_PKG_VERSION"));

/// What happened to one HTTP try.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// HTTP status, 0 when there was no response.
    pub status_code: u16,
    pub body: Option<String>,
    pub error: Option<String>,
    pub duration: Duration,
    /// The receiver's `Retry-After`, in seconds, when it sent one with a number.
    pub retry_after: Option<u64>,
}

impl Outcome {
    pub fn success(&self) -> bool {
        (200..300).contains(&self.status_code)
    }
}

pub struct Client {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
}

/// reqwest is built without a bundled crypto provider: Herald uses ring, which it signs with.
/// Call before building any HTTP client.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Client {
    /// `max_in_flight`: the most requests at once, so the most keep-alive connections worth
    /// keeping (endpoints often share a host; fewer idle ones would be closed and reopened).
    pub fn new(policy: AddressPolicy, max_in_flight: usize) -> Self {
        install_crypto_provider();
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver {
                policy: policy.clone(),
            }))
            .pool_max_idle_per_host(max_in_flight)
            .pool_idle_timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .no_proxy()
            .build()
            .expect("HTTP client configuration is valid");
        Client { client, policy }
    }

    /// POSTs `body` to `url` with `headers`, giving up after `timeout` (connect, send and read).
    pub async fn send(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
        timeout: Duration,
    ) -> Outcome {
        let start = Instant::now();
        let fail = |error: String| Outcome {
            status_code: 0,
            body: None,
            error: Some(error),
            duration: start.elapsed(),
            retry_after: None,
        };
        let parsed = match reqwest::Url::parse(url) {
            Ok(u) => u,
            Err(e) => return fail(format!("invalid URL: {e}")),
        };
        if !self.policy.permits_scheme(parsed.scheme()) {
            return fail(format!(
                "{}:// targets are refused: this server delivers over https only",
                parsed.scheme()
            ));
        }
        // A literal address never reaches the resolver, so it is checked here.
        if let Some(ip) = literal_ip(&parsed)
            && !self.policy.permits(ip)
        {
            return fail(format!("address {ip} is not allowed as a delivery target"));
        }
        let mut map = HeaderMap::with_capacity(headers.len() + 2);
        for (k, v) in headers {
            if let (Ok(k), Ok(v)) = (
                HeaderName::try_from(k.as_str()),
                HeaderValue::try_from(v.as_str()),
            ) {
                map.insert(k, v);
            }
        }
        let request = self.client.post(parsed).headers(map).body(body).send();
        let result = tokio::time::timeout(timeout, async {
            let mut resp = request.await?;
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let mut kept = Vec::new();
            while kept.len() < BODY_CAP {
                match resp.chunk().await? {
                    Some(chunk) => {
                        let room = BODY_CAP - kept.len();
                        kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    }
                    None => break,
                }
            }
            Ok::<_, reqwest::Error>((status, kept, retry_after))
        })
        .await;
        match result {
            Err(_) => fail(format!("timed out after {} ms", timeout.as_millis())),
            Ok(Err(e)) => fail(describe(&e)),
            Ok(Ok((status, kept, retry_after))) => Outcome {
                status_code: status,
                body: Some(String::from_utf8_lossy(&kept).into_owned()),
                error: None,
                duration: start.elapsed(),
                retry_after,
            },
        }
    }
}

/// The error and its causes on one line (reqwest's top-level message alone is vague).
fn describe(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}
