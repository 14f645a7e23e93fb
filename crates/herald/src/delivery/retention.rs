//! The retention job: expires payloads, deletes old attempts. Every node runs it (its steps
//! are idempotent); each step is one small batch statement (`store::retention`), with a pause
//! between batches, so publishes are never held up for long behind it.

use std::time::Duration;

use super::pipeline::Pipeline;
use crate::clock::now_ms;
use crate::store::{Store, StoreError};

/// Rows per statement.
pub const BATCH: i64 = 500;
/// The pause between batches while there is a backlog: the writer (SQLite) or the rows
/// (PostgreSQL) are free for publishes in between.
const BETWEEN_BATCHES: Duration = Duration::from_millis(20);
/// How often the job looks for work when it found none.
const IDLE: Duration = Duration::from_secs(1);

/// Runs until cancelled.
pub async fn run(store: Store, pipeline: Pipeline, attempt_retention: Duration) {
    loop {
        match step(&store, &pipeline, attempt_retention).await {
            Ok(true) => tokio::time::sleep(BETWEEN_BATCHES).await,
            Ok(false) => tokio::time::sleep(IDLE).await,
            Err(e) => {
                tracing::warn!(error = %e, "retention: a batch failed");
                tokio::time::sleep(IDLE).await;
            }
        }
    }
}

/// One batch of each kind; true if either was full (more is waiting).
pub async fn step(
    store: &Store,
    pipeline: &Pipeline,
    attempt_retention: Duration,
) -> Result<bool, StoreError> {
    let now = now_ms();
    let expired = store.expire_payloads(now, BATCH).await?;
    for id in &expired {
        // A copy in memory must not be delivered after its payload expired.
        pipeline.forget(id);
    }
    let before = now - attempt_retention.as_millis() as i64;
    let deleted = store.delete_attempts_before(before, BATCH).await?;
    if !expired.is_empty() || deleted > 0 {
        tracing::debug!(
            expunged = expired.len(),
            attempts_deleted = deleted,
            "retention"
        );
    }
    Ok(expired.len() as i64 == BATCH || deleted as i64 == BATCH)
}
