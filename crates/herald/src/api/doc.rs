//! The OpenAPI 3.1 document, served at `GET /api/v1/openapi.json`.
//!
//! Nothing here is written twice: each handler's `#[utoipa::path]` attribute and each shape's
//! `ToSchema` derive describe it, and the same `routes!` calls build both the router and the
//! document (`router.rs`), so a route cannot be served without being documented nor documented
//! without being served. This module holds what the handlers share: the document's head, the
//! bearer scheme, the error bodies and the query and path parameters.

use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoParams, IntoResponses, Modify, OpenApi, ToSchema};

use super::error::FieldError;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Herald",
        description = "Webhook delivery: applications, their endpoints, an event-type catalog, \
            messages fanned out to every matching endpoint, signed, sent and retried, with every \
            attempt logged. Shaped like Svix's v1 API; Herald's additions are marked as such.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&Bearer),
    security(("HTTPBearer" = [])),
    components(schemas(HttpErrorOut, HttpValidationError, FieldError, Ordering)),
    tags(
        (name = "Application", description = "One per customer, organisation or stream."),
        (name = "Endpoint", description = "Where an application's messages are sent."),
        (name = "Event Type", description = "The catalog of event types."),
        (name = "Message", description = "Publishing and reading messages."),
        (name = "Message Attempt", description = "Deliveries and the log of their attempts."),
        (name = "Authentication", description = "Application tokens and the portal."),
        (name = "Webhook Endpoint", description = "Operational webhooks: Herald's own events about endpoints and attempts."),
        (name = "Health", description = "Probes for load balancers and orchestrators."),
    )
)]
pub struct ApiDoc;

/// The bearer token scheme, named as Svix names it.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.description = Some(
            "The operator's token (`--token`, or one made with `herald token create`), or an \
             application token from `/api/v1/auth/app-portal-access/{app_id}`."
                .into(),
        );
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme("HTTPBearer", SecurityScheme::Http(http));
    }
}

/// Every error but a validation failure: a stable `code` and a sentence for people.
#[derive(Serialize, ToSchema)]
pub struct HttpErrorOut {
    pub code: String,
    pub detail: String,
}

/// A validation failure (422): one entry per field at fault.
#[derive(Serialize, ToSchema)]
#[schema(as = HTTPValidationError)]
pub struct HttpValidationError {
    pub detail: Vec<FieldError>,
}

/// The errors any API route may answer with.
#[derive(IntoResponses)]
#[allow(dead_code)] // Read by the document only.
pub enum Errors {
    /// The body is not JSON, or a header is malformed.
    #[response(status = 400)]
    BadRequest(HttpErrorOut),
    /// No token, or one that is unknown, expired or revoked.
    #[response(status = 401)]
    Unauthorized(HttpErrorOut),
    /// An application token on a route for the operator only.
    #[response(status = 403)]
    Forbidden(HttpErrorOut),
    /// No such object (or one of another application).
    #[response(status = 404)]
    NotFound(HttpErrorOut),
    /// A uid or name already taken, or an idempotency key in use.
    #[response(status = 409)]
    Conflict(HttpErrorOut),
    /// The body is larger than `--max-body-bytes`.
    #[response(status = 413)]
    TooLarge(HttpErrorOut),
    /// The URI is too long.
    #[response(status = 414)]
    UriTooLong(HttpErrorOut),
    /// A field, query or path parameter is not valid; each is named.
    #[response(status = 422)]
    Invalid(HttpValidationError),
    /// The request headers are too large.
    #[response(status = 431)]
    HeadersTooLarge(HttpErrorOut),
    /// A fault of the server (details are in its log).
    #[response(status = 500)]
    Internal(HttpErrorOut),
    /// The node is overloaded (`--max-concurrent-requests`), timed out (`--api-timeout`) or
    /// shutting down; retry after `Retry-After`.
    #[response(status = 503)]
    Unavailable(HttpErrorOut),
}

/// The order of a list.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // Read by the document only.
#[serde(rename_all = "lowercase")]
pub enum Ordering {
    Ascending,
    Descending,
}

/// A page of a list.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListParams {
    /// How many items a page holds (50 by default).
    #[param(minimum = 1, maximum = 250)]
    limit: Option<i64>,
    /// The `iterator` (or `prevIterator`) of a previous page.
    iterator: Option<String>,
    /// The order of the list (each list has its own default).
    order: Option<Ordering>,
}

/// The filters of the lists of messages and attempts.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct FilterParams {
    /// Only items of messages sent on this channel.
    channel: Option<String>,
    /// Only items of messages of these event types.
    event_types: Option<Vec<String>>,
    /// Only items created before this time.
    #[param(format = DateTime)]
    before: Option<String>,
    /// Only items created after this time.
    #[param(format = DateTime)]
    after: Option<String>,
}

/// The status filters of the lists of attempts and of an endpoint's messages.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct StatusParams {
    /// Only this status: 0 success, 1 pending, 2 failed, 3 sending.
    #[param(minimum = 0, maximum = 3)]
    status: Option<i64>,
    /// Only responses of this class: 0 (no response), 100, 200, 300, 400 or 500.
    #[param(minimum = 0, maximum = 500, multiple_of = 100)]
    status_code_class: Option<i64>,
}

/// Whether message payloads are included.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ContentParams {
    /// Include each message's payload (true by default).
    with_content: Option<bool>,
}

/// Whether delivery states include `canceled` (4).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct StatusViewParams {
    /// Herald: show deliveries skipped while their endpoint was disabled as 4, `canceled`.
    expanded_statuses: Option<bool>,
}

/// A POST's idempotency key.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyParams {
    /// A retry with the same key (1 to 256 visible ASCII characters) within 24 hours gets the
    /// first answer again instead of acting twice.
    #[param(rename = "idempotency-key", pattern = r"^[!-~]{1,256}$")]
    idempotency_key: Option<String>,
}

/// An application.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct AppPath {
    /// The application's id or uid.
    app_id: String,
}

/// An endpoint of an application.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct EndpointPath {
    /// The application's id or uid.
    app_id: String,
    /// The endpoint's id or uid.
    endpoint_id: String,
}

/// A message of an application.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct MessagePath {
    /// The application's id or uid.
    app_id: String,
    /// The message's id, or the `eventId` it was published with.
    msg_id: String,
}

/// An attempt at a message.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct AttemptPath {
    /// The application's id or uid.
    app_id: String,
    /// The message's id, or the `eventId` it was published with.
    msg_id: String,
    /// The attempt's id.
    attempt_id: String,
}

/// A message's delivery to one endpoint.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct DeliveryPath {
    /// The application's id or uid.
    app_id: String,
    /// The message's id, or the `eventId` it was published with.
    msg_id: String,
    /// The endpoint's id or uid.
    endpoint_id: String,
}

/// An event type.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct EventTypePath {
    /// The event type's name.
    event_type_name: String,
}
