//! One attempt of a delivery: make sure the lease outlasts it, render the request in the
//! endpoint's format, send it, classify the outcome into the delivery's next state, and record
//! the attempt with that state (through the group committer). A 410 Gone disables the endpoint.

use std::time::Duration;

use tracing::Instrument;

use super::aimd::Answer;
use super::dispatcher::{Dispatcher, LEASE_MARGIN};
use super::fanout::Work;
use super::schedule;
use crate::clock::now_ms;
use crate::formats;
use crate::ids;
use crate::metrics;
use crate::model::{Attempt, AttemptStatus, DeliveryStatus, Endpoint, Message};
use crate::net::client::{DEFAULT_USER_AGENT, Outcome};
use crate::store::{Claimed, NextStep};

impl Dispatcher {
    /// Makes sure the lease outlasts the request about to be sent: a job that waited in its
    /// lane's queue, or whose endpoint has a longer timeout, extends it first. False if the lease
    /// was lost meanwhile (it expired and was reclaimed): the delivery is not ours to send.
    pub(super) async fn lease_held(&self, job: &mut Work) -> bool {
        let timeout = self.timeout_of(&job.ep);
        let needed = now_ms() + (timeout + LEASE_MARGIN / 2).as_millis() as i64;
        if needed <= job.lease_until {
            return true;
        }
        let until = now_ms() + (timeout + LEASE_MARGIN).as_millis() as i64;
        match self.store.extend_lease(&job.claimed, until).await {
            Ok(true) => {
                job.lease_until = until;
                true
            }
            Ok(false) => false,
            Err(e) => {
                tracing::warn!(error = %e, "extending a lease failed");
                false
            }
        }
    }

    /// One attempt of `job`: send, record. Returns how the endpoint answered. Its log lines
    /// carry the message's, endpoint's and attempt's ids (a span).
    pub(super) async fn attempt(&self, job: &Work) -> Answer {
        let id = ids::AttemptId::new();
        let span = tracing::info_span!(
            "attempt",
            msg_id = %job.claimed.msg_id,
            endpoint_id = %job.claimed.endpoint_id,
            attempt_id = %id,
        );
        let m = self.pipeline.metrics().clone();
        m.in_flight.inc();
        let answer = self.attempt_as(job, id).instrument(span).await;
        m.in_flight.dec();
        answer
    }

    async fn attempt_as(&self, job: &Work, id: ids::AttemptId) -> Answer {
        let (c, msg, ep) = (&job.claimed, &job.msg, &job.ep);
        let started = now_ms();
        let outcome = match &msg.payload {
            None => Outcome {
                status_code: 0,
                body: None,
                error: Some("the message payload was expunged".into()),
                duration: Duration::ZERO,
                retry_after: None,
            },
            Some(payload) => {
                let (body, headers) = build_request(msg, payload, ep, started);
                let send = self.client.send(
                    &ep.url,
                    &headers,
                    body,
                    self.timeout_of(ep),
                    ep.client_cert.as_deref(),
                );
                tokio::select! {
                    o = send => o,
                    _ = self.cut.cancelled() => {
                        self.abandon(c).await;
                        return Answer::Other;
                    }
                }
            }
        };
        let next = if msg.payload.is_none() {
            // Expunged: nothing to send, ever (a scheduled message is cancelled this way).
            NextStep::Failed
        } else {
            self.next_step(c, ep, &outcome)
        };
        let mut error = outcome.error.clone();
        if c.ordered && matches!(next, NextStep::Failed) {
            // The skip is visible in the attempt log: the key goes on without it.
            let note = "retries exhausted: skipped in its ordering key, later messages go on";
            error = Some(match error {
                Some(e) => format!("{e}; {note}"),
                None => format!("HTTP {}; {note}", outcome.status_code),
            });
        }
        self.pipeline.metrics().attempt(
            &ep.id,
            outcome.status_code,
            outcome.duration,
            match next {
                NextStep::Delivered => metrics::Outcome::Success,
                NextStep::RetryAt(_) => metrics::Outcome::Retry,
                NextStep::Failed if outcome.status_code == 410 => metrics::Outcome::Failed,
                NextStep::Failed => metrics::Outcome::Exhausted,
            },
            Duration::from_millis((now_ms() - msg.created_at).max(0) as u64),
        );
        tracing::debug!(
            status = outcome.status_code,
            duration_ms = outcome.duration.as_millis() as u64,
            error = outcome.error.as_deref(),
            "attempt finished"
        );
        let attempt = Attempt {
            id,
            app_id: c.app_id.clone(),
            msg_id: c.msg_id.clone(),
            endpoint_id: c.endpoint_id.clone(),
            url: ep.url.clone(),
            status: if outcome.success() {
                AttemptStatus::Success
            } else {
                AttemptStatus::Failed
            },
            status_code: outcome.status_code as i64,
            response: outcome.body.clone().or_else(|| outcome.error.clone()),
            duration_ms: outcome.duration.as_millis() as i64,
            error,
            trigger: c.trigger,
            created_at: started,
        };
        match self.pipeline.finish(c, &attempt, next).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(delivery = %c.delivery_id, "lease lost before the attempt was recorded")
            }
            Err(e) => {
                tracing::error!(delivery = %c.delivery_id, error = %e, "recording an attempt failed")
            }
        }
        // An expunged payload is no fault of the endpoint's.
        if msg.payload.is_some() {
            self.watch_health(ep, outcome.success()).await;
        }
        self.attempt_events(job, &attempt, next).await;
        if outcome.status_code == 410 {
            let reason = "the endpoint answered 410 Gone";
            match self.store.disable_endpoint(&ep.id, reason).await {
                Ok(()) => {
                    self.pipeline.metrics().endpoints_disabled.inc();
                    tracing::info!(endpoint = %ep.id, "endpoint disabled: {reason}");
                    let since = ep.failing_since.unwrap_or(started);
                    self.endpoint_disabled(ep, since).await;
                }
                Err(e) => {
                    tracing::error!(endpoint = %ep.id, error = %e, "disabling a gone endpoint failed")
                }
            }
        }
        Answer::of_status(outcome.status_code)
    }

    /// How the delivery goes on after `outcome`: done, a retry on the endpoint's schedule (or
    /// the server's), or failed for good (the schedule is exhausted, or the endpoint is gone).
    fn next_step(&self, c: &Claimed, ep: &Endpoint, outcome: &Outcome) -> NextStep {
        if outcome.success() {
            return NextStep::Delivered;
        }
        if outcome.status_code == 410 {
            return NextStep::Failed;
        }
        let schedule = ep
            .options
            .retry_schedule
            .as_deref()
            .unwrap_or(&self.schedule);
        match schedule::next_delay_ms(schedule, c.tries + 1) {
            None => NextStep::Failed,
            Some(delay) => {
                NextStep::RetryAt(now_ms() + honour_retry_after(schedule, outcome, delay))
            }
        }
    }

    /// Shutdown ran out of time during this request: no attempt to record, and the delivery is
    /// due again at once (for another node, or this one's restart).
    async fn abandon(&self, c: &Claimed) {
        let released = self
            .store
            .release_many(std::slice::from_ref(c), now_ms(), DeliveryStatus::Pending)
            .await;
        if let Err(e) = released {
            tracing::warn!(delivery = %c.delivery_id, error = %e, "releasing an abandoned delivery failed");
        }
    }
}

