//! The page shell, what the pages share (status badges, times, flash messages, the path
//! extractor), and errors rendered as pages: a visitor never sees a JSON error or a trace.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use serde::de::DeserializeOwned;

use super::csrf;
use super::session::Session;
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::model::{Application, Attempt, AttemptStatus};
use crate::store::StoreError;

/// What a portal request can fail with, each shown as a page.
#[derive(Debug)]
pub enum PortalError {
    /// No such page, or not this visitor's: the same page either way, naming nothing.
    NotFound,
    /// No valid session (none, expired, revoked).
    SignedOut,
    Forbidden(String),
    BadRequest(String),
    Internal(String),
}

impl From<ApiError> for PortalError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::NotFound(_) => PortalError::NotFound,
            ApiError::Unauthorized => PortalError::SignedOut,
            ApiError::Forbidden(d) => PortalError::Forbidden(d),
            ApiError::Conflict(d) | ApiError::TooLarge(d) => PortalError::BadRequest(d),
            ApiError::BadRequest { detail, .. } => PortalError::BadRequest(detail),
            ApiError::Validation(items) => PortalError::BadRequest(
                items
                    .iter()
                    .map(|f| format!("{}: {}", f.loc.last().map_or("", String::as_str), f.msg))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            ApiError::MethodNotAllowed => PortalError::NotFound,
            ApiError::Internal(d) => PortalError::Internal(d),
        }
    }
}

impl From<StoreError> for PortalError {
    fn from(e: StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        let (status, title, text) = match self {
            PortalError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, or it is not yours to see.".to_string(),
            ),
            PortalError::SignedOut => {
                return super::session::sign_in_page(
                    StatusCode::UNAUTHORIZED,
                    Some("Your session has ended. Open your portal link again to sign in."),
                    None,
                );
            }
            PortalError::Forbidden(d) => (StatusCode::FORBIDDEN, "Not allowed", d),
            PortalError::BadRequest(d) => (StatusCode::BAD_REQUEST, "That did not work", d),
            PortalError::Internal(d) => {
                tracing::error!(error = %d, "portal: internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Herald could not do this just now. Try again in a moment.".to_string(),
                )
            }
        };
        bare(
            status,
            title,
            html! {
                div.signin {
                    h1 { (title) }
                    p role="alert" { (text) }
                    p { a href="/portal" { "Portal home" } }
                }
            },
        )
    }
}

pub type PortalResult<T> = Result<T, PortalError>;

/// Path parameters; a path that does not decode is the not-found page.
pub struct PortalPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PortalPath<T> {
    type Rejection = PortalError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PortalError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(PortalPath(v)),
            Err(_) => Err(PortalError::NotFound),
        }
    }
}

/// A `?done=` code, shown as a confirmation after a change (fixed texts: nothing a link can
/// make the page say).
pub struct Flash(pub Option<&'static str>);

impl<S: Send + Sync> FromRequestParts<S> for Flash {
    type Rejection = PortalError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, PortalError> {
        let q = parts.uri.query().unwrap_or("");
        let done = url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "done")
            .map(|(_, v)| v.into_owned());
        Ok(Flash(done.and_then(|d| flash_text(&d))))
    }
}

fn flash_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "created" => "Endpoint added.",
        "saved" => "Endpoint saved.",
        "deleted" => "Endpoint deleted.",
        "disabled" => "Endpoint disabled: nothing is sent to it until you enable it.",
        "enabled" => "Endpoint enabled.",
        "rotated" => "Secret rotated. The old secret keeps signing for 24 hours.",
        "test-sent" => "Test event sent.",
        "recovered" => "Failed messages are being sent again.",
        "resent" => "Message queued to be sent again.",
        _ => return None,
    })
}

/// The application `id_or_uid` if this session may see it (else the not-found page).
pub async fn open_app(st: &AppState, s: &Session, id_or_uid: &str) -> PortalResult<Application> {
    Ok(st.app(&s.principal(), id_or_uid).await?)
}

/// The portal's tabs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Endpoints,
    Messages,
    EventTypes,
}

