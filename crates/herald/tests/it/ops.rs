//! Operational webhooks: endpoints managed at `/api/v1/operational-webhook/endpoint` in Svix's
//! shapes; each of the seven events arrives at a real receiver with Svix's payload shape,
//! signed in the standard format, and verifies with the public `standardwebhooks` library
//! (PyPI) as well as with this crate's own check.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Command;

use crate::helpers::*;

const EVENTS: [&str; 7] = [
    "endpoint.created",
    "endpoint.updated",
    "endpoint.deleted",
    "endpoint.disabled",
    "message.attempt.failing",
    "message.attempt.exhausted",
    "message.attempt.recovered",
];

/// Verifies each request with the `standardwebhooks` Python library, as a receiver would.
async fn verify_with_the_public_library(secret: &str, got: &[Received]) {
    let venv = crate::python::venv("standardwebhooks", "1.1.0").await;
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<Value> = got
        .iter()
        .map(|r| {
            json!({
                "body": String::from_utf8(r.body.to_vec()).unwrap(),
                "headers": {
                    "webhook-id": r.header("webhook-id"),
                    "webhook-timestamp": r.header("webhook-timestamp"),
                    "webhook-signature": r.header("webhook-signature"),
                },
            })
        })
        .collect();
    let input = dir.path().join("cases.json");
    std::fs::write(&input, serde_json::to_vec(&cases).unwrap()).unwrap();
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
secret, path = sys.argv[1], sys.argv[2]
wh = Webhook(secret)
n = 0
for case in json.load(open(path)):
    payload = wh.verify(case["body"], case["headers"])
    assert payload["type"] and "data" in payload, payload
    n += 1
    # A changed body must not verify.
    try:
        wh.verify(case["body"] + " ", case["headers"])
        raise SystemExit("a changed body verified")
    except SystemExit:
        raise
    except Exception:
        pass
print(n)
"#;
    let out = Command::new(venv.join("bin").join("python"))
        .args(["-c", script, secret])
        .arg(&input)
        .output()
        .await
        .expect("python runs");
    assert!(
        out.status.success(),
        "standardwebhooks refused a request:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        got.len().to_string()
    );
}

