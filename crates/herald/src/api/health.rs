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
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;

/// How long each check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a node is not ready.
#[derive(Serialize, ToSchema)]
pub struct NotReadyOut {
    /// `not_ready`.
    pub code: &'static str,
    pub detail: String,
    pub checks: Checks,
}

/// Each check's result: `ok`, `not checked`, or what went wrong.
#[derive(Serialize, ToSchema)]
pub struct Checks {
    pub database: String,
    pub committer: String,
}

/// Liveness: 204 while the process serves requests.
#[utoipa::path(
    get, path = "/health/live", operation_id = "herald.health.live", tag = "Health",
    security(()),
    responses((status = 204, description = "The process serves requests"))
)]
pub async fn live() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// Liveness, at Svix's address.
#[utoipa::path(
    get, path = "/health/ping", operation_id = "v1.health.ping", tag = "Health",
    security(()),
    responses((status = 204, description = "The process serves requests"))
)]
pub async fn ping() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// Readiness, at Svix's address.
#[utoipa::path(
    get, path = "/health", operation_id = "v1.health.get", tag = "Health",
    security(()),
    responses(
        (status = 204, description = "Ready: the database and the group committer answer"),
        (status = 503, description = "Not ready", body = NotReadyOut),
    )
)]
pub async fn ready(st: State<AppState>) -> Response {
    readiness(st).await
}

/// Readiness.
#[utoipa::path(
    get, path = "/health/ready", operation_id = "herald.health.ready", tag = "Health",
    security(()),
    responses(
        (status = 204, description = "Ready: the database and the group committer answer"),
        (status = 503, description = "Not ready", body = NotReadyOut),
    )
)]
pub async fn ready_alias(st: State<AppState>) -> Response {
    readiness(st).await
}

/// Readiness: 204, or 503 naming the failed checks.
async fn readiness(State(st): State<AppState>) -> Response {
    if st.draining.load(Ordering::Relaxed) {
        return unavailable(
            "This node is shutting down",
            Checks {
                database: "not checked".into(),
                committer: "not checked".into(),
            },
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
        Checks {
            database: show(&database),
            committer: show(&committer),
        },
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

fn unavailable(detail: &str, checks: Checks) -> Response {
    let mut resp = (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(NotReadyOut {
            code: "not_ready",
            detail: detail.into(),
            checks,
        }),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}
