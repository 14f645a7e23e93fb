//! The API's listener. The HTTP parser (hyper) answers requests it cannot parse by itself,
//! before any handler runs: 400 for a malformed request line or header, 414 for a URI over
//! 64 KiB, 431 for headers over its buffer, each with an empty body. So that every error a
//! client gets has the API's `{code, detail}` shape, each connection's writes are watched for
//! such an answer, which is then sent with a JSON body instead. Herald's own error responses
//! always have a body, so an empty-bodied 4xx can only be the parser's.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A TCP listener whose connections answer parse errors in JSON.
pub struct Listener(pub TcpListener);

impl axum::serve::Listener for Listener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        loop {
            match self.0.accept().await {
                Ok((io, addr)) => {
                    return (
                        Conn {
                            io,
                            pending: Vec::new(),
                        },
                        addr,
                    );
                }
                // Out of file descriptors, say: wait rather than spin.
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// An accepted connection.
pub struct Conn {
    io: TcpStream,
    /// A rewritten answer not yet written in full.
    pending: Vec<u8>,
}

/// The JSON answer for an empty-bodied 4xx head written by the parser, if `buf` is one.
fn rewrite(buf: &[u8]) -> Option<Vec<u8>> {
    let head = buf.strip_suffix(b"\r\n\r\n")?;
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))?
        .get(..3)?;
    let (code, detail) = match status {
        "400" => (
            "bad_request",
            "The request could not be parsed (its request line or a header is malformed)",
        ),
        "414" => (
            "uri_too_long",
            "The request URI is longer than this server accepts (65534 bytes)",
        ),
        "431" => (
            "headers_too_large",
            "The request's headers are larger than this server accepts",
        ),
        _ => return None,
    };
    let others: Vec<&str> = lines.collect();
    if !others
        .iter()
        .any(|h| h.eq_ignore_ascii_case("content-length: 0"))
    {
        return None;
    }
    let body = serde_json::json!({"code": code, "detail": detail}).to_string();
    let mut out = format!("{status_line}\r\ncontent-type: application/json\r\n");
    for h in others {
        if !h.to_ascii_lowercase().starts_with("content-length:") {
            out.push_str(h);
            out.push_str("\r\n");
        }
    }
    out.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    Some(out.into_bytes())
}

impl Conn {
    /// Writes what is pending; ready once nothing is.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        // Cheap test first: the parser's answers are a bare 4xx head.
        if buf.len() < 512
            && buf.starts_with(b"HTTP/1.")
            && buf.get(9) == Some(&b'4')
            && let Some(json) = rewrite(buf)
        {
            self.pending = json;
            // Taken whole; it is written by this call or the flush the parser makes next.
            let _ = self.poll_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    // Not vectored: the parser then writes each response from one buffer, which is what the
    // check above looks at.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::rewrite;

    #[test]
    fn the_parsers_empty_answers_get_a_json_body() {
        let head = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = String::from_utf8(rewrite(head).unwrap()).unwrap();
        let (h, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(h.starts_with("HTTP/1.1 414 URI Too Long\r\n"));
        assert!(h.contains("content-type: application/json"));
        assert!(h.contains("date: x"));
        assert!(h.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["code"], "uri_too_long");
    }

    #[test]
    fn other_responses_pass_unchanged() {
        // A 4xx with a body (Herald's own), a 200, a partial head.
        assert!(rewrite(b"HTTP/1.1 404 Not Found\r\ncontent-length: 20\r\n\r\n").is_none());
        assert!(rewrite(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(rewrite(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n").is_none());
    }
}
