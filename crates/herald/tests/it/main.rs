//! Integration tests: each starts the real Herald on a free port with its own database, and a
//! real HTTP receiver on 127.0.0.1. Every test runs on both backends: `name::sqlite` on a fresh
//! SQLite file, `name::postgres` on a fresh database of the PostgreSQL server named by
//! `HERALD_TEST_POSTGRES_URL` when the tests were built. Without it, the PostgreSQL runs are
//! reported as ignored, each with the reason.

/// Declares tests that run once per backend. Each `name` is an `async fn name()` of the module;
/// the test calls it with the backend set for `helpers::spawn_app` and friends.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    crate::helpers::on_backend(crate::helpers::Backend::Sqlite, super::$name()).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(
                    not(herald_pg),
                    ignore = "PostgreSQL: set HERALD_TEST_POSTGRES_URL (see scripts/pg-test-server) and rebuild"
                )]
                async fn postgres() {
                    crate::helpers::on_backend(crate::helpers::Backend::Postgres, super::$name()).await
                }
            }
        )*
    };
}

mod api;
mod cli;
mod crash;
mod deletion;
mod delivery;
mod examples;
mod formats;
mod fuzz;
mod health;
mod helpers;
mod idempotency;
mod input;
mod jwks;
mod limits;
mod listen;
mod loops;
mod multinode;
mod observability;
mod openapi;
mod ops;
mod ordering;
mod portal;
mod python;
mod races;
mod retention;
mod scheduled;
mod sdk;
mod secrets;
mod shutdown;
mod tenancy;
mod throttle;
mod tokens;
mod transport;
mod verify;
