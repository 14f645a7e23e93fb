//! The endpoints page: every endpoint with its last delivery at a glance, and what can be done
//! to each (send a test event, disable or enable, rotate or reveal the secret, edit, delete).

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde_json::json;

use super::csrf::{self, FormData};
use super::layout::{self, Flash, PortalError, PortalPath, PortalResult, Tab, open_app};
use super::session::Session;
use crate::api::AppState;
use crate::api::extract::{JsonBody, Path as ApiPath, parse_json};
use crate::api::handlers;
use crate::formats::secret;
use crate::model::{Application, Attempt, Endpoint, EventType};
use crate::store::{Order, Page, PageOut};

/// A JSON body for an API handler, checked as the API checks it.
pub(super) fn body<T: serde::de::DeserializeOwned>(
    v: serde_json::Value,
) -> PortalResult<JsonBody<T>> {
    Ok(JsonBody(parse_json(v.to_string().as_bytes())?))
}

/// A page request of `limit` from `?iterator=`.
pub(super) fn page_of(q: &[(String, String)], limit: i64, order: Order, prefix: &str) -> Page {
    let iterator = q
        .iter()
        .find(|(k, _)| k == "iterator")
        .map(|(_, v)| v.clone())
        .filter(|it| crate::ids::is_id(prefix, it.strip_prefix('-').unwrap_or(it)));
    Page {
        limit,
        iterator,
        order,
    }
}

