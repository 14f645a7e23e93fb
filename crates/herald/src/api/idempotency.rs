//! `idempotency-key` on POST: a repeat with the same key (same caller, same path) within 24 hours
//! gets the first response again instead of doing the work twice.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::auth::Principal;
use super::error::ApiError;
use crate::clock::now_ms;

/// Keys whose first request is still being served.
pub type InFlight = Arc<Mutex<HashSet<String>>>;

const KEEP_MS: i64 = 24 * 3600 * 1000;

pub async fn middleware(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(key) = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
    else {
        return next.run(req).await;
    };
    let scope = req
        .extensions()
        .get::<Principal>()
        .map(Principal::scope)
        .unwrap_or_default();
    let full = format!("{scope}\n{}\n{key}", req.uri().path().trim_end_matches('/'));
    let id = hex::encode(super::auth::hash_token(&full));

    match st.store.idempotent_response(&id, now_ms() - KEEP_MS).await {
        Ok(Some((status, body))) => return replay(status, body),
        Ok(None) => {}
        Err(e) => return ApiError::from(e).into_response(),
    }
    {
        let mut set = st.idempotency.lock().unwrap_or_else(|p| p.into_inner());
        if !set.insert(id.clone()) {
            return ApiError::Conflict("A request with this idempotency-key is in progress".into())
                .into_response();
        }
    }
    let resp = next.run(req).await;
    let (parts, body) = resp.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    if parts.status.as_u16() < 500
        && let Err(e) = st
            .store
            .save_idempotent_response(&id, parts.status.as_u16(), &bytes)
            .await
    {
        tracing::warn!(error = %e, "saving an idempotent response failed");
    }
    st.idempotency
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
    Response::from_parts(parts, Body::from(bytes))
}

fn replay(status: u16, body: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("idempotent-replayed", HeaderValue::from_static("true"));
    resp
}
