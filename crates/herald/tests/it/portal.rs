//! The customer portal: sessions from portal links (cookie flags, expiry, revocation), CSRF,
//! isolation between applications, errors as pages, and the whole flow in a real headless
//! Chromium driven by `tests/portal/e2e.js` (playwright-core from npm, Debian's chromium), which
//! also saves the screenshots. Plus the message log's server time with 10,000 messages.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::process::Command;

use crate::helpers::*;
use crate::python::run;

/// The playwright-core version the browser test pins.
const PLAYWRIGHT: &str = "1.65.1";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A client that does not follow redirects (the tests look at them).
fn browserless() -> reqwest::Client {
    herald::net::client::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// A visitor with (perhaps) a session cookie.
struct Visitor {
    base: String,
    client: reqwest::Client,
    cookie: Option<String>,
}

struct Page {
    status: u16,
    body: String,
    headers: reqwest::header::HeaderMap,
}

impl Page {
    /// The CSRF token of the page's forms.
    fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"_csrf\" value=\"")
            .expect("a form with a CSRF token");
        let rest = &self.body[at + "name=\"_csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_string()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl Visitor {
    fn new(app: &TestApp) -> Self {
        Visitor {
            base: app.base.clone(),
            client: browserless(),
            cookie: None,
        }
    }

    async fn send(&self, r: reqwest::RequestBuilder) -> Page {
        let r = match &self.cookie {
            Some(c) => r.header("cookie", c),
            None => r,
        };
        let resp = r.send().await.expect("the portal answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap_or_default();
        Page {
            status,
            body,
            headers,
        }
    }

    async fn get(&self, path: &str) -> Page {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    async fn post(&self, path: &str, pairs: &[(&str, &str)]) -> Page {
        self.send(
            self.client
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(pairs)),
        )
        .await
    }

    /// Signs in with `token` as the link's script does; returns the answer (a redirect).
    async fn sign_in(&mut self, token: &str) -> Page {
        let p = self.post("/portal/session", &[("token", token)]).await;
        if let Some(c) = p.headers.get("set-cookie").and_then(|v| v.to_str().ok()) {
            self.cookie = c.split(';').next().map(str::to_string);
        }
        p
    }
}

/// An application with one endpoint; returns (app id, endpoint id, endpoint URL).
async fn app_with_endpoint(app: &TestApp, name: &str, url: &str) -> (String, String) {
    let a = app.create_app(name).await;
    let (ep, _) = app.create_endpoint(&a, json!({ "url": url })).await;
    (a, ep)
}

async fn a_session_follows_its_token() {
    let app = spawn_app().await;
    let (a, _) = app_with_endpoint(&app, "Acme Inc", "http://127.0.0.1:9/acme-hooks").await;
    let (s, access) = app
        .post(&format!("/auth/app-portal-access/{a}"), json!({}))
        .await;
    assert_eq!(s, 200, "{access}");
    let token = access["token"].as_str().unwrap().to_string();
    // The link opens the portal with the token in the fragment, which no server sees.
    let url = access["url"].as_str().unwrap();
    assert_eq!(url, format!("{}/portal/#key={token}", app.base));

    let mut v = Visitor::new(&app);
    let landing = v.get("/portal").await;
    assert_eq!(landing.status, 200);
    assert!(landing.body.contains("portal.js"), "{}", landing.body);
    let signed = v.sign_in(&token).await;
    assert_eq!(signed.status, 303);
    assert_eq!(
        signed.header("location"),
        format!("/portal/app/{a}/endpoints")
    );
    let cookie = signed.header("set-cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/portal"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    let max_age: i64 = cookie
        .split("Max-Age=")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .and_then(|n| n.parse().ok())
        .expect("a Max-Age");
    assert!((7 * 86400 - 60..=7 * 86400).contains(&max_age), "{cookie}");

    let page = v.get(&format!("/portal/app/{a}/endpoints")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("acme-hooks"), "{}", page.body);
    assert!(page.header("content-type").starts_with("text/html"));
    assert!(page.header("server-timing").starts_with("app;dur="));
    assert!(
        page.header("content-security-policy")
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(page.header("cache-control"), "no-store");

    // The token expires: so does the session.
    let hash = hex::encode(herald::api::hash_token(&token));
    app.sql(&format!(
        "UPDATE app_tokens SET expires_at = 1 WHERE token_hash = '{hash}'"
    ))
    .await;
    let gone = v.get(&format!("/portal/app/{a}/endpoints")).await;
    assert_eq!(gone.status, 401);
    assert!(!gone.body.contains("acme-hooks") && !gone.body.contains("Acme"));
    assert!(gone.body.contains("session has ended"), "{}", gone.body);
    // An expired link is refused at sign-in.
    let refused = Visitor::new(&app).sign_in(&token).await;
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("not valid or has expired"));
    assert!(refused.header("set-cookie").is_empty());

    // The token is revoked through the API: the session ends too.
    let token = app.app_token(&a).await;
    let mut v = Visitor::new(&app);
    assert_eq!(v.sign_in(&token).await.status, 303);
    assert_eq!(
        v.get(&format!("/portal/app/{a}/messages")).await.status,
        200
    );
    let r = app
        .client
        .post(app.url("/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        v.get(&format!("/portal/app/{a}/messages")).await.status,
        401
    );

    // Signing out ends the session and revokes the link's token.
    let token = app.app_token(&a).await;
    let mut v = Visitor::new(&app);
    v.sign_in(&token).await;
    let page = v.get(&format!("/portal/app/{a}/endpoints")).await;
    let out = v.post("/portal/logout", &[("_csrf", &page.csrf())]).await;
    assert_eq!(out.status, 303);
    assert!(out.header("set-cookie").contains("Max-Age=0"));
    assert_eq!(
        v.get(&format!("/portal/app/{a}/endpoints")).await.status,
        401
    );
    let (s, _) = app
        .req_as(&token, reqwest::Method::GET, &format!("/app/{a}"), None)
        .await;
    assert_eq!(s, 401, "the link's token is revoked");
}

async fn a_session_sees_one_application_only() {
    let app = spawn_app().await;
    let (a, _) = app_with_endpoint(&app, "Acme Inc", "http://127.0.0.1:9/acme-hooks").await;
    let (b, b_ep) = app_with_endpoint(&app, "Globex", "http://127.0.0.1:9/globex-hooks").await;
    let b_msg = app
        .publish(
            &b,
            json!({"eventType": "b.secret", "payload": {"globex": true}}),
        )
        .await;
    let b_msg = b_msg["id"].as_str().unwrap();
    let b_pages = [
        format!("/portal/app/{b}"),
        format!("/portal/app/{b}/endpoints"),
        format!("/portal/app/{b}/endpoints/{b_ep}"),
        format!("/portal/app/{b}/endpoints/{b_ep}/edit"),
        format!("/portal/app/{b}/endpoints/{b_ep}/delete"),
        format!("/portal/app/{b}/messages"),
        format!("/portal/app/{b}/messages/{b_msg}"),
        format!("/portal/app/{b}/event-types"),
        format!("/portal/app/{a}/endpoints/{b_ep}"),
        format!("/portal/app/{a}/messages/{b_msg}"),
        "/portal/apps".to_string(),
    ];
    let leaks = |p: &Page| {
        ["Globex", "globex", "b.secret", &*b_ep, b_msg]
            .iter()
            .any(|s| p.body.contains(s))
    };

    // No session: every page is the sign-in page, naming nothing.
    let nobody = Visitor::new(&app);
    for path in b_pages
        .iter()
        .chain([&format!("/portal/app/{a}/endpoints")])
    {
        let p = nobody.get(path).await;
        assert_eq!(p.status, 401, "{path}");
        assert!(!leaks(&p) && !p.body.contains("Acme"), "{path}: {}", p.body);
    }
    // A forged cookie is no session.
    let mut forged = Visitor::new(&app);
    forged.cookie = Some("herald_portal=appsk_forged".into());
    assert_eq!(
        forged
            .get(&format!("/portal/app/{a}/endpoints"))
            .await
            .status,
        401
    );
    forged.cookie = Some("herald_portal=op.99999999999999.forged".into());
    assert_eq!(forged.get("/portal/apps").await.status, 401);

    // A's session: B's pages (and B's objects under A's path) are not found.
    let mut v = Visitor::new(&app);
    v.sign_in(&app.app_token(&a).await).await;
    for path in &b_pages {
        let p = v.get(path).await;
        assert_eq!(p.status, 404, "{path}");
        assert!(!leaks(&p), "{path}: {}", p.body);
    }
    // Nor can it change B's endpoint.
    let csrf = v.get(&format!("/portal/app/{a}/endpoints")).await.csrf();
    let p = v
        .post(
            &format!("/portal/app/{b}/endpoints/{b_ep}/disable"),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(p.status, 404);
    let (_, ep) = app.get(&format!("/app/{b}/endpoint/{b_ep}")).await;
    assert_eq!(ep["disabled"], false);

    // The operator signs in with the operator token and opens any application.
    let mut op = Visitor::new(&app);
    assert_eq!(op.sign_in("wrong-token").await.status, 401);
    let signed = op.sign_in(TOKEN).await;
    assert_eq!(signed.header("location"), "/portal/apps");
    assert!(!op.cookie.as_deref().unwrap_or("").contains(TOKEN));
    let list = op.get("/portal/apps").await;
    assert!(list.body.contains("Acme Inc") && list.body.contains("Globex"));
    let p = op.get(&format!("/portal/app/{b}/messages/{b_msg}")).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("globex"), "{}", p.body);
    // Every page of B opens for the operator (on both backends).
    app.wait_attempts(&b, b_msg, 1).await;
    for path in &b_pages[..8] {
        let p = op.get(&format!("{path}?status=failed&range=7d")).await;
        let want = if path.ends_with(&b) { 303 } else { 200 };
        assert_eq!(p.status, want, "{path}: {}", p.body);
    }
}

async fn forms_need_the_session_csrf_token() {
    let app = spawn_app().await;
    let (a, ep) = app_with_endpoint(&app, "Acme Inc", "http://127.0.0.1:9/acme-hooks").await;
    let mut v = Visitor::new(&app);
    v.sign_in(&app.app_token(&a).await).await;
    let csrf = v.get(&format!("/portal/app/{a}/endpoints")).await.csrf();
    let disable = format!("/portal/app/{a}/endpoints/{ep}/disable");
    let disabled = async || app.get(&format!("/app/{a}/endpoint/{ep}")).await.1["disabled"].clone();

    let p = v.post(&disable, &[]).await;
    assert_eq!(p.status, 403);
    assert!(p.body.contains("Reload the page"), "{}", p.body);
    assert_eq!(v.post(&disable, &[("_csrf", "forged")]).await.status, 403);
    // Another session's token is no good either.
    let mut other = Visitor::new(&app);
    other.sign_in(&app.app_token(&a).await).await;
    let theirs = other
        .get(&format!("/portal/app/{a}/endpoints"))
        .await
        .csrf();
    assert_ne!(theirs, csrf);
    assert_eq!(v.post(&disable, &[("_csrf", &theirs)]).await.status, 403);
    // A POST from another site is refused whatever it carries.
    let p = v
        .send(
            v.client
                .post(format!("{}{disable}", v.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("sec-fetch-site", "cross-site")
                .body(form(&[("_csrf", &csrf)])),
        )
        .await;
    assert_eq!(p.status, 403);
    assert_eq!(disabled().await, false);

    let p = v.post(&disable, &[("_csrf", &csrf)]).await;
    assert_eq!(p.status, 303);
    assert_eq!(
        p.header("location"),
        format!("/portal/app/{a}/endpoints?done=disabled")
    );
    assert_eq!(disabled().await, true);
}

async fn errors_are_pages_and_fields_say_what_is_wrong() {
    let app = spawn_app().await;
    let a = app.create_app("Acme Inc").await;
    let mut v = Visitor::new(&app);
    v.sign_in(&app.app_token(&a).await).await;
    let csrf = v
        .get(&format!("/portal/app/{a}/endpoints/new"))
        .await
        .csrf();
    let p = v
        .post(
            &format!("/portal/app/{a}/endpoints"),
            &[
                ("_csrf", &csrf),
                ("url", "ftp://nope"),
                ("retrySchedule", "5, soon"),
            ],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.header("content-type").starts_with("text/html"));
    assert!(p.body.contains("whole numbers of seconds"), "{}", p.body);
    let p = v
        .post(
            &format!("/portal/app/{a}/endpoints"),
            &[
                ("_csrf", &csrf),
                ("url", "ftp://nope"),
                ("description", "x"),
            ],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("must use http or https"), "{}", p.body);
    assert!(p.body.contains("aria-invalid=\"true\""), "{}", p.body);
    assert!(
        p.body.contains("value=\"ftp://nope\""),
        "the form keeps what was typed"
    );
    let (_, list) = app.get(&format!("/app/{a}/endpoint")).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);

    for path in [
        "/portal/nowhere".to_string(),
        format!("/portal/app/{a}/endpoints/ep_missing"),
        format!("/portal/app/{a}/messages/msg_missing"),
        "/portal/assets/missing.css".to_string(),
    ] {
        let p = v.get(&path).await;
        assert_eq!(p.status, 404, "{path}");
        assert!(p.header("content-type").starts_with("text/html"), "{path}");
        assert!(!p.body.trim_start().starts_with('{'), "{path}: {}", p.body);
    }
    // Behind https, the cookie is Secure.
    let https = spawn_app_with(|c| c.public_url = Some("https://hooks.example".into())).await;
    let a = https.create_app("Acme Inc").await;
    let mut v = Visitor::new(&https);
    let p = v.sign_in(&https.app_token(&a).await).await;
    assert!(
        p.header("set-cookie").contains("; Secure"),
        "{}",
        p.header("set-cookie")
    );
}

/// Server time of a page, from its `Server-Timing` header.
fn server_ms(p: &Page) -> f64 {
    p.header("server-timing")
        .strip_prefix("app;dur=")
        .and_then(|d| d.parse().ok())
        .expect("a Server-Timing header")
}

/// Fills an application with 10,000 messages (one endpoint disabled, so every message has a
/// skipped delivery; one enabled for a tenth of them) and reports the server time of the
/// message log's pages. Reported, not asserted: timings depend on the machine.
async fn message_log_with_10k_messages() {
    let app = spawn_app().await;
    let receiver = Receiver::start().await;
    let a = app.create_app("Big Customer").await;
    app.create_endpoint(&a, json!({"url": receiver.url("/all"), "disabled": true}))
        .await;
    app.create_endpoint(
        &a,
        json!({"url": receiver.url("/orders"), "eventTypes": ["order.created"]}),
    )
    .await;
    let started = Instant::now();
    let tasks: Vec<_> = (0..16)
        .map(|t| {
            let (c, url) = (app.client.clone(), app.url(&format!("/app/{a}/msg")));
            tokio::spawn(async move {
                for i in (t..10_000).step_by(16) {
                    let kind = if i % 10 == 0 { "order.created" } else { "invoice.paid" };
                    let r = c
                        .post(&url)
                        .bearer_auth(TOKEN)
                        .json(&json!({"eventType": kind, "payload": {"n": i, "note": "x".repeat(200)}}))
                        .send()
                        .await
                        .expect("publish");
                    assert_eq!(r.status(), 202);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let filled = started.elapsed();
    receiver.wait_for(1000, Duration::from_secs(120)).await;
    let mut op = Visitor::new(&app);
    op.sign_in(TOKEN).await;
    let first = op.get(&format!("/portal/app/{a}/messages")).await;
    assert_eq!(first.status, 200);
    let older = first
        .body
        .split("iterator=")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a next page")
        .to_string();
    let pages = [
        ("messages, first page", format!("/portal/app/{a}/messages")),
        (
            "messages, next page",
            format!("/portal/app/{a}/messages?iterator={older}"),
        ),
        (
            "messages, status failed",
            format!("/portal/app/{a}/messages?status=failed"),
        ),
        (
            "messages, status succeeded",
            format!("/portal/app/{a}/messages?status=succeeded"),
        ),
        (
            "messages, one event type",
            format!("/portal/app/{a}/messages?type=order.created"),
        ),
        ("endpoints", format!("/portal/app/{a}/endpoints")),
    ];
    let mut report = format!(
        "portal server time with 10,000 messages ({:?}, filled in {:.1} s):\n",
        crate::helpers::backend(),
        filled.as_secs_f64()
    );
    for (what, path) in pages {
        let mut times = Vec::new();
        for _ in 0..7 {
            let p = op.get(&path).await;
            assert_eq!(p.status, 200, "{path}");
            times.push(server_ms(&p));
        }
        times.sort_by(f64::total_cmp);
        report.push_str(&format!(
            "  {what:<28} median {:6.2} ms, max {:6.2} ms\n",
            times[times.len() / 2],
            times[times.len() - 1]
        ));
    }
    println!("{report}");
    let file = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("portal-timing-{:?}.txt", crate::helpers::backend()));
    let _ = std::fs::write(file, &report);
}

backend_tests!(
    a_session_follows_its_token,
    a_session_sees_one_application_only,
    forms_need_the_session_csrf_token,
    errors_are_pages_and_fields_say_what_is_wrong,
    message_log_with_10k_messages,
);

/// playwright-core from npm, installed once per target directory; returns its directory.
async fn playwright() -> PathBuf {
    static DIR: tokio::sync::OnceCell<PathBuf> = tokio::sync::OnceCell::const_new();
    DIR.get_or_init(|| async {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("portal-e2e");
        let ready = dir.join("herald-ready");
        if std::fs::read_to_string(&ready).ok().as_deref() != Some(PLAYWRIGHT) {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("the target directory is writable");
            let pkg = json!({"name": "herald-portal-e2e", "private": true,
                "dependencies": {"playwright-core": PLAYWRIGHT}});
            std::fs::write(dir.join("package.json"), pkg.to_string()).unwrap();
            run(
                Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund", "--no-package-lock"])
                    .current_dir(&dir),
                "npm install playwright-core",
            )
            .await;
            std::fs::write(&ready, PLAYWRIGHT).unwrap();
        }
        dir
    })
    .await
    .clone()
}

/// What the browser script can ask of the receiver: fail the next request, count requests.
async fn control_server(receiver: Receiver) -> String {
    let app = Router::new()
        .route(
            "/fail",
            post(|State(r): State<Receiver>| async move {
                r.script(&[500]);
                "ok"
            }),
        )
        .route(
            "/count",
            get(|State(r): State<Receiver>| async move {
                r.received()
                    .iter()
                    .filter(|x| x.path == "/acme")
                    .count()
                    .to_string()
            }),
        )
        .with_state(receiver);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_in_a_real_browser() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
    );
    let modules = playwright().await;
    // Retries an hour apart: a failed attempt stays the last one until the page resends it.
    let app = spawn_app_with(|c| c.retry_schedule = vec![3600]).await;
    let receiver = Receiver::start().await;
    let control = control_server(receiver.clone()).await;
    for (name, description, schemas) in [
        (
            "invoice.paid",
            "An invoice was paid in full.",
            json!({"1": {"type": "object", "properties": {"invoice": {"type": "integer"},
                "amount": {"type": "integer"}}, "examples": [{"invoice": 42, "amount": 1999}]}}),
        ),
        ("invoice.void", "An invoice was voided.", Value::Null),
        (
            "simulation.completed",
            "A simulation finished; its results are ready.",
            Value::Null,
        ),
    ] {
        let (s, b) = app
            .post(
                "/event-type",
                json!({"name": name, "description": description, "schemas": schemas}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    let (s, acme) = app
        .post("/app", json!({"name": "Acme Inc", "uid": "acme"}))
        .await;
    assert_eq!(s, 201, "{acme}");
    let acme = acme["id"].as_str().unwrap().to_string();
    // A second endpoint that is down, so the pages show a failure from the start.
    let down = format!("http://127.0.0.1:{}/staging", free_port());
    app.create_endpoint(
        &acme,
        json!({"url": down, "description": "Staging (down)", "eventTypes": ["invoice.void"]}),
    )
    .await;
    app.publish(
        &acme,
        json!({"eventType": "invoice.void", "payload": {"invoice": 7}}),
    )
    .await;
    let (globex, globex_ep) =
        app_with_endpoint(&app, "Globex", &receiver.url("/globex-hooks")).await;
    let link = |s: &Value| s["url"].as_str().unwrap().to_string();
    let (_, access) = app.post("/auth/app-portal-access/acme", json!({})).await;
    let (_, expired) = app.post("/auth/app-portal-access/acme", json!({})).await;
    let hash = hex::encode(herald::api::hash_token(expired["token"].as_str().unwrap()));
    app.sql(&format!(
        "UPDATE app_tokens SET expires_at = 1 WHERE token_hash = '{hash}'"
    ))
    .await;
    let shots = std::env::var("HERALD_PORTAL_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_TARGET_TMPDIR")).join("portal-screenshots"));
    std::fs::create_dir_all(&shots).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/portal/e2e.js");
    let out = tokio::time::timeout(
        Duration::from_secs(300),
        Command::new("node")
            .arg(&script)
            .env("NODE_PATH", modules.join("node_modules"))
            .env("CHROMIUM", CHROMIUM)
            .env("PROFILE_DIR", profile.path())
            .env("SCREENSHOTS", &shots)
            .env("HERALD_BASE", &app.base)
            .env("HERALD_TOKEN", TOKEN)
            .env("LINK", link(&access))
            .env("EXPIRED_LINK", link(&expired))
            .env("APP_ID", &acme)
            .env("RECEIVER_URL", receiver.url("/acme"))
            .env("CONTROL", &control)
            .env("OTHER_APP_ID", &globex)
            .env("OTHER_ENDPOINT_ID", &globex_ep)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser script finishes in time")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the browser script failed:\n{stdout}\n{stderr}"
    );
    println!("{stdout}");
    assert!(stdout.contains("portal e2e: all checks passed"), "{stdout}");
}
