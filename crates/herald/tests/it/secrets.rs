//! Secrets at rest: with a secret key, endpoint secrets, headers, client certificates and
//! response bodies are
//! unreadable in the database and readable through the API; `herald rotate-secret-key` moves
//! them to a new key (or seals what was plain).

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

const KEY1: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const KEY2: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";
/// What must never be found in the database in the clear.
const SECRET: &str = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEy";
const CREDENTIAL: &str = "Bearer credential-7f3a";
const ECHOED: &str = "session-token-91b2";
/// An mTLS client certificate and its key (test fixtures): stored like secrets.
const CLIENT_CERT: &str = include_str!("certs/client.pem");
const CLIENT_KEY: &str = include_str!("certs/client.key");

/// A line of the client key's base64, which no sealed value shows.
fn key_line() -> &'static str {
    CLIENT_KEY.lines().nth(1).expect("a PEM body line")
}

fn leaks(dump: &str) -> Vec<&'static str> {
    [SECRET, "credential-7f3a", ECHOED, key_line()]
        .into_iter()
        .filter(|s| dump.contains(s))
        .collect()
}

async fn secrets_are_sealed_at_rest_and_readable_through_the_api() {
    let app = spawn_app_with(|c| c.secret_key = Some(KEY1.into())).await;
    let rx = Receiver::start().await;
    rx.set_body(&format!("{{\"echo\": \"{ECHOED}\"}}"));
    let a = app.create_app("acme").await;
    let (ep, key) = app
        .create_endpoint(
            &a,
            json!({"url": rx.url("/hook"), "secret": SECRET, "headers": {"Authorization": CREDENTIAL},
                   "clientCert": format!("{CLIENT_CERT}{CLIENT_KEY}")}),
        )
        .await;
    let (_, shown) = app.get(&format!("/app/{a}/endpoint/{ep}")).await;
    assert_eq!(shown["clientCertSet"], true, "{shown}");
    assert!(shown.get("clientCert").is_none(), "write-only: {shown}");
    assert_eq!(key, SECRET, "the API shows the secret");
    let (s, _) = app
        .post(&format!("/app/{a}/endpoint/{ep}/secret/rotate"), json!({}))
        .await;
    assert_eq!(s, 200);
    let m = app
        .publish(&a, json!({"eventType": "x.y", "payload": {"n": 1}}))
        .await;
    let got = rx.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(
        got[0].header("authorization"),
        CREDENTIAL,
        "delivered with its header"
    );
    let attempts = app.wait_attempts(&a, m["id"].as_str().unwrap(), 1).await;
    assert!(
        attempts[0]["response"].as_str().unwrap().contains(ECHOED),
        "the API shows the response body"
    );
    for table in ["endpoints", "attempts"] {
        let dump = app.dump(table).await;
        assert!(
            leaks(&dump).is_empty(),
            "{table} holds {:?} in the clear",
            leaks(&dump)
        );
        assert!(dump.contains("enc:v1:"), "{table} holds sealed values");
    }
}

backend_tests!(secrets_are_sealed_at_rest_and_readable_through_the_api);

/// Plain text first (no key), then sealed with one key, then moved to another, with the real
/// binary; each time the node reads its secrets and signs with them.
async fn rotate_secret_key_seals_and_moves_every_secret() {
    let dir = tempfile::tempdir().unwrap();
    let db = test_database_url(&dir).await;
    let port = free_port();
    let rx = Receiver::start().await;
    rx.set_body(ECHOED);
    let mut node = Node::start(&db, port, &[]).await;
    let app = node.app_with_endpoint("acme", &rx.url("/hook")).await;
    let (s, eps) = node.get(&format!("/app/{app}/endpoint")).await;
    assert_eq!(s, 200);
    let ep = eps["data"][0]["id"].as_str().unwrap().to_string();
    let (_, secret) = node.get(&format!("/app/{app}/endpoint/{ep}/secret")).await;
    let secret = secret["key"].as_str().unwrap().to_string();
    let (s, set) = node
        .patch(
            &format!("/app/{app}/endpoint/{ep}"),
            json!({"clientCert": format!("{CLIENT_CERT}{CLIENT_KEY}")}),
        )
        .await;
    assert_eq!((s, &set["clientCertSet"]), (200, &json!(true)), "{set}");
    node.post(
        &format!("/app/{app}/msg"),
        json!({"eventType": "x.y", "payload": {}}),
    )
    .await;
    rx.wait_for(1, Duration::from_secs(10)).await;
    eventually("the attempt recorded", Duration::from_secs(10), || async {
        dump_table(&db, "attempts")
            .await
            .contains(ECHOED)
            .then_some(())
    })
    .await;
    node.terminate();
    assert!(node.wait_exit(Duration::from_secs(30)).await.success());
    let plain = dump_table(&db, "endpoints").await;
    assert!(
        plain.contains(&secret) && plain.contains(key_line()),
        "plain without a key"
    );

    for (old, new) in [(None, KEY1), (Some(KEY1), KEY2)] {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"));
        cmd.arg("rotate-secret-key")
            .env("HERALD_DATABASE_URL", &db)
            .env("HERALD_NEW_SECRET_KEY", new)
            .env("HERALD_LOG", "warn");
        match old {
            Some(k) => cmd.env("HERALD_SECRET_KEY", k),
            None => cmd.env_remove("HERALD_SECRET_KEY"),
        };
        let out = cmd.output().await.unwrap();
        assert!(
            out.status.success(),
            "rotate-secret-key: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for table in ["endpoints", "attempts"] {
            let dump = dump_table(&db, table).await;
            assert!(
                !dump.contains(&secret) && !dump.contains(ECHOED) && !dump.contains(key_line()),
                "{table} sealed"
            );
        }
        let node = Node::start(&db, port, &[("HERALD_SECRET_KEY", new)]).await;
        let (s, got) = node.get(&format!("/app/{app}/endpoint/{ep}/secret")).await;
        assert_eq!(
            (s, got["key"].as_str()),
            (200, Some(secret.as_str())),
            "{got}"
        );
        let (s, got) = node.get(&format!("/app/{app}/endpoint/{ep}")).await;
        assert_eq!(
            (s, &got["clientCertSet"]),
            (200, &json!(true)),
            "the client certificate opens with the new key: {got}"
        );
        let before = rx.received().len();
        node.post(
            &format!("/app/{app}/msg"),
            json!({"eventType": "x.y", "payload": {}}),
        )
        .await;
        let got = rx.wait_for(before + 1, Duration::from_secs(10)).await;
        assert!(
            verify_standard(&secret, &got[before]),
            "signed with the opened secret"
        );
        let mut node = node;
        node.terminate();
        assert!(node.wait_exit(Duration::from_secs(30)).await.success());
    }
}

backend_tests!(rotate_secret_key_seals_and_moves_every_secret);
