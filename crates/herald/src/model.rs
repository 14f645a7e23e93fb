//! Domain objects as the store holds them. The API turns them into Svix's JSON shapes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{AppId, AttemptId, DeliveryId, EndpointId, MessageId};
use crate::secret::Secret;

#[derive(Debug, Clone)]
pub struct Application {
    pub id: AppId,
    pub uid: Option<String>,
    pub name: String,
    pub metadata: Value,
    pub throttle_rate: Option<i64>,
    /// How long its messages' payloads are kept unless a message says (ms); the node's
    /// `--payload-retention` if None.
    pub payload_retention_ms: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A secret that was rotated out but still signs until `expires_at`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OldSecret {
    pub key: Secret,
    pub expires_at: i64,
}

/// Herald's per-endpoint delivery options (stored as one JSON object).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointOptions {
    #[serde(default)]
    pub format: crate::formats::Format,
    /// `hmac-header`: the signature header's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_header: Option<String>,
    /// `hmac-header`: text before the hex signature, e.g. `sha256=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_prefix: Option<String>,
    /// How long a delivery waits for the response, in milliseconds (1000 to 30000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Seconds before each retry; replaces the server's schedule for this endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_schedule: Option<Vec<u64>>,
    /// The `User-Agent` of deliveries, instead of Herald's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Herald: `fifo` sends deliveries to this endpoint one at a time, in publish order, each
    /// after the previous one succeeded or was exhausted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering: Option<Ordering>,
}

/// An endpoint's delivery order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = EndpointOrdering)]
pub enum Ordering {
    /// One message at a time, each after the previous one succeeded or was exhausted.
    Fifo,
}

/// The ordering key of a delivery of a message with `ordering_key` to `ep`: a FIFO endpoint
/// orders all its deliveries as one queue (key `""`), else a message's `orderingKey` orders the
/// deliveries of that key to each endpoint; `None` is unordered.
pub fn order_key(ep: &Endpoint, ordering_key: Option<&str>) -> Option<String> {
    match (ep.options.ordering, ordering_key) {
        (Some(Ordering::Fifo), _) => Some(String::new()),
        (None, Some(k)) => Some(k.to_string()),
        (None, None) => None,
    }
}

