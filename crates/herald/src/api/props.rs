//! Property tests of the request extractors: whatever body, query or path a client sends,
//! parsing never panics, and a refusal is a 4xx in the API's JSON shape that names what was
//! wrong (`{code, detail}`, or a 422 list whose entries carry a `loc`).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tower::ServiceExt;

use super::error::ApiError;
use super::extract::{Path, Query, parse_json};
use crate::store::Order;

/// The status and JSON body of a refusal, checked to be a well-formed 4xx.
fn refusal(e: ApiError) -> Result<(StatusCode, Value), TestCaseError> {
    let resp = e.into_response();
    let status = resp.status();
    prop_assert!(status.is_client_error(), "{status}");
    let body = futures_body(resp);
    let v: Value = serde_json::from_slice(&body).map_err(|e| TestCaseError::fail(e.to_string()))?;
    if status == StatusCode::UNPROCESSABLE_ENTITY {
        let items = v["detail"].as_array().cloned().unwrap_or_default();
        prop_assert!(!items.is_empty(), "{v}");
        for i in items {
            prop_assert!(i["loc"].as_array().is_some_and(|l| !l.is_empty()), "{v}");
            prop_assert!(i["msg"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        }
    } else {
        prop_assert!(v["code"].is_string() && v["detail"].is_string(), "{v}");
    }
    Ok((status, v))
}

fn futures_body(resp: axum::response::Response) -> Vec<u8> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec()
    })
}

/// Parses `bytes` as body shape `T`: fine, or a well-formed refusal (which is returned).
fn parse_as<T: DeserializeOwned>(bytes: &[u8]) -> Result<Option<StatusCode>, TestCaseError> {
    match parse_json::<T>(bytes) {
        Ok(_) => Ok(None),
        Err(e) => refusal(e).map(|(s, _)| Some(s)),
    }
}

/// Every body shape of the API, parsed from `bytes`; the statuses of the refusals.
fn parse_all(bytes: &[u8]) -> Result<Vec<StatusCode>, TestCaseError> {
    use super::{app, endpoint, event_type, message};
    let all = [
        parse_as::<message::MessageIn>(bytes)?,
        parse_as::<app::ApplicationIn>(bytes)?,
        parse_as::<app::ApplicationPatch>(bytes)?,
        parse_as::<endpoint::input::EndpointIn>(bytes)?,
        parse_as::<endpoint::crud::EndpointPatch>(bytes)?,
        parse_as::<endpoint::recovery::RecoverIn>(bytes)?,
        parse_as::<super::erasure::ErasureIn>(bytes)?,
        parse_as::<endpoint::operational::OperationalWebhookEndpointIn>(bytes)?,
        parse_as::<endpoint::operational::OperationalWebhookEndpointUpdate>(bytes)?,
        parse_as::<event_type::EventTypeIn>(bytes)?,
        parse_as::<event_type::EventTypeUpdate>(bytes)?,
        parse_as::<event_type::EventTypePatch>(bytes)?,
    ];
    Ok(all.into_iter().flatten().collect())
}

/// The fields the API knows, so that generated objects reach the shapes' fields.
const FIELDS: &[&str] = &[
    "eventType",
    "payload",
    "eventId",
    "channels",
    "tags",
    "application",
    "name",
    "uid",
    "metadata",
    "rateLimit",
    "url",
    "description",
    "filterTypes",
    "disabled",
    "secret",
    "format",
    "timeoutMs",
    "retrySchedule",
    "headers",
    "since",
    "until",
    "schemas",
    "archived",
    "deprecated",
    "featureFlag",
    "signatureHeader",
    "signaturePrefix",
    "throttleRate",
    "ordering",
    "clientCert",
    "orderingKey",
    "deliverAt",
    "validatePayloads",
    "payloadRetentionPeriod",
    "payloadRetentionHours",
    "tag",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,20}".prop_map(Value::from),
        "[\\x00-\\x1f]{1,3}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(FIELDS).prop_map(str::to_string),
        1 => "\\PC{0,10}",
    ]
}

fn object() -> impl Strategy<Value = Value> {
    prop::collection::vec((key(), json_value()), 0..8)
        .prop_map(|kv| Value::Object(kv.into_iter().collect()))
}

