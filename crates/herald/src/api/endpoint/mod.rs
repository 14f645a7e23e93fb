//! Endpoints: `/api/v1/app/{app}/endpoint`, split by job: [`crud`], [`headers`], [`secret`],
//! [`recovery`] (stats, recover, replay, examples); [`input`] is the shape and checks they share.

mod crud;
mod headers;
mod input;
mod recovery;
mod secret;

use super::error::ApiResult;
use super::{AppState, Principal};
use crate::model::Endpoint;

pub use crud::{create, get, list, patch, put, remove};
pub use headers::{get_headers, patch_headers, put_headers};
pub use recovery::{recover, replay_missing, send_example, stats};
pub use secret::{get_secret, rotate_secret};

pub(super) async fn endpoint_of(
    st: &AppState,
    who: &Principal,
    app_id: &str,
    ep_id: &str,
) -> ApiResult<Endpoint> {
    let app = st.app(who, app_id).await?;
    Ok(st.store.get_endpoint(&app.id, ep_id).await?)
}
