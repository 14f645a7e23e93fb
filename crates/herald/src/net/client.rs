//! The HTTP side of delivery: one pooled client, no redirects, a deadline per attempt, the
//! response body read up to a cap, and every connection checked by the SSRF guard. An endpoint
//! with a client certificate (mTLS) gets a client of its own, one per distinct certificate,
//! kept. With `--proxy`, requests leave through the proxy, and the guard checks each target's
//! addresses before sending (the proxy resolves the name again: see `transport.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::guard::{AddressPolicy, literal_ip};
pub use super::transport::{ProxySettings, Transport, TransportError, check_identity};

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
    transport: Transport,
    max_in_flight: usize,
    /// Clients with a client certificate, by the certificate's SHA-256.
    with_identity: Mutex<HashMap<[u8; 32], reqwest::Client>>,
}

/// Distinct client certificates whose clients are kept (beyond, they are built afresh).
const MAX_IDENTITIES: usize = 256;

/// reqwest is built without a bundled crypto provider: Herald uses ring, which it signs with.
/// Call before building any HTTP client.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Client {
    /// `max_in_flight`: the most requests at once, so the most keep-alive connections worth
    /// keeping (endpoints often share a host; fewer idle ones would be closed and reopened).
    pub fn new(
        policy: AddressPolicy,
        max_in_flight: usize,
        transport: Transport,
    ) -> Result<Self, TransportError> {
        install_crypto_provider();
        let policy = Arc::new(policy);
        let client = transport.build(&policy, max_in_flight, None)?;
        Ok(Client {
            client,
            policy,
            transport,
            max_in_flight,
            with_identity: Mutex::new(HashMap::new()),
        })
    }

    /// The client that sends with `client_cert` (PEM certificate chain and key), if any.
    fn client_for(&self, client_cert: Option<&str>) -> Result<reqwest::Client, String> {
        let Some(pem) = client_cert else {
            return Ok(self.client.clone());
        };
        let digest = ring::digest::digest(&ring::digest::SHA256, pem.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        let mut kept = self.with_identity.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = kept.get(&key) {
            return Ok(c.clone());
        }
        let identity = reqwest::Identity::from_pem(pem.as_bytes())
            .map_err(|e| format!("the endpoint's client certificate: {}", describe(&e)))?;
        let client = self
            .transport
            .build(&self.policy, self.max_in_flight, Some(identity))
            .map_err(|e| e.to_string())?;
        if kept.len() >= MAX_IDENTITIES {
            kept.clear();
        }
        kept.insert(key, client.clone());
        Ok(client)
    }

    /// POSTs `body` to `url` with `headers`, giving up after `timeout` (connect, send and read),
    /// presenting `client_cert` (PEM certificate chain and key) if the server asks for one.
    pub async fn send(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
        timeout: Duration,
        client_cert: Option<&str>,
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
        // Through a proxy the name is resolved by the proxy, never by the guarded resolver:
        // check the addresses it has here first.
        if self.transport.proxy.is_some()
            && let Err(e) = super::transport::check_target(&self.policy, &parsed).await
        {
            return fail(e);
        }
        let client = match self.client_for(client_cert) {
            Ok(c) => c,
            Err(e) => return fail(e),
        };
        let mut map = HeaderMap::with_capacity(headers.len() + 2);
        for (k, v) in headers {
            if let (Ok(k), Ok(v)) = (
                HeaderName::try_from(k.as_str()),
                HeaderValue::try_from(v.as_str()),
            ) {
                map.insert(k, v);
            }
        }
        let request = client.post(parsed).headers(map).body(body).send();
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
pub(super) fn describe(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}
