//! Test harness: `spawn_app` starts Herald in-process; `Receiver` is a real webhook receiver.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use herald::{Application, Config};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

pub const TOKEN: &str = "test-operator-token";

/// The database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

tokio::task_local! {
    static BACKEND: Backend;
}

/// Runs a test body with `b` as the backend of the nodes it starts.
pub async fn on_backend<T>(b: Backend, test: impl std::future::Future<Output = T>) -> T {
    BACKEND.scope(b, test).await
}

/// The backend of the running test (SQLite outside `backend_tests!`).
pub fn backend() -> Backend {
    BACKEND.try_with(|b| *b).unwrap_or(Backend::Sqlite)
}

/// The PostgreSQL server the tests use: the URL given at run time, else at build time.
pub fn postgres_admin_url() -> String {
    std::env::var("HERALD_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .or(option_env!("HERALD_TEST_POSTGRES_URL").map(str::to_string))
        .expect("HERALD_TEST_POSTGRES_URL names a PostgreSQL server for the tests")
}

/// A fresh, empty database for one test on the test server; returns its URL. The name carries
/// its creation time: databases left over from runs more than an hour ago are dropped (once per
/// process; other test processes may be running now, so younger ones stay).
pub async fn fresh_postgres_database() -> String {
    use sqlx::Connection;
    static CLEANED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let admin = postgres_admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("the PostgreSQL test server accepts connections");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    CLEANED
        .get_or_init(|| async {
            let old: Vec<String> = sqlx::query_scalar(
                "SELECT datname::text FROM pg_database WHERE datname LIKE 'herald\\_t\\_%'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
            for db in old {
                let born: u64 = db
                    .split('_')
                    .nth(2)
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                if born + 3600 < now {
                    let sql = format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await;
                }
            }
        })
        .await;
    let name = format!("herald_t_{now}_{}", fastrand::u64(..));
    let sql = format!("CREATE DATABASE \"{name}\"");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .expect("CREATE DATABASE on the test server");
    let _ = conn.close().await;
    let mut url = url::Url::parse(&admin).expect("HERALD_TEST_POSTGRES_URL is a URL");
    url.set_path(&name);
    url.to_string()
}

/// A database URL for a new test node on the current backend; SQLite files go in `dir`.
pub async fn test_database_url(dir: &tempfile::TempDir) -> String {
    match backend() {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("herald.db").display()),
        Backend::Postgres => fresh_postgres_database().await,
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// The node's database, for tests that must reach past the API (to age a row, say).
    pub db_url: String,
    pub _dir: tempfile::TempDir,
}

/// Config for a test node: free port, fresh database, loopback allowed, fast retries.
pub async fn test_config(dir: &tempfile::TempDir) -> Config {
    let mut cfg = Config::defaults();
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.database_url = test_database_url(dir).await;
    cfg.token = Some(TOKEN.into());
    cfg.allow_targets = vec!["127.0.0.1/32".parse().unwrap()];
    cfg.retry_schedule = vec![1, 1];
    cfg.request_timeout_ms = 5000;
    cfg
}

/// An HTTP client for tests (TLS needs Herald's crypto provider installed first).
pub fn client() -> reqwest::Client {
    herald::net::client::install_crypto_provider();
    reqwest::Client::new()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(&dir).await;
    tweak(&mut cfg);
    let db_url = cfg.database_url.clone();
    let app = Application::build(cfg).await.expect("Herald starts");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run(std::future::pending()));
    TestApp {
        base,
        client: client(),
        db_url,
        _dir: dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1{}", self.base, path)
    }

    pub async fn req(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.req_as(TOKEN, method, path, body).await
    }

    /// A request with `token` instead of the operator's.
    pub async fn req_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.expect("request reaches Herald");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }

    /// Runs `sql` on the node's database directly.
    pub async fn sql(&self, sql: &str) {
        match self.db_url.strip_prefix("sqlite://") {
            Some(path) => rusqlite::Connection::open(path)
                .and_then(|c| c.execute_batch(sql))
                .expect("SQL on the test database"),
            None => {
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect(&self.db_url)
                    .await
                    .expect("connect to the test database");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                    .execute(&mut c)
                    .await
                    .expect("SQL on the test database");
            }
        }
    }

    /// An application-scoped token for `app` (the portal's).
    pub async fn app_token(&self, app: &str) -> String {
        let (s, access) = self
            .post(
                &format!("/auth/app-portal-access/{app}"),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(s, 200, "{access}");
        access["token"].as_str().unwrap().to_string()
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.req(reqwest::Method::GET, path, None).await
    }

    /// Every row of `table` as text, all columns, straight from the database (to look for what
    /// must not be stored in the clear).
    pub async fn dump(&self, table: &str) -> String {
        dump_table(&self.db_url, table).await
    }

    /// Takes the database's write lock from outside Herald (SQLite: a write transaction on the
    /// file; PostgreSQL: the messages table locked against inserts), so that the group
    /// committer hangs on its next batch, as it would on a stuck disk or database.
    pub async fn hold_writes(&self) -> WriteLock {
        match self.db_url.strip_prefix("sqlite://") {
            Some(path) => {
                let c = rusqlite::Connection::open(path).expect("open the test database");
                c.busy_timeout(Duration::from_secs(10)).unwrap();
                c.execute_batch("BEGIN IMMEDIATE")
                    .expect("take the write lock");
                WriteLock::Sqlite(c)
            }
            None => {
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect(&self.db_url)
                    .await
                    .expect("connect to the test database");
                sqlx::raw_sql("BEGIN; LOCK TABLE messages IN EXCLUSIVE MODE")
                    .execute(&mut c)
                    .await
                    .expect("lock the messages table");
                WriteLock::Pg(c)
            }
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.req(reqwest::Method::POST, path, Some(body)).await
    }

    /// Creates an application and returns its id.
    pub async fn create_app(&self, name: &str) -> String {
        let (s, b) = self.post("/app", serde_json::json!({"name": name})).await;
        assert_eq!(s, 201, "{b}");
        b["id"].as_str().unwrap().to_string()
    }

    /// Creates an endpoint from `body` and returns `(id, secret)`.
    pub async fn create_endpoint(&self, app: &str, body: Value) -> (String, String) {
        let (s, b) = self.post(&format!("/app/{app}/endpoint"), body).await;
        assert_eq!(s, 201, "{b}");
        let id = b["id"].as_str().unwrap().to_string();
        let (s, sec) = self.get(&format!("/app/{app}/endpoint/{id}/secret")).await;
        assert_eq!(s, 200);
        (id, sec["key"].as_str().unwrap().to_string())
    }

    pub async fn publish(&self, app: &str, body: Value) -> Value {
        let (s, b) = self.post(&format!("/app/{app}/msg"), body).await;
        assert_eq!(s, 202, "{b}");
        b
    }

    /// Polls until a message has at least `n` attempts, and returns them newest first.
    pub async fn wait_attempts(&self, app: &str, msg: &str, n: usize) -> Vec<Value> {
        eventually(
            &format!("{n} attempt(s) of {msg}"),
            Duration::from_secs(15),
            || async {
                let v = self.attempts(app, msg).await;
                (v.len() >= n).then_some(v)
            },
        )
        .await
    }

    /// The attempts of a message, newest first.
    pub async fn attempts(&self, app: &str, msg: &str) -> Vec<Value> {
        let (s, b) = self.get(&format!("/app/{app}/attempt/msg/{msg}")).await;
        assert_eq!(s, 200, "{b}");
        b["data"].as_array().unwrap().clone()
    }
}

/// Every row of `table` in the database at `db_url`, as text.
pub async fn dump_table(db_url: &str, table: &str) -> String {
    match db_url.strip_prefix("sqlite://") {
        Some(path) => {
            let c = rusqlite::Connection::open(path).expect("open the test database");
            let mut st = c.prepare(&format!("SELECT * FROM {table}")).unwrap();
            let n = st.column_count();
            let mut out = String::new();
            let mut rows = st.query([]).unwrap();
            while let Some(r) = rows.next().unwrap() {
                for i in 0..n {
                    let v: rusqlite::types::Value = r.get(i).unwrap();
                    out.push_str(&format!("{v:?}\t"));
                }
                out.push('\n');
            }
            out
        }
        None => {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(db_url)
                .await
                .expect("connect to the test database");
            let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT t::text FROM {table} t"
            )))
            .fetch_all(&mut c)
            .await
            .expect("read the table");
            rows.join("\n")
        }
    }
}

