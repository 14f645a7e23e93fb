//! `idempotency-key` on POST: a repeat with the same key (same caller, same path) within 24 hours
//! gets the first response again instead of doing the work twice.
//!
//! The key is claimed by a row before the request runs (`store/idempotency.rs`), so the claim is
//! shared by every node and survives a restart. The request then runs in a task of its own, to
//! completion even if the client hangs up: its response is stored (a publish stores it with its
//! message, in one transaction), or, if it failed (5xx, a panic), the claim is released. A retry
//! that finds the key still in progress waits a while for the response rather than failing.

use std::time::{Duration, Instant};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::auth::Principal;
use super::error::ApiError;
use crate::clock::now_ms;
use crate::delivery::Pipeline;
use crate::store::{ClaimArgs, KeyClaim, Store};

/// Responses are kept this long.
const KEEP_MS: i64 = 24 * 3600 * 1000;
/// A claim whose node died is free again after this long (a live node answers well before:
/// requests are bounded by the API's request timeout).
const CLAIM_MS: i64 = 5 * 60 * 1000;
/// How long a retry waits for the first request with its key to finish.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(25);
/// Longest key accepted.
const MAX_KEY_LEN: usize = 256;

/// The claimed key of the request being served, for a handler that stores its response with its
/// own write (a publish); it then marks the response [`Stored`].
#[derive(Clone, Debug)]
pub struct IdempotencyKey(pub String);

/// Put on a response whose handler stored it under its idempotency key already.
#[derive(Clone, Copy, Debug)]
pub struct Stored;

pub async fn middleware(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(key) = req.headers().get("idempotency-key") else {
        return next.run(req).await;
    };
    let key = match key.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= MAX_KEY_LEN => k,
        _ => {
            return ApiError::BadRequest {
                code: "invalid_idempotency_key",
                detail: format!(
                    "idempotency-key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
                ),
            }
            .into_response();
        }
    };
    let scope = req
        .extensions()
        .get::<Principal>()
        .map(Principal::scope)
        .unwrap_or_default();
    let full = format!("{scope}\n{}\n{key}", req.uri().path().trim_end_matches('/'));
    let id = hex::encode(super::auth::hash_token(&full));

    // A task of its own, from the claim on: a client that hangs up must not cancel the
    // request half-way, leaving its key claimed, or its work done but its response unsaved.
    let task = st
        .tasks
        .spawn(run(st.pipeline.clone(), st.store.clone(), id, req, next));
    match task.await {
        Ok(resp) => resp,
        Err(e) => ApiError::Internal(format!("a request's task failed: {e}")).into_response(),
    }
}

/// Claims key `id`, runs the request and stores its response (or answers from an earlier one).
async fn run(
    pipeline: Pipeline,
    store: Store,
    id: String,
    mut req: Request,
    next: Next,
) -> Response {
    let deadline = Instant::now() + WAIT_FOR_FIRST;
    loop {
        let now = now_ms();
        let claim = ClaimArgs {
            key: id.clone(),
            now,
            locked_until: now + CLAIM_MS,
            fresh_after: now - KEEP_MS,
        };
        match pipeline.claim_idempotency_key(claim).await {
            Ok(KeyClaim::Claimed) => break,
            Ok(KeyClaim::Done { status, body }) => return replay(status, body),
            Ok(KeyClaim::InProgress) if Instant::now() < deadline => tokio::time::sleep(POLL).await,
            Ok(KeyClaim::InProgress) => {
                return ApiError::Conflict(
                    "A request with this idempotency-key is still in progress".into(),
                )
                .into_response();
            }
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    req.extensions_mut().insert(IdempotencyKey(id.clone()));
    let mut claim = Claim {
        store: store.clone(),
        key: Some(id),
    };
    let resp = next.run(req).await;
    let (parts, body) = resp.into_parts();
    let bytes = match to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            claim.release().await;
            return ApiError::Internal(format!("reading a response: {e}")).into_response();
        }
    };
    if parts.status.is_server_error() {
        claim.release().await;
    } else {
        if parts.extensions.get::<Stored>().is_none()
            && let Some(key) = &claim.key
            && let Err(e) = pipeline
                .save_idempotent_response(key, parts.status.as_u16(), &bytes)
                .await
        {
            // Kept claimed rather than released: the work is done, so a retry must not do it
            // again; the claim expires.
            tracing::warn!(error = %e, "saving an idempotent response failed");
        }
        claim.key = None;
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A claimed key, released if its request fails or its task panics.
struct Claim {
    store: Store,
    key: Option<String>,
}

impl Claim {
    async fn release(&mut self) {
        if let Some(key) = self.key.take()
            && let Err(e) = self.store.release_idempotency_key(&key).await
        {
            tracing::warn!(error = %e, "releasing an idempotency key failed");
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        // Only on a panic: every other path released the key or stored the response.
        if let Some(key) = self.key.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let store = self.store.clone();
            rt.spawn(async move { store.release_idempotency_key(&key).await });
        }
    }
}

fn replay(status: u16, body: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("idempotent-replayed", HeaderValue::from_static("true"));
    resp
}
