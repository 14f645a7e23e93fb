//! Health checks for load balancers and orchestrators.
//!
//! - `GET /api/v1/health` (also `/health/ready`): readiness. 204 when this node can take
//!   requests: its database answers a query and its group committer keeps up (a no-op goes
//!   through it), each within 2 s, and it is not shutting down. Otherwise 503 with
//!   `{code, detail, checks}` naming what failed. Point load balancers here.
//! - `GET /api/v1/health/live` (also `/health/ping`): liveness. 204 while the process serves
//!   HTTP at all; it checks nothing else, so it is cheap and does not flap when the database
//!   does. Point restart-on-failure probes here.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;

/// How long each check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness: 204 while the process serves requests.
pub async fn live() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// Readiness: 204, or 503 naming the failed checks.
pub async fn ready(State(st): State<AppState>) -> Response {
    if st.draining.load(Ordering::Relaxed) {
        return unavailable(
            "This node is shutting down",
            json!({"database": "not checked", "committer": "not checked"}),
        );
    }
    let (database, committer) =
        tokio::join!(check(st.store.ping_database()), check(st.pipeline.ping()));
    if database.is_none() && committer.is_none() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let show = |r: &Option<String>| r.clone().unwrap_or_else(|| "ok".into());
    let failed: Vec<&str> = [("database", &database), ("committer", &committer)]
        .iter()
        .filter(|(_, r)| r.is_some())
        .map(|(n, _)| *n)
        .collect();
    unavailable(
        &format!("Not ready: {} failing", failed.join(" and ")),
        json!({"database": show(&database), "committer": show(&committer)}),
    )
}

/// `None` if `f` succeeded in time, else what went wrong.
async fn check<E: std::fmt::Display>(
    f: impl std::future::Future<Output = Result<(), E>>,
) -> Option<String> {
    match tokio::time::timeout(CHECK_TIMEOUT, f).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("error: {e}")),
        Err(_) => Some(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
    }
}

fn unavailable(detail: &str, checks: serde_json::Value) -> Response {
    let mut resp = (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"code": "not_ready", "detail": detail, "checks": checks})),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}