/// A query string: known names, any values, some percent-escaped bytes.
fn query_string() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        prop::sample::select(vec![
            "limit",
            "iterator",
            "order",
            "status",
            "status_code_class",
            "before",
            "after",
            "event_types",
            "event_types[]",
            "channel",
            "endpoint_id",
            "with_content",
        ])
        .prop_map(str::to_string),
        "[a-z_]{1,8}",
    ];
    let value = prop_oneof![
        "[!-~&&[^&#%]]{0,30}",
        prop::collection::vec(any::<u8>(), 0..12)
            .prop_map(|b| b.iter().map(|x| format!("%{x:02X}")).collect::<String>()),
        "-?[0-9]{1,25}",
        Just("-msg_0356YR2YwRtmc7GssocE3X".to_string()),
        Just("2026-11-30T12:00:00Z".to_string()),
    ];
    prop::collection::vec((name, value), 0..6).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

proptest! {
    #[test]
    fn any_bytes_as_a_body_parse_or_get_a_clear_4xx(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        for s in parse_all(&bytes)? {
            prop_assert!(s == StatusCode::BAD_REQUEST || s == StatusCode::UNPROCESSABLE_ENTITY, "{s}");
        }
    }

    #[test]
    fn any_json_object_parses_or_gets_a_422_naming_the_field(v in object()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        for s in parse_all(&bytes)? {
            prop_assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        }
        // Truncated, the same object is malformed JSON: a 400 or, when still an object's
        // start fails to be one, a 422; never a panic.
        if bytes.len() > 2 {
            for s in parse_all(&bytes[..bytes.len() / 2])? {
                prop_assert!(s == StatusCode::BAD_REQUEST || s == StatusCode::UNPROCESSABLE_ENTITY, "{s}");
            }
        }
    }

    /// `clientCert` and `deliverAt` are read by hand: any text is taken or refused, no panic.
    #[test]
    fn any_client_cert_or_deliver_at_is_read_or_refused(
        text in prop_oneof![
            "\\PC{0,200}",
            "-----BEGIN [A-Z ]{0,20}-----\n[A-Za-z0-9+/=\n]{0,200}\n-----END [A-Z ]{0,20}-----\n?",
            "[0-9]{1,6}-[0-9]{1,2}-[0-9]{1,2}T[0-9:.]{1,20}(Z|[+-][0-9:]{1,6})?",
        ],
    ) {
        let _ = crate::net::transport::check_identity(&text);
        let _ = crate::clock::parse_rfc3339(&text);
    }

    #[test]
    fn any_query_is_read_or_gets_a_422_naming_the_parameter(q in query_string()) {
        let Ok(req) = Request::builder().uri(format!("/x?{q}")).body(()) else {
            return Ok(());
        };
        let (mut parts, _) = req.into_parts();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let query = rt.block_on(<Query as axum::extract::FromRequestParts<()>>::from_request_parts(&mut parts, &()));
        let query = match query {
            Ok(q) => q,
            Err(e) => {
                let (s, v) = refusal(e)?;
                prop_assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
                prop_assert_eq!(&v["detail"][0]["loc"][0], "query");
                return Ok(());
            }
        };
        for result in [
            query.page(Order::Descending, Some("msg")).map(|_| ()),
            query.page(Order::Ascending, None).map(|_| ()),
            query.filter().map(|_| ()),
            query.bool("with_content", true).map(|_| ()),
        ] {
            if let Err(e) = result {
                let (s, v) = refusal(e)?;
                prop_assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
                prop_assert_eq!(&v["detail"][0]["loc"][0], "query");
            }
        }
    }

    #[test]
    fn any_path_segment_is_found_or_gets_a_json_404(
        seg in prop_oneof![
            "[!-~&&[^/?#]]{1,40}",
            prop::collection::vec(any::<u8>(), 1..12)
                .prop_map(|b| b.iter().map(|x| format!("%{x:02X}")).collect::<String>()),
        ],
    ) {
        let router = axum::Router::new().route(
            "/app/{app_id}",
            get(|Path(id): Path<String>| async move { id }),
        );
        let Ok(req) = Request::builder().uri(format!("/app/{seg}")).body(Body::empty()) else {
            return Ok(());
        };
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let resp = rt.block_on(router.oneshot(req)).unwrap();
        let status = resp.status();
        if status != StatusCode::OK {
            prop_assert_eq!(status, StatusCode::NOT_FOUND);
            let body = futures_body(resp);
            let v: Value = serde_json::from_slice(&body).unwrap();
            prop_assert_eq!(&v["code"], "not_found");
        } else {
            let id = String::from_utf8(futures_body(resp)).unwrap();
            prop_assert!(!id.chars().any(char::is_control), "{id:?}");
        }
    }
}
