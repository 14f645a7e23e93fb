//! Cross-node wake-ups on PostgreSQL: every node LISTENs on one channel, and a commit that queues
//! work NOTIFYs it, so an idle node starts on new messages at once instead of at its next poll.
//! The dispatcher's periodic poll stays as the fallback for a lost connection.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::Notify;

use super::Store;
use super::db::{Db, WAKE_CHANNEL};

impl Store {
    /// Wakes `wake` whenever any node queues work. Returns at once on SQLite, where all work is
    /// queued by this process (which wakes its dispatcher directly).
    pub async fn forward_wakeups(&self, wake: Arc<Notify>) {
        let Db::Postgres(pool) = &self.db else {
            return;
        };
        loop {
            match PgListener::connect_with(pool).await {
                Ok(mut listener) => {
                    if let Err(e) = listener.listen(WAKE_CHANNEL).await {
                        tracing::warn!(error = %e, "LISTEN failed");
                    } else {
                        loop {
                            match listener.recv().await {
                                // This node's own, about work it already knows of.
                                Ok(n) if n.payload() == &*self.node => {}
                                Ok(_) => wake.notify_one(),
                                Err(e) => {
                                    tracing::warn!(error = %e, "lost the LISTEN connection");
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot open a LISTEN connection"),
            }
            // Work queued meanwhile is found by the dispatcher's poll.
            wake.notify_one();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}
