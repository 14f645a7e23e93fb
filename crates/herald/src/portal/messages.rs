//! The message log (filtered by event type, state and time, paged), one message with its
//! payload, deliveries and every attempt, and resending a message to one endpoint.

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::csrf::{self, FormData};
use super::endpoint_detail::{local_time, parse_local_time};
use super::endpoints::{catalogue, page_of, pager, query};
use super::layout::{self, Flash, PortalPath, PortalResult, Tab, open_app};
use super::session::Session;
use crate::api::AppState;
use crate::api::extract::Path as ApiPath;
use crate::api::handlers;
use crate::model::{AttemptStatus, DeliveryStatus};
use crate::store::{DeliveryCount, ListFilter, Order, Page};

const STATES: &[(&str, &str)] = &[
    ("", "Any"),
    ("failed", "Failed"),
    ("pending", "Waiting"),
    ("succeeded", "Succeeded"),
];

/// A message's state over its deliveries: failed if any failed (or waits to retry after a
/// failure), else waiting if any waits.
fn state_of(counts: &[&DeliveryCount]) -> Markup {
    let has = |f: &dyn Fn(&DeliveryCount) -> bool| counts.iter().any(|c| f(c) && c.count > 0);
    if counts.iter().all(|c| c.count == 0) {
        layout::pill("never", "No endpoint")
    } else if has(&|c| matches!(c.status, DeliveryStatus::Failed | DeliveryStatus::Skipped)) {
        layout::pill("bad", "Failed")
    } else if has(&|c| c.status == DeliveryStatus::Pending && c.retried) {
        layout::pill("bad", "Failed, retrying")
    } else if has(&|c| matches!(c.status, DeliveryStatus::Pending | DeliveryStatus::Sending)) {
        layout::pill("wait", "Waiting")
    } else {
        layout::pill("ok", "Succeeded")
    }
}

fn delivery_pill(s: DeliveryStatus, tries: i64) -> Markup {
    match s {
        DeliveryStatus::Success => layout::pill("ok", "Succeeded"),
        DeliveryStatus::Failed => layout::pill("bad", "Failed"),
        DeliveryStatus::Skipped => layout::pill("bad", "Not sent: endpoint disabled"),
        DeliveryStatus::Pending if tries > 0 => layout::pill("bad", "Failed, retrying"),
        DeliveryStatus::Pending => layout::pill("wait", "Waiting"),
        DeliveryStatus::Sending => layout::pill("wait", "Sending"),
    }
}

