//! `GET /metrics`: on the API's listener, or alone on `--metrics-listen`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::Metrics;

/// The exposition, `text/plain; version=0.0.4` as Prometheus expects.
pub async fn render_handler(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        m.render(),
    )
}

/// `/` serving the exposition, to nest at `/metrics` (outside the documented `/api/v1`, as the
/// portal is) or to serve alone.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<Metrics>: FromRef<S>,
{
    Router::new().route("/", get(render_handler))
}
