//! Operational webhooks: Herald's own events about customers' endpoints, in Svix's shapes
//! (`{"type": ..., "data": {...}}`), published as messages of the reserved application
//! [`OPERATIONAL_APP`], whose endpoints are the operational webhook endpoints. So they are
//! stored, signed (standard format), retried on the same schedule, logged and listable like
//! any message, and an endpoint's `filterTypes` choose the events it gets.
//!
//! Nothing is published while no operational endpoint was ever made (the application does
//! not exist), and nothing about the reserved application's own endpoints (no event loops).

use serde::Serialize;
use serde_json::{Value, json};

use super::pipeline::Pipeline;
use crate::clock::rfc3339;
use crate::ids::{AppId, OPERATIONAL_APP};
use crate::model::{Application, Endpoint, Message};
use crate::store::{NewMessage, Store, StoreError};

/// An event, with what its payload needs.
pub enum OpEvent<'a> {
    EndpointCreated(&'a Endpoint),
    EndpointUpdated(&'a Endpoint),
    EndpointDeleted(&'a Endpoint),
    /// Disabled by Herald (failing for `--disable-after`, or answering 410) since then.
    EndpointDisabled(&'a Endpoint, i64),
    /// An attempt failed, the Nth in a row of its delivery (`--failing-event-after`).
    AttemptFailing(&'a Message, &'a Endpoint, LastAttempt),
    /// The delivery failed for good.
    AttemptExhausted(&'a Message, &'a Endpoint, LastAttempt),
    /// The delivery succeeded after a `failing` event.
    AttemptRecovered(&'a Message, &'a Endpoint, LastAttempt),
}

/// Svix's `MessageAttempetLast` (sic).
#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct LastAttempt {
    pub id: String,
    pub timestamp: String,
    pub response_status_code: i64,
}

impl OpEvent<'_> {
    pub fn kind(&self) -> &'static str {
        match self {
            OpEvent::EndpointCreated(_) => "endpoint.created",
            OpEvent::EndpointUpdated(_) => "endpoint.updated",
            OpEvent::EndpointDeleted(_) => "endpoint.deleted",
            OpEvent::EndpointDisabled(..) => "endpoint.disabled",
            OpEvent::AttemptFailing(..) => "message.attempt.failing",
            OpEvent::AttemptExhausted(..) => "message.attempt.exhausted",
            OpEvent::AttemptRecovered(..) => "message.attempt.recovered",
        }
    }

    fn endpoint(&self) -> &Endpoint {
        match self {
            OpEvent::EndpointCreated(e)
            | OpEvent::EndpointUpdated(e)
            | OpEvent::EndpointDeleted(e)
            | OpEvent::EndpointDisabled(e, _)
            | OpEvent::AttemptFailing(_, e, _)
            | OpEvent::AttemptExhausted(_, e, _)
            | OpEvent::AttemptRecovered(_, e, _) => e,
        }
    }

    /// The payload, in Svix's shape for this type; `app_uid` is the endpoint's application's.
    pub fn payload(&self, app_uid: Option<&str>) -> Value {
        let ep = self.endpoint();
        let mut data = json!({
            "appId": ep.app_id.as_str(),
            "appUid": app_uid,
            "endpointId": ep.id.as_str(),
        });
        match self {
            OpEvent::EndpointCreated(_)
            | OpEvent::EndpointUpdated(_)
            | OpEvent::EndpointDeleted(_) => {
                data["endpointUid"] = json!(ep.uid);
            }
            OpEvent::EndpointDisabled(_, since) => {
                data["endpointUid"] = json!(ep.uid);
                data["failSince"] = json!(rfc3339(*since));
                data["trigger"] = json!("automatic");
            }
            OpEvent::AttemptFailing(m, _, last)
            | OpEvent::AttemptExhausted(m, _, last)
            | OpEvent::AttemptRecovered(m, _, last) => {
                data["msgId"] = json!(m.id.as_str());
                data["msgEventId"] = json!(m.event_id);
                data["lastAttempt"] = json!(last);
            }
        }
        json!({"type": self.kind(), "data": data})
    }
}