/// The query parameters of a request.
pub(super) fn query(uri: &axum::http::Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// The event-type catalogue (its first 250 types, by name).
pub(super) async fn catalogue(st: &AppState) -> PortalResult<Vec<EventType>> {
    let page = Page {
        limit: 250,
        iterator: None,
        order: Order::Ascending,
    };
    Ok(st.store.list_event_types(&page, false).await?.data)
}

/// `GET /portal/app/{app}`: the endpoints page.
pub async fn home(
    State(st): State<AppState>,
    s: Session,
    PortalPath(app): PortalPath<String>,
) -> PortalResult<Response> {
    let app = open_app(&st, &s, &app).await?;
    Ok(Redirect::to(&format!("/portal/app/{}/endpoints", app.id)).into_response())
}

/// `GET /portal/app/{app}/endpoints`.
pub async fn list(
    State(st): State<AppState>,
    s: Session,
    PortalPath(app): PortalPath<String>,
    Flash(flash): Flash,
    uri: axum::http::Uri,
) -> PortalResult<Response> {
    let app = open_app(&st, &s, &app).await?;
    let q = query(&uri);
    let reveal = q
        .iter()
        .find(|(k, _)| k == "reveal")
        .map(|(_, v)| v.as_str());
    let page = st
        .store
        .list_endpoints(
            &app.id,
            &page_of(&q, 50, Order::Ascending, crate::ids::ENDPOINT),
        )
        .await?;
    let ids: Vec<&str> = page.data.iter().map(|e| &*e.id).collect();
    let last = st.store.last_attempts(&ids).await?;
    let types = catalogue(&st).await?;
    let base = format!("/portal/app/{}/endpoints", app.id);
    let body = html! {
        div.title-row {
            h1 { "Endpoints" }
            form method="get" action={(base) "/new"} {
                button.primary type="submit" { "Add endpoint" }
            }
        }
        p.lead { "Where " (app.name) "'s webhooks are sent. Each endpoint gets the event types it asks for, signed with its own secret." }
        @if page.data.is_empty() {
            p.empty { "No endpoints yet. Add one to start receiving webhooks." }
        } @else {
            ul.endpoints {
                @for ep in &page.data {
                    @let last = last.iter().find(|a| a.endpoint_id == ep.id);
                    li.card {
                        (summary(&app, ep, last))
                        @if reveal == Some(&*ep.id) {
                            (secret_box(ep))
                        }
                        (actions(&s, &app, ep, &types, reveal == Some(&*ep.id), false))
                    }
                }
            }
            (pager(&base, &q, &page))
        }
    };
    Ok(layout::page(
        &s,
        &app,
        Tab::Endpoints,
        "Endpoints",
        flash,
        body,
    ))
}

/// "Previous" / "Next" links of a list page (`q`: the request's query; the first page has no
/// "Previous").
pub(super) fn pager<T>(base: &str, q: &[(String, String)], got: &PageOut<T>) -> Markup {
    let sep = if base.contains('?') { '&' } else { '?' };
    let asked = q.iter().any(|(k, v)| k == "iterator" && !v.is_empty());
    let prev = got.prev_iterator.as_deref().filter(|_| asked);
    let next = got.iterator.as_deref().filter(|_| !got.done);
    html! {
        @if prev.is_some() || next.is_some() {
            nav.pager aria-label="Pages" {
                @if let Some(p) = prev { a href={(base) (sep) "iterator=" (p)} { "← Previous" } }
                @if let Some(n) = next { a href={(base) (sep) "iterator=" (n)} { "Next →" } }
            }
        }
    }
}

/// An endpoint's URL, description, state and last delivery.
pub(super) fn summary(app: &Application, ep: &Endpoint, last: Option<&Attempt>) -> Markup {
    html! {
        div.ep-head {
            a.url href={"/portal/app/" (app.id) "/endpoints/" (ep.id)} { (ep.url) }
            div.states {
                @if ep.disabled {
                    (layout::pill("off", "Disabled"))
                } @else {
                    (layout::pill("on", "Enabled"))
                }
                (layout::last_status(last))
            }
        }
        @if !ep.description.is_empty() { p.desc { (ep.description) } }
        @if let Some(r) = &ep.disabled_reason { p.note { "Disabled by Herald: " (r) } }
        p.meta {
            "Event types: "
            @match &ep.event_types {
                Some(t) if !t.is_empty() => { (t.join(", ")) }
                _ => { "all" }
            }
            @if let Some(c) = ep.channels.as_ref().filter(|c| !c.is_empty()) { " · Channels: " (c.join(", ")) }
            " · Format: " (super::endpoint_fields::format_label(ep.options.format))
            @if let Some(last) = last { " · Last attempt " (layout::time(last.created_at)) }
        }
    }
}

fn secret_box(ep: &Endpoint) -> Markup {
    let id = format!("secret-{}", ep.id);
    html! {
        div.secret {
            label for=(id) { "Signing secret" }
            input.code #(id) type="text" readonly value=(secret::shown(&ep.secret));
            p.hint { "Verify each request's signature with this secret. Keep it private." }
        }
    }
}

/// The event types a test event can be sent as: the endpoint's filter, else the catalogue.
fn test_types(ep: &Endpoint, catalogue: &[EventType]) -> Vec<String> {
    match &ep.event_types {
        Some(t) if !t.is_empty() => t.clone(),
        _ if !catalogue.is_empty() => catalogue.iter().map(|e| e.name.clone()).collect(),
        _ => vec!["herald.test".into()],
    }
}

/// The buttons of an endpoint; `detail`: on its own page (changes come back there).
pub(super) fn actions(
    s: &Session,
    app: &Application,
    ep: &Endpoint,
    catalogue: &[EventType],
    revealed: bool,
    detail: bool,
) -> Markup {
    let base = format!("/portal/app/{}/endpoints/{}", app.id, ep.id);
    let back = if detail { "detail" } else { "list" };
    let select_id = format!("test-type-{}", ep.id);
    let reveal_to = if detail {
        base.clone()
    } else {
        format!("/portal/app/{}/endpoints", app.id)
    };
    html! {
        div.actions {
            form.test method="post" action={(base) "/test"} {
                (csrf::field(s))
                input type="hidden" name="back" value=(back);
                label for=(select_id) { "Event type" }
                select #(select_id) name="eventType" {
                    @for t in test_types(ep, catalogue) { option value=(t) { (t) } }
                }
                button type="submit" { "Send test event" }
            }
            div.buttons {
                form method="post" action={(base) "/" (if ep.disabled { "enable" } else { "disable" })} {
                    (csrf::field(s))
                    input type="hidden" name="back" value=(back);
                    button type="submit" { (if ep.disabled { "Enable" } else { "Disable" }) }
                }
                form method="post" action={(base) "/rotate"} {
                    (csrf::field(s))
                    input type="hidden" name="back" value=(back);
                    button type="submit" { "Rotate secret" }
                }
                form method="get" action=(reveal_to) {
                    @if !revealed { input type="hidden" name="reveal" value=(ep.id); }
                    button type="submit" { (if revealed { "Hide secret" } else { "Reveal secret" }) }
                }
                a.button href={(base) "/edit"} { "Edit" }
                form method="get" action={(base) "/delete"} {
                    button.danger type="submit" { "Delete" }
                }
            }
        }
    }
}

