//! Transport for enterprise receivers: a receiver that requires a client certificate (rustls on
//! loopback) accepts Herald's deliveries with the endpoint's `clientCert` and refuses them
//! without; deliveries leave through an HTTP or SOCKS5 proxy on loopback with `--proxy`, and the
//! SSRF guard still checks the target. The certificates in `certs/` are test fixtures: a CA,
//! a server certificate for 127.0.0.1 and a client certificate it signed (P-256, valid to 2126;
//! made with `openssl req -x509 ...` and `openssl x509 -req ...`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::*;

const CA: &str = include_str!("certs/ca.pem");
const SERVER_CERT: &str = include_str!("certs/server.pem");
const SERVER_KEY: &str = include_str!("certs/server.key");
const CLIENT_CERT: &str = include_str!("certs/client.pem");
const CLIENT_KEY: &str = include_str!("certs/client.key");

/// An HTTPS receiver on 127.0.0.1 that requires a client certificate signed by the test CA.
/// Counts the requests it answered.
async fn mtls_receiver() -> (String, Arc<AtomicUsize>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    herald::net::client::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(CA.as_bytes()).unwrap())
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .unwrap();
    let config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(SERVER_CERT.as_bytes()).unwrap()],
            PrivateKeyDer::from_pem_slice(SERVER_KEY.as_bytes()).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/hook", listener.local_addr().unwrap());
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (acceptor, count) = (acceptor.clone(), count.clone());
            tokio::spawn(async move {
                // No client certificate: the handshake fails here, nothing is served.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if read_request(&mut tls).await.is_some() {
                    count.fetch_add(1, Ordering::SeqCst);
                    let _ = tls
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        )
                        .await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    (url, served)
}

/// Reads one HTTP/1.1 request (head and a `content-length` body); returns its head.
async fn read_request<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(head);
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn a_client_certificate_is_presented_and_required() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, CA).unwrap();
    let app = spawn_app_with(|c| {
        c.ca_cert = Some(ca.clone());
        c.secret_key = Some("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".into());
    })
    .await;
    let (url, served) = mtls_receiver().await;
    let a = app.create_app("enterprise").await;
    let identity = format!("{CLIENT_CERT}{CLIENT_KEY}");
    let (s, ep) = app
        .post(
            &format!("/app/{a}/endpoint"),
            json!({"url": url, "clientCert": identity}),
        )
        .await;
    assert_eq!(s, 201, "{ep}");
    // Write-only: never shown back, and sealed at rest like secrets.
    assert!(ep.get("clientCert").is_none(), "{ep}");
    assert_eq!(ep["clientCertSet"], true);
    assert!(!app.dump("endpoints").await.contains("PRIVATE KEY"));
    let m = app
        .publish(&a, json!({"eventType": "m.tls", "payload": {"n": 1}}))
        .await;
    let attempts = app.wait_attempts(&a, m["id"].as_str().unwrap(), 1).await;
    assert_eq!(attempts[0]["responseStatusCode"], 200, "{}", attempts[0]);
    assert_eq!(served.load(Ordering::SeqCst), 1);

    // The same receiver, without a certificate: refused at the handshake.
    let ep_id = ep["id"].as_str().unwrap();
    let (s, _) = app
        .req(
            reqwest::Method::PATCH,
            &format!("/app/{a}/endpoint/{ep_id}"),
            Some(json!({"clientCert": null})),
        )
        .await;
    assert_eq!(s, 200);
    let m = app
        .publish(&a, json!({"eventType": "m.tls", "payload": {"n": 2}}))
        .await;
    let attempts = app.wait_attempts(&a, m["id"].as_str().unwrap(), 1).await;
    assert_eq!(attempts[0]["responseStatusCode"], 0, "{}", attempts[0]);
    assert_eq!(
        served.load(Ordering::SeqCst),
        1,
        "nothing served without it"
    );
    // Not a certificate and key: a 422 naming the field.
    let (s, b) = app
        .post(
            &format!("/app/{a}/endpoint"),
            json!({"url": url, "clientCert": CLIENT_CERT}),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["detail"][0]["loc"], json!(["body", "clientCert"]));
}