/// `GET /portal/app/{app}/messages`.
pub async fn list(
    State(st): State<AppState>,
    s: Session,
    PortalPath(app): PortalPath<String>,
    uri: axum::http::Uri,
) -> PortalResult<Response> {
    let app = open_app(&st, &s, &app).await?;
    let q = query(&uri);
    let get = |k: &str| {
        q.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let mut problems = Vec::new();
    let mut time = |k: &str, what: &str| {
        get(k).and_then(|v| {
            let t = parse_local_time(v);
            if t.is_none() {
                problems.push(format!("{what} is not a date and time."));
            }
            t
        })
    };
    let since = time("since", "Since");
    let until = time("until", "Until");
    let event_type = get("type");
    let status = get("status")
        .filter(|s| STATES.iter().any(|(k, _)| k == s))
        .unwrap_or("");
    // "Failed" takes in what waits to retry after a failure: it is failing now.
    let (states, retrying): (&[DeliveryStatus], bool) = match status {
        "failed" => (&[DeliveryStatus::Failed, DeliveryStatus::Skipped], true),
        "pending" => (&[DeliveryStatus::Pending, DeliveryStatus::Sending], false),
        "succeeded" => (&[DeliveryStatus::Success], false),
        _ => (&[], false),
    };
    let filter = ListFilter {
        event_types: event_type.map(str::to_string).into_iter().collect(),
        after: since,
        before: until,
        ..Default::default()
    };
    let page = st
        .store
        .list_messages_in_states(
            &app.id,
            &filter,
            states,
            retrying,
            &page_of(&q, 50, Order::Descending, crate::ids::MESSAGE),
        )
        .await?;
    let ids: Vec<&str> = page.data.iter().map(|m| &*m.id).collect();
    let counts = st.store.delivery_counts(&ids).await?;
    let types = catalogue(&st).await?;
    let base = format!("/portal/app/{}/messages", app.id);
    let kept: Vec<(&str, &str)> = ["type", "status", "since", "until"]
        .into_iter()
        .filter_map(|k| get(k).map(|v| (k, v)))
        .collect();
    let paged = if kept.is_empty() {
        base.clone()
    } else {
        let qs: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(kept)
            .finish();
        format!("{base}?{qs}")
    };
    let body = html! {
        h1 { "Messages" }
        form.filters method="get" action=(base) role="search" aria-label="Filter messages" {
            div.field {
                label for="type" { "Event type" }
                select #type name="type" {
                    option value="" { "Any" }
                    @for t in &types { option value=(t.name) selected[event_type == Some(t.name.as_str())] { (t.name) } }
                    @if let Some(t) = event_type.filter(|t| !types.iter().any(|x| x.name == *t)) {
                        option value=(t) selected { (t) }
                    }
                }
            }
            div.field {
                label for="status" { "Status" }
                select #status name="status" {
                    @for (k, label) in STATES { option value=(k) selected[status == *k] { (label) } }
                }
            }
            div.field {
                label for="since" { "Since (UTC)" }
                input #since type="datetime-local" name="since" value=(since.map(local_time).unwrap_or_default());
            }
            div.field {
                label for="until" { "Until (UTC)" }
                input #until type="datetime-local" name="until" value=(until.map(local_time).unwrap_or_default());
            }
            div.filter-actions {
                button.primary type="submit" { "Filter" }
                @if !kept_is_empty(&q) { a.button href=(base) { "Clear" } }
            }
        }
        @for p in &problems { p.error role="alert" { (p) } }
        @if page.data.is_empty() {
            p.empty { "No messages" @if status.is_empty() && filter.event_types.is_empty() && since.is_none() && until.is_none() { " yet" } "." }
        } @else {
            div.table-wrap {
                table.messages {
                    caption.sr-only { "Messages, newest first" }
                    thead { tr {
                        th scope="col" { "Time" } th scope="col" { "Event type" } th scope="col" { "Status" } th scope="col" { "Message" }
                    } }
                    tbody {
                        @for m in &page.data {
                            @let c: Vec<&DeliveryCount> = counts.iter().filter(|c| m.id == c.msg_id).collect();
                            tr {
                                td { (layout::time(m.created_at)) }
                                td { code { (m.event_type) } }
                                td { (state_of(&c)) }
                                td { a href={(base) "/" (m.id)} { (m.event_id.as_deref().unwrap_or(&m.id)) } }
                            }
                        }
                    }
                }
            }
            (pager(&paged, &q, &page))
        }
    };
    Ok(layout::page(
        &s,
        &app,
        Tab::Messages,
        "Messages",
        None,
        body,
    ))
}

fn kept_is_empty(q: &[(String, String)]) -> bool {
    !q.iter()
        .any(|(k, v)| ["type", "status", "since", "until"].contains(&k.as_str()) && !v.is_empty())
}

