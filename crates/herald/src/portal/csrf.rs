//! Form bodies, and the CSRF token every state-changing form carries in a hidden field.
//!
//! The token is an HMAC of the session cookie's value: per session, the same on every node,
//! with nothing stored, and out of reach of another site's page (which can neither read the
//! HttpOnly cookie nor this page). SameSite=Strict cookies and the refusal of cross-site POSTs
//! (`Sec-Fetch-Site`, see `portal::headers`) stand in front of it.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use maud::{Markup, html};

use super::layout::PortalError;
use super::session::Session;

/// The hidden field's name.
pub const FIELD: &str = "_csrf";

/// The CSRF token of the session whose cookie holds `cookie_value`.
pub fn token(cookie_value: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, cookie_value.as_bytes());
    B64URL.encode(ring::hmac::sign(&key, b"herald-portal-csrf").as_ref())
}

/// The hidden field to put in a form.
pub fn field(s: &Session) -> Markup {
    html! { input type="hidden" name=(FIELD) value=(s.csrf); }
}

/// Refuses a form without this session's token.
pub fn check(s: &Session, form: &FormData) -> Result<(), PortalError> {
    let given = form.get(FIELD).unwrap_or("").as_bytes();
    let want = s.csrf.as_bytes();
    let same =
        given.len() == want.len() && given.iter().zip(want).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0;
    if same {
        Ok(())
    } else {
        Err(PortalError::Forbidden(
            "This form has expired or did not come from this page. Reload the page and try again."
                .into(),
        ))
    }
}

/// An `application/x-www-form-urlencoded` body, repeated names kept (a multiple select).
pub struct FormData(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = PortalError;

    async fn from_request(req: Request, state: &S) -> Result<Self, PortalError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| PortalError::BadRequest("The form could not be read.".into()))?;
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(&bytes).into_owned().collect();
        // Text areas may hold line breaks and tabs; nothing may hold other control characters.
        let bad = |c: char| c.is_control() && !matches!(c, '\n' | '\r' | '\t');
        if pairs
            .iter()
            .any(|(k, v)| k.chars().chain(v.chars()).any(bad))
        {
            return Err(PortalError::BadRequest(
                "The form holds control characters.".into(),
            ));
        }
        Ok(FormData(pairs))
    }
}

impl FormData {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name`, trimmed; empty if absent.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or("").trim().to_string()
    }

    /// Every non-empty value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }
}
