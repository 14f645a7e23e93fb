//! Wires the store, the API and the dispatcher into one running node.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::ServiceExt;
use axum::extract::Request;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;

use crate::api::{self, AppState, hash_token};
use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::store::{Store, StoreError};

const TOKEN_HASH_SETTING: &str = "operator_token_hash";

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A built node, listening but not yet serving.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    dispatcher: Arc<Dispatcher>,
}

/// A bare path means a SQLite file; URLs (`sqlite://`, `postgres://`) pass through.
pub fn database_url(url: &str) -> String {
    if url.contains(':') {
        url.to_string()
    } else {
        format!("sqlite://{url}")
    }
}

/// Opens the database named in `cfg` and runs its migrations.
pub async fn open_store(cfg: &Config) -> Result<Store, StartError> {
    Ok(Store::connect(&database_url(&cfg.database_url)).await?)
}

/// The hash of the operator token: the configured one, or one generated on the very first start,
/// printed once and stored only as a hash.
async fn operator_token_hash(
    store: &Store,
    configured: Option<&str>,
) -> Result<[u8; 32], StartError> {
    if let Some(t) = configured.filter(|t| !t.is_empty()) {
        return Ok(hash_token(t));
    }
    if let Some(stored) = store.setting(TOKEN_HASH_SETTING).await?
        && let Some(h) = hex::decode(&stored)
            .ok()
            .and_then(|v| <[u8; 32]>::try_from(v).ok())
    {
        return Ok(h);
    }
    let token = api::auth_new_operator_token();
    let hash = hex::encode(hash_token(&token));
    let kept = store.setting_init(TOKEN_HASH_SETTING, &hash).await?;
    if kept == hash {
        println!("Herald operator token (shown once; keep it safe, or set HERALD_TOKEN): {token}");
    }
    hex::decode(&kept)
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
        .ok_or_else(|| StartError::Store(StoreError::Corrupt("operator token hash".into())))
}

impl Application {
    pub async fn build(cfg: Config) -> Result<Self, StartError> {
        let store = open_store(&cfg).await?;
        let hash = operator_token_hash(&store, cfg.token.as_deref()).await?;
        let listener =
            TcpListener::bind(cfg.listen)
                .await
                .map_err(|source| StartError::Listen {
                    addr: cfg.listen,
                    source,
                })?;
        let wake = Arc::new(Notify::new());
        let dispatcher = Dispatcher::new(store.clone(), &cfg, wake.clone());
        let state = AppState::new(store, Arc::new(cfg), wake, hash);
        Ok(Application {
            listener,
            state,
            dispatcher,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.state.cfg.listen)
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// Serves the API and runs the dispatcher until `shutdown` completes.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let stopped = move || {
            let mut rx = rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        // New deliveries go straight to this node's dispatcher while it runs.
        let handoff: Arc<dyn crate::store::Handoff> = self.dispatcher.clone();
        self.state.store.set_handoff(Some(Arc::downgrade(&handoff)));
        let dispatcher = tokio::spawn(self.dispatcher.clone().run(stopped()));
        let pruner = tokio::spawn(prune_loop(self.state.store.clone()));
        let store = self.state.store.clone();
        let store_of_run = store.clone();
        let wake = self.state.wake.clone();
        let wakeups = tokio::spawn(async move { store.forward_wakeups(wake).await });
        let router = api::router(self.state);
        // Trailing slashes are trimmed before routing, so `/app/` and `/app` are the same.
        let service = NormalizePathLayer::trim_trailing_slash().layer(router);
        tokio::spawn(async move {
            shutdown.await;
            let _ = tx.send(true);
        });
        let result = axum::serve(
            self.listener,
            ServiceExt::<Request>::into_make_service(service),
        )
        .with_graceful_shutdown(stopped())
        .await;
        pruner.abort();
        wakeups.abort();
        let _ = dispatcher.await;
        store_of_run.set_handoff(None);
        result
    }
}

async fn prune_loop(store: Store) {
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        let day_ago = crate::clock::now_ms() - 24 * 3600 * 1000;
        if let Err(e) = store.prune(day_ago).await {
            tracing::warn!(error = %e, "pruning old idempotency keys failed");
        }
    }
}
