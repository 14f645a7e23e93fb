//! The event-type catalogue: what each type means, its schema and an example payload.

use axum::extract::State;
use axum::response::Response;
use maud::html;

use super::endpoints::{pager, query};
use super::layout::{self, PortalPath, PortalResult, Tab, open_app};
use super::session::Session;
use crate::api::AppState;
use crate::store::{Order, Page};

/// `GET /portal/app/{app}/event-types`.
pub async fn list(
    State(st): State<AppState>,
    s: Session,
    PortalPath(app): PortalPath<String>,
    uri: axum::http::Uri,
) -> PortalResult<Response> {
    let app = open_app(&st, &s, &app).await?;
    let q = query(&uri);
    // Event type names are the iterators of this list.
    let iterator = q
        .iter()
        .find(|(k, _)| k == "iterator")
        .map(|(_, v)| v.clone())
        .filter(|it| {
            let key = it.strip_prefix('-').unwrap_or(it);
            !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
    let page = st
        .store
        .list_event_types(
            &Page {
                limit: 50,
                iterator,
                order: Order::Ascending,
            },
            false,
        )
        .await?;
    let base = format!("/portal/app/{}/event-types", app.id);
    let body = html! {
        h1 { "Event types" }
        p.lead { "The kinds of event that can be sent. An endpoint receives the types it chose, or all of them." }
        @if page.data.is_empty() {
            p.empty { "No event types are described yet." }
        } @else {
            ul.event-types {
                @for et in &page.data {
                    li.card {
                        h2 { code { (et.name) } @if et.deprecated { " " (layout::pill("wait", "Deprecated")) } }
                        @if !et.description.is_empty() { p { (et.description) } }
                        @if let Some(schemas) = et.schemas.as_ref().and_then(|s| s.as_object()).filter(|s| !s.is_empty()) {
                            @for (version, schema) in schemas {
                                @if let Some(example) = schema.get("examples").and_then(|e| e.as_array()).and_then(|e| e.first()) {
                                    details {
                                        summary { "Example payload" @if schemas.len() > 1 { " (version " (version) ")" } }
                                        pre.json tabindex="0" { code { (crate::pretty_json::pretty_or_raw(&example.to_string())) } }
                                    }
                                }
                                details {
                                    summary { "Schema" @if schemas.len() > 1 { " (version " (version) ")" } }
                                    pre.json tabindex="0" { code { (crate::pretty_json::pretty_or_raw(&schema.to_string())) } }
                                }
                            }
                        }
                    }
                }
            }
            (pager(&base, &q, &page))
        }
    };
    Ok(layout::page(
        &s,
        &app,
        Tab::EventTypes,
        "Event types",
        None,
        body,
    ))
}