/// Which attempt events an attempt raises: the `nth` of its delivery's tries in a row,
/// `failing_after` the try that raises `failing` (0: never), whether it succeeded and whether
/// the delivery failed for good. `(failing, exhausted, recovered)`.
pub fn attempt_events(
    nth: i64,
    failing_after: i64,
    succeeded: bool,
    failed_for_good: bool,
) -> (bool, bool, bool) {
    let failing = !succeeded && failing_after > 0 && nth == failing_after;
    let exhausted = !succeeded && failed_for_good;
    let recovered = succeeded && failing_after > 0 && nth > failing_after;
    (failing, exhausted, recovered)
}

/// Publishes `event` to the operational endpoints, if there are any; failures are logged, never
/// the caller's concern (the change or attempt it reports has happened).
pub async fn emit(pipeline: &Pipeline, store: &Store, event: OpEvent<'_>) {
    if event.endpoint().app_id.as_str() == OPERATIONAL_APP {
        return;
    }
    if let Err(e) = publish(pipeline, store, &event).await {
        tracing::warn!(event = event.kind(), error = %e, "publishing an operational event failed");
    }
}

async fn publish(
    pipeline: &Pipeline,
    store: &Store,
    event: &OpEvent<'_>,
) -> Result<(), StoreError> {
    let ops = AppId::from_stored(OPERATIONAL_APP.to_string());
    match store.get_app_cached(OPERATIONAL_APP).await {
        Ok(_) => {}
        Err(StoreError::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
    }
    let app_uid = match store.get_app_cached(&event.endpoint().app_id).await {
        Ok(Application { uid, .. }) => uid,
        // The application was deleted since (endpoint.deleted of its last endpoints, say).
        Err(StoreError::NotFound(_)) => None,
        Err(e) => return Err(e),
    };
    let msg = NewMessage {
        event_id: None,
        event_type: event.kind().to_string(),
        payload: event.payload(app_uid.as_deref()).to_string(),
        channels: None,
        tags: None,
        retention_ms: None,
        ordering_key: None,
        deliver_at: None,
    };
    match pipeline.publish(&ops, &msg, None, None).await {
        Ok(_) => {
            pipeline.metrics().operational_events.inc();
            Ok(())
        }
        // Deleted by an operator meanwhile: no operational endpoints, nothing to send.
        Err(StoreError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint {
            id: crate::ids::EndpointId::from_stored("ep_1".into()),
            app_id: AppId::from_stored("app_1".into()),
            uid: Some("ep-uid".into()),
            url: "https://example.com/".into(),
            description: String::new(),
            secret: "whsec_x".to_string().into(),
            old_secrets: Vec::new(),
            event_types: None,
            channels: None,
            disabled: true,
            disabled_reason: None,
            failing_since: None,
            headers: Default::default(),
            metadata: json!({}),
            throttle_rate: None,
            app_throttle_rate: None,
            options: Default::default(),
            client_cert: None,
            loop_detected_at: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn failing_on_the_nth_try_recovered_after_it_exhausted_at_the_end() {
        assert_eq!(attempt_events(3, 4, false, false), (false, false, false));
        assert_eq!(attempt_events(4, 4, false, false), (true, false, false));
        assert_eq!(attempt_events(5, 4, false, false), (false, false, false));
        assert_eq!(attempt_events(4, 4, false, true), (true, true, false));
        assert_eq!(attempt_events(2, 4, false, true), (false, true, false));
        assert_eq!(attempt_events(5, 4, true, false), (false, false, true));
        // A success before any failing event recovers nothing.
        assert_eq!(attempt_events(4, 4, true, false), (false, false, false));
        assert_eq!(attempt_events(9, 0, true, false), (false, false, false));
    }

    #[test]
    fn payloads_have_svixs_shapes() {
        let ep = endpoint();
        assert_eq!(
            OpEvent::EndpointDisabled(&ep, 0).payload(Some("app-uid")),
            json!({"type": "endpoint.disabled", "data": {
                "appId": "app_1", "appUid": "app-uid", "endpointId": "ep_1",
                "endpointUid": "ep-uid", "failSince": "1970-01-01T00:00:00.000Z",
                "trigger": "automatic"}})
        );
        assert_eq!(
            OpEvent::EndpointDeleted(&ep).payload(None),
            json!({"type": "endpoint.deleted", "data": {
                "appId": "app_1", "appUid": null, "endpointId": "ep_1", "endpointUid": "ep-uid"}})
        );
    }
}