async fn operational_endpoints_get_each_event_signed_in_svixs_shapes() {
    // A delivery's 2nd failure in a row is `failing`; its 3rd try is its last.
    let app = spawn_app_with(|c| {
        c.failing_event_after = 2;
        c.retry_schedule = vec![1, 1];
    })
    .await;
    // No operational endpoint yet: an empty list, and none to find.
    let (s, list) = app.get("/operational-webhook/endpoint").await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["data"], json!([]));
    assert_eq!(app.get("/operational-webhook/endpoint/ep_x").await.0, 404);

    let ops = Receiver::start().await;
    let (s, op) = app
        .post(
            "/operational-webhook/endpoint",
            json!({"url": ops.url("/ops"), "uid": "ops-1", "description": "pager",
                   "metadata": {"team": "platform"}}),
        )
        .await;
    assert_eq!(s, 201, "{op}");
    for field in [
        "id",
        "url",
        "description",
        "metadata",
        "createdAt",
        "updatedAt",
    ] {
        assert!(op.get(field).is_some(), "{field} in {op}");
    }
    assert_eq!(op["uid"], "ops-1");
    assert_eq!(op["disabled"], false);
    let op_id = op["id"].as_str().unwrap().to_string();
    let (s, got) = app.get("/operational-webhook/endpoint/ops-1").await;
    assert_eq!((s, &got["id"]), (200, &op["id"]));
    let (s, list) = app.get("/operational-webhook/endpoint").await;
    assert_eq!(s, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let (s, sec) = app
        .get(&format!("/operational-webhook/endpoint/{op_id}/secret"))
        .await;
    assert_eq!(s, 200);
    let secret = sec["key"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    // Herald's own application is not among the customers'.
    let (_, apps) = app.get("/app").await;
    assert!(
        apps["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["id"] != herald::ids::OPERATIONAL_APP)
    );

    // The customer's side: endpoints that come and go, fail, recover and answer 410.
    let customer = app.create_app("customer").await;
    let failing = Receiver::start().await;
    failing.script(&[500, 500, 500]);
    let flaky = Receiver::start().await;
    flaky.script(&[500, 500, 200]);
    let gone = Receiver::start().await;
    gone.script(&[410]);
    let (failing_ep, _) = app
        .create_endpoint(
            &customer,
            json!({"url": failing.url("/f"), "uid": "failing"}),
        )
        .await;
    let (flaky_ep, _) = app
        .create_endpoint(&customer, json!({"url": flaky.url("/r")}))
        .await;
    let (gone_ep, _) = app
        .create_endpoint(&customer, json!({"url": gone.url("/g")}))
        .await;
    let (s, b) = app
        .req(
            reqwest::Method::PATCH,
            &format!("/app/{customer}/endpoint/{flaky_ep}"),
            Some(json!({"description": "flaky one"})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let temp = Receiver::start().await;
    let (temp_ep, _) = app
        .create_endpoint(&customer, json!({"url": temp.url("/t")}))
        .await;
    let (s, _) = app
        .req(
            reqwest::Method::DELETE,
            &format!("/app/{customer}/endpoint/{temp_ep}"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    // temp is gone before the message: it fans out to the other three.
    let msg = app
        .publish(
            &customer,
            json!({"eventType": "t.x", "eventId": "evt-1", "payload": {"n": 1}}),
        )
        .await;
    let msg_id = msg["id"].as_str().unwrap().to_string();

    let by_type = eventually("all seven events", Duration::from_secs(30), || async {
        let mut by: HashMap<String, Vec<Received>> = HashMap::new();
        for r in ops.received() {
            by.entry(r.json()["type"].as_str().unwrap().to_string())
                .or_default()
                .push(r);
        }
        // The gone endpoint's exhaustion comes at once, the failing one's after its retries.
        let has = |t: &str, ep: &str| {
            by.get(t)
                .is_some_and(|rs| rs.iter().any(|r| r.json()["data"]["endpointId"] == ep))
        };
        let complete = EVENTS.iter().all(|e| by.contains_key(*e))
            && has("message.attempt.exhausted", &failing_ep)
            && has("message.attempt.failing", &failing_ep)
            && has("message.attempt.failing", &flaky_ep);
        complete.then_some(by)
    })
    .await;
    let all = ops.received();
    for r in &all {
        assert!(
            verify_standard(&secret, r),
            "not signed with the key: {r:?}"
        );
        assert_eq!(r.path, "/ops");
        assert!(r.header("webhook-id").starts_with("msg_"));
    }
    let data = |t: &str| by_type[t][0].json()["data"].clone();
    let created: Vec<Value> = by_type["endpoint.created"]
        .iter()
        .map(|r| r.json()["data"]["endpointId"].clone())
        .collect();
    for ep in [&failing_ep, &flaky_ep, &gone_ep, &temp_ep] {
        assert!(created.contains(&json!(ep)), "endpoint.created of {ep}");
    }
    let failing_created = by_type["endpoint.created"]
        .iter()
        .map(|r| r.json()["data"].clone())
        .find(|d| d["endpointId"] == failing_ep.as_str())
        .unwrap();
    assert_eq!(
        failing_created,
        json!({"appId": customer, "appUid": null, "endpointId": failing_ep, "endpointUid": "failing"})
    );
    assert_eq!(data("endpoint.updated")["endpointId"], flaky_ep.as_str());
    assert_eq!(data("endpoint.deleted")["endpointId"], temp_ep.as_str());
    let disabled = data("endpoint.disabled");
    assert_eq!(disabled["endpointId"], gone_ep.as_str());
    assert!(disabled["failSince"].as_str().unwrap().ends_with('Z'));

    // The attempt events name the message, its eventId and the last attempt.
    let failing_events: Vec<Value> = by_type["message.attempt.failing"]
        .iter()
        .map(|r| r.json()["data"].clone())
        .collect();
    let eps: Vec<&str> = failing_events
        .iter()
        .map(|d| d["endpointId"].as_str().unwrap())
        .collect();
    assert!(eps.contains(&failing_ep.as_str()) && eps.contains(&flaky_ep.as_str()));
    // Two deliveries failed for good: the failing endpoint's (schedule used up, 500) and the
    // gone one's (410).
    let exhausted_events: Vec<Value> = by_type["message.attempt.exhausted"]
        .iter()
        .map(|r| r.json()["data"].clone())
        .collect();
    let exhausted_failing = exhausted_events
        .iter()
        .find(|d| d["endpointId"] == failing_ep.as_str())
        .expect("message.attempt.exhausted of the failing endpoint");
    for d in failing_events.iter().chain([exhausted_failing]) {
        assert_eq!(d["appId"], customer.as_str());
        assert_eq!(d["msgId"], msg_id.as_str());
        assert_eq!(d["msgEventId"], "evt-1");
        assert_eq!(d["lastAttempt"]["responseStatusCode"], 500);
        assert!(
            d["lastAttempt"]["id"]
                .as_str()
                .unwrap()
                .starts_with("atmpt_")
        );
        assert!(
            d["lastAttempt"]["timestamp"]
                .as_str()
                .unwrap()
                .ends_with('Z')
        );
    }
    let gone_exhausted = exhausted_events
        .iter()
        .find(|d| d["endpointId"] == gone_ep.as_str())
        .expect("message.attempt.exhausted of the gone endpoint");
    assert_eq!(gone_exhausted["lastAttempt"]["responseStatusCode"], 410);
    let recovered = data("message.attempt.recovered");
    assert_eq!(recovered["endpointId"], flaky_ep.as_str());
    assert_eq!(recovered["lastAttempt"]["responseStatusCode"], 200);

    verify_with_the_public_library(&secret, &all).await;

    // Svix's remaining calls: replace, rotate (204, the new key signs), delete.
    let (s, b) = app
        .req(
            reqwest::Method::PUT,
            &format!("/operational-webhook/endpoint/{op_id}"),
            Some(json!({"url": ops.url("/ops"), "filterTypes": ["endpoint.deleted"]})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["filterTypes"], json!(["endpoint.deleted"]));
    let (s, _) = app
        .post(
            &format!("/operational-webhook/endpoint/{op_id}/secret/rotate"),
            json!({}),
        )
        .await;
    assert_eq!(s, 204);
    let (_, sec) = app
        .get(&format!("/operational-webhook/endpoint/{op_id}/secret"))
        .await;
    assert_ne!(sec["key"].as_str().unwrap(), secret);
    let (s, _) = app
        .req(
            reqwest::Method::DELETE,
            &format!("/operational-webhook/endpoint/{op_id}"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(
        app.get(&format!("/operational-webhook/endpoint/{op_id}"))
            .await
            .0,
        404
    );
}

/// An application's token manages its own endpoints, never the operator's operational ones.
async fn operational_endpoints_are_the_operators_only() {
    let app = spawn_app().await;
    let customer = app.create_app("customer").await;
    let token = app.app_token(&customer).await;
    let (s, _) = app
        .req_as(
            &token,
            reqwest::Method::GET,
            "/operational-webhook/endpoint",
            None,
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = app
        .req_as(
            &token,
            reqwest::Method::POST,
            "/operational-webhook/endpoint",
            Some(json!({"url": "http://127.0.0.1:9/x"})),
        )
        .await;
    assert_eq!(s, 403);
}

backend_tests!(
    operational_endpoints_get_each_event_signed_in_svixs_shapes,
    operational_endpoints_are_the_operators_only,
);
