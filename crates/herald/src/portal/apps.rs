//! The operator's view: every application, each opening its portal.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::csrf;
use super::endpoints::{page_of, pager, query};
use super::layout::{self, PortalError, PortalResult};
use super::session::Session;
use crate::api::AppState;
use crate::store::Order;

/// `GET /portal/apps` (operator only: anyone else gets the not-found page).
pub async fn list(
    State(st): State<AppState>,
    s: Session,
    uri: axum::http::Uri,
) -> PortalResult<Response> {
    if !s.is_operator() {
        return Err(PortalError::NotFound);
    }
    let q = query(&uri);
    let page = st
        .store
        .list_apps(&page_of(&q, 50, Order::Ascending, crate::ids::APP))
        .await?;
    let body = html! {
        div.title-row {
            h1 { "Applications" }
            form.inline method="post" action="/portal/logout" {
                (csrf::field(&s))
                button.linkish type="submit" { "Sign out" }
            }
        }
        p.lead { "Every customer's portal. Open one to see it as its customer does." }
        @if page.data.is_empty() {
            p.empty { "No applications yet." }
        } @else {
            div.table-wrap {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Uid" } th scope="col" { "Created" } } }
                    tbody {
                        @for a in &page.data {
                            tr {
                                td { a href={"/portal/app/" (a.id) "/endpoints"} { (a.name) } }
                                td { code { (a.uid.as_deref().unwrap_or("—")) } }
                                td { (layout::time(a.created_at)) }
                            }
                        }
                    }
                }
            }
            (pager("/portal/apps", &q, &page))
        }
    };
    Ok(layout::bare(StatusCode::OK, "Applications", body))
}
