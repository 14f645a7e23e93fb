//! Adding and editing an endpoint: URL, description, event types (from the catalogue),
//! channels, format, custom headers, retry policy. The form becomes the API's JSON and goes
//! through the API's handlers; what they refuse is shown next to the field it concerns
//! (`endpoint_fields` reads and converts the fields).

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::csrf::{self, FormData};
use super::endpoint_fields::{FORMATS, Fields, field_errors};
use super::endpoints::{body, catalogue};
use super::layout::{self, PortalPath, PortalResult, Tab, open_app};
use super::session::Session;
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::extract::Path as ApiPath;
use crate::api::handlers;
use crate::model::{Application, Endpoint, EventType};

/// `GET .../endpoints/new`.
pub async fn new(
    State(st): State<AppState>,
    s: Session,
    PortalPath(app): PortalPath<String>,
) -> PortalResult<Response> {
    let app = open_app(&st, &s, &app).await?;
    let types = catalogue(&st).await?;
    Ok(form_page(
        &s,
        &app,
        None,
        &Fields::default(),
        &types,
        &[],
        StatusCode::OK,
    ))
}

/// `GET .../endpoints/{ep}/edit`.
pub async fn edit(
    State(st): State<AppState>,
    s: Session,
    PortalPath((app, ep)): PortalPath<(String, String)>,
) -> PortalResult<Response> {
    let app = open_app(&st, &s, &app).await?;
    let ep = st.store.get_endpoint(&app.id, &ep).await?;
    let types = catalogue(&st).await?;
    Ok(form_page(
        &s,
        &app,
        Some(&ep),
        &Fields::from_endpoint(&ep),
        &types,
        &[],
        StatusCode::OK,
    ))
}

