//! The REST API, shaped like Svix's v1 so its SDKs work against Herald unchanged.
//!
//! One module per resource; [`error`] is the only place that maps failures to HTTP statuses.

mod access;
mod app;
mod attempt;
mod auth;
mod doc;
mod endpoint;
mod erasure;
pub mod error;
mod event_type;
pub mod extract;
mod health;
mod idempotency;
mod jwks;
mod limit;
mod message;
#[cfg(test)]
mod props;
mod router;
pub mod shapes;
pub mod validate;
pub mod wire;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::config::Config;
use crate::delivery::Pipeline;
use crate::model::Application;
use crate::net::guard::AddressPolicy;
use crate::store::Store;
pub use auth::{Principal, hash_token};
pub use router::{openapi, router};

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
    /// Event types' schemas, compiled, for payload validation.
    pub schemas: crate::schema::PayloadSchemas,
}

/// `/metrics` reads the node's metrics from the state.
impl axum::extract::FromRef<AppState> for Arc<crate::metrics::Metrics> {
    fn from_ref(s: &AppState) -> Self {
        s.pipeline.metrics().clone()
    }
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
        let schemas = crate::schema::PayloadSchemas::new(store.clone(), cfg.validate_payloads);
        AppState(Arc::new(Shared {
            schemas,
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
