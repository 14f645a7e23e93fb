//! Schema migrations, embedded in the binary, one list per backend: each runs once, in order,
//! inside a transaction, and is recorded in `herald_migrations`. On PostgreSQL an advisory lock
//! makes nodes that start together take turns.

use super::StoreResult;
use super::db::{Db, q};

/// `(version, SQL)`, in order. Never edit a released migration: add a new one (to both lists when
/// the change concerns both backends; PostgreSQL's 3 has no SQLite counterpart, so the numbers
/// differ from there on).
const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/sqlite/0002_due_index.sql"),
    ),
    (
        3,
        include_str!("../../migrations/sqlite/0003_event_ids.sql"),
    ),
    (
        4,
        include_str!("../../migrations/sqlite/0004_idempotency_claims.sql"),
    ),
    (
        5,
        include_str!("../../migrations/sqlite/0005_operator_tokens.sql"),
    ),
    (
        6,
        include_str!("../../migrations/sqlite/0006_delivery_control.sql"),
    ),
    (
        7,
        include_str!("../../migrations/sqlite/0007_operations.sql"),
    ),
];
const POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/postgres/0002_due_index.sql"),
    ),
    (
        3,
        include_str!("../../migrations/postgres/0003_hot_foreign_keys.sql"),
    ),
    (
        4,
        include_str!("../../migrations/postgres/0004_event_ids.sql"),
    ),
    (
        5,
        include_str!("../../migrations/postgres/0005_idempotency_claims.sql"),
    ),
    (
        6,
        include_str!("../../migrations/postgres/0006_operator_tokens.sql"),
    ),
    (
        7,
        include_str!("../../migrations/postgres/0007_delivery_control.sql"),
    ),
    (
        8,
        include_str!("../../migrations/postgres/0008_operations.sql"),
    ),
];

/// Any constant: the key of the advisory lock migrations hold on PostgreSQL.
const PG_MIGRATION_LOCK: i64 = 0x6865_7261_6c64;

pub(super) async fn run(db: &Db) -> StoreResult<()> {
    let list = if db.is_pg() { POSTGRES } else { SQLITE };
    for (version, sql) in list {
        let mut tx = db.begin().await?;
        if db.is_pg() {
            tx.exec(q("SELECT pg_advisory_xact_lock(?)").bind(PG_MIGRATION_LOCK))
                .await?;
        }
        tx.exec(q(
            "CREATE TABLE IF NOT EXISTS herald_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        ))
        .await?;
        let done = tx
            .opt(q("SELECT version FROM herald_migrations WHERE version = ?").bind(*version))
            .await?;
        if done.is_some() {
            tx.rollback().await?;
            continue;
        }
        tx.script(sql).await?;
        tx.exec(
            q("INSERT INTO herald_migrations (version, applied_at) VALUES (?, ?)")
                .bind(*version)
                .bind(crate::clock::now_ms()),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}