/// A forward proxy on 127.0.0.1: HTTP (absolute-form requests and CONNECT) or SOCKS5 (no
/// authentication). Records the target of every connection it made.
async fn proxy(socks: bool) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let scheme = if socks { "socks5" } else { "http" };
    let url = format!("{scheme}://{}", listener.local_addr().unwrap());
    let targets = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = targets.clone();
    tokio::spawn(async move {
        loop {
            let (mut client, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let (target, early) = if socks {
                    (socks_handshake(&mut client).await, Vec::new())
                } else {
                    http_target(&mut client).await
                };
                let Some(target) = target else { return };
                seen.lock().unwrap().push(target.clone());
                let Ok(mut upstream) = TcpStream::connect(&target).await else {
                    return;
                };
                if early.is_empty() && !socks {
                    let _ = client
                        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                        .await;
                }
                let _ = upstream.write_all(&early).await;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (url, targets)
}

/// An HTTP proxy request's target: `CONNECT host:port` (nothing to forward), or an
/// absolute-form request (its bytes so far are forwarded as they are).
async fn http_target(c: &mut TcpStream) -> (Option<String>, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match c.read(&mut chunk).await {
            Ok(0) | Err(_) => return (None, Vec::new()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let line = String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method == "CONNECT" {
        return (Some(target.to_string()), Vec::new());
    }
    let host = url::Url::parse(target)
        .ok()
        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)));
    (host, buf)
}

/// A SOCKS5 handshake without authentication; the target asked for.
async fn socks_handshake(c: &mut TcpStream) -> Option<String> {
    let mut head = [0u8; 2];
    c.read_exact(&mut head).await.ok()?;
    let mut methods = vec![0u8; head[1] as usize];
    c.read_exact(&mut methods).await.ok()?;
    c.write_all(&[5, 0]).await.ok()?;
    let mut req = [0u8; 4];
    c.read_exact(&mut req).await.ok()?;
    let host = match req[3] {
        1 => {
            let mut a = [0u8; 4];
            c.read_exact(&mut a).await.ok()?;
            std::net::Ipv4Addr::from(a).to_string()
        }
        3 => {
            let mut len = [0u8; 1];
            c.read_exact(&mut len).await.ok()?;
            let mut name = vec![0u8; len[0] as usize];
            c.read_exact(&mut name).await.ok()?;
            String::from_utf8(name).ok()?
        }
        _ => return None,
    };
    let mut port = [0u8; 2];
    c.read_exact(&mut port).await.ok()?;
    c.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await.ok()?;
    Some(format!("{host}:{}", u16::from_be_bytes(port)))
}

async fn deliveries_leave_through_the_proxy() {
    for socks in [false, true] {
        let (proxy_url, targets) = proxy(socks).await;
        let app = spawn_app_with(|c| c.proxy = Some(proxy_url.clone())).await;
        let rx = Receiver::start().await;
        let a = app.create_app("egress").await;
        app.create_endpoint(&a, json!({"url": rx.url("/hook")}))
            .await;
        app.publish(&a, json!({"eventType": "p.x", "payload": {"n": 1}}))
            .await;
        rx.wait_for(1, Duration::from_secs(10)).await;
        let seen = targets.lock().unwrap().clone();
        assert_eq!(
            seen,
            vec![rx.addr.to_string()],
            "through the {proxy_url} proxy"
        );
    }
}

async fn the_guard_still_checks_targets_behind_a_proxy() {
    let (proxy_url, targets) = proxy(false).await;
    // The proxy resolves names itself; Herald resolves `localhost` first, finds 127.0.0.1,
    // which only 127.0.0.2 is allowed besides public addresses here, and sends nothing.
    let app = spawn_app_with(|c| {
        c.proxy = Some(proxy_url.clone());
        c.allow_targets = vec!["127.0.0.2/32".parse().unwrap()];
    })
    .await;
    let rx = Receiver::start().await;
    let a = app.create_app("guarded").await;
    let url = format!("http://localhost:{}/hook", rx.addr.port());
    app.create_endpoint(&a, json!({"url": url})).await;
    let m = app
        .publish(&a, json!({"eventType": "p.x", "payload": {"n": 1}}))
        .await;
    let attempts = app.wait_attempts(&a, m["id"].as_str().unwrap(), 1).await;
    assert_eq!(attempts[0]["responseStatusCode"], 0);
    let error = attempts[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("localhost resolves to") && error.contains("not allowed"),
        "{error}"
    );
    assert!(targets.lock().unwrap().is_empty(), "the proxy saw nothing");
    assert!(rx.received().is_empty());
    // The no-proxy list: delivered directly.
    let (proxy_url, targets) = proxy(false).await;
    let app = spawn_app_with(|c| {
        c.proxy = Some(proxy_url.clone());
        c.no_proxy = Some("127.0.0.1".into());
    })
    .await;
    let a = app.create_app("direct").await;
    app.create_endpoint(&a, json!({"url": rx.url("/direct")}))
        .await;
    app.publish(&a, json!({"eventType": "p.x", "payload": {"n": 2}}))
        .await;
    eventually("direct delivery", Duration::from_secs(10), || async {
        rx.received()
            .iter()
            .any(|r| r.path == "/direct")
            .then_some(())
    })
    .await;
    assert!(targets.lock().unwrap().is_empty(), "not through the proxy");
}

backend_tests!(
    a_client_certificate_is_presented_and_required,
    deliveries_leave_through_the_proxy,
    the_guard_still_checks_targets_behind_a_proxy,
);
