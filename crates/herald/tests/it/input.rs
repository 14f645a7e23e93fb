//! Bad bytes and bad shapes: whatever a client sends gets a clear 4xx in the API's JSON shape,
//! naming the field or the limit, on both backends (PostgreSQL cannot store NUL, so before
//! these checks it answered 500 where SQLite stored the bytes), and nothing is stored.

use reqwest::Method;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

/// The field a 422 names, as `body.name`.
fn named(b: &Value) -> String {
    b["detail"][0]["loc"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(".")
        })
        .unwrap_or_default()
}

fn msg(b: &Value) -> String {
    b["detail"][0]["msg"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn nul_bytes_are_refused_everywhere() {
    let app = spawn_app().await;
    let a = app.create_app("acme").await;
    let (ep, _) = app
        .create_endpoint(&a, json!({"url": "https://example.com/h"}))
        .await;
    let cases: Vec<(Method, String, Value, &str)> = vec![
        (
            Method::POST,
            "/app".into(),
            json!({"name": "a\u{0}b"}),
            "body.name",
        ),
        (
            Method::POST,
            "/app".into(),
            json!({"name": "n", "metadata": {"k": "v\u{0}"}}),
            "body.metadata.k",
        ),
        (
            Method::PATCH,
            format!("/app/{a}"),
            json!({"name": "\u{0}"}),
            "body.name",
        ),
        (
            Method::POST,
            format!("/app/{a}/endpoint"),
            json!({"url": "https://example.com/h", "description": "x\u{0}"}),
            "body.description",
        ),
        (
            Method::POST,
            format!("/app/{a}/endpoint"),
            json!({"url": "https://example.com/h", "format": "envelope", "secret": "s\u{0}"}),
            "body.secret",
        ),
        (
            Method::POST,
            format!("/app/{a}/endpoint"),
            json!({"url": "https://example.com/\u{0}"}),
            "body.url",
        ),
        (
            Method::PATCH,
            format!("/app/{a}/endpoint/{ep}"),
            json!({"uid": "u\u{0}"}),
            "body.uid",
        ),
        (
            Method::POST,
            "/event-type".into(),
            json!({"name": "x.y", "description": "d\u{0}"}),
            "body.description",
        ),
        (
            Method::POST,
            format!("/app/{a}/msg"),
            json!({"eventType": "x.y", "payload": {}, "tags": ["t\u{0}"]}),
            "body.tags.0",
        ),
    ];
    for (method, path, body, field) in cases {
        let (s, b) = app.req(method.clone(), &path, Some(body.clone())).await;
        assert_eq!(
            (s, named(&b)),
            (422, field.to_string()),
            "{method} {path} {body}: {b}"
        );
    }
    // Ids in paths and query parameters.
    for path in [
        "/app/a%00b".to_string(),
        format!("/app/{a}/endpoint/e%00"),
        format!("/app/{a}/msg/m%00"),
        "/event-type/x%00y".into(),
    ] {
        let (s, b) = app.get(&path).await;
        assert_eq!(
            (s, b["code"].as_str()),
            (404, Some("not_found")),
            "{path}: {b}"
        );
    }
    let (s, b) = app.get(&format!("/app/{a}/msg?iterator=%00")).await;
    assert_eq!((s, named(&b)), (422, "query.iterator".into()), "{b}");
    let (s, b) = app.get(&format!("/app/{a}/msg?channel=a%00")).await;
    assert_eq!((s, named(&b)), (422, "query.channel".into()), "{b}");
    // Nothing was stored, and the payload, kept as the JSON text published, may carry the escape.
    let (_, apps) = app.get("/app").await;
    assert_eq!(apps["data"].as_array().unwrap().len(), 1);
    let (s, b) = app
        .post(
            &format!("/app/{a}/msg"),
            json!({"eventType": "x.y", "payload": {"text": "a\u{0}b"}}),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(b["payload"]["text"], "a\u{0}b");
}

async fn iterators_that_are_not_of_the_list_are_422() {
    let app = spawn_app().await;
    let a = app.create_app("acme").await;
    let m = app
        .publish(&a, json!({"eventType": "x.y", "payload": {}}))
        .await;
    let msg_id = m["id"].as_str().unwrap();
    for path in [
        "/app?iterator=garbage".to_string(),
        "/app?iterator=-".into(),
        format!("/app?iterator={msg_id}"),
        format!("/app/{a}/endpoint?iterator={a}"),
        format!("/app/{a}/msg?iterator={a}"),
        format!("/app/{a}/attempt/msg/{msg_id}?iterator=x"),
        "/event-type?iterator=no%20spaces".into(),
    ] {
        let (s, b) = app.get(&path).await;
        assert_eq!(
            (s, named(&b)),
            (422, "query.iterator".into()),
            "{path}: {b}"
        );
    }
    // Real ones still work, forward and back.
    let (s, _) = app.get(&format!("/app/{a}/msg?iterator={msg_id}")).await;
    assert_eq!(s, 200);
    let (s, _) = app.get(&format!("/app/{a}/msg?iterator=-{msg_id}")).await;
    assert_eq!(s, 200);
    let (s, _) = app.get("/event-type?iterator=some.type").await;
    assert_eq!(s, 200);
}

async fn urls_are_trimmed_and_control_characters_refused() {
    let app = spawn_app().await;
    let a = app.create_app("acme").await;
    let (s, b) = app
        .post(
            &format!("/app/{a}/endpoint"),
            json!({"url": "  https://example.com/hook  "}),
        )
        .await;
    assert_eq!(
        (s, b["url"].as_str()),
        (201, Some("https://example.com/hook")),
        "{b}"
    );
    for url in [
        "https://exa\r\nmple.com/hook",
        "https://example.com/\nhook",
        "https://example.com/ho\tok",
        "\thttps://example.com/hook",
        "https://example.com/a b",
    ] {
        let (s, b) = app
            .post(&format!("/app/{a}/endpoint"), json!({"url": url}))
            .await;
        assert_eq!((s, named(&b)), (422, "body.url".into()), "{url:?}: {b}");
    }
}

async fn limits_are_enforced_and_named() {
    let app = spawn_app().await;
    let a = app.create_app("acme").await;
    let ep_path = format!("/app/{a}/endpoint");
    let many_types: Vec<String> = (0..1001).map(|i| format!("t.{i}")).collect();
    let many_headers: serde_json::Map<String, Value> =
        (0..21).map(|i| (format!("x-h{i}"), json!("v"))).collect();
    let many_meta: serde_json::Map<String, Value> =
        (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
    let cases: Vec<(String, Value, &str, &str)> = vec![
        (
            "/app".into(),
            json!({"name": "n".repeat(1_000_000)}),
            "body.name",
            "256",
        ),
        (
            "/app".into(),
            json!({"name": "n", "metadata": many_meta}),
            "body.metadata",
            "50",
        ),
        (
            ep_path.clone(),
            json!({"url": "https://example.com/h", "eventTypes": many_types}),
            "body.eventTypes",
            "1000",
        ),
        (
            ep_path.clone(),
            json!({"url": "https://example.com/h", "description": "d".repeat(1025)}),
            "body.description",
            "1024",
        ),
        (
            ep_path.clone(),
            json!({"url": "https://example.com/h", "headers": many_headers}),
            "body.headers",
            "20",
        ),
        (
            ep_path.clone(),
            json!({"url": format!("https://example.com/{}", "p".repeat(5000))}),
            "body.url",
            "4096",
        ),
        (
            ep_path.clone(),
            json!({"url": "https://example.com/h", "channels": (0..11).map(|i| format!("c{i}")).collect::<Vec<_>>()}),
            "body.channels",
            "10",
        ),
    ];
    for (path, body, field, limit) in cases {
        let (s, b) = app.post(&path, body).await;
        assert_eq!((s, named(&b)), (422, field.to_string()), "{field}: {b}");
        assert!(msg(&b).contains(limit), "{field}: the limit is named: {b}");
    }
}

async fn wrong_shapes_are_explained_in_api_words() {
    let app = spawn_app().await;
    let a = app.create_app("acme").await;
    let raw = |path: String, body: &'static str| {
        let c = app.client.clone();
        let url = app.url(&path);
        async move {
            let r = c
                .post(url)
                .bearer_auth(TOKEN)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    for (path, body, field) in [
        ("/app".to_string(), "[]", "body"),
        ("/app".to_string(), "5", "body"),
        ("/app".to_string(), r#"{"name": []}"#, "body.name"),
        (
            "/app".to_string(),
            r#"{"name": "n", "throttleRate": "x"}"#,
            "body.throttleRate",
        ),
        (
            format!("/app/{a}/msg"),
            r#"{"eventType": "x.y", "payload": {}, "application": []}"#,
            "body.application",
        ),
        (
            format!("/app/{a}/endpoint"),
            r#"{"url": "https://example.com/h", "timeoutMs": -5}"#,
            "body.timeoutMs",
        ),
    ] {
        let (s, b) = raw(path.clone(), body).await;
        assert_eq!((s, named(&b)), (422, field.to_string()), "{body}: {b}");
        let text = b.to_string();
        for rust in [
            "struct ",
            "ApplicationIn",
            "MessageIn",
            "u64",
            "i64",
            "elements",
        ] {
            assert!(!text.contains(rust), "{body}: Rust words in {b}");
        }
    }
}

/// Requests the HTTP parser refuses before any handler runs still get `{code, detail}`.
async fn parser_errors_have_json_bodies() {
    let app = spawn_app().await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let long = format!(
        "GET /api/v1/app?x={} HTTP/1.1\r\nhost: h\r\n\r\n",
        "a".repeat(70_000)
    );
    let bad_header = "GET /api/v1/app HTTP/1.1\r\nhost: h\r\nbad header line\r\n\r\n".to_string();
    for (req, status, code) in [
        (long, 414, "uri_too_long"),
        (bad_header, 400, "bad_request"),
    ] {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut out)).await;
        let text = String::from_utf8_lossy(&out);
        let (head, body) = text.split_once("\r\n\r\n").expect("a whole response");
        assert!(head.starts_with(&format!("HTTP/1.1 {status}")), "{head}");
        assert!(head.contains("application/json"), "{head}");
        let v: Value = serde_json::from_str(body).expect("a JSON body");
        assert_eq!(v["code"], code, "{v}");
        assert!(v["detail"].is_string());
    }
    // The server goes on serving.
    let (s, _) = app.get("/app").await;
    assert_eq!(s, 200);
}

/// `--https-only`: http:// is refused at creation and change, and at send for an endpoint
/// made before the setting was on.
async fn https_only_refuses_http_at_create_and_at_send() {
    let dir = tempfile::tempdir().unwrap();
    let db = test_database_url(&dir).await;
    let port = free_port();
    let rx = Receiver::start().await;
    let mut node = Node::start(&db, port, &[]).await;
    let app = node.app_with_endpoint("acme", &rx.url("/hook")).await;
    node.terminate();
    assert!(node.wait_exit(Duration::from_secs(30)).await.success());

    let node = Node::start(&db, port, &[("HERALD_HTTPS_ONLY", "true")]).await;
    let (s, b) = node
        .post(
            &format!("/app/{app}/endpoint"),
            json!({"url": rx.url("/other")}),
        )
        .await;
    assert_eq!((s, named(&b)), (422, "body.url".into()), "{b}");
    assert!(msg(&b).contains("https"), "{b}");
    let (s, b) = node
        .post(
            &format!("/app/{app}/endpoint"),
            json!({"url": "https://example.com/hook"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, m) = node
        .post(
            &format!("/app/{app}/msg"),
            json!({"eventType": "x.y", "payload": {}}),
        )
        .await;
    assert_eq!(s, 202, "{m}");
    let msg_id = m["id"].as_str().unwrap();
    let attempts = eventually("the refused attempt", Duration::from_secs(15), || async {
        let (_, b) = node.get(&format!("/app/{app}/attempt/msg/{msg_id}")).await;
        let data = b["data"].as_array().cloned().unwrap_or_default();
        let refused: Vec<serde_json::Value> = data
            .into_iter()
            .filter(|a| a["url"].as_str().is_some_and(|u| u.starts_with("http://")))
            .collect();
        (!refused.is_empty()).then_some(refused)
    })
    .await;
    assert_eq!(attempts[0]["responseStatusCode"], 0);
    assert!(
        attempts[0]["response"]
            .as_str()
            .unwrap()
            .contains("https only"),
        "{}",
        attempts[0]
    );
    assert!(rx.received().is_empty(), "nothing sent over http");
}

backend_tests!(
    https_only_refuses_http_at_create_and_at_send,
    nul_bytes_are_refused_everywhere,
    iterators_that_are_not_of_the_list_are_422,
    urls_are_trimmed_and_control_characters_refused,
    limits_are_enforced_and_named,
    wrong_shapes_are_explained_in_api_words,
    parser_errors_have_json_bodies,
);
