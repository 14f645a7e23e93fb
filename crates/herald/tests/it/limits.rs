//! What one client can make a node do: list pages are capped in bytes, API requests in number
//! and in time, and readiness says when the database or the group committer is not keeping up.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

/// Big messages: a page of them stops early, with an iterator to go on (the probe saw four
/// concurrent `limit=250` lists of 1 MiB payloads take Herald from 106 to 417 MiB).
async fn a_page_of_large_messages_stops_early() {
    const N: usize = 12;
    let app = spawn_app().await;
    let a = app.create_app("acme").await;
    let blob = "x".repeat(900_000);
    for i in 0..N {
        app.publish(
            &a,
            json!({"eventType": "big", "payload": {"i": i, "blob": blob}}),
        )
        .await;
    }
    let mut seen = HashSet::new();
    let mut iterator: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &iterator {
            Some(it) => format!("/app/{a}/msg?limit=250&iterator={it}"),
            None => format!("/app/{a}/msg?limit=250"),
        };
        let (s, b) = app.get(&path).await;
        assert_eq!(s, 200);
        let data = b["data"].as_array().unwrap();
        assert!(
            !data.is_empty() && data.len() <= 5,
            "a page holds at most 4 MiB of rows, at least one: {}",
            data.len()
        );
        for m in data {
            assert_eq!(m["payload"]["blob"].as_str().map(str::len), Some(900_000));
            assert!(seen.insert(m["id"].as_str().unwrap().to_string()));
        }
        pages += 1;
        if b["done"] == true {
            break;
        }
        iterator = b["iterator"].as_str().map(str::to_string);
    }
    assert_eq!(seen.len(), N, "every message once, over {pages} pages");
    assert!(pages >= 3);
}

/// At most `--max-concurrent-requests` at once (others wait a second, then 503), each within
/// `--api-timeout` (then 503); health checks are not counted.
async fn api_requests_are_bounded_in_number_and_time() {
    let app = spawn_app_with(|c| {
        c.max_concurrent_requests = 2;
        c.api_timeout = Duration::from_secs(2);
    })
    .await;
    let a = app.create_app("acme").await;
    let lock = app.hold_writes().await;
    // Two publishes hang in the committer, holding both turns.
    let hung: Vec<_> = (0..2)
        .map(|i| {
            let (c, url) = (app.client.clone(), app.url(&format!("/app/{a}/msg")));
            tokio::spawn(async move {
                let started = Instant::now();
                let r = c
                    .post(url)
                    .bearer_auth(TOKEN)
                    .json(&json!({"eventType": "x.y", "payload": {"i": i}}))
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let b: Value = r.json().await.unwrap();
                (status, b, started.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let r = app
        .client
        .get(app.url("/app"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503, "no turn left");
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["code"], "overloaded", "{b}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "it waited for a turn"
    );
    let r = app
        .client
        .get(app.url("/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204, "health is not counted");
    for h in hung {
        let (s, b, took) = h.await.unwrap();
        assert_eq!((s, b["code"].as_str()), (503, Some("timeout")), "{b}");
        assert!(
            took < Duration::from_secs(4),
            "answered at the timeout: {took:?}"
        );
    }
    lock.release().await;
    // The hung publishes still complete (their timeout stopped the wait, not the work).
    eventually("the hung publishes", Duration::from_secs(15), || async {
        let (_, b) = app.get(&format!("/app/{a}/msg")).await;
        (b["data"].as_array().unwrap().len() == 2).then_some(())
    })
    .await;
    app.publish(&a, json!({"eventType": "x.y", "payload": {}}))
        .await;
}

async fn readiness_reports_a_stuck_committer() {
    let app = spawn_app().await;
    let a = app.create_app("acme").await;
    let health = |path: &'static str| {
        let (c, url) = (app.client.clone(), app.url(path));
        async move {
            let r = c.get(url).send().await.unwrap();
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(health("/health").await.0, 204);
    let lock = app.hold_writes().await;
    let (c, url) = (app.client.clone(), app.url(&format!("/app/{a}/msg")));
    let publish = tokio::spawn(async move {
        c.post(url)
            .bearer_auth(TOKEN)
            .json(&json!({"eventType": "x.y", "payload": {}}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    let b = eventually("readiness failing", Duration::from_secs(10), || async {
        let (s, b) = health("/health").await;
        (s == 503).then_some(b)
    })
    .await;
    assert_eq!(b["code"], "not_ready", "{b}");
    assert_ne!(b["checks"]["committer"], "ok", "{b}");
    assert_eq!(b["checks"]["database"], "ok", "{b}");
    assert_eq!(health("/health/live").await.0, 204, "liveness stays cheap");
    lock.release().await;
    assert_eq!(publish.await.unwrap(), 202, "the publish went through");
    eventually("ready again", Duration::from_secs(10), || async {
        (health("/health/ready").await.0 == 204).then_some(())
    })
    .await;
}

backend_tests!(
    a_page_of_large_messages_stops_early,
    api_requests_are_bounded_in_number_and_time,
    readiness_reports_a_stuck_committer,
);

/// PostgreSQL out of reach: readiness says the database fails, and recovers with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(herald_pg),
    ignore = "PostgreSQL: set HERALD_TEST_POSTGRES_URL (see scripts/pg-test-server) and rebuild"
)]
async fn readiness_reports_an_unreachable_database() {
    use sqlx::Connection;
    let app = on_backend(Backend::Postgres, spawn_app()).await;
    let db = url::Url::parse(&app.db_url).unwrap().path()[1..].to_string();
    let mut admin = sqlx::PgConnection::connect(&postgres_admin_url())
        .await
        .unwrap();
    let run = |sql: String| sqlx::raw_sql(sqlx::AssertSqlSafe(sql));
    // Every connection of the node dropped by the server (a failover, a restart): the next
    // publish goes through on new ones, not a 500.
    let a = app.create_app("before").await;
    run(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.publish(&a, json!({"eventType": "x.y", "payload": {}}))
        .await;
    run(format!(
        "ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false;
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    let b = eventually("readiness failing", Duration::from_secs(10), || async {
        let r = app.client.get(app.url("/health")).send().await.unwrap();
        (r.status().as_u16() == 503).then_some(r.json::<Value>().await.unwrap())
    })
    .await;
    assert_ne!(b["checks"]["database"], "ok", "{b}");
    run(format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS true"))
        .execute(&mut admin)
        .await
        .unwrap();
    // The first publish after the outage goes through: the committer's dropped connection is
    // replaced, not reported as a 500 (readiness has not been asked since, so nothing else
    // replaced it first).
    let a = eventually("the API again", Duration::from_secs(15), || async {
        let (s, b) = app.post("/app", json!({"name": "after"})).await;
        (s == 201).then(|| b["id"].as_str().unwrap().to_string())
    })
    .await;
    app.publish(&a, json!({"eventType": "x.y", "payload": {}}))
        .await;
    eventually("ready again", Duration::from_secs(15), || async {
        let r = app.client.get(app.url("/health")).send().await.unwrap();
        (r.status().as_u16() == 204).then_some(())
    })
    .await;
}
