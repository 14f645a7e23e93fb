//! Tokens that end: application tokens expire (1 s to 30 days, as asked), are revoked by their
//! own logout or all at once by the operator; operator tokens can be several, made, listed and
//! revoked with `herald token`.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

async fn status_with(app: &TestApp, token: &str, path: &str) -> u16 {
    app.req_as(token, Method::GET, path, None).await.0
}

async fn app_tokens_expire_and_are_revoked() {
    let app = spawn_app().await;
    let a = app.create_app("acme").await;
    let path = format!("/app/{a}");
    let (s, b) = app
        .post(
            &format!("/auth/app-portal-access/{a}"),
            json!({"expiry": 1}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let short = b["token"].as_str().unwrap().to_string();
    assert_eq!(status_with(&app, &short, &path).await, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(status_with(&app, &short, &path).await, 401, "expired");

    for bad in [
        json!({"expiry": 0}),
        json!({"expiry": 2_592_001}),
        json!({"expiry": "soon"}),
    ] {
        let (s, b) = app
            .post(&format!("/auth/app-portal-access/{a}"), bad.clone())
            .await;
        assert_eq!(s, 422, "{bad}: {b}");
    }

    // Logged out with itself.
    let token = app.app_token(&a).await;
    assert_eq!(status_with(&app, &token, &path).await, 200);
    let (s, _) = app
        .req_as(&token, Method::POST, "/auth/logout", Some(json!({})))
        .await;
    assert_eq!(s, 204);
    assert_eq!(status_with(&app, &token, &path).await, 401, "logged out");

    // All of an application's tokens, by the operator only.
    let (t1, t2) = (app.app_token(&a).await, app.app_token(&a).await);
    let (s, _) = app
        .req_as(
            &t1,
            Method::POST,
            &format!("/auth/app/{a}/expire-all"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 403);
    let (s, b) = app
        .post(&format!("/auth/app/{a}/expire-all"), json!({}))
        .await;
    assert_eq!(s, 204, "{b}");
    assert_eq!(status_with(&app, &t1, &path).await, 401);
    assert_eq!(status_with(&app, &t2, &path).await, 401);
    let fresh = app.app_token(&a).await;
    assert_eq!(status_with(&app, &fresh, &path).await, 200, "new ones work");
}

/// App A's token: 404 on every kind of app B's resource, 403 on every operator-only route.
async fn an_app_token_reaches_nothing_of_another_app() {
    let app = spawn_app().await;
    let rx = Receiver::start().await;
    let a = app.create_app("a").await;
    let b = app.create_app("b").await;
    let (ep, _) = app.create_endpoint(&b, json!({"url": rx.url("/b")})).await;
    let m = app
        .publish(&b, json!({"eventType": "x.y", "payload": {}}))
        .await;
    let m = m["id"].as_str().unwrap().to_string();
    let at = app.wait_attempts(&b, &m, 1).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post("/event-type", json!({"name": "x.y", "description": "d"}))
        .await;
    let token = app.app_token(&a).await;
    let since = json!({"since": "2020-01-01T00:00:00Z"});
    let b_routes: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, format!("/app/{b}"), None),
        (Method::PUT, format!("/app/{b}"), Some(json!({"name": "x"}))),
        (
            Method::PATCH,
            format!("/app/{b}"),
            Some(json!({"name": "x"})),
        ),
        (Method::GET, format!("/app/{b}/endpoint"), None),
        (
            Method::POST,
            format!("/app/{b}/endpoint"),
            Some(json!({"url": "https://e.com/h"})),
        ),
        (Method::GET, format!("/app/{b}/endpoint/{ep}"), None),
        (
            Method::PUT,
            format!("/app/{b}/endpoint/{ep}"),
            Some(json!({"url": "https://e.com/h"})),
        ),
        (
            Method::PATCH,
            format!("/app/{b}/endpoint/{ep}"),
            Some(json!({"description": "x"})),
        ),
        (Method::DELETE, format!("/app/{b}/endpoint/{ep}"), None),
        (Method::GET, format!("/app/{b}/endpoint/{ep}/headers"), None),
        (
            Method::PUT,
            format!("/app/{b}/endpoint/{ep}/headers"),
            Some(json!({"headers": {}})),
        ),
        (
            Method::PATCH,
            format!("/app/{b}/endpoint/{ep}/headers"),
            Some(json!({"headers": {}})),
        ),
        (Method::GET, format!("/app/{b}/endpoint/{ep}/secret"), None),
        (
            Method::POST,
            format!("/app/{b}/endpoint/{ep}/secret/rotate"),
            Some(json!({})),
        ),
        (Method::GET, format!("/app/{b}/endpoint/{ep}/stats"), None),
        (
            Method::POST,
            format!("/app/{b}/endpoint/{ep}/recover"),
            Some(since.clone()),
        ),
        (
            Method::POST,
            format!("/app/{b}/endpoint/{ep}/replay-missing"),
            Some(since.clone()),
        ),
        (
            Method::POST,
            format!("/app/{b}/endpoint/{ep}/send-example"),
            Some(json!({"eventType": "x.y"})),
        ),
        (Method::GET, format!("/app/{b}/endpoint/{ep}/msg"), None),
        (Method::GET, format!("/app/{b}/msg"), None),
        (
            Method::POST,
            format!("/app/{b}/msg"),
            Some(json!({"eventType": "x.y", "payload": {}})),
        ),
        (Method::GET, format!("/app/{b}/msg/{m}"), None),
        (Method::DELETE, format!("/app/{b}/msg/{m}/content"), None),
        (Method::GET, format!("/app/{b}/msg/{m}/endpoint"), None),
        (
            Method::POST,
            format!("/app/{b}/msg/{m}/endpoint/{ep}/resend"),
            Some(json!({})),
        ),
        (Method::GET, format!("/app/{b}/msg/{m}/attempt/{at}"), None),
        (
            Method::DELETE,
            format!("/app/{b}/msg/{m}/attempt/{at}/content"),
            None,
        ),
        (Method::GET, format!("/app/{b}/attempt/msg/{m}"), None),
        (Method::GET, format!("/app/{b}/attempt/endpoint/{ep}"), None),
        (Method::POST, format!("/app/{b}/erasure"), Some(json!({}))),
    ];
    let mut tried: Vec<(Method, String)> = Vec::new();
    for (method, path, body) in b_routes {
        let (s, r) = app.req_as(&token, method.clone(), &path, body).await;
        assert_eq!(s, 404, "{method} {path}: {r}");
        tried.push((method, path));
    }
    let operator_only: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::POST, "/app".into(), Some(json!({"name": "x"}))),
        (Method::DELETE, format!("/app/{a}"), None),
        (
            Method::POST,
            "/event-type".into(),
            Some(json!({"name": "y.z", "description": "d"})),
        ),
        (
            Method::PUT,
            "/event-type/x.y".into(),
            Some(json!({"description": "d"})),
        ),
        (
            Method::PATCH,
            "/event-type/x.y".into(),
            Some(json!({"description": "d"})),
        ),
        (Method::DELETE, "/event-type/x.y".into(), None),
        (
            Method::POST,
            format!("/auth/app-portal-access/{a}"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/auth/app/{a}/expire-all"),
            Some(json!({})),
        ),
        (Method::GET, "/operational-webhook/endpoint".into(), None),
        (
            Method::POST,
            "/operational-webhook/endpoint".into(),
            Some(json!({"url": "https://e.com/ops"})),
        ),
        (
            Method::GET,
            format!("/operational-webhook/endpoint/{ep}"),
            None,
        ),
        (
            Method::PUT,
            format!("/operational-webhook/endpoint/{ep}"),
            Some(json!({"url": "https://e.com/ops"})),
        ),
        (
            Method::DELETE,
            format!("/operational-webhook/endpoint/{ep}"),
            None,
        ),
        (
            Method::GET,
            format!("/operational-webhook/endpoint/{ep}/secret"),
            None,
        ),
        (
            Method::POST,
            format!("/operational-webhook/endpoint/{ep}/secret/rotate"),
            Some(json!({})),
        ),
    ];
    for (method, path, body) in operator_only {
        let (s, r) = app.req_as(&token, method.clone(), &path, body).await;
        assert_eq!(s, 403, "{method} {path}: {r}");
        tried.push((method, path));
    }
    // What an application token may reach outside its application: its own application in
    // the list, the event type catalog, its own logout; and what needs no token at all.
    let (s, list) = app.req_as(&token, Method::GET, "/app", None).await;
    assert_eq!(s, 200, "{list}");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![a.as_str()],
        "an app token lists its own application only"
    );
    for path in ["/event-type".to_string(), "/event-type/x.y".to_string()] {
        let (s, r) = app.req_as(&token, Method::GET, &path, None).await;
        assert_eq!(s, 200, "GET {path}: {r}");
        tried.push((Method::GET, path));
    }
    tried.push((Method::GET, "/app".into()));
    for (method, path) in [
        (Method::POST, "/auth/logout"),
        (Method::GET, "/health"),
        (Method::GET, "/openapi.json"),
        (Method::GET, "/app/{b}/.well-known/jwks.json"),
    ] {
        tried.push((method, path.replace("{b}", &b)));
    }

    // Every operation of the OpenAPI document was tried: a route added later must be placed in
    // one of the lists above, so no route escapes this test.
    let doc: serde_json::Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let template = |path: &str| {
        path.replace(&format!("/attempt/{at}"), "/attempt/{attempt_id}")
            .replace(&format!("/endpoint/{ep}"), "/endpoint/{endpoint_id}")
            .replace(&format!("/msg/{m}"), "/msg/{msg_id}")
            .replace(&format!("/app/{b}"), "/app/{app_id}")
            .replace(&format!("/app/{a}"), "/app/{app_id}")
            .replace(&format!("-access/{a}"), "-access/{app_id}")
            .replace("/event-type/x.y", "/event-type/{event_type_name}")
    };
    let tried: std::collections::BTreeSet<String> = tried
        .iter()
        .map(|(m, p)| format!("{} /api/v1{}", m.as_str().to_lowercase(), template(p)))
        .collect();
    let mut documented = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                documented.insert(format!("{method} {path}"));
            }
        }
    }
    let untried: Vec<&String> = documented
        .iter()
        .filter(|op| !tried.contains(*op) && !op.contains("/health/"))
        .collect();
    assert!(
        untried.is_empty(),
        "operations no app-token check covers: {untried:?}"
    );
    // Nothing of B changed, and B's delivery went out once.
    let (s, got) = app.get(&format!("/app/{b}/endpoint/{ep}")).await;
    assert_eq!((s, got["description"].as_str()), (200, Some("")));
    assert_eq!(rx.received().len(), 1);
}