/// A page of one application: the shell with its name, the tabs, and a flash message.
pub fn page(
    s: &Session,
    app: &Application,
    tab: Tab,
    title: &str,
    flash: Option<&str>,
    body: Markup,
) -> Response {
    let base = format!("/portal/app/{}", app.id);
    let tabs = [
        (Tab::Endpoints, "endpoints", "Endpoints"),
        (Tab::Messages, "messages", "Messages"),
        (Tab::EventTypes, "event-types", "Event types"),
    ];
    let doc = html! {
        (DOCTYPE)
        html lang="en" {
            (head(&format!("{title} · {}", app.name)))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    div.wrap.bar {
                        div.who {
                            span.brand { "Webhooks" }
                            span.appname { (app.name) }
                        }
                        div.session {
                            @if s.is_operator() {
                                a href="/portal/apps" { "All applications" }
                            }
                            form.inline method="post" action="/portal/logout" {
                                (csrf::field(s))
                                button.linkish type="submit" { "Sign out" }
                            }
                        }
                    }
                    nav.wrap.tabs aria-label="Portal sections" {
                        ul {
                            @for (t, path, label) in tabs {
                                li {
                                    a href={(base) "/" (path)} aria-current=[(t == tab).then_some("page")] { (label) }
                                }
                            }
                        }
                    }
                }
                main #main .wrap tabindex="-1" {
                    @if let Some(f) = flash {
                        p.flash role="status" { (f) }
                    }
                    (body)
                }
            }
        }
    };
    Html(doc.into_string()).into_response()
}

/// A page outside any application (sign-in, errors, the operator's list).
pub fn bare(status: StatusCode, title: &str, body: Markup) -> Response {
    let doc = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top { div.wrap.bar { div.who { span.brand { "Webhooks" } } } }
                main #main .wrap tabindex="-1" { (body) }
            }
        }
    };
    (status, Html(doc.into_string())).into_response()
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="robots" content="noindex";
            link rel="icon" href="data:,";
            title { (title) " · Herald" }
            link rel="stylesheet" href={"/portal/assets/portal.css?v=" (super::assets::VERSION)};
            script src={"/portal/assets/portal.js?v=" (super::assets::VERSION)} defer {}
        }
    }
}

/// A time, in UTC, machine-readable too.
pub fn time(ms: i64) -> Markup {
    let t = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms).unwrap_or_default();
    html! {
        time datetime=(crate::clock::rfc3339(ms)) { (t.format("%Y-%m-%d %H:%M:%S UTC")) }
    }
}

/// Why an attempt failed, in words: the transport error, or the status and what came back.
pub fn failure_reason(a: &Attempt) -> String {
    if let Some(e) = a.error.as_deref().filter(|e| !e.is_empty()) {
        return e.to_string();
    }
    let body = a.response.as_deref().unwrap_or("").trim();
    let body: String = body.chars().take(200).collect();
    if body.is_empty() {
        format!("HTTP {}", a.status_code)
    } else {
        format!("HTTP {}: {body}", a.status_code)
    }
}

/// The last-delivery indicator: never sent, succeeded or failed (the error on hover, and in
/// the accessible name for screen readers).
pub fn last_status(a: Option<&Attempt>) -> Markup {
    match a {
        None => html! {
            span.badge.never role="img" aria-label="Last delivery: never sent" title="Nothing has been sent to this endpoint yet" {
                span.icon aria-hidden="true" { "–" } "Never sent"
            }
        },
        Some(a) if a.status == AttemptStatus::Success => {
            let label = format!("Last delivery: succeeded (HTTP {})", a.status_code);
            html! {
                span.badge.ok role="img" aria-label=(label) title=(label) {
                    span.icon aria-hidden="true" { "✓" } "Succeeded"
                }
            }
        }
        Some(a) => {
            let reason = failure_reason(a);
            html! {
                span.badge.bad role="img" aria-label={"Last delivery: failed: " (reason)} title=(reason) {
                    span.icon aria-hidden="true" { "✗" } "Failed"
                }
            }
        }
    }
}

/// A short status word with its colour, for messages and attempts.
pub fn pill(kind: &str, text: &str) -> Markup {
    html! { span class={"pill " (kind)} { (text) } }
}