/// Where a change made from `back` returns to, with a confirmation.
pub(super) fn back_to(app: &Application, ep_id: &str, form: &FormData, done: &str) -> Response {
    let to = match form.get("back") {
        Some("detail") => format!("/portal/app/{}/endpoints/{ep_id}?done={done}", app.id),
        _ => format!("/portal/app/{}/endpoints?done={done}", app.id),
    };
    Redirect::to(&to).into_response()
}

/// `POST /portal/app/{app}/endpoints/{ep}/{action}`: disable, enable, rotate, test, recover.
pub async fn action(
    State(st): State<AppState>,
    s: Session,
    PortalPath((app, ep, action)): PortalPath<(String, String, String)>,
    form: FormData,
) -> PortalResult<Response> {
    csrf::check(&s, &form)?;
    let app = open_app(&st, &s, &app).await?;
    let ep = st.store.get_endpoint(&app.id, &ep).await?;
    let who = Extension(s.principal());
    let path = || ApiPath((app.id.to_string(), ep.id.to_string()));
    let done = match action.as_str() {
        "disable" | "enable" => {
            let disabled = action == "disable";
            let _ = handlers::patch_endpoint(
                State(st.clone()),
                who,
                path(),
                body(json!({ "disabled": disabled }))?,
            )
            .await?;
            action
                .as_str()
                .replace("disable", "disabled")
                .replace("enable", "enabled")
        }
        "rotate" => {
            let _ =
                handlers::rotate_secret(State(st.clone()), who, path(), body(json!({}))?).await?;
            let to = match form.get("back") {
                Some("detail") => format!("/portal/app/{}/endpoints/{}", app.id, ep.id),
                _ => format!("/portal/app/{}/endpoints", app.id),
            };
            return Ok(Redirect::to(&format!("{to}?reveal={}&done=rotated", ep.id)).into_response());
        }
        "test" => {
            let t = form.text("eventType");
            let _ = handlers::send_example(
                State(st.clone()),
                who,
                path(),
                body(json!({ "eventType": t }))?,
            )
            .await?;
            "test-sent".into()
        }
        "recover" => {
            let since =
                super::endpoint_detail::parse_local_time(&form.text("since")).ok_or_else(|| {
                    PortalError::BadRequest("Choose a date and time to recover from.".into())
                })?;
            let _ = handlers::recover(
                State(st.clone()),
                who,
                path(),
                body(json!({ "since": crate::clock::rfc3339(since) }))?,
            )
            .await?;
            "recovered".into()
        }
        _ => return Err(PortalError::NotFound),
    };
    Ok(back_to(&app, &ep.id, &form, &done))
}

/// `GET .../delete`: asks first.
pub async fn confirm_delete(
    State(st): State<AppState>,
    s: Session,
    PortalPath((app, ep)): PortalPath<(String, String)>,
) -> PortalResult<Response> {
    let app = open_app(&st, &s, &app).await?;
    let ep = st.store.get_endpoint(&app.id, &ep).await?;
    let body = html! {
        h1 { "Delete this endpoint?" }
        p { "Nothing more will be sent to " strong.url { (ep.url) } ", and its delivery history is deleted with it. This cannot be undone." }
        form.confirm method="post" action={"/portal/app/" (app.id) "/endpoints/" (ep.id) "/delete"} {
            (csrf::field(&s))
            button.danger type="submit" { "Delete" }
            " "
            a.button href={"/portal/app/" (app.id) "/endpoints"} { "Cancel" }
        }
    };
    Ok(layout::page(
        &s,
        &app,
        Tab::Endpoints,
        "Delete endpoint",
        None,
        body,
    ))
}

/// `POST .../delete`.
pub async fn delete(
    State(st): State<AppState>,
    s: Session,
    PortalPath((app, ep)): PortalPath<(String, String)>,
    form: FormData,
) -> PortalResult<Response> {
    csrf::check(&s, &form)?;
    let app = open_app(&st, &s, &app).await?;
    handlers::remove_endpoint(
        State(st.clone()),
        Extension(s.principal()),
        ApiPath((app.id.to_string(), ep)),
    )
    .await?;
    Ok(Redirect::to(&format!("/portal/app/{}/endpoints?done=deleted", app.id)).into_response())
}
