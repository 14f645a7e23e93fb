//! The customer portal: pages served by Herald itself where each customer (an application)
//! manages its endpoints and reads every delivery, and the operator opens any application.
//!
//! # Layout
//! - [`session`]: the link's token exchanged for a cookie, who is looking (one application, or
//!   the operator), signing in and out.
//! - [`csrf`]: form bodies and the per-session token every form that changes something carries.
//! - [`layout`]: the page shell and what pages share (status badges, times, errors as pages).
//! - [`endpoints`], [`endpoint_form`], [`endpoint_detail`] (with [`chart`]), [`messages`] (with
//!   [`json`]), [`event_types`], [`apps`]: one page or job each.
//! - [`assets`]: the stylesheet and the script, embedded in the binary.
//!
//! Pages read through the store; changes go through the API's own handlers
//! (`api::handlers`), so they are checked and applied exactly as API calls are. Nothing here
//! needs JavaScript; the one small script signs in from a link's `#key=` fragment (which never
//! reaches a server log) and does nothing else.

mod apps;
mod assets;
mod chart;
mod csrf;
mod endpoint_detail;
mod endpoint_fields;
mod endpoint_form;
mod endpoints;
mod event_types;
mod layout;
mod messages;
mod session;

use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::api::AppState;
pub use session::COOKIE;

/// The portal's routes, mounted at `/portal` by `api::router`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(session::landing))
        .route("/session", post(session::sign_in))
        .route("/logout", post(session::sign_out))
        .route("/assets/{name}", get(assets::serve))
        .route("/apps", get(apps::list))
        .route("/app/{app}", get(endpoints::home))
        .route(
            "/app/{app}/endpoints",
            get(endpoints::list).post(endpoint_form::create),
        )
        .route("/app/{app}/endpoints/new", get(endpoint_form::new))
        .route(
            "/app/{app}/endpoints/{ep}",
            get(endpoint_detail::show).post(endpoint_form::update),
        )
        .route("/app/{app}/endpoints/{ep}/edit", get(endpoint_form::edit))
        .route(
            "/app/{app}/endpoints/{ep}/delete",
            get(endpoints::confirm_delete).post(endpoints::delete),
        )
        .route(
            "/app/{app}/endpoints/{ep}/{action}",
            post(endpoints::action),
        )
        .route("/app/{app}/messages", get(messages::list))
        .route("/app/{app}/messages/{msg}", get(messages::show))
        .route("/app/{app}/messages/{msg}/resend", post(messages::resend))
        .route("/app/{app}/event-types", get(event_types::list))
        .fallback(|| async { layout::PortalError::NotFound.into_response() })
        .method_not_allowed_fallback(|| async { layout::PortalError::NotFound.into_response() })
        .layer(from_fn(headers))
}

/// Headers of every portal response: how long the server took (`Server-Timing`, which the
/// tests read), and a strict policy for pages (own scripts and styles only, no framing, no
/// caching, no referrer). A POST another site's page makes is refused outright, before any
/// session is looked at (SameSite=Strict cookies and the CSRF token already stop it).
async fn headers(req: Request, next: Next) -> Response {
    let cross_site = req.method() == Method::POST
        && req
            .headers()
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes() == b"cross-site");
    let path = req.uri().path();
    // Nested routers see their paths without the `/portal` prefix.
    let asset = path.starts_with("/assets/") || path.starts_with("/portal/assets/");
    let start = Instant::now();
    let mut resp = if cross_site {
        layout::PortalError::Forbidden("This form was sent from another site.".into())
            .into_response()
    } else {
        next.run(req).await
    };
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("app;dur={ms:.2}")) {
        h.insert("server-timing", v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !asset {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}
