//! What the dispatcher does after recording an attempt, beyond the delivery itself: keeps the
//! endpoint's run of failures in the database (`health.rs` decides, this carries it out) and
//! disables an endpoint that has failed for `--disable-after` with no success in between;
//! raises the operational events of endpoints and attempts (`ops.rs`).
//! Its later messages are stored skipped (fan-out and claims skip disabled endpoints), so
//! `recover` and `replay-missing` bring them back once it is enabled again.

use super::dispatcher::Dispatcher;
use super::fanout::Work;
use super::health::OnFailure;
use super::ops::{self, LastAttempt, OpEvent};
use crate::clock::now_ms;
use crate::model::{Attempt, Endpoint};
use crate::store::{DisableStep, NextStep};

impl Dispatcher {
    /// After an attempt of `ep` that succeeded or not.
    pub(super) async fn watch_health(&self, ep: &Endpoint, succeeded: bool) {
        if let Err(e) = self.health_step(ep, succeeded).await {
            tracing::warn!(endpoint = %ep.id, error = %e, "keeping the endpoint's health failed");
        }
    }

    async fn health_step(
        &self,
        ep: &Endpoint,
        succeeded: bool,
    ) -> Result<(), crate::store::StoreError> {
        let now = now_ms();
        if succeeded {
            if self.health().succeeded(&ep.id, ep.failing_since) {
                self.store.note_endpoint_success(&ep.id).await?;
            }
            return Ok(());
        }
        let mut step = self.health().failed(&ep.id, now);
        if step == OnFailure::Record {
            let since = self.store.note_endpoint_failure(&ep.id, now).await?;
            step = self.health().recorded(&ep.id, since, now);
        }
        let OnFailure::Disable { since } = step else {
            return Ok(());
        };
        let reason = format!(
            "every delivery failed for {} (--disable-after), since {}",
            humane(now - since),
            crate::clock::rfc3339(since)
        );
        let cutoff = self.health().cutoff(now);
        match self
            .store
            .disable_failing_endpoint(&ep.id, cutoff, since, &reason, now)
            .await?
        {
            DisableStep::Disabled { failing_since } => {
                self.health().settled(&ep.id, None);
                self.pipeline.metrics().endpoints_disabled.inc();
                tracing::warn!(endpoint = %ep.id, failing_since, "endpoint disabled: {reason}");
                self.endpoint_disabled(ep, failing_since).await;
            }
            DisableStep::StillFailing(since) => self.health().settled(&ep.id, since),
            DisableStep::NotEnabled => self.health().settled(&ep.id, None),
        }
        Ok(())
    }

    /// `endpoint.disabled`, for operational webhooks.
    pub(super) async fn endpoint_disabled(&self, ep: &Endpoint, failing_since: i64) {
        ops::emit(
            &self.pipeline,
            &self.store,
            OpEvent::EndpointDisabled(ep, failing_since),
        )
        .await;
    }

    /// The operational events an attempt raises (`message.attempt.failing`, `.exhausted`,
    /// `.recovered`).
    pub(super) async fn attempt_events(&self, job: &Work, attempt: &Attempt, next: NextStep) {
        let nth = job.claimed.tries + 1;
        let succeeded = matches!(next, NextStep::Delivered);
        let failed = matches!(next, NextStep::Failed);
        let (failing, exhausted, recovered) =
            ops::attempt_events(nth, self.failing_event_after, succeeded, failed);
        if !(failing || exhausted || recovered) {
            return;
        }
        let last = || LastAttempt {
            id: attempt.id.to_string(),
            timestamp: crate::clock::rfc3339(attempt.created_at),
            response_status_code: attempt.status_code,
        };
        let (m, e) = (&*job.msg, &*job.ep);
        if failing {
            ops::emit(
                &self.pipeline,
                &self.store,
                OpEvent::AttemptFailing(m, e, last()),
            )
            .await;
        }
        if exhausted {
            ops::emit(
                &self.pipeline,
                &self.store,
                OpEvent::AttemptExhausted(m, e, last()),
            )
            .await;
        }
        if recovered {
            ops::emit(
                &self.pipeline,
                &self.store,
                OpEvent::AttemptRecovered(m, e, last()),
            )
            .await;
        }
    }
}

/// A duration in milliseconds as the largest whole unit: `5d`, `12h`, `3s`.
fn humane(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        _ if s >= 86_400 => format!("{}d", s / 86_400),
        _ if s >= 3600 => format!("{}h", s / 3600),
        _ if s >= 60 => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_in_their_largest_unit() {
        assert_eq!(super::humane(3_200), "3s");
        assert_eq!(super::humane(125_000), "2m");
        assert_eq!(super::humane(5 * 86_400_000 + 5), "5d");
    }
}