#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: EndpointId,
    pub app_id: AppId,
    pub uid: Option<String>,
    pub url: String,
    pub description: String,
    pub secret: Secret,
    pub old_secrets: Vec<OldSecret>,
    pub event_types: Option<Vec<String>>,
    pub channels: Option<Vec<String>>,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    /// When its current run of failed attempts began (None after a success): the endpoint is
    /// disabled once this is `--disable-after` ago.
    pub failing_since: Option<i64>,
    pub headers: serde_json::Map<String, Value>,
    pub metadata: Value,
    pub throttle_rate: Option<i64>,
    /// The application's `throttleRate`, where the endpoint was read for delivery (it applies
    /// to endpoints without their own).
    pub app_throttle_rate: Option<i64>,
    pub options: EndpointOptions,
    /// A PEM client certificate and key for mTLS (sealed at rest, never shown back).
    pub client_cert: Option<Secret>,
    /// When a delivery loop through this endpoint was last detected (see `delivery::loops`).
    pub loop_detected_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Endpoint {
    /// Whether a message with this type and these channels is for this endpoint
    /// (disabled endpoints match too: their deliveries are recorded as skipped).
    pub fn matches(&self, event_type: &str, channels: Option<&[String]>) -> bool {
        let type_ok = match &self.event_types {
            Some(types) if !types.is_empty() => types.iter().any(|t| t == event_type),
            _ => true,
        };
        let channel_ok = match &self.channels {
            Some(wanted) if !wanted.is_empty() => channels
                .unwrap_or_default()
                .iter()
                .any(|c| wanted.contains(c)),
            _ => true,
        };
        type_ok && channel_ok
    }

    /// Secrets that sign now: the current one first, then unexpired rotated-out ones.
    pub fn signing_secrets(&self, now_ms: i64) -> Vec<&str> {
        std::iter::once(self.secret.expose())
            .chain(
                self.old_secrets
                    .iter()
                    .filter(|s| s.expires_at > now_ms)
                    .map(|s| s.key.expose()),
            )
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct EventType {
    pub name: String,
    pub description: String,
    pub archived: bool,
    pub deprecated: bool,
    pub feature_flag: Option<String>,
    pub schemas: Option<Value>,
    /// Publishes of this type are checked against its latest schema (also all types with
    /// `--validate-payloads`).
    pub validate_payloads: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: MessageId,
    pub app_id: AppId,
    pub event_id: Option<String>,
    pub event_type: String,
    /// Payload bytes as published; `None` once expunged.
    pub payload: Option<String>,
    pub channels: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    /// Deliveries of messages with the same key go to each endpoint in publish order.
    pub ordering_key: Option<String>,
    pub created_at: i64,
    /// When its payload is expunged by retention.
    pub expires_at: Option<i64>,
}

/// State of a delivery, with Svix's numbering for the first four. Stored as [`Self::code`];
/// a stored number that is none of these is a corrupt row, never silently one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Success,
    Pending,
    Failed,
    /// Claimed under a lease, being sent.
    Sending,
    /// The endpoint was disabled when the message was published: kept for replay.
    Skipped,
}

impl DeliveryStatus {
    /// The stored number (the one mapping between the two).
    pub fn code(self) -> i64 {
        match self {
            Self::Success => 0,
            Self::Pending => 1,
            Self::Failed => 2,
            Self::Sending => 3,
            Self::Skipped => 4,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        [
            Self::Success,
            Self::Pending,
            Self::Failed,
            Self::Sending,
            Self::Skipped,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }

    /// Svix's `MessageStatus` number; skipped shows as failed (it was not delivered).
    pub fn svix_code(self) -> i64 {
        match self {
            Self::Skipped => Self::Failed.code(),
            s => s.code(),
        }
    }

    pub fn svix_text(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Pending => "pending",
            Self::Failed | Self::Skipped => "fail",
            Self::Sending => "sending",
        }
    }
}

/// Whether an attempt succeeded, with Svix's numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptStatus {
    Success,
    Failed,
}

impl AttemptStatus {
    pub fn code(self) -> i64 {
        match self {
            Self::Success => 0,
            Self::Failed => 2,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        [Self::Success, Self::Failed]
            .into_iter()
            .find(|s| s.code() == code)
    }
}

/// What made an attempt: the retry schedule, or a person (resend, recover).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Scheduled,
    Manual,
}

impl Trigger {
    pub fn code(self) -> i64 {
        match self {
            Self::Scheduled => 0,
            Self::Manual => 1,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        [Self::Scheduled, Self::Manual]
            .into_iter()
            .find(|s| s.code() == code)
    }
}

/// One (message, endpoint) pair with its queue state.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: DeliveryId,
    pub app_id: AppId,
    pub msg_id: MessageId,
    pub endpoint_id: EndpointId,
    pub status: DeliveryStatus,
    pub tries: i64,
    pub next_attempt_at: Option<i64>,
    pub next_trigger: Trigger,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One HTTP try of a delivery.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub id: AttemptId,
    pub app_id: AppId,
    pub msg_id: MessageId,
    pub endpoint_id: EndpointId,
    pub url: String,
    pub status: AttemptStatus,
    /// HTTP status, or 0 when no response came (timeout, refused connection).
    pub status_code: i64,
    pub response: Option<String>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub trigger: Trigger,
    pub created_at: i64,
}

/// Delivery counts of an endpoint, by state.
#[derive(Debug, Clone, Default)]
pub struct EndpointStats {
    pub success: i64,
    pub pending: i64,
    pub fail: i64,
    pub sending: i64,
    pub canceled: i64,
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// An endpoint with every optional field empty.
    pub fn endpoint() -> Endpoint {
        Endpoint {
            id: EndpointId::from_stored("ep_test".into()),
            app_id: AppId::from_stored("app_test".into()),
            uid: None,
            url: "https://example.com/hook".into(),
            description: String::new(),
            secret: Secret::new("whsec_x"),
            old_secrets: Vec::new(),
            event_types: None,
            channels: None,
            disabled: false,
            disabled_reason: None,
            failing_since: None,
            headers: Default::default(),
            metadata: Value::Null,
            throttle_rate: None,
            app_throttle_rate: None,
            options: EndpointOptions::default(),
            client_cert: None,
            loop_detected_at: None,
            created_at: 0,
            updated_at: 0,
        }
    }
}
