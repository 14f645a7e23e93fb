//! Who is looking. A portal link (`/portal/#key=appsk_...`, from `POST
//! /api/v1/auth/app-portal-access/{app}`) carries an application token in its fragment, which
//! browsers never send to a server; the landing page's script takes it out of the address bar
//! and POSTs it to `/portal/session`, which answers with a session cookie and a redirect.
//!
//! The cookie holds the token itself (HttpOnly, SameSite=Strict, `Path=/portal`, Secure over
//! https) and is checked against `app_tokens` on every request, so a session ends exactly when
//! its token expires or is revoked (`POST /api/v1/auth/logout`, or signing out here), on every
//! node at once; the database keeps only the token's hash, as for API calls. The operator signs
//! in with the operator token; their cookie is `op.<expiry>.<HMAC of it keyed by the operator
//! token's hash>`, valid for 12 hours, so the operator token itself never sits in a browser and
//! changing it ends every operator session.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use maud::{Markup, html};

use super::csrf::{self, FormData};
use super::layout::{self, PortalError};
use crate::api::handlers::APP_TOKEN_PREFIX;
use crate::api::{AppState, Principal, hash_token};
use crate::clock::now_ms;

/// The session cookie's name.
pub const COOKIE: &str = "herald_portal";
/// How long an operator's portal session lasts.
const OPERATOR_SESSION_MS: i64 = 12 * 3600 * 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// Limited to one application (by id).
    App(String),
    Operator,
}

/// A signed-in visitor.
#[derive(Debug, Clone)]
pub struct Session {
    pub who: Who,
    /// The token every state-changing form of this session carries.
    pub csrf: String,
}

impl Session {
    /// The same principal an API call with this session's token would have.
    pub fn principal(&self) -> Principal {
        match &self.who {
            Who::App(id) => Principal::App(id.clone()),
            Who::Operator => Principal::Operator,
        }
    }

    pub fn is_operator(&self) -> bool {
        self.who == Who::Operator
    }

    /// Where this visitor starts.
    fn home(&self) -> String {
        match &self.who {
            Who::App(id) => format!("/portal/app/{id}/endpoints"),
            Who::Operator => "/portal/apps".into(),
        }
    }
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn operator_sig(st: &AppState, expires: i64) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &st.operator_hash);
    let tag = ring::hmac::sign(&key, format!("herald-portal-operator.{expires}").as_bytes());
    B64URL.encode(tag.as_ref())
}

/// The session cookie's value in these headers, if any.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .filter(|v| !v.is_empty())
}

/// The session of a cookie value: an unexpired, unrevoked application token, or an operator
/// session signed for this operator token and unexpired. Also returns its expiry.
async fn resolve(st: &AppState, value: &str) -> Result<Option<(Session, i64)>, PortalError> {
    let now = now_ms();
    let who = if value.starts_with(APP_TOKEN_PREFIX) {
        match st
            .store
            .app_token(&hex::encode(hash_token(value)), now)
            .await?
        {
            Some((app, expires)) => (Who::App(app), expires),
            None => return Ok(None),
        }
    } else if let Some((expires, sig)) = value
        .strip_prefix("op.")
        .and_then(|rest| rest.split_once('.'))
    {
        let Ok(expires) = expires.parse::<i64>() else {
            return Ok(None);
        };
        if expires <= now || !ct_eq(operator_sig(st, expires).as_bytes(), sig.as_bytes()) {
            return Ok(None);
        }
        (Who::Operator, expires)
    } else {
        return Ok(None);
    };
    let session = Session {
        who: who.0,
        csrf: csrf::token(value),
    };
    Ok(Some((session, who.1)))
}

/// The session of a request, if it has a valid one.
pub async fn current(st: &AppState, headers: &HeaderMap) -> Result<Option<Session>, PortalError> {
    match cookie(headers) {
        Some(v) => Ok(resolve(st, v).await?.map(|(s, _)| s)),
        None => Ok(None),
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = PortalError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, PortalError> {
        current(st, &parts.headers)
            .await?
            .ok_or(PortalError::SignedOut)
    }
}

/// Whether the browser reached Herald over https (directly, or through a proxy that says so).
fn https(st: &AppState, headers: &HeaderMap) -> bool {
    st.cfg
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

fn set_cookie(value: &str, max_age_s: i64, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/portal; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age_s.max(0)
    ))
    .ok()
}

/// `GET /portal`: the sign-in page. The script signs in with a link's `#key=` fragment; the
/// form takes a pasted key or the operator token.
pub async fn landing(
    State(st): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PortalError> {
    let session = current(&st, &headers).await?;
    Ok(sign_in_page(
        StatusCode::OK,
        None,
        session.map(|s| s.home()),
    ))
}

/// The sign-in page with an optional error; `resume`: where a visitor already signed in goes.
pub fn sign_in_page(status: StatusCode, error: Option<&str>, resume: Option<String>) -> Response {
    let body: Markup = html! {
        div.signin {
            h1 { "Webhooks portal" }
            @if let Some(e) = error {
                p.error role="alert" { (e) }
            }
            @if let Some(home) = &resume {
                p { "You are signed in. " a #resume href=(home) { "Continue" } }
            }
            form #signin method="post" action="/portal/session" {
                p.hint { "Open the link you were given, or paste its access key here. Operators sign in with the operator token." }
                div.field {
                    label for="token" { "Access key or operator token" }
                    input #token type="password" name="token" autocomplete="off" required;
                }
                button.primary type="submit" { "Sign in" }
            }
        }
    };
    layout::bare(status, "Sign in", body)
}

/// `POST /portal/session`: exchanges a link's token (or the operator token) for a session
/// cookie, then redirects to the visitor's first page.
pub async fn sign_in(
    State(st): State<AppState>,
    headers: HeaderMap,
    form: FormData,
) -> Result<Response, PortalError> {
    let token = form.get("token").unwrap_or("").trim();
    let now = now_ms();
    let (value, session, expires) = if token.starts_with(APP_TOKEN_PREFIX) {
        match resolve(&st, token).await? {
            Some((s, exp)) => (token.to_string(), s, exp),
            None => return Ok(refused()),
        }
    } else if !token.is_empty() && ct_eq(&hash_token(token), &st.operator_hash) {
        let exp = now + OPERATOR_SESSION_MS;
        let value = format!("op.{exp}.{}", operator_sig(&st, exp));
        let s = Session {
            who: Who::Operator,
            csrf: csrf::token(&value),
        };
        (value, s, exp)
    } else {
        return Ok(refused());
    };
    let mut resp = Redirect::to(&session.home()).into_response();
    if let Some(c) = set_cookie(&value, (expires - now) / 1000, https(&st, &headers)) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(resp)
}

fn refused() -> Response {
    sign_in_page(
        StatusCode::UNAUTHORIZED,
        Some("This link is not valid or has expired. Ask for a new link."),
        None,
    )
}

/// `POST /portal/logout`: ends the session. An application's link token is revoked too, so a
/// copy of the cookie or the link stops working.
pub async fn sign_out(
    State(st): State<AppState>,
    session: Session,
    headers: HeaderMap,
    form: FormData,
) -> Result<Response, PortalError> {
    csrf::check(&session, &form)?;
    if let (Who::App(_), Some(token)) = (&session.who, cookie(&headers)) {
        st.store
            .delete_app_token(&hex::encode(hash_token(token)))
            .await?;
    }
    let mut resp = Redirect::to("/portal").into_response();
    if let Some(c) = set_cookie("", 0, https(&st, &headers)) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(resp)
}