backend_tests!(
    app_tokens_expire_and_are_revoked,
    an_app_token_reaches_nothing_of_another_app,
);

async fn herald_token(db: &str, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("token")
        .args(args)
        .env("HERALD_DATABASE_URL", db)
        .env("HERALD_LOG", "warn")
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Several operator tokens: a new one works beside the old, and stops working once revoked
/// (on a running node, within its 10 s cache).
async fn operator_tokens_are_made_listed_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let db = test_database_url(&dir).await;
    // Made before the node runs (a SQLite file serves one process at a time).
    let (ok, out, err) = herald_token(&db, &["create", "--name", "deploy-2026"]).await;
    assert!(ok, "{err}");
    let new = out.trim().to_string();
    assert!(new.starts_with("herald_"), "{out}");
    let (ok, list, err) = herald_token(&db, &["list"]).await;
    assert!(ok, "{err}");
    assert!(
        list.contains("deploy-2026") && !list.contains(&new),
        "{list}"
    );
    let id = list
        .lines()
        .find(|l| l.contains("deploy-2026"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();

    let mut node = Node::start(&db, free_port(), &[]).await;
    let c = client();
    let get = |token: String| {
        let (c, url) = (c.clone(), format!("{}/app", node.base));
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
    assert_eq!(get(new.clone()).await, 200, "the new token works");
    assert_eq!(get(TOKEN.into()).await, 200, "beside the configured one");
    assert_eq!(get(format!("{new}x")).await, 401);
    if backend() == Backend::Postgres {
        // Revoked while the node runs: refused within its cache's 10 s.
        let (ok, _, err) = herald_token(&db, &["revoke", &id]).await;
        assert!(ok, "{err}");
        eventually("the revocation", Duration::from_secs(15), || {
            let get = get(new.clone());
            async move { (get.await == 401).then_some(()) }
        })
        .await;
        return;
    }
    // SQLite serves one process at a time: revoked between runs.
    node.terminate();
    assert!(node.wait_exit(Duration::from_secs(30)).await.success());
    let (ok, _, err) = herald_token(&db, &["revoke", &id]).await;
    assert!(ok, "{err}");
    let (ok, _, _) = herald_token(&db, &["revoke", &id]).await;
    assert!(!ok, "revoking twice is an error");
    let node = Node::start(&db, free_port(), &[]).await;
    let r = c
        .get(format!("{}/app", node.base))
        .bearer_auth(&new)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401, "revoked");
}

backend_tests!(operator_tokens_are_made_listed_and_revoked);
