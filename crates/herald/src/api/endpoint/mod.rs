//! Endpoints: `/api/v1/app/{app}/endpoint`, split by job: [`crud`], [`headers`], [`secret`],
//! [`recovery`] (stats, recover, replay, examples); [`input`] is the shape and checks they share.
//! [`operational`]: the operational webhook endpoints, endpoints of Herald's own application.

pub(super) mod crud;
pub(super) mod headers;
pub(super) mod input;
pub(super) mod operational;
pub(super) mod recovery;
pub(super) mod secret;

use super::error::ApiResult;
use super::{AppState, Principal};
use crate::model::Endpoint;

// What the portal calls (see `api::handlers`); the router names each handler by its module.
pub use crud::{create, patch, remove};
pub use headers::put_headers;
pub use recovery::{recover, send_example};
pub use secret::rotate_secret;

pub(super) async fn endpoint_of(
    st: &AppState,
    who: &Principal,
    app_id: &str,
    ep_id: &str,
) -> ApiResult<Endpoint> {
    let app = st.app(who, app_id).await?;
    Ok(st.store.get_endpoint(&app.id, ep_id).await?)
}
