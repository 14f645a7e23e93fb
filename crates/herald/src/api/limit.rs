//! Bounds on what clients can make a node do at once: at most `--max-concurrent-requests` API
//! requests are served together (the rest wait up to a second for a turn, then get 503 with
//! `Retry-After`), and each has `--api-timeout` to answer. With request bodies capped in size
//! and list pages capped in bytes (`store::MAX_PAGE_BYTES`), memory no longer follows what
//! clients ask for.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::Semaphore;

use super::AppState;

/// How long a request waits for a turn before it is turned away.
const QUEUE_WAIT: Duration = Duration::from_secs(1);

/// Turns for API requests.
pub type Turns = Arc<Semaphore>;

pub async fn middleware(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let turn = match st.turns.clone().try_acquire_owned() {
        Ok(t) => t,
        Err(_) => match tokio::time::timeout(QUEUE_WAIT, st.turns.clone().acquire_owned()).await {
            Ok(Ok(t)) => t,
            _ => {
                return unavailable(
                    "overloaded",
                    "This node is serving as many requests as it may; retry shortly".into(),
                );
            }
        },
    };
    let resp = match tokio::time::timeout(st.cfg.api_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => unavailable(
            "timeout",
            format!(
                "The request took longer than {} ms; work it started may still complete",
                st.cfg.api_timeout.as_millis()
            ),
        ),
    };
    drop(turn);
    resp
}

fn unavailable(code: &str, detail: String) -> Response {
    let mut resp = (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"code": code, "detail": detail})),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}
