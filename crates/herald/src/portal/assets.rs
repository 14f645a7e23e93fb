//! The stylesheet and the script, compiled into the binary.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::layout::{PortalError, PortalPath};

/// Part of the assets' URLs, so a new release is not served an old cached copy.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

const CSS: &str = include_str!("assets/portal.css");
const JS: &str = include_str!("assets/portal.js");

/// `GET /portal/assets/{name}`.
pub async fn serve(PortalPath(name): PortalPath<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "portal.css" => (CSS, "text/css; charset=utf-8"),
        "portal.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return PortalError::NotFound.into_response(),
    };
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    resp
}
