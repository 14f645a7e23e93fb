//! The JSON shapes of Svix's API, built from Herald's domain objects. Herald's extra output
//! fields are additions, never renames.

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use crate::clock::rfc3339;
use crate::model::{
    Application, Attempt, AttemptStatus, Delivery, DeliveryStatus, Endpoint, EndpointOptions,
    EndpointStats, EventType, Message,
};
use crate::store::PageOut;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListOut<T: Serialize> {
    pub data: Vec<T>,
    /// Always present (null at the end): SDKs require the key.
    pub iterator: Option<String>,
    pub prev_iterator: Option<String>,
    pub done: bool,
}

impl<T: Serialize> ListOut<T> {
    pub fn from_page<U>(p: PageOut<U>, f: impl Fn(U) -> T) -> Self {
        ListOut {
            data: p.data.into_iter().map(f).collect(),
            iterator: p.iterator,
            prev_iterator: p.prev_iterator,
            done: p.done,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationOut {
    pub id: String,
    pub uid: Option<String>,
    pub name: String,
    #[schema(value_type = HashMap<String, String>)]
    pub metadata: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle_rate: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<i64>,
    /// Herald: hours its messages' payloads are kept unless a message says (absent:
    /// `--payload-retention`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_retention_hours: Option<i64>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<Application> for ApplicationOut {
    fn from(a: Application) -> Self {
        ApplicationOut {
            id: a.id.into(),
            uid: a.uid,
            name: a.name,
            metadata: a.metadata,
            throttle_rate: a.throttle_rate,
            rate_limit: a.throttle_rate,
            payload_retention_hours: a.payload_retention_ms.map(|ms| ms / 3_600_000),
            created_at: rfc3339(a.created_at),
            updated_at: rfc3339(a.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointOut {
    pub id: String,
    pub uid: Option<String>,
    pub url: String,
    pub description: String,
    pub version: i64,
    pub disabled: bool,
    pub event_types: Option<Vec<String>>,
    pub filter_types: Option<Vec<String>>,
    pub channels: Option<Vec<String>>,
    #[schema(value_type = HashMap<String, String>)]
    pub metadata: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle_rate: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<i64>,
    /// Herald: why the endpoint was disabled automatically, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Herald: wire format and delivery policy.
    #[serde(flatten)]
    pub options: EndpointOptions,
    /// Herald: when a delivery loop through this endpoint was last detected (it is throttled
    /// for `--loop-hold` after).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub loop_detected_at: Option<String>,
    /// Herald: whether a client certificate (mTLS) is set; the certificate is never shown.
    pub client_cert_set: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&Endpoint> for EndpointOut {
    fn from(e: &Endpoint) -> Self {
        EndpointOut {
            id: e.id.to_string(),
            uid: e.uid.clone(),
            url: e.url.clone(),
            description: e.description.clone(),
            version: 1,
            disabled: e.disabled,
            event_types: e.event_types.clone(),
            filter_types: e.event_types.clone(),
            channels: e.channels.clone(),
            metadata: e.metadata.clone(),
            throttle_rate: e.throttle_rate,
            rate_limit: e.throttle_rate,
            disabled_reason: if e.disabled {
                e.disabled_reason.clone()
            } else {
                None
            },
            options: e.options.clone(),
            loop_detected_at: e.loop_detected_at.map(rfc3339),
            client_cert_set: e.client_cert.is_some(),
            created_at: rfc3339(e.created_at),
            updated_at: rfc3339(e.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeOut {
    pub name: String,
    pub description: String,
    pub archived: bool,
    pub deprecated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature_flag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub schemas: Option<Value>,
    /// Herald: publishes of this type are checked against its latest schema.
    pub validate_payloads: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<EventType> for EventTypeOut {
    fn from(e: EventType) -> Self {
        EventTypeOut {
            name: e.name,
            description: e.description,
            archived: e.archived,
            deprecated: e.deprecated,
            feature_flag: e.feature_flag,
            schemas: e.schemas,
            validate_payloads: e.validate_payloads,
            created_at: rfc3339(e.created_at),
            updated_at: rfc3339(e.updated_at),
        }
    }
}

/// The payload as stored, or `{}` when left out (`with_content=false`) or expunged.
fn payload_of(m: &Message, with_content: bool) -> Box<RawValue> {
    let empty = || RawValue::from_string("{}".into()).expect("{} is JSON");
    match (&m.payload, with_content) {
        (Some(p), true) => RawValue::from_string(p.clone()).unwrap_or_else(|_| empty()),
        _ => empty(),
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageOut {
    pub id: String,
    pub event_type: String,
    pub event_id: Option<String>,
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Herald: its ordering key, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// Herald: the payload was expunged (on request, or its retention ran out): `payload` is
    /// `{}` and no delivery can carry it any more.
    pub expunged: bool,
}

impl MessageOut {
    pub fn new(m: &Message, with_content: bool) -> Self {
        MessageOut {
            id: m.id.to_string(),
            event_type: m.event_type.clone(),
            event_id: m.event_id.clone(),
            payload: payload_of(m, with_content),
            channels: m.channels.clone(),
            tags: m.tags.clone(),
            ordering_key: m.ordering_key.clone(),
            timestamp: rfc3339(m.created_at),
            expunged: m.payload.is_none(),
        }
    }
}

/// How a delivery's state is shown: Svix's four states, or five with `expanded_statuses`.
#[derive(Clone, Copy)]
pub struct StatusView {
    pub expanded: bool,
}

impl StatusView {
    pub fn code(self, s: DeliveryStatus) -> i64 {
        if self.expanded && s == DeliveryStatus::Skipped {
            4
        } else {
            s.svix_code()
        }
    }
    pub fn text(self, s: DeliveryStatus) -> &'static str {
        if self.expanded && s == DeliveryStatus::Skipped {
            "canceled"
        } else {
            s.svix_text()
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointMessageOut {
    #[serde(flatten)]
    pub msg: MessageOut,
    pub status: i64,
    pub status_text: &'static str,
    #[schema(format = DateTime)]
    pub next_attempt: Option<String>,
}

impl EndpointMessageOut {
    pub fn new(d: &Delivery, m: &Message, with_content: bool, view: StatusView) -> Self {
        EndpointMessageOut {
            msg: MessageOut::new(m, with_content),
            status: view.code(d.status),
            status_text: view.text(d.status),
            next_attempt: next_attempt(d),
        }
    }
}

fn next_attempt(d: &Delivery) -> Option<String> {
    match d.status {
        DeliveryStatus::Pending | DeliveryStatus::Sending => d.next_attempt_at.map(rfc3339),
        _ => None,
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageEndpointOut {
    #[serde(flatten)]
    pub endpoint: EndpointOut,
    pub status: i64,
    pub status_text: &'static str,
    #[schema(format = DateTime)]
    pub next_attempt: Option<String>,
}

impl MessageEndpointOut {
    pub fn new(d: &Delivery, e: &Endpoint, view: StatusView) -> Self {
        MessageEndpointOut {
            endpoint: EndpointOut::from(e),
            status: view.code(d.status),
            status_text: view.text(d.status),
            next_attempt: next_attempt(d),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageAttemptOut {
    pub id: String,
    pub msg_id: String,
    pub endpoint_id: String,
    pub url: String,
    pub response: String,
    pub response_status_code: i64,
    pub response_duration_ms: i64,
    pub status: i64,
    pub status_text: &'static str,
    pub trigger_type: i64,
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// Herald: why no response was received (timeout, refused connection, blocked address).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<Attempt> for MessageAttemptOut {
    fn from(a: Attempt) -> Self {
        MessageAttemptOut {
            id: a.id.into(),
            msg_id: a.msg_id.into(),
            endpoint_id: a.endpoint_id.into(),
            url: a.url,
            response: a.response.unwrap_or_default(),
            response_status_code: a.status_code,
            response_duration_ms: a.duration_ms,
            status: a.status.code(),
            status_text: match a.status {
                AttemptStatus::Success => "success",
                AttemptStatus::Failed => "fail",
            },
            trigger_type: a.trigger.code(),
            timestamp: rfc3339(a.created_at),
            error: a.error,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = EndpointStats)]
pub struct StatsOut {
    pub success: i64,
    pub pending: i64,
    pub sending: i64,
    pub fail: i64,
    pub canceled: i64,
}

impl From<EndpointStats> for StatsOut {
    fn from(s: EndpointStats) -> Self {
        StatsOut {
            success: s.success,
            pending: s.pending,
            sending: s.sending,
            fail: s.fail,
            canceled: s.canceled,
        }
    }
}
