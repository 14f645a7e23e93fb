//! A lean HTTP/1.1 keep-alive client: one connection per task, no pool, no redirects. The load
//! generator publishes through it and the ceiling run posts to the receiver with it.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

pub struct Conn {
    port: u16,
    send: SendRequest<Full<Bytes>>,
}

impl Conn {
    pub async fn open(port: u16) -> Result<Conn, Error> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.set_nodelay(true)?;
        let (send, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn { port, send })
    }

    /// Sends one request and reads the whole response: `(status, body)`.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<(u16, Bytes), Error> {
        if self.send.ready().await.is_err() {
            // The server closed the connection: open a new one.
            *self = Conn::open(self.port).await?;
            self.send.ready().await?;
        }
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", format!("127.0.0.1:{}", self.port))
            .header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = self.send.send_request(req.body(Full::new(body))?).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    pub async fn post_json(
        &mut self,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> Result<(u16, serde_json::Value), Error> {
        let auth = format!("Bearer {token}");
        let (status, bytes) = self
            .request(
                Method::POST,
                path,
                &[("authorization", &auth)],
                Bytes::from(serde_json::to_vec(body)?),
            )
            .await?;
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Ok((status, json))
    }
}
