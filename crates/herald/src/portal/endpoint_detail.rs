//! One endpoint: its state and actions, its success rate over time, its recent attempts (each
//! resendable), and recovery of everything that failed since a chosen time.

use axum::extract::State;
use axum::response::Response;
use maud::html;

use super::chart::{self, Span};
use super::csrf;
use super::endpoints::{actions, catalogue, page_of, pager, query, summary};
use super::layout::{self, Flash, PortalPath, PortalResult, Tab, open_app};
use super::session::Session;
use crate::api::AppState;
use crate::clock::now_ms;
use crate::model::AttemptStatus;
use crate::store::{ListFilter, Order};

const HOUR: i64 = 3600 * 1000;

/// A time typed in a `datetime-local` field (taken as UTC), or RFC 3339.
pub fn parse_local_time(s: &str) -> Option<i64> {
    let s = s.trim();
    crate::clock::parse_rfc3339(s).or_else(|| {
        ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
            .iter()
            .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
            .map(|t| t.and_utc().timestamp_millis())
    })
}

/// A time as a `datetime-local` field shows it.
pub fn local_time(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

fn span(range: &str, now: i64) -> Span {
    let (bucket_ms, n, words, label_fmt) = match range {
        "7d" => (6 * HOUR, 28, "per 6 hours over the last 7 days", "%a %H:%M"),
        "30d" => (24 * HOUR, 30, "per day over the last 30 days", "%b %d"),
        _ => (HOUR, 24, "per hour over the last 24 hours", "%H:%M"),
    };
    let since = (now / bucket_ms) * bucket_ms - (n as i64 - 1) * bucket_ms;
    Span {
        since,
        bucket_ms,
        n,
        words,
        label_fmt,
    }
}

/// `GET /portal/app/{app}/endpoints/{ep}`.
pub async fn show(
    State(st): State<AppState>,
    s: Session,
    PortalPath((app, ep)): PortalPath<(String, String)>,
    Flash(flash): Flash,
    uri: axum::http::Uri,
) -> PortalResult<Response> {
    let app = open_app(&st, &s, &app).await?;
    let ep = st.store.get_endpoint(&app.id, &ep).await?;
    let q = query(&uri);
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let range = get("range")
        .filter(|r| matches!(*r, "7d" | "30d"))
        .unwrap_or("24h");
    let now = now_ms();
    let span = span(range, now);
    let buckets = st
        .store
        .attempt_buckets(&ep.id, span.since, span.bucket_ms)
        .await?;
    let stats = st.store.endpoint_stats(&ep.id, None, None).await?;
    let attempts = st
        .store
        .list_attempts(
            &app.id,
            None,
            Some(&ep.id),
            &ListFilter::default(),
            &page_of(&q, 20, Order::Descending, crate::ids::ATTEMPT),
        )
        .await?;
    let msg_ids: Vec<&crate::ids::MessageId> = attempts.data.iter().map(|a| &a.msg_id).collect();
    let msgs = st.store.messages_by_ids(&msg_ids).await?;
    let last = st.store.last_attempts(&[&ep.id]).await?;
    let types = catalogue(&st).await?;
    let base = format!("/portal/app/{}/endpoints/{}", app.id, ep.id);
    let revealed = get("reveal") == Some(&*ep.id);
    let body = html! {
        p.crumbs { a href={"/portal/app/" (app.id) "/endpoints"} { "← All endpoints" } }
        h1.sr-only { "Endpoint" }
        section.card aria-label="Endpoint" {
            (summary(&app, &ep, last.first()))
            @if revealed {
                div.secret {
                    label for="secret" { "Signing secret" }
                    input.code #secret type="text" readonly value=(crate::formats::secret::shown(&ep.secret));
                }
            }
            (actions(&s, &app, &ep, &types, revealed, true))
        }
        section {
            div.title-row {
                h2 { "Success rate" }
                nav.ranges aria-label="Time range" {
                    @for (r, label) in [("24h", "24 hours"), ("7d", "7 days"), ("30d", "30 days")] {
                        a href={(base) "?range=" (r)} aria-current=[(r == range).then_some("true")] { (label) }
                    }
                }
            }
            (chart::success_rate(&buckets, &span))
            dl.stats {
                div { dt { "Delivered" } dd { (stats.success) } }
                div { dt { "Failed" } dd { (stats.fail + stats.canceled) } }
                div { dt { "Waiting" } dd { (stats.pending + stats.sending) } }
            }
        }
        section {
            h2 { "Recover failed messages" }
            form.recover method="post" action={(base) "/recover"} {
                (csrf::field(&s))
                input type="hidden" name="back" value="detail";
                div.field {
                    label for="since" { "Since (UTC)" }
                    p.hint #since-hint { "Every message to this endpoint that failed since then is sent again." }
                    input #since type="datetime-local" name="since" required value=(local_time(now - 24 * HOUR)) aria-describedby="since-hint";
                }
                button type="submit" { "Recover" }
            }
        }
        section {
            h2 { "Recent attempts" }
            @if attempts.data.is_empty() {
                p.empty { "Nothing has been sent to this endpoint yet." }
            } @else {
                div.table-wrap {
                    table.attempts {
                        thead { tr {
                            th scope="col" { "Time" } th scope="col" { "Message" } th scope="col" { "Result" }
                            th scope="col" { "Duration" } th scope="col" { "Response or error" } th scope="col" { span.sr-only { "Actions" } }
                        } }
                        tbody {
                            @for a in &attempts.data {
                                @let m = msgs.iter().find(|m| m.id == a.msg_id);
                                tr {
                                    td { (layout::time(a.created_at)) }
                                    td {
                                        a href={"/portal/app/" (app.id) "/messages/" (a.msg_id)} { (m.map_or(&*a.msg_id, |m| &*m.event_type)) }
                                    }
                                    td {
                                        @if a.status == AttemptStatus::Success {
                                            (layout::pill("ok", &format!("{} OK", a.status_code)))
                                        } @else if a.status_code == 0 {
                                            (layout::pill("bad", "No answer"))
                                        } @else {
                                            (layout::pill("bad", &format!("{} Failed", a.status_code)))
                                        }
                                    }
                                    td { (a.duration_ms) " ms" }
                                    td.response {
                                        @if a.status == AttemptStatus::Success {
                                            (a.response.as_deref().unwrap_or("").chars().take(120).collect::<String>())
                                        } @else {
                                            (layout::failure_reason(a))
                                        }
                                    }
                                    td {
                                        form method="post" action={"/portal/app/" (app.id) "/messages/" (a.msg_id) "/resend"} {
                                            (csrf::field(&s))
                                            input type="hidden" name="endpoint" value=(ep.id);
                                            input type="hidden" name="back" value="endpoint";
                                            button type="submit" { "Resend" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                (pager(&base, &q, &attempts))
            }
        }
    };
    Ok(layout::page(&s, &app, Tab::Endpoints, &ep.url, flash, body))
}
