//! Throttles shared by the nodes (PostgreSQL): each rate-limited key's theoretical arrival time
//! (GCRA, see `delivery/throttle.rs`), moved on atomically by the node that takes a send slot.

use super::db::q;
use super::{Store, StoreResult};

impl Store {
    /// Whether throttle slots are taken here (several nodes share the database), rather than
    /// counted in memory by the one node (SQLite).
    pub fn throttles_shared(&self) -> bool {
        self.db.is_pg()
    }

    /// Takes the next send slot of `key` at or after `now_us`, `interval_us` after the previous
    /// one: one upsert, atomic across nodes (the row lock orders concurrent takers). Returns the
    /// slot, in microseconds.
    pub async fn take_throttle_slot(
        &self,
        key: &str,
        interval_us: i64,
        now_us: i64,
    ) -> StoreResult<i64> {
        let greatest = if self.db.is_pg() { "GREATEST" } else { "MAX" };
        let rows = self
            .db
            .exec_rows(
                q(&format!(
                    "INSERT INTO throttles (key, tat) VALUES (?, ?)
                     ON CONFLICT (key) DO UPDATE SET tat = {greatest}(throttles.tat, ?) + ?
                     RETURNING tat"
                ))
                .bind(key)
                .bind(now_us + interval_us)
                .bind(now_us)
                .bind(interval_us),
            )
            .await?;
        let tat = match rows.first() {
            Some(r) => r.i64("tat")?,
            None => now_us + interval_us,
        };
        Ok(tat - interval_us)
    }

    /// Forgets throttles whose time has passed (an idle key's row is as good as none).
    pub async fn prune_throttles(&self, now_us: i64) -> StoreResult<u64> {
        self.db
            .exec(q("DELETE FROM throttles WHERE tat < ?").bind(now_us))
            .await
    }
}
