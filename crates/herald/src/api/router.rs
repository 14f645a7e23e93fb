//! The routes of the API, and its OpenAPI document made from the same calls.
//!
//! Every route goes through `routes!` (one call per path): it registers the handler with axum
//! and its `#[utoipa::path]` with the document together. No route is added with `.route`.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::{
    AppState, access, app, attempt, auth, doc, endpoint, erasure, event_type, health, idempotency,
    jwks, limit, message,
};

/// The routes that take a token.
fn authenticated() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(app::list, app::create))
        .routes(routes!(app::get, app::put, app::patch, app::remove))
        .routes(routes!(endpoint::crud::list, endpoint::crud::create))
        .routes(routes!(
            endpoint::crud::get,
            endpoint::crud::put,
            endpoint::crud::patch,
            endpoint::crud::remove
        ))
        .routes(routes!(
            endpoint::headers::get_headers,
            endpoint::headers::put_headers,
            endpoint::headers::patch_headers
        ))
        .routes(routes!(endpoint::secret::get_secret))
        .routes(routes!(endpoint::secret::rotate_secret))
        .routes(routes!(endpoint::recovery::stats))
        .routes(routes!(endpoint::recovery::recover))
        .routes(routes!(endpoint::recovery::replay_missing))
        .routes(routes!(endpoint::recovery::send_example))
        .routes(routes!(attempt::list_endpoint_messages))
        .routes(routes!(message::list, message::create))
        .routes(routes!(message::get))
        .routes(routes!(message::expunge))
        .routes(routes!(erasure::erase))
        .routes(routes!(attempt::list_message_endpoints))
        .routes(routes!(attempt::resend))
        .routes(routes!(attempt::get))
        .routes(routes!(attempt::expunge))
        .routes(routes!(attempt::list_by_msg))
        .routes(routes!(attempt::list_by_endpoint))
        .routes(routes!(event_type::list, event_type::create))
        .routes(routes!(
            event_type::get,
            event_type::put,
            event_type::patch,
            event_type::remove
        ))
        .routes(routes!(
            endpoint::operational::list,
            endpoint::operational::create
        ))
        .routes(routes!(
            endpoint::operational::get,
            endpoint::operational::put,
            endpoint::operational::remove
        ))
        .routes(routes!(endpoint::operational::get_secret))
        .routes(routes!(endpoint::operational::rotate_secret))
        .routes(routes!(auth::portal_access))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::expire_all))
}

/// The routes open to anyone.
fn public() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health::ready))
        .routes(routes!(health::ready_alias))
        .routes(routes!(health::live))
        .routes(routes!(health::ping))
        .routes(routes!(jwks::jwks))
        .routes(routes!(openapi_json))
}

/// The document, from the routes alone (no state is needed to describe them).
pub fn openapi() -> utoipa::openapi::OpenApi {
    OpenApiRouter::<AppState>::with_openapi(doc::ApiDoc::openapi())
        .nest("/api/v1", authenticated().merge(public()))
        .into_openapi()
}

/// `GET /api/v1/openapi.json`: this API's OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "herald.openapi",
    tag = "Health",
    security(()),
    responses((status = 200, description = "The OpenAPI document", body = Object))
)]
async fn openapi_json() -> Response {
    static JSON: OnceLock<String> = OnceLock::new();
    let body = JSON.get_or_init(|| openapi().to_json().unwrap_or_default());
    ([(header::CONTENT_TYPE, "application/json")], body.as_str()).into_response()
}

/// The whole API under `/api/v1`, the portal under `/portal`, and `/metrics`.
pub fn router(state: AppState) -> Router {
    // Layers run outside-in from the last one: admit, authenticate, then replay idempotent POSTs.
    let authenticated = authenticated()
        .layer(from_fn_with_state(state.clone(), idempotency::middleware))
        .layer(from_fn_with_state(state.clone(), auth::middleware))
        .layer(from_fn_with_state(state.clone(), limit::middleware));
    let (api, _) = OpenApiRouter::new()
        .nest("/api/v1", authenticated.merge(public()))
        .split_for_parts();
    let mut api = api.nest("/portal", crate::portal::router());
    // Prometheus's `/metrics`, outside the documented API as the portal is; with
    // `--metrics-listen` only on that address (app.rs).
    if state.cfg.metrics_listen.is_none() {
        api = api.nest("/metrics", crate::metrics::router());
    }
    api.fallback(|| async { ApiError::NotFound("No such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(state.cfg.max_body_bytes))
        // Outermost: the request id, log line and metrics cover every answer, 401s included.
        // `Router::layer` wraps each route, so the matched route pattern is known to it.
        .layer(from_fn_with_state(state.clone(), access::middleware))
        .with_state(state)
}
