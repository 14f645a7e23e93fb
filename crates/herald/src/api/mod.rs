//! The REST API, shaped like Svix's v1 so its SDKs work against Herald unchanged.
//!
//! One module per resource; [`error`] is the only place that maps failures to HTTP statuses.

mod app;
mod attempt;
mod auth;
mod endpoint;
pub mod error;
mod event_type;
pub mod extract;
mod health;
mod idempotency;
mod jwks;
mod limit;
mod message;
pub mod shapes;
pub mod validate;
pub mod wire;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post};
use tokio::sync::Notify;

use crate::config::Config;
use crate::delivery::Pipeline;
use crate::model::Application;
use crate::net::guard::AddressPolicy;
use crate::store::Store;
pub use auth::{Principal, hash_token};

/// A new operator token.
pub fn auth_new_operator_token() -> String {
    auth::new_token(auth::OPERATOR_TOKEN_PREFIX)
}
use error::{ApiError, ApiResult};

/// The handlers the customer portal (`crate::portal`) calls for its changes, so that a change
/// made in a browser is checked and applied exactly as the same call through the API.
pub(crate) mod handlers {
    pub(crate) use super::attempt::resend;
    pub(crate) use super::auth::APP_TOKEN_PREFIX;
    pub(crate) use super::endpoint::{
        create as create_endpoint, patch as patch_endpoint, put_headers, recover,
        remove as remove_endpoint, rotate_secret, send_example,
    };
}

/// What every handler can reach. One `Arc`: each middleware layer and handler clones the
/// state per request, and a struct of a dozen `Arc`s cost a dozen contended atomic operations
/// each time (6% of the profile of a publish storm).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub store: Store,
    /// The publish pipeline: publishes and idempotency keys go through its group committer.
    pub pipeline: Pipeline,
    pub cfg: Arc<Config>,
    /// Wakes the dispatcher when there is new work.
    pub wake: Arc<Notify>,
    pub operator_hash: [u8; 32],
    pub policy: AddressPolicy,
    /// The node is stopping: readiness answers 503 so load balancers send elsewhere.
    pub draining: std::sync::atomic::AtomicBool,
    /// Turns for API requests served at once (`--max-concurrent-requests`).
    pub turns: limit::Turns,
    /// Operator tokens made with `herald token create`, recently found valid.
    pub operator_tokens: auth::OperatorTokens,
    /// The node's tasks (requests that run to completion without their client, among them),
    /// so that shutdown can wait for them.
    pub tasks: tokio_util::task::TaskTracker,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(
        store: Store,
        pipeline: Pipeline,
        cfg: Arc<Config>,
        wake: Arc<Notify>,
        operator_hash: [u8; 32],
    ) -> Self {
        let policy = AddressPolicy::new(cfg.allow_targets.clone()).https_only(cfg.https_only);
        let turns = Arc::new(tokio::sync::Semaphore::new(
            cfg.max_concurrent_requests.max(1),
        ));
        AppState(Arc::new(Shared {
            store,
            pipeline,
            cfg,
            wake,
            operator_hash,
            policy,
            draining: Default::default(),
            turns,
            tasks: tokio_util::task::TaskTracker::new(),
            operator_tokens: Default::default(),
        }))
    }

    /// The application `id_or_uid`, if the caller may see it (another app's data is 404).
    pub async fn app(&self, who: &Principal, id_or_uid: &str) -> ApiResult<Application> {
        let app = self.store.get_app(id_or_uid).await?;
        Self::visible(who, app)
    }

    /// [`AppState::app`] for publishing: the lookup may come from a cache up to a second old.
    pub async fn app_to_publish(&self, who: &Principal, id_or_uid: &str) -> ApiResult<Application> {
        let app = self.store.get_app_cached(id_or_uid).await?;
        Self::visible(who, app)
    }

    fn visible(who: &Principal, app: Application) -> ApiResult<Application> {
        match who {
            Principal::Operator => Ok(app),
            Principal::App(id) if app.id == *id => Ok(app),
            Principal::App(_) => Err(ApiError::not_found("Application")),
        }
    }
}

/// The whole API under `/api/v1`.
pub fn router(state: AppState) -> Router {
    let app_routes = Router::new()
        .route("/app", get(app::list).post(app::create))
        .route(
            "/app/{app_id}",
            get(app::get)
                .put(app::put)
                .patch(app::patch)
                .delete(app::remove),
        )
        .route(
            "/app/{app_id}/endpoint",
            get(endpoint::list).post(endpoint::create),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}",
            get(endpoint::get)
                .put(endpoint::put)
                .patch(endpoint::patch)
                .delete(endpoint::remove),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/headers",
            get(endpoint::get_headers)
                .put(endpoint::put_headers)
                .patch(endpoint::patch_headers),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/secret",
            get(endpoint::get_secret),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/secret/rotate",
            post(endpoint::rotate_secret),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/stats",
            get(endpoint::stats),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/recover",
            post(endpoint::recover),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/replay-missing",
            post(endpoint::replay_missing),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/send-example",
            post(endpoint::send_example),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/msg",
            get(attempt::list_endpoint_messages),
        )
        .route(
            "/app/{app_id}/msg",
            get(message::list).post(message::create),
        )
        .route("/app/{app_id}/msg/{msg_id}", get(message::get))
        .route(
            "/app/{app_id}/msg/{msg_id}/content",
            delete(message::expunge),
        )
        .route(
            "/app/{app_id}/msg/{msg_id}/endpoint",
            get(attempt::list_message_endpoints),
        )
        .route(
            "/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend",
            post(attempt::resend),
        )
        .route(
            "/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}",
            get(attempt::get),
        )
        .route(
            "/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content",
            delete(attempt::expunge),
        )
        .route(
            "/app/{app_id}/attempt/msg/{msg_id}",
            get(attempt::list_by_msg),
        )
        .route(
            "/app/{app_id}/attempt/endpoint/{endpoint_id}",
            get(attempt::list_by_endpoint),
        )
        .route(
            "/event-type",
            get(event_type::list).post(event_type::create),
        )
        .route(
            "/event-type/{name}",
            get(event_type::get)
                .put(event_type::put)
                .patch(event_type::patch)
                .delete(event_type::remove),
        )
        .route(
            "/auth/app-portal-access/{app_id}",
            post(auth::portal_access),
        )
        .route("/auth/logout", post(auth::logout))
        .route("/auth/app/{app_id}/expire-all", post(auth::expire_all))
        // Layers run outside-in from the last one: authenticate, then replay idempotent POSTs.
        .layer(from_fn_with_state(state.clone(), idempotency::middleware))
        .layer(from_fn_with_state(state.clone(), auth::middleware))
        .layer(from_fn_with_state(state.clone(), limit::middleware));

    let public = Router::new()
        .route("/health", get(health::ready))
        .route("/health/ready", get(health::ready))
        .route("/health/live", get(health::live))
        .route("/health/ping", get(health::live))
        .route("/app/{app_id}/.well-known/jwks.json", get(jwks::jwks));

    Router::new()
        .nest("/api/v1", app_routes.merge(public))
        .nest("/portal", crate::portal::router())
        .fallback(|| async { ApiError::NotFound("No such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(state.cfg.max_body_bytes))
        .with_state(state)
}
