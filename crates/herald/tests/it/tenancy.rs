//! Tenancy: an application's token reaches its own application only, and no uid can be read as
//! another object's id (paths take either, so such a uid would capture that object's requests).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// The field a 422 names, as `body.uid`.
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

/// The probe's attack: an app token renames its application's uid to another application's id,
/// after which (on PostgreSQL) requests for the victim reached the attacker. Refused at the root.
async fn an_app_token_cannot_take_over_another_applications_id() {
    let app = spawn_app().await;
    let victim = app.create_app("victim").await;
    let attacker = app.create_app("attacker").await;
    let token = app.app_token(&attacker).await;

    for (method, body) in [
        (Method::PATCH, json!({"uid": victim})),
        (Method::PUT, json!({"name": "attacker", "uid": victim})),
    ] {
        let (s, b) = app
            .req_as(
                &token,
                method.clone(),
                &format!("/app/{attacker}"),
                Some(body),
            )
            .await;
        assert_eq!((s, named(&b)), (422, "body.uid".into()), "{method}: {b}");
    }
    // Nothing changed: the victim's id still names the victim, for the operator, and the
    // attacker's token still gets 404 for it.
    let (s, b) = app.get(&format!("/app/{victim}")).await;
    assert_eq!((s, b["name"].as_str()), (200, Some("victim")));
    let (s, _) = app
        .req_as(&token, Method::GET, &format!("/app/{victim}"), None)
        .await;
    assert_eq!(s, 404);
    let (s, b) = app.get(&format!("/app/{attacker}")).await;
    assert_eq!(b["uid"], Value::Null, "{s} {b}");
}

/// No uid, endpoint uid or eventId may start like an id, whoever asks and however it is set.
async fn uids_that_look_like_ids_are_refused() {
    let app = spawn_app().await;
    let a = app.create_app("acme").await;
    for uid in ["app_x", "ep_x", "msg_x", "atmpt_1", "APP_x", a.as_str()] {
        let (s, b) = app.post("/app", json!({"name": "n", "uid": uid})).await;
        assert_eq!((s, named(&b)), (422, "body.uid".into()), "{uid}: {b}");
        let (s, b) = app
            .post(
                &format!("/app/{a}/endpoint"),
                json!({"url": "https://example.com/h", "uid": uid}),
            )
            .await;
        assert_eq!((s, named(&b)), (422, "body.uid".into()), "{uid}: {b}");
        let (s, b) = app
            .post(
                &format!("/app/{a}/msg"),
                json!({"eventType": "x.y", "eventId": uid, "payload": {}}),
            )
            .await;
        assert_eq!((s, named(&b)), (422, "body.eventId".into()), "{uid}: {b}");
    }
    // A PUT to a missing object creates it with the path as its uid: the same rule holds.
    let (s, b) = app
        .req(Method::PUT, "/app/app_new", Some(json!({"name": "n"})))
        .await;
    assert_eq!((s, named(&b)), (422, "path.app_id".into()), "{b}");
    let (s, b) = app
        .req(
            Method::PUT,
            &format!("/app/{a}/endpoint/ep_new"),
            Some(json!({"url": "https://example.com/h"})),
        )
        .await;
    assert_eq!((s, named(&b)), (422, "path.endpoint_id".into()), "{b}");
    // Ordinary uids still work, including ones merely containing a prefix.
    let (s, b) = app
        .post("/app", json!({"name": "n", "uid": "my-app_1"}))
        .await;
    assert_eq!(s, 201, "{b}");
}

/// A uid equal to another object's id (stored before this rule, or written behind the API's
/// back) never shadows that object: a lookup by something shaped like an id goes by id only.
async fn lookups_prefer_the_id_over_an_equal_uid() {
    let app = spawn_app().await;
    let victim = app.create_app("victim").await;
    let attacker = app.create_app("attacker").await;
    let token = app.app_token(&attacker).await;
    app.sql(&format!(
        "UPDATE applications SET uid = '{victim}' WHERE id = '{attacker}'"
    ))
    .await;
    let (s, b) = app.get(&format!("/app/{victim}")).await;
    assert_eq!((s, b["name"].as_str()), (200, Some("victim")), "{b}");
    // A publish to the victim's id lands in the victim's log, not the attacker's.
    let m = app
        .publish(
            &victim,
            json!({"eventType": "x.y", "payload": {"secret": 1}}),
        )
        .await;
    let (s, _) = app
        .get(&format!("/app/{victim}/msg/{}", m["id"].as_str().unwrap()))
        .await;
    assert_eq!(s, 200);
    let (s, b) = app
        .req_as(&token, Method::GET, &format!("/app/{victim}/msg"), None)
        .await;
    assert_eq!(s, 404, "{b}");
    let (s, b) = app
        .req_as(&token, Method::GET, &format!("/app/{attacker}/msg"), None)
        .await;
    assert_eq!((s, b["data"].as_array().map(Vec::len)), (200, Some(0)));

    // The same for endpoints and messages within an application.
    let (e1, _) = app
        .create_endpoint(&victim, json!({"url": "https://example.com/one"}))
        .await;
    let (e2, _) = app
        .create_endpoint(&victim, json!({"url": "https://example.com/two"}))
        .await;
    app.sql(&format!(
        "UPDATE endpoints SET uid = '{e1}' WHERE id = '{e2}'"
    ))
    .await;
    let (s, b) = app.get(&format!("/app/{victim}/endpoint/{e1}")).await;
    assert_eq!((s, b["id"].as_str()), (200, Some(e1.as_str())), "{b}");
    let m1 = app
        .publish(&victim, json!({"eventType": "x.y", "payload": {"n": 1}}))
        .await;
    let m1 = m1["id"].as_str().unwrap();
    let m2 = app
        .publish(&victim, json!({"eventType": "x.y", "payload": {"n": 2}}))
        .await;
    let m2 = m2["id"].as_str().unwrap();
    app.sql(&format!(
        "UPDATE messages SET event_id = '{m1}' WHERE id = '{m2}'"
    ))
    .await;
    let (s, b) = app.get(&format!("/app/{victim}/msg/{m1}")).await;
    assert_eq!((s, b["payload"]["n"].as_i64()), (200, Some(1)), "{b}");
}

backend_tests!(
    an_app_token_cannot_take_over_another_applications_id,
    uids_that_look_like_ids_are_refused,
    lookups_prefer_the_id_over_an_equal_uid,
);