/// `POST .../endpoints`: adds an endpoint.
pub async fn create(
    State(st): State<AppState>,
    s: Session,
    PortalPath(app): PortalPath<String>,
    form: FormData,
) -> PortalResult<Response> {
    csrf::check(&s, &form)?;
    let app = open_app(&st, &s, &app).await?;
    let fields = Fields::from_form(&form);
    let types = catalogue(&st).await?;
    let refused = |errors: Vec<(String, String)>| {
        form_page(
            &s,
            &app,
            None,
            &fields,
            &types,
            &errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    let (mut v, headers) = match fields.to_json(None) {
        Ok(x) => x,
        Err(errors) => return Ok(refused(errors)),
    };
    v["headers"] = Value::Object(headers);
    let made = match body(v) {
        Ok(b) => {
            let path = ApiPath(app.id.to_string());
            handlers::create_endpoint(State(st.clone()), Extension(s.principal()), path, b)
                .await
                .map(|_| ())
        }
        Err(_) => Err(ApiError::Internal(
            "the endpoint form made JSON the API refused".into(),
        )),
    };
    match made {
        Ok(()) => Ok(
            Redirect::to(&format!("/portal/app/{}/endpoints?done=created", app.id)).into_response(),
        ),
        Err(e) => Ok(refused(field_errors(e)?)),
    }
}

/// `POST .../endpoints/{ep}`: saves an edited endpoint (the fields, then its headers).
pub async fn update(
    State(st): State<AppState>,
    s: Session,
    PortalPath((app, ep)): PortalPath<(String, String)>,
    form: FormData,
) -> PortalResult<Response> {
    csrf::check(&s, &form)?;
    let app = open_app(&st, &s, &app).await?;
    let ep = st.store.get_endpoint(&app.id, &ep).await?;
    let fields = Fields::from_form(&form);
    let types = catalogue(&st).await?;
    let refused = |errors: Vec<(String, String)>| {
        form_page(
            &s,
            &app,
            Some(&ep),
            &fields,
            &types,
            &errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    let (v, headers) = match fields.to_json(Some(&ep)) {
        Ok(x) => x,
        Err(errors) => return Ok(refused(errors)),
    };
    let path = || ApiPath((app.id.to_string(), ep.id.to_string()));
    let who = || Extension(s.principal());
    let patched = match body(v) {
        Ok(b) => handlers::patch_endpoint(State(st.clone()), who(), path(), b)
            .await
            .map(|_| ()),
        Err(_) => Err(ApiError::Internal(
            "the endpoint form made JSON the API refused".into(),
        )),
    };
    if let Err(e) = patched {
        return Ok(refused(field_errors(e)?));
    }
    if headers != ep.headers {
        let b = body(json!({ "headers": headers }))?;
        if let Err(e) = handlers::put_headers(State(st.clone()), who(), path(), b).await {
            return Ok(refused(field_errors(e)?));
        }
    }
    Ok(Redirect::to(&format!(
        "/portal/app/{}/endpoints/{}?done=saved",
        app.id, ep.id
    ))
    .into_response())
}

fn error_for<'a>(errors: &'a [(String, String)], field: &str) -> Option<&'a str> {
    errors
        .iter()
        .find(|(f, _)| f == field)
        .map(|(_, m)| m.as_str())
}

/// One labelled input with its hint and error.
fn input(
    errors: &[(String, String)],
    name: &str,
    label: &str,
    kind: &str,
    value: &str,
    hint: Option<&str>,
    required: bool,
) -> Markup {
    let err = error_for(errors, name);
    let described = match (hint.is_some(), err.is_some()) {
        (true, true) => Some(format!("{name}-hint {name}-error")),
        (true, false) => Some(format!("{name}-hint")),
        (false, true) => Some(format!("{name}-error")),
        (false, false) => None,
    };
    html! {
        div.field.invalid[err.is_some()] {
            label for=(name) { (label) @if !required { span.opt { " (optional)" } } }
            @if let Some(h) = hint { p.hint id={(name) "-hint"} { (h) } }
            @if kind == "textarea" {
                textarea #(name) name=(name) rows="3" aria-describedby=[described.as_deref()] aria-invalid=[err.map(|_| "true")] { (value) }
            } @else {
                input #(name) type=(kind) name=(name) value=(value) required[required] aria-describedby=[described.as_deref()] aria-invalid=[err.map(|_| "true")];
            }
            @if let Some(e) = err { p.field-error id={(name) "-error"} { (e) } }
        }
    }
}

fn form_page(
    s: &Session,
    app: &Application,
    ep: Option<&Endpoint>,
    f: &Fields,
    catalogue: &[EventType],
    errors: &[(String, String)],
    status: StatusCode,
) -> Response {
    let action = match ep {
        Some(ep) => format!("/portal/app/{}/endpoints/{}", app.id, ep.id),
        None => format!("/portal/app/{}/endpoints", app.id),
    };
    let title = if ep.is_some() {
        "Edit endpoint"
    } else {
        "Add endpoint"
    };
    // Types the endpoint has that the catalogue lacks stay choosable.
    let mut names: Vec<&str> = catalogue.iter().map(|t| t.name.as_str()).collect();
    for t in &f.event_types {
        if !names.contains(&t.as_str()) {
            names.push(t);
        }
    }
    let general: Vec<&(String, String)> = errors
        .iter()
        .filter(|(field, _)| !KNOWN.contains(&field.as_str()))
        .collect();
    let types_err = error_for(errors, "eventTypes");
    let format_err = error_for(errors, "format");
    let body = html! {
        h1 { (title) }
        @if !errors.is_empty() {
            div.error-summary role="alert" {
                p { "Please correct the fields marked below." }
                @for (_, m) in &general { p { (m) } }
            }
        }
        form.endpoint-form method="post" action=(action) novalidate {
            (csrf::field(s))
            (input(errors, "url", "URL", "url", &f.url, Some("Where Herald POSTs each event, e.g. https://example.com/webhooks"), true))
            (input(errors, "description", "Description", "text", &f.description, None, false))
            div.field.invalid[types_err.is_some()] {
                label for="eventTypes" { "Event types" span.opt { " (optional)" } }
                p.hint #eventTypes-hint { "None chosen means every event type. Hold Ctrl (⌘ on a Mac) to choose several." }
                select #eventTypes name="eventTypes" multiple size=(names.len().clamp(3, 8)) aria-describedby="eventTypes-hint" {
                    @for n in &names {
                        option value=(n) selected[f.event_types.iter().any(|t| t == n)] { (n) }
                    }
                }
                @if let Some(e) = types_err { p.field-error { (e) } }
            }
            (input(errors, "channels", "Channels", "text", &f.channels, Some("Only messages on these channels, separated by commas. Empty: every message."), false))
            div.field.invalid[format_err.is_some()] {
                label for="format" { "Format" }
                p.hint #format-hint { "How each request is shaped and signed." }
                select #format name="format" aria-describedby="format-hint" {
                    @for (_, name, label) in FORMATS {
                        option value=(name) selected[f.format == *name] { (label) }
                    }
                }
                @if let Some(e) = format_err { p.field-error { (e) } }
            }
            details.more open[has_advanced(f, errors)] {
                summary { "Headers, signature and retries" }
                (input(errors, "headers", "Custom headers", "textarea", &f.headers, Some("Sent with every request, one per line: Name: value"), false))
                (input(errors, "signatureHeader", "Signature header", "text", &f.signature_header, Some("HMAC header format only (default X-Webhook-Signature)."), false))
                (input(errors, "signaturePrefix", "Signature prefix", "text", &f.signature_prefix, Some("HMAC header format only, e.g. sha256="), false))
                (input(errors, "retrySchedule", "Retry schedule", "text", &f.retry_schedule, Some("Seconds to wait before each retry, e.g. 5, 300, 1800. Empty: the server's schedule."), false))
                (input(errors, "timeoutMs", "Timeout (ms)", "number", &f.timeout_ms, Some("How long to wait for an answer, 1000 to 30000. Empty: the server's default."), false))
            }
            div.form-actions {
                button.primary type="submit" { "Save" }
                a.button href={"/portal/app/" (app.id) "/endpoints"} { "Cancel" }
            }
        }
    };
    let mut resp = layout::page(s, app, Tab::Endpoints, title, None, body);
    *resp.status_mut() = status;
    resp
}

const KNOWN: &[&str] = &[
    "url",
    "description",
    "eventTypes",
    "channels",
    "format",
    "headers",
    "signatureHeader",
    "signaturePrefix",
    "retrySchedule",
    "timeoutMs",
];

fn has_advanced(f: &Fields, errors: &[(String, String)]) -> bool {
    !f.headers.trim().is_empty()
        || !f.signature_header.is_empty()
        || !f.signature_prefix.is_empty()
        || !f.retry_schedule.is_empty()
        || !f.timeout_ms.is_empty()
        || errors.iter().any(|(k, _)| {
            [
                "headers",
                "signatureHeader",
                "signaturePrefix",
                "retrySchedule",
                "timeoutMs",
            ]
            .contains(&k.as_str())
        })
}
