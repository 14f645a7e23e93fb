//! Wires the store, the API and the dispatcher into one running node.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::ServiceExt;
use axum::extract::Request;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;

use crate::api::{self, AppState, hash_token};
use crate::config::Config;
use crate::delivery::{Dispatcher, Pipeline};
use crate::store::{Store, StoreError};

const TOKEN_HASH_SETTING: &str = "operator_token_hash";

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("--secret-key: {0}")]
    SecretKey(#[from] crate::store::BadKey),
    #[error("{0}")]
    Transport(#[from] crate::net::transport::TransportError),
    #[error("{0}")]
    Config(String),
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
    /// The group committer's task, on PostgreSQL (on SQLite it is a thread of its own).
    committer: Option<tokio::task::JoinHandle<()>>,
    /// `--metrics-listen`: `/metrics` alone on an address of its own.
    metrics_listener: Option<TcpListener>,
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
    let cipher = match cfg.secret_key.as_deref() {
        Some(k) => Some(crate::store::Cipher::from_base64(k)?),
        None => {
            tracing::warn!(
                "no --secret-key (HERALD_SECRET_KEY): endpoint secrets and response bodies \
                 are stored in plain text"
            );
            None
        }
    };
    Ok(Store::connect(&database_url(&cfg.database_url), cipher).await?)
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
    if store
        .operator_tokens()
        .await?
        .iter()
        .any(|(_, _, _, revoked)| revoked.is_none())
    {
        // Tokens made with `herald token create` are in use: no first-start token. The
        // operator hash is then one no token has.
        return Ok(crate::formats::secret::random_bytes::<32>());
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
        let metrics_listener = match cfg.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::Listen { addr, source })?,
            ),
            None => None,
        };
        // The address bound, not the one asked for (`:0` picks a free port): portal links
        // without --public-url are made from it.
        let mut cfg = cfg;
        if let Ok(bound) = listener.local_addr() {
            cfg.listen = bound;
        }
        let wake = Arc::new(Notify::new());
        let transport = cfg.transport().map_err(StartError::Config)?;
        let metrics = Arc::new(crate::metrics::Metrics::new(cfg.metrics_per_endpoint));
        let (pipeline, committer) = Pipeline::start(
            &store,
            cfg.loop_rate,
            metrics,
            cfg.payload_retention.as_millis() as i64,
        )?;
        let dispatcher = Dispatcher::new(
            store.clone(),
            pipeline.clone(),
            &cfg,
            wake.clone(),
            transport,
        )?;
        let state = AppState::new(store, pipeline, Arc::new(cfg), wake, hash);
        Ok(Application {
            listener,
            state,
            dispatcher,
            committer,
            metrics_listener,
        })
    }

    /// Where `--metrics-listen` serves `/metrics`, if set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.state.cfg.listen)
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// Serves the API and runs the dispatcher until `shutdown` completes, then stops gracefully:
    /// no new connections, readiness answers 503, new deliveries are stored for claims (another
    /// node's, or this one's after a restart), queued ones are released, and requests in flight
    /// (API calls and deliveries) get up to `--shutdown-timeout` to finish and be recorded;
    /// deliveries still in flight then are released. The group committer stops last, after the
    /// last write.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let stopped = move || {
            let mut rx = stopping.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        let (store, pipeline) = (self.state.store.clone(), self.state.pipeline.clone());
        // Every task of the node's own, so that shutdown can wait for them (the dispatcher
        // tracks its lanes', the API its requests').
        let tasks = self.state.tasks.clone();
        // New deliveries go straight to this node's dispatcher while it runs.
        let handoff: Arc<dyn crate::delivery::Handoff> = self.dispatcher.clone();
        pipeline.set_handoff(Some(Arc::downgrade(&handoff)));
        let claims = tasks.spawn(self.dispatcher.clone().run(stopped()));
        let background = CancellationToken::new();
        tasks.spawn(
            background
                .clone()
                .run_until_cancelled_owned(prune_loop(store.clone())),
        );
        tasks.spawn(
            background
                .clone()
                .run_until_cancelled_owned(crate::delivery::retention::run(
                    store.clone(),
                    pipeline.clone(),
                    self.state.cfg.attempt_retention,
                )),
        );
        {
            let (store, wake) = (store.clone(), self.state.wake.clone());
            tasks.spawn(
                background
                    .clone()
                    .run_until_cancelled_owned(async move { store.forward_wakeups(wake).await }),
            );
        }
        if let Some(listener) = self.metrics_listener {
            let metrics = self.state.pipeline.metrics().clone();
            let only_metrics = axum::Router::new()
                .nest("/metrics", crate::metrics::router())
                .with_state(metrics);
            tasks.spawn(background.clone().run_until_cancelled_owned(async move {
                if let Err(e) = axum::serve(listener, only_metrics).await {
                    tracing::error!(error = %e, "the metrics listener failed");
                }
            }));
        }
        let state = self.state.clone();
        let timeout = self.state.cfg.shutdown_timeout;
        let router = api::router(self.state);
        // Trailing slashes are trimmed before routing, so `/app/` and `/app` are the same.
        let service = NormalizePathLayer::trim_trailing_slash().layer(router);
        let server = tasks.spawn(
            axum::serve(
                api::wire::Listener(self.listener),
                ServiceExt::<Request>::into_make_service(service),
            )
            .with_graceful_shutdown(stopped())
            .into_future(),
        );

        shutdown.await;
        let deadline = tokio::time::Instant::now() + timeout;
        tracing::info!(timeout = ?timeout, "stopping: finishing requests in flight");
        state
            .draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
        pipeline.set_handoff(None);
        let _ = stop.send(true);
        let _ = claims.await;
        let (_, served) = tokio::join!(
            self.dispatcher.drain(deadline),
            tokio::time::timeout_at(deadline, server)
        );
        let result = match served {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(std::io::Error::other(e)),
            Err(_) => {
                tracing::warn!("shutdown timeout: closing API connections still open");
                Ok(())
            }
        };
        background.cancel();
        // Requests whose clients hung up still finish (their idempotency keys are claimed).
        tasks.close();
        if tokio::time::timeout_at(deadline, tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("shutdown timeout: requests still running are cut short");
        }
        pipeline.close().await;
        if let Some(committer) = self.committer {
            let _ = committer.await;
        }
        tracing::info!("stopped");
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