/// A `Retry-After` on 429 or 503 delays the retry to at least that long, capped at the largest
/// gap of the schedule.
fn honour_retry_after(schedule: &[u64], o: &Outcome, delay_ms: i64) -> i64 {
    match (o.status_code, o.retry_after) {
        (429 | 503, Some(secs)) => {
            let cap = schedule.iter().copied().max().unwrap_or(0) as i64 * 1000;
            delay_ms.max((secs as i64 * 1000).min(cap))
        }
        _ => delay_ms,
    }
}

/// The body and headers of a delivery request: the endpoint's own headers, then Herald's
/// (which win), then the format's signature headers.
fn build_request(
    msg: &Message,
    payload: &str,
    ep: &Endpoint,
    now: i64,
) -> (Vec<u8>, Vec<(String, String)>) {
    let created_at = crate::clock::rfc3339(msg.created_at);
    let secrets = ep.signing_secrets(now);
    let rendered = formats::render(
        &formats::Outgoing {
            msg_id: &msg.id,
            event_id: msg.event_id.as_deref(),
            created_at: &created_at,
            payload,
            timestamp: now / 1000,
        },
        &formats::Signing {
            format: ep.options.format,
            secrets: &secrets,
            header: ep.options.signature_header.as_deref(),
            prefix: ep.options.signature_prefix.as_deref(),
        },
    );
    let mut h: Vec<(String, String)> = ep
        .headers
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.to_ascii_lowercase(), v.to_string())))
        .collect();
    h.push(("content-type".into(), "application/json".into()));
    let ua = ep
        .options
        .user_agent
        .as_deref()
        .unwrap_or(DEFAULT_USER_AGENT);
    h.push(("user-agent".into(), ua.to_string()));
    // A receiver that publishes in reaction echoes this on its publish, so that a loop through
    // this endpoint is seen (see `loops.rs`).
    h.push((
        super::loops::CAUSED_BY.into(),
        super::loops::caused_by(&ep.id, &msg.id),
    ));
    h.extend(rendered.headers);
    (rendered.body, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: u16, retry_after: Option<u64>) -> Outcome {
        Outcome {
            status_code: status,
            body: None,
            error: None,
            duration: Duration::ZERO,
            retry_after,
        }
    }

    #[test]
    fn retry_after_is_honoured_on_429_and_503_up_to_the_largest_gap() {
        let schedule = [5, 60];
        assert_eq!(
            honour_retry_after(&schedule, &outcome(429, Some(30)), 5000),
            30_000
        );
        assert_eq!(
            honour_retry_after(&schedule, &outcome(503, Some(3600)), 5000),
            60_000
        );
        assert_eq!(
            honour_retry_after(&schedule, &outcome(500, Some(30)), 5000),
            5000
        );
        assert_eq!(
            honour_retry_after(&schedule, &outcome(429, Some(1)), 5000),
            5000
        );
    }
}