/// `GET /portal/app/{app}/messages/{msg}`.
pub async fn show(
    State(st): State<AppState>,
    s: Session,
    PortalPath((app, msg)): PortalPath<(String, String)>,
    Flash(flash): Flash,
) -> PortalResult<Response> {
    let app = open_app(&st, &s, &app).await?;
    let m = st.store.get_message(&app.id, &msg).await?;
    let all = |order| Page {
        limit: 250,
        iterator: None,
        order,
    };
    let deliveries = st
        .store
        .list_message_deliveries(&m.id, &all(Order::Ascending))
        .await?
        .data;
    let attempts = st
        .store
        .list_attempts(
            &app.id,
            Some(&m.id),
            None,
            &ListFilter::default(),
            &all(Order::Descending),
        )
        .await?
        .data;
    let url_of = |ep: &str| {
        deliveries
            .iter()
            .find(|(d, _)| d.endpoint_id == ep)
            .map_or(ep.to_string(), |(_, e)| e.url.clone())
    };
    let body = html! {
        p.crumbs { a href={"/portal/app/" (app.id) "/messages"} { "← All messages" } }
        h1 { "Message " code { (m.event_type) } }
        dl.facts {
            div { dt { "Id" } dd { code { (m.id) } } }
            @if let Some(e) = &m.event_id { div { dt { "Event id" } dd { code { (e) } } } }
            div { dt { "Created" } dd { (layout::time(m.created_at)) } }
            @if let Some(c) = m.channels.as_ref().filter(|c| !c.is_empty()) { div { dt { "Channels" } dd { (c.join(", ")) } } }
            @if let Some(t) = m.tags.as_ref().filter(|t| !t.is_empty()) { div { dt { "Tags" } dd { (t.join(", ")) } } }
        }
        section {
            h2 { "Payload" }
            @match &m.payload {
                Some(p) => { pre.json tabindex="0" { code { (crate::pretty_json::pretty_or_raw(p)) } } }
                None => { p.empty { "The payload was deleted." } }
            }
        }
        section {
            h2 { "Endpoints" }
            @if deliveries.is_empty() {
                p.empty { "No endpoint wanted this message." }
            } @else {
                ul.deliveries {
                    @for (d, e) in &deliveries {
                        li.card {
                            div.ep-head {
                                a.url href={"/portal/app/" (app.id) "/endpoints/" (e.id)} { (e.url) }
                                div.states { (delivery_pill(d.status, d.tries)) }
                            }
                            p.meta {
                                (d.tries) " " (if d.tries == 1 { "try" } else { "tries" }) " this round"
                                @if let (DeliveryStatus::Pending, Some(t)) = (d.status, d.next_attempt_at) { " · next try " (layout::time(t)) }
                            }
                            form method="post" action={"/portal/app/" (app.id) "/messages/" (m.id) "/resend"} {
                                (csrf::field(&s))
                                input type="hidden" name="endpoint" value=(e.id);
                                button type="submit" { "Resend" }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Attempts" }
            @if attempts.is_empty() {
                p.empty { "Not sent yet." }
            } @else {
                ol.attempts {
                    @for a in &attempts {
                        li.card {
                            div.ep-head {
                                span { (layout::time(a.created_at)) " → " span.url { (url_of(&a.endpoint_id)) } }
                                div.states {
                                    @if a.status == AttemptStatus::Success {
                                        (layout::pill("ok", &format!("{} OK", a.status_code)))
                                    } @else if a.status_code == 0 {
                                        (layout::pill("bad", "No answer"))
                                    } @else {
                                        (layout::pill("bad", &format!("{} Failed", a.status_code)))
                                    }
                                }
                            }
                            p.meta {
                                "Status code " (a.status_code) " · " (a.duration_ms) " ms · "
                                (match a.trigger { crate::model::Trigger::Manual => "sent by hand", crate::model::Trigger::Scheduled => "scheduled" })
                            }
                            @if let Some(e) = &a.error { p.error-text { "Error: " (e) } }
                            @if let Some(r) = a.response.as_deref().filter(|r| !r.is_empty() && Some(*r) != a.error.as_deref()) {
                                details {
                                    summary { "Response body" }
                                    pre tabindex="0" { code { (r) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &s,
        &app,
        Tab::Messages,
        &m.event_type,
        flash,
        body,
    ))
}

/// `POST /portal/app/{app}/messages/{msg}/resend`: sends the message to one endpoint again.
pub async fn resend(
    State(st): State<AppState>,
    s: Session,
    PortalPath((app, msg)): PortalPath<(String, String)>,
    form: FormData,
) -> PortalResult<Response> {
    csrf::check(&s, &form)?;
    let app = open_app(&st, &s, &app).await?;
    let ep = form.text("endpoint");
    let _ = handlers::resend(
        State(st.clone()),
        Extension(s.principal()),
        ApiPath((app.id.to_string(), msg.clone(), ep.clone())),
    )
    .await?;
    let to = match form.get("back") {
        Some("endpoint") => format!("/portal/app/{}/endpoints/{ep}?done=resent", app.id),
        _ => format!("/portal/app/{}/messages/{msg}?done=resent", app.id),
    };
    Ok(Redirect::to(&to).into_response())
}
