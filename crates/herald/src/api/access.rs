//! Every API request's id, log line and metrics.
//!
//! The id is the caller's `x-request-id` when it is a sensible one (visible ASCII, at most 128
//! bytes), else a new one; it is echoed in the response's `x-request-id` and carried by every
//! log line the request makes (a span), so a client's report can be matched to the logs.
//! Then one line per request: method, route pattern, status, duration, id.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::AppState;

const HEADER: &str = "x-request-id";
const MAX_ID: usize = 128;

/// The caller's request id if it is one worth keeping, else a new random one.
pub fn request_id(given: Option<&HeaderValue>) -> HeaderValue {
    if let Some(v) = given
        && !v.is_empty()
        && v.len() <= MAX_ID
        && v.as_bytes().iter().all(|b| b.is_ascii_graphic())
    {
        return v.clone();
    }
    let id = format!("req_{:032x}", fastrand::u128(..));
    HeaderValue::from_str(&id).expect("hex is a valid header value")
}

/// The method as a static string: methods the API does not serve are counted as `OTHER`, so a
/// client cannot grow the metrics with made-up methods.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(req.headers().get(HEADER));
    let method = method_label(req.method());
    // The router's pattern, not the path: bounded labels, and no ids in the metrics. Requests
    // no route matched share one label.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let span = tracing::info_span!("request", request_id = id.to_str().unwrap_or_default());
    let mut resp = next.run(req).instrument(span.clone()).await;
    let took = started.elapsed();
    let status = resp.status().as_u16();
    state
        .pipeline
        .metrics()
        .request(method, route, status, took);
    span.in_scope(|| {
        tracing::info!(
            target: "herald::access",
            method,
            route,
            status,
            duration_ms = took.as_secs_f64() * 1000.0,
            request_id = id.to_str().unwrap_or_default(),
            "request"
        )
    });
    resp.headers_mut().insert(HEADER, id);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sensible_id_is_kept_and_any_other_replaced() {
        let keep = HeaderValue::from_static("abc-123");
        assert_eq!(request_id(Some(&keep)), keep);
        let long = HeaderValue::from_str(&"x".repeat(129)).unwrap();
        for bad in [
            HeaderValue::from_static(""),
            HeaderValue::from_static("has space"),
            long,
        ] {
            let id = request_id(Some(&bad));
            assert_ne!(id, bad);
            assert!(id.to_str().unwrap().starts_with("req_"));
        }
        assert_ne!(request_id(None), request_id(None));
    }
}
