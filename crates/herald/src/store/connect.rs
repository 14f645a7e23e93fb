//! Opening a store: pools, pragmas, migrations, and the group committer's own connection.

use std::str::FromStr;
use std::time::Duration;

use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::db::{Db, q};
use super::lite::{self, Lite};
use super::{Cipher, Store, StoreError, StoreResult, migrate, nodelay};

/// PostgreSQL connections per node: the committer, the dispatcher's claims and the API's reads.
pub(super) const PG_POOL_SIZE: u32 = 16;

impl Store {
    /// Opens the database at `url` (`sqlite:PATH`, `sqlite://PATH` or `postgres://...`), creating
    /// a SQLite file if missing, and brings its schema up to date.
    /// `cipher` seals secrets and response bodies at rest (see `sealed.rs`).
    pub async fn connect(url: &str, cipher: Option<Cipher>) -> StoreResult<Self> {
        let (db, commit_db) = if url.starts_with("sqlite:") {
            let db = open_sqlite(url).await?;
            (db.clone(), db)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            open_postgres(url).await?
        } else {
            return Err(StoreError::Url(url.to_string()));
        };
        Ok(Store {
            db,
            writer_db: commit_db,
            app_cache: Default::default(),
            node: format!("{:016x}", fastrand::u64(..)).into(),
            cipher: cipher.map(Arc::new),
        })
    }
}

async fn open_sqlite(url: &str) -> StoreResult<Db> {
    let path = lite::path_of(url)?;
    let db = Db::Sqlite(Arc::new(lite::blocking(move || Lite::open(&path)).await??));
    migrate::run(&db).await?;
    // One process owns a SQLite file (`Lite::open` locks it), so every lease in it is a dead
    // process's: its deliveries are due at once, not when their leases run out.
    let n = db
        .exec(q(
            "UPDATE deliveries SET status = 1, lease_until = NULL, lease_token = NULL
             WHERE status = 3",
        ))
        .await?;
    if n > 0 {
        tracing::info!(
            deliveries = n,
            "requeued deliveries in flight at the last stop"
        );
    }
    Ok(db)
}

/// The node's pool, and the group committer's own connection: always the same server process,
/// warm, with the batch statement prepared.
async fn open_postgres(url: &str) -> StoreResult<(Db, Db)> {
    let opts = PgConnectOptions::from_str(url)?.application_name("herald");
    // Each new connection gets TCP_NODELAY (see `nodelay`; a Unix socket has no Nagle).
    let tcp = (opts.get_socket().is_none() && !opts.get_host().starts_with('/'))
        .then(|| Arc::<str>::from(opts.get_host()));
    let port = opts.get_port();
    let pool = |size| {
        let tcp = tcp.clone();
        PgPoolOptions::new()
            .max_connections(size)
            .acquire_timeout(Duration::from_secs(60))
            // Not a ping (a round trip) before every statement: a broken connection fails its
            // statement, which the caller retries or reports, and the pool replaces it.
            .test_before_acquire(false)
            .after_connect(move |_, _| {
                let tcp = tcp.clone();
                Box::pin(async move {
                    if let Some(host) = tcp {
                        no_delay(&host, port).await;
                    }
                    Ok(())
                })
            })
    };
    let db = Db::Postgres(pool(PG_POOL_SIZE).connect_with(opts.clone()).await?);
    migrate::run(&db).await?;
    // Its statements are the same few whatever the batch; planning each run anew (PostgreSQL's
    // custom plans for the first runs, and whenever it judges them cheaper) cost more than the
    // batch's inserts (0.9 ms in EXPLAIN ANALYZE). They look rows up by key, a few hundred at
    // most, for which nested loops over indexes are right at any table size; a plan made from
    // the statistics of a new, still empty table chose sequential scans and hash joins instead,
    // and kept them as the table grew (PostgreSQL analyzes it only now and then).
    let committer = Db::Postgres(
        pool(1)
            .connect_with(opts.options([
                ("plan_cache_mode", "force_generic_plan"),
                ("enable_seqscan", "off"),
                ("enable_bitmapscan", "off"),
                ("enable_hashjoin", "off"),
                ("enable_mergejoin", "off"),
            ]))
            .await?,
    );
    Ok((db, committer))
}

/// Sets TCP_NODELAY on the connections to the database server at `host:port`, the one just made
/// among them; warns, once, when there is none to set it on.
async fn no_delay(host: &str, port: u16) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    match nodelay::set_on_connections_to(host, port).await {
        Some(0) => WARNED.call_once(|| {
            tracing::warn!(
                host,
                port,
                "found no TCP connection to the database to set TCP_NODELAY on: over TLS, \
                 statements of more than 16 KiB may wait 40 ms for delayed ACKs"
            )
        }),
        Some(n) => tracing::debug!(connections = n, "TCP_NODELAY on the database connections"),
        None => {}
    }
}
