//! How deliveries leave: the outbound proxy (`--proxy`, HTTP CONNECT or SOCKS5, with a no-proxy
//! list), extra trusted roots (`--ca-cert`), and per-endpoint client certificates (mTLS).
//!
//! The SSRF guard with a proxy: the proxy resolves the target's name itself, so the guarded
//! resolver never sees it. Herald resolves the name first and refuses the request unless every
//! address it gets is allowed (`check_target`); literal addresses are checked as always. The
//! limit: the proxy resolves again, so a name whose records change between the two lookups
//! (DNS rebinding) could still reach an address Herald would refuse. Deployments that need
//! more let the proxy enforce its own egress rules too. The proxy's own host is resolved
//! without the guard (it is usually on a private network).

use std::sync::Arc;
use std::time::Duration;

use super::guard::{AddressPolicy, GuardedResolver};

/// `--proxy` and `--no-proxy`.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    pub url: String,
    pub no_proxy: Option<String>,
}

/// The transport settings every delivery client shares.
#[derive(Debug, Clone, Default)]
pub struct Transport {
    pub proxy: Option<ProxySettings>,
    /// PEM certificates trusted as roots besides the system's (`--ca-cert`).
    pub ca_certs: Option<Vec<u8>>,
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("--proxy {0}")]
    Proxy(String),
    #[error("--ca-cert: {0}")]
    CaCert(String),
    #[error("the HTTP client cannot be built: {0}")]
    Build(String),
}

impl Transport {
    /// A delivery client: no redirects, the guarded resolver, pooled connections, and the
    /// proxy, roots and `identity` given.
    pub(super) fn build(
        &self,
        policy: &Arc<AddressPolicy>,
        max_in_flight: usize,
        identity: Option<reqwest::Identity>,
    ) -> Result<reqwest::Client, TransportError> {
        let mut trusted = Vec::new();
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(max_in_flight)
            .pool_idle_timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true);
        match &self.proxy {
            None => b = b.no_proxy(),
            Some(p) => {
                let url =
                    url::Url::parse(&p.url).map_err(|e| TransportError::Proxy(e.to_string()))?;
                if !matches!(url.scheme(), "http" | "https" | "socks5" | "socks5h") {
                    return Err(TransportError::Proxy(format!(
                        "{}: use http://, https://, socks5:// or socks5h://",
                        url.scheme()
                    )));
                }
                if let Some(h) = url.host_str() {
                    trusted.push(h.trim_matches(['[', ']']).to_string());
                }
                let proxy = reqwest::Proxy::all(p.url.as_str())
                    .map_err(|e| TransportError::Proxy(super::client::describe(&e)))?
                    .no_proxy(
                        p.no_proxy
                            .as_deref()
                            .and_then(reqwest::NoProxy::from_string),
                    );
                b = b.proxy(proxy);
            }
        }
        if let Some(pem) = &self.ca_certs {
            let roots = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| TransportError::CaCert(super::client::describe(&e)))?;
            if roots.is_empty() {
                return Err(TransportError::CaCert("no certificate in the file".into()));
            }
            b = b.tls_certs_merge(roots);
        }
        if let Some(id) = identity {
            b = b.identity(id);
        }
        b.dns_resolver(Arc::new(GuardedResolver {
            policy: policy.clone(),
            trusted,
        }))
        .build()
        .map_err(|e| TransportError::Build(super::client::describe(&e)))
    }
}

/// Whether `pem` is a client certificate chain with its private key that a client can present
/// (the API checks an endpoint's `clientCert` with it).
pub fn check_identity(pem: &str) -> Result<(), String> {
    super::client::install_crypto_provider();
    let id =
        reqwest::Identity::from_pem(pem.as_bytes()).map_err(|e| super::client::describe(&e))?;
    reqwest::Client::builder()
        .identity(id)
        .build()
        .map(|_| ())
        .map_err(|e| super::client::describe(&e))
}

/// With a proxy: every address `url`'s host resolves to here must be allowed (the proxy resolves
/// it again; see the module's doc).
pub(super) async fn check_target(policy: &AddressPolicy, url: &reqwest::Url) -> Result<(), String> {
    let Some(url::Host::Domain(host)) = url.host() else {
        return Ok(());
    };
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    match addrs.iter().find(|a| !policy.permits(a.ip())) {
        Some(bad) => Err(format!(
            "{host} resolves to {}, which is not allowed as a delivery target",
            bad.ip()
        )),
        None if addrs.is_empty() => Err(format!("{host} resolves to no address")),
        None => Ok(()),
    }
}