/// A write lock held from outside Herald (see [`TestApp::hold_writes`]).
pub enum WriteLock {
    Sqlite(rusqlite::Connection),
    Pg(sqlx::PgConnection),
}

impl WriteLock {
    pub async fn release(self) {
        match self {
            WriteLock::Sqlite(c) => c.execute_batch("ROLLBACK").expect("release the lock"),
            WriteLock::Pg(mut c) => {
                sqlx::raw_sql("ROLLBACK")
                    .execute(&mut c)
                    .await
                    .expect("release the lock");
            }
        }
    }
}

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub path: String,
    pub method: String,
    /// When the request arrived (before any scripted delay).
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// One scripted answer: a status and extra response headers.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
}

#[derive(Default)]
struct ReceiverState {
    /// Requests that arrived, including those still in their scripted delay.
    arrived: std::sync::atomic::AtomicUsize,
    got: Mutex<Vec<Received>>,
    /// Answers to give, in order; 200 once empty.
    script: Mutex<VecDeque<Reply>>,
    delay: Mutex<Duration>,
    /// The body of every answer ("ok" unless set).
    body: Mutex<Option<String>>,
}

/// A webhook receiver on 127.0.0.1 that records every request.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<ReceiverState>,
}

impl Receiver {
    pub async fn start() -> Self {
        let state = Arc::new(ReceiverState::default());
        let app = Router::new()
            .route("/{*path}", any(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Answer the next requests with these statuses, then 200.
    pub fn script(&self, statuses: &[u16]) {
        self.state
            .script
            .lock()
            .unwrap()
            .extend(statuses.iter().map(|&status| Reply {
                status,
                headers: Vec::new(),
            }));
    }

    /// Answer the next request (after those already scripted) with this status and these
    /// response headers, e.g. `Retry-After` or `Location`.
    pub fn script_with_headers(&self, status: u16, headers: &[(&str, &str)]) {
        self.state.script.lock().unwrap().push_back(Reply {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
    }

    /// Answer every request with this body.
    pub fn set_body(&self, body: &str) {
        *self.state.body.lock().unwrap() = Some(body.to_string());
    }

    pub fn set_delay(&self, d: Duration) {
        *self.state.delay.lock().unwrap() = d;
    }

    /// How many requests arrived, including those not answered yet (in their delay).
    pub fn arrived(&self) -> usize {
        self.state.arrived.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.got.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived, or panics after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                start.elapsed() < timeout,
                "expected {n} requests, got {} after {timeout:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(
    State(st): State<Arc<ReceiverState>>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    st.arrived.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let delay = *st.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    st.got.lock().unwrap().push(Received {
        headers,
        body,
        path: uri.path().to_string(),
        method: method.to_string(),
        at,
    });
    let reply = st.script.lock().unwrap().pop_front().unwrap_or(Reply {
        status: 200,
        headers: Vec::new(),
    });
    let mut extra = HeaderMap::new();
    for (k, v) in &reply.headers {
        extra.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let body = st
        .body
        .lock()
        .unwrap()
        .clone()
        .unwrap_or_else(|| "ok".into());
    (StatusCode::from_u16(reply.status).unwrap(), extra, body).into_response()
}

/// Verifies a Standard Webhooks request the way a receiver would, with RustCrypto's HMAC:
/// some `v1,` entry of the signature header must match.
pub fn verify_standard(secret: &str, r: &Received) -> bool {
    let key = B64
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .unwrap();
    let id = r.header("webhook-id");
    let ts = r.header("webhook-timestamp");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&r.body);
    let expected = format!("v1,{}", B64.encode(mac.finalize().into_bytes()));
    r.header("webhook-signature")
        .split(' ')
        .any(|s| s == expected)
}

/// Polls `f` until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The real `herald` binary, started as its own process (so it can be SIGKILLed).
pub struct Node {
    pub child: tokio::process::Child,
    pub base: String,
}

impl Node {
    /// Starts `herald serve` on `port` with `db_url` and the test settings plus `env`, and waits
    /// until it answers its health check.
    pub async fn start(db_url: &str, port: u16, env: &[(&str, &str)]) -> Node {
        Node::start_logging(db_url, port, env, false).await
    }

    /// [`Node::start`], with the node's stdout (its logs) piped to `child.stdout` if `logs`.
    pub async fn start_logging(db_url: &str, port: u16, env: &[(&str, &str)], logs: bool) -> Node {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"));
        cmd.arg("serve")
            .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
            .env("HERALD_DATABASE_URL", db_url)
            .env("HERALD_TOKEN", TOKEN)
            .env("HERALD_ALLOW_TARGETS", "127.0.0.1/32")
            .env("HERALD_RETRY_SCHEDULE", "1,1,1")
            .env("HERALD_REQUEST_TIMEOUT_MS", "2000")
            .env("HERALD_LOG", "warn")
            .stdout(if logs {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("the herald binary starts");
        let base = format!("http://127.0.0.1:{port}/api/v1");
        let client = client();
        let start = Instant::now();
        loop {
            if let Ok(r) = client.get(format!("{base}/health")).send().await
                && r.status().is_success()
            {
                return Node { child, base };
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "herald did not come up on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no graceful shutdown, no flushing.
    pub async fn kill(&mut self) {
        self.child.start_kill().expect("SIGKILL is delivered");
        let _ = self.child.wait().await;
    }

    /// Sends SIGTERM (a graceful stop) without waiting for the exit.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("the node is running");
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "SIGTERM is delivered");
    }

    /// Waits for the process to exit; returns its exit status.
    pub async fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        tokio::time::timeout(timeout, self.child.wait())
            .await
            .expect("the node exits in time")
            .expect("waiting for the node")
    }
}

impl Node {
    /// Sends `method` to `path` under this node's API, with a JSON body if given; returns the
    /// status and the JSON body.
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = client()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("request reaches Herald");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// POSTs JSON to `path` under this node's API.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// PATCHes `path` under this node's API with JSON.
    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }

    /// GETs `path` under this node's API.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    /// Creates an application with one endpoint delivering to `url`; returns the app's id.
    pub async fn app_with_endpoint(&self, name: &str, url: &str) -> String {
        let (s, app) = self.post("/app", serde_json::json!({"name": name})).await;
        assert_eq!(s, 201, "{app}");
        let id = app["id"].as_str().unwrap().to_string();
        let (s, ep) = self
            .post(
                &format!("/app/{id}/endpoint"),
                serde_json::json!({"url": url}),
            )
            .await;
        assert_eq!(s, 201, "{ep}");
        id
    }
}

/// POSTs `body` to every URL at once; returns the statuses, in order.
pub async fn post_all_at_once(urls: Vec<String>, body: &Value) -> Vec<u16> {
    let client = client();
    let tasks: Vec<_> = urls
        .into_iter()
        .map(|url| {
            let (c, body) = (client.clone(), body.clone());
            tokio::spawn(async move {
                let r = c.post(url).bearer_auth(TOKEN).json(&body).send().await;
                r.expect("request reaches Herald").status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("the request task ran"));
    }
    statuses
}
