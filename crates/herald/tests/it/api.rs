//! The management API: shapes, validation, auth, idempotency, pagination.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

async fn wrong_or_missing_token_is_401() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/app")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = app
        .client
        .get(app.url("/app"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let body: Value = r.json().await.unwrap();
    assert!(body["code"].is_string() && body["detail"].is_string());
    // Health needs no token.
    let r = app.client.get(app.url("/health")).send().await.unwrap();
    assert!(r.status().is_success());
}

async fn bad_input_gets_clear_4xx() {
    let app = spawn_app().await;
    let a = app.create_app("acme").await;
    let send = |body: &'static str| {
        app.client
            .post(app.url(&format!("/app/{a}/msg")))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    // Malformed JSON.
    let r = send(r#"{"eventType": "x.y", "payload": {"#).await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["code"], "invalid_json");
    // A payload that is not an object.
    let r = send(r#"{"eventType": "x.y", "payload": [1, 2]}"#)
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["detail"][0]["loc"], json!(["body", "payload"]));
    // A missing field is named.
    let r = send(r#"{"payload": {}}"#).await.unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["detail"][0]["loc"], json!(["body", "eventType"]));
    // A wrongly typed field is named.
    let r = send(r#"{"eventType": 5, "payload": {}}"#).await.unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["detail"][0]["loc"], json!(["body", "eventType"]));
    // A bad event type name.
    let r = send(r#"{"eventType": "no spaces", "payload": {}}"#)
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);

    // Bad URLs.
    for url in ["not a url", "ftp://example.com/x", "http://", "/relative"] {
        let (s, b) = app
            .post(&format!("/app/{a}/endpoint"), json!({"url": url}))
            .await;
        assert_eq!(s, 422, "{url}: {b}");
        assert_eq!(b["detail"][0]["loc"], json!(["body", "url"]), "{url}");
    }
    // A bad secret and a reserved header.
    let (s, b) = app
        .post(
            &format!("/app/{a}/endpoint"),
            json!({"url": "https://example.com/h", "secret": "short"}),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(b["detail"][0]["loc"], json!(["body", "secret"]));
    let (s, _) = app
        .post(
            &format!("/app/{a}/endpoint"),
            json!({"url": "https://example.com/h", "headers": {"webhook-id": "x"}}),
        )
        .await;
    assert_eq!(s, 422);

    // An oversized body is 413 and the server keeps serving.
    let big = format!(
        r#"{{"eventType":"x.y","payload":{{"blob":"{}"}}}}"#,
        "a".repeat(2 * 1024 * 1024)
    );
    let r = app
        .client
        .post(app.url(&format!("/app/{a}/msg")))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["code"], "payload_too_large");
    let (s, _) = app.get(&format!("/app/{a}")).await;
    assert_eq!(s, 200);

    // Bad query parameters.
    let (s, b) = app.get("/app?limit=1000").await;
    assert_eq!(s, 422);
    assert_eq!(b["detail"][0]["loc"], json!(["query", "limit"]));
    // Unknown route and unknown object.
    let (s, b) = app.get("/nothing-here").await;
    assert_eq!((s, b["code"].as_str()), (404, Some("not_found")));
    let (s, b) = app.get("/app/app_doesnotexist").await;
    assert_eq!((s, b["code"].as_str()), (404, Some("not_found")));
}

async fn idempotency_key_replays_the_first_response() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let a = app.create_app("acme").await;
    app.create_endpoint(&a, json!({"url": rx.url("/hook")}))
        .await;
    let post = |n: i64| {
        app.client
            .post(app.url(&format!("/app/{a}/msg")))
            .bearer_auth(TOKEN)
            .header("idempotency-key", "key-1")
            .json(&json!({"eventType": "x.y", "payload": {"n": n}}))
            .send()
    };
    let r1 = post(1).await.unwrap();
    assert_eq!(r1.status().as_u16(), 202);
    let b1: Value = r1.json().await.unwrap();
    let r2 = post(2).await.unwrap();
    assert_eq!(r2.status().as_u16(), 202);
    let b2: Value = r2.json().await.unwrap();
    assert_eq!(b1, b2, "the repeat gets the first response");
    let (_, list) = app.get(&format!("/app/{a}/msg")).await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "and no second message"
    );
    rx.wait_for(1, std::time::Duration::from_secs(10)).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(rx.received().len(), 1);
}

async fn duplicate_event_id_is_409() {
    let app = spawn_app().await;
    let a = app.create_app("acme").await;
    let m = app
        .publish(
            &a,
            json!({"eventType": "x.y", "eventId": "evt-1", "payload": {}}),
        )
        .await;
    assert_eq!(m["eventId"], "evt-1");
    let (s, b) = app
        .post(
            &format!("/app/{a}/msg"),
            json!({"eventType": "x.y", "eventId": "evt-1", "payload": {}}),
        )
        .await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(b["code"], "conflict");
    // Another application may use the same eventId.
    let other = app.create_app("other").await;
    app.publish(
        &other,
        json!({"eventType": "x.y", "eventId": "evt-1", "payload": {}}),
    )
    .await;
    // The message can be fetched by its eventId.
    let (s, got) = app.get(&format!("/app/{a}/msg/evt-1")).await;
    assert_eq!(s, 200);
    assert_eq!(got["id"], m["id"]);

    // Concurrent publishes with one eventId (they share group commits): exactly one is accepted.
    let path = format!("/app/{a}/msg");
    let body = json!({"eventType": "x.y", "eventId": "evt-race", "payload": {}});
    let statuses = post_all_at_once(vec![app.url(&path); 20], &body).await;
    assert_eq!(
        statuses.iter().filter(|&&s| s == 202).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 409).count(),
        19,
        "{statuses:?}"
    );
}

/// Walks every page of `path` forward, then back, and checks each item is seen exactly once.
async fn walk(app: &TestApp, path: &str, key: &str, total: usize) {
    let mut seen = Vec::new();
    let mut iterator: Option<String> = None;
    let mut pages = 0;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &iterator {
            Some(it) => format!("{path}{sep}limit=7&iterator={it}"),
            None => format!("{path}{sep}limit=7"),
        };
        let (s, b) = app.get(&url).await;
        assert_eq!(s, 200, "{b}");
        assert!(b.as_object().unwrap().contains_key("iterator"));
        for item in b["data"].as_array().unwrap() {
            seen.push(item[key].as_str().unwrap().to_string());
        }
        pages += 1;
        assert!(pages < 100);
        if b["done"].as_bool().unwrap() {
            break;
        }
        iterator = b["iterator"].as_str().map(str::to_string);
    }
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(seen.len(), total, "{path}: every item once");
    assert_eq!(unique.len(), total, "{path}: no repeats");
    // And back again from the last page with prevIterator.
    let (_, last) = app
        .get(&format!(
            "{path}{}limit=7&iterator={}",
            if path.contains('?') { '&' } else { '?' },
            iterator.unwrap_or_default()
        ))
        .await;
    let prev = last["prevIterator"].as_str().unwrap().to_string();
    let (_, before) = app
        .get(&format!(
            "{path}{}limit=7&iterator={prev}",
            if path.contains('?') { '&' } else { '?' }
        ))
        .await;
    let before_ids: Vec<String> = before["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[key].as_str().unwrap().to_string())
        .collect();
    let n = total % 7;
    let expected_end = if n == 0 { total - 7 } else { total - n };
    assert_eq!(
        before_ids,
        seen[expected_end.saturating_sub(7)..expected_end].to_vec(),
        "{path}: prevIterator"
    );
}

async fn pagination_walks_every_item_once() {
    let app = spawn_app().await;
    let a = app.create_app("acme").await;
    for i in 0..23 {
        // Disabled: this test is about listing, not delivering.
        app.post(
            &format!("/app/{a}/endpoint"),
            json!({"url": format!("https://example.com/{i}"), "disabled": true}),
        )
        .await;
        app.publish(
            &a,
            json!({"eventType": format!("t.{}", i % 3), "payload": {"i": i}}),
        )
        .await;
        app.post(
            "/event-type",
            json!({"name": format!("type.{i:02}"), "description": "d"}),
        )
        .await;
    }
    for i in 0..22 {
        app.create_app(&format!("app {i}")).await;
    }
    walk(&app, "/app", "id", 23).await;
    walk(&app, &format!("/app/{a}/endpoint"), "id", 23).await;
    walk(&app, &format!("/app/{a}/msg"), "id", 23).await;
    walk(&app, "/event-type", "name", 23).await;
    // Filters combine with pagination.
    let (_, b) = app
        .get(&format!("/app/{a}/msg?event_types=t.0,t.1&limit=250"))
        .await;
    assert_eq!(b["data"].as_array().unwrap().len(), 16);
    // Messages are newest first by default, applications oldest first.
    let (_, msgs) = app.get(&format!("/app/{a}/msg?limit=2")).await;
    assert!(msgs["data"][0]["id"].as_str() > msgs["data"][1]["id"].as_str());
    let (_, apps) = app.get("/app?limit=2").await;
    assert!(apps["data"][0]["id"].as_str() < apps["data"][1]["id"].as_str());
}

async fn resources_round_trip_with_uids_and_trailing_slashes() {
    let app = spawn_app().await;
    let (s, created) = app
        .post(
            "/app/",
            json!({"name": "Acme", "uid": "acme-1", "metadata": {"tier": "gold"}}),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    assert!(created["id"].as_str().unwrap().starts_with("app_"));
    let (s, by_uid) = app.get("/app/acme-1/").await;
    assert_eq!(s, 200);
    assert_eq!(by_uid["id"], created["id"]);
    assert_eq!(by_uid["metadata"]["tier"], "gold");
    let (s, _) = app
        .post("/app", json!({"name": "Dup", "uid": "acme-1"}))
        .await;
    assert_eq!(s, 409);
    let r = app
        .client
        .post(app.url("/app?get_if_exists=true"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "Dup", "uid": "acme-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (s, patched) = app
        .req(
            Method::PATCH,
            "/app/acme-1",
            Some(json!({"name": "Acme Corp"})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(patched["name"], "Acme Corp");
    assert_eq!(patched["uid"], "acme-1");
    let (s, put) = app
        .req(
            Method::PUT,
            "/app/new-uid",
            Some(json!({"name": "Created by PUT"})),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(put["uid"], "new-uid");

    let (s, ep) = app
        .post("/app/acme-1/endpoint", json!({"url": "https://example.com/hook", "uid": "main", "filterTypes": ["a.b"], "description": "d"}))
        .await;
    assert_eq!(s, 201, "{ep}");
    assert!(ep["id"].as_str().unwrap().starts_with("ep_"));
    assert_eq!(ep["eventTypes"], json!(["a.b"]));
    let (s, got) = app.get("/app/acme-1/endpoint/main").await;
    assert_eq!(s, 200);
    assert_eq!(got["id"], ep["id"]);
    let (s, h) = app
        .req(
            Method::PATCH,
            "/app/acme-1/endpoint/main/headers",
            Some(json!({"headers": {"X-A": "1", "Authorization": "Bearer s"}})),
        )
        .await;
    assert_eq!(s, 204, "{h}");
    let (_, h) = app.get("/app/acme-1/endpoint/main/headers").await;
    assert_eq!(h["headers"], json!({"X-A": "1"}));
    assert_eq!(h["sensitive"], json!(["Authorization"]));
    let (s, _) = app
        .req(Method::DELETE, "/app/acme-1/endpoint/main", None)
        .await;
    assert_eq!(s, 204);
    let (s, _) = app.get("/app/acme-1/endpoint/main").await;
    assert_eq!(s, 404);

    let (s, et) = app.post("/event-type", json!({"name": "invoice.paid", "description": "Paid", "schemas": {"1": {"examples": [{"amount": 5}]}}})).await;
    assert_eq!(s, 201, "{et}");
    assert_eq!(et["deprecated"], false);
    let (s, _) = app
        .post(
            "/event-type",
            json!({"name": "invoice.paid", "description": "again"}),
        )
        .await;
    assert_eq!(s, 409);
    let (s, _) = app
        .req(Method::DELETE, "/event-type/invoice.paid", None)
        .await;
    assert_eq!(s, 204);
    let (_, list) = app.get("/event-type").await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        0,
        "archived types are hidden"
    );
    let (_, list) = app.get("/event-type?include_archived=true").await;
    assert_eq!(list["data"][0]["archived"], true);

    let (s, _) = app.req(Method::DELETE, "/app/acme-1", None).await;
    assert_eq!(s, 204);
    let (s, _) = app.get("/app/acme-1").await;
    assert_eq!(s, 404);
}

async fn app_token_sees_only_its_application() {
    let app = spawn_app().await;
    let a = app.create_app("mine").await;
    let b = app.create_app("theirs").await;
    let (s, access) = app
        .post(&format!("/auth/app-portal-access/{a}"), json!({}))
        .await;
    assert_eq!(s, 200, "{access}");
    let token = access["token"].as_str().unwrap().to_string();
    assert!(access["url"].as_str().unwrap().contains(&token));
    let get = |path: String| {
        let token = token.clone();
        let c = app.client.clone();
        let url = app.url(&path);
        async move {
            c.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(get(format!("/app/{a}")).await, 200);
    assert_eq!(get(format!("/app/{a}/endpoint")).await, 200);
    assert_eq!(get(format!("/app/{b}")).await, 404);
    assert_eq!(get(format!("/app/{b}/msg")).await, 404);
}

/// An eventId is refused for 24 hours only: once its claim is older, it may be published again,
/// and fetching by eventId then finds the new message.
async fn an_event_id_is_free_again_after_24_hours() {
    let app = spawn_app().await;
    let a = app.create_app("acme").await;
    let body = json!({"eventType": "x.y", "eventId": "evt-old", "payload": {"n": 1}});
    app.publish(&a, body.clone()).await;
    let (s, _) = app.post(&format!("/app/{a}/msg"), body.clone()).await;
    assert_eq!(s, 409);
    // 25 hours pass for that eventId.
    app.sql("UPDATE event_ids SET created_at = created_at - 90000000")
        .await;
    let again = app
        .publish(
            &a,
            json!({"eventType": "x.y", "eventId": "evt-old", "payload": {"n": 2}}),
        )
        .await;
    let (s, got) = app.get(&format!("/app/{a}/msg/evt-old")).await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(got["id"], again["id"]);
    assert_eq!(got["payload"]["n"], 2);
    // And it is refused again for the next 24 hours.
    let (s, _) = app.post(&format!("/app/{a}/msg"), body).await;
    assert_eq!(s, 409);
}

backend_tests!(
    an_event_id_is_free_again_after_24_hours,
    wrong_or_missing_token_is_401,
    bad_input_gets_clear_4xx,
    idempotency_key_replays_the_first_response,
    duplicate_event_id_is_409,
    pagination_walks_every_item_once,
    resources_round_trip_with_uids_and_trailing_slashes,
    app_token_sees_only_its_application,
);

/// A SQLite file serves one Herald process at a time (a second one would take the first's
/// deliveries in flight for a dead process's); it is free again once the first is gone.
#[tokio::test]
async fn a_sqlite_file_serves_one_process_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("herald.db").display());
    let config = || {
        let mut cfg = herald::Config::defaults();
        cfg.listen = "127.0.0.1:0".parse().unwrap();
        cfg.database_url = url.clone();
        cfg.token = Some(TOKEN.into());
        cfg
    };
    let first = herald::Application::build(config())
        .await
        .expect("the first starts");
    let second = herald::Application::build(config()).await;
    let err = second
        .err()
        .expect("a second process on the same file is refused");
    assert!(
        err.to_string().contains("in use by another Herald"),
        "{err}"
    );
    drop(first);
    // Its committer thread lets go of the file as it winds down.
    eventually(
        "the file free again once the first is gone",
        std::time::Duration::from_secs(5),
        || async { herald::Application::build(config()).await.ok() },
    )
    .await;
}
