//! Endpoint health in the database: when each endpoint's current run of failures began
//! (`endpoints.failing_since`), shared by every node, and the conditional step that disables an
//! endpoint failing for too long. Deciding when to take these steps is the dispatcher's
//! (`delivery/health.rs`).

use super::db::q;
use super::{Store, StoreResult};
use crate::ids::{AttemptId, EndpointId};
use crate::model::AttemptStatus;

/// What [`Store::disable_failing_endpoint`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisableStep {
    /// Disabled now; its run of failures began then.
    Disabled { failing_since: i64 },
    /// Not failing for long enough as the database sees it (another node recorded a success,
    /// or someone re-enabled it): its run of failures begins at this time, if at all.
    StillFailing(Option<i64>),
    /// Disabled already, or gone.
    NotEnabled,
}

impl Store {
    /// Records a failed attempt of `endpoint` at `at`: its run of failures begins then unless it
    /// had begun already. Returns when it began (None if the endpoint is gone).
    pub async fn note_endpoint_failure(
        &self,
        endpoint: &EndpointId,
        at: i64,
    ) -> StoreResult<Option<i64>> {
        let rows = self
            .db
            .exec_rows(
                q(
                    "UPDATE endpoints SET failing_since = COALESCE(failing_since, ?)
                   WHERE id = ? RETURNING failing_since",
                )
                .bind(at)
                .bind(endpoint),
            )
            .await?;
        match rows.first() {
            Some(r) => r.opt_i64("failing_since"),
            None => Ok(None),
        }
    }

    /// Records a successful attempt: the endpoint's run of failures, if any, is over.
    pub async fn note_endpoint_success(&self, endpoint: &EndpointId) -> StoreResult<()> {
        self.db
            .exec(
                q("UPDATE endpoints SET failing_since = NULL
                   WHERE id = ? AND failing_since IS NOT NULL")
                .bind(endpoint),
            )
            .await?;
        Ok(())
    }

    /// Disables `endpoint` with `reason` if, as the database sees it now, it is enabled, its run
    /// of failures began at or before `cutoff`, and no attempt of it has succeeded since
    /// `known_since` (a success another node recorded without clearing the run, having read the
    /// endpoint before the run began). The attempts are searched from the first id that can be
    /// that late (ids are time-ordered), so the check reads only the run's attempts.
    pub async fn disable_failing_endpoint(
        &self,
        endpoint: &EndpointId,
        cutoff: i64,
        known_since: i64,
        reason: &str,
        now: i64,
    ) -> StoreResult<DisableStep> {
        let floor = AttemptId::floor(known_since);
        let success = AttemptStatus::Success.code();
        let disabled = self
            .db
            .exec_rows(
                q(
                    "UPDATE endpoints SET disabled = 1, disabled_reason = ?, updated_at = ?
                   WHERE id = ? AND disabled = 0 AND failing_since IS NOT NULL
                     AND failing_since <= ?
                     AND NOT EXISTS (SELECT 1 FROM attempts
                                     WHERE endpoint_id = ? AND id >= ? AND status = ?)
                   RETURNING failing_since",
                )
                .bind(reason)
                .bind(now)
                .bind(endpoint)
                .bind(cutoff)
                .bind(endpoint)
                .bind(floor.as_str())
                .bind(success),
            )
            .await?;
        if let Some(r) = disabled.first() {
            return Ok(DisableStep::Disabled {
                failing_since: r.i64("failing_since")?,
            });
        }
        // Not disabled: the run as the database has it, restarted now if a success ended it
        // unseen (so the next failures do not try again at once).
        let row = self
            .db
            .opt(q("SELECT disabled, failing_since FROM endpoints WHERE id = ?").bind(endpoint))
            .await?;
        let Some(row) = row else {
            return Ok(DisableStep::NotEnabled);
        };
        if row.i64("disabled")? != 0 {
            return Ok(DisableStep::NotEnabled);
        }
        match row.opt_i64("failing_since")? {
            Some(since) if since <= cutoff => {
                self.db
                    .exec(
                        q("UPDATE endpoints SET failing_since = ?
                           WHERE id = ? AND failing_since = ?")
                        .bind(now)
                        .bind(endpoint)
                        .bind(since),
                    )
                    .await?;
                Ok(DisableStep::StillFailing(Some(now)))
            }
            other => Ok(DisableStep::StillFailing(other)),
        }
    }
}
