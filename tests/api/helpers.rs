//! `TestApp`: the real server on 127.0.0.1:0 over a fresh database — a new SQLite file, or a new
//! PostgreSQL schema when `TEST_DATABASE_URL` is set — with a counting hasher (cheap Argon2
//! parameters) and a fixed clock that tests move by hand.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use kitchen_api::app::Application;
use kitchen_api::auth::{Argon2Hasher, Clock, PasswordHasher};
use kitchen_api::config::Config;
use kitchen_api::db::Db;
use kitchen_api::domain::Password;
use kitchen_api::mail::{MailBackend, MailTransport, Mailer};
use kitchen_api::state::Overrides;
use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::Value;
use sqlx::Connection;
use tokio::sync::oneshot;

pub use crate::outbox::Outbox;

/// A password every policy accepts.
pub const GOOD_PASSWORD: &str = "correct horse battery staple";

/// Argon2id with the smallest parameters the algorithm allows: tests stay fast, and the
/// production defaults have a test of their own.
pub struct CountingHasher {
    inner: Argon2Hasher,
    hashes: AtomicUsize,
    verifies: AtomicUsize,
}

impl CountingHasher {
    fn new() -> Self {
        let params = argon2::Params::new(8, 1, 1, None).unwrap();
        Self {
            inner: Argon2Hasher::new(params),
            hashes: AtomicUsize::new(0),
            verifies: AtomicUsize::new(0),
        }
    }
    pub fn hashes(&self) -> usize {
        self.hashes.load(Ordering::SeqCst)
    }
    pub fn verifies(&self) -> usize {
        self.verifies.load(Ordering::SeqCst)
    }
}

impl PasswordHasher for CountingHasher {
    fn hash(&self, password: &Password) -> anyhow::Result<String> {
        self.hashes.fetch_add(1, Ordering::SeqCst);
        self.inner.hash(password)
    }
    fn verify(&self, password: &Password, phc: &str) -> anyhow::Result<bool> {
        self.verifies.fetch_add(1, Ordering::SeqCst);
        self.inner.verify(password, phc)
    }
}

/// A clock that stands still until a test moves it.
pub struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap() = t;
    }

    /// The time the server currently sees.
    pub fn now_for_tests(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// Where a test's database lives, removed when the test ends.
pub enum Scratch {
    /// Someone else's database (a second server on the first one's): nothing to remove.
    Shared,
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres {
        admin_url: String,
        schema: String,
    },
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let Scratch::Postgres { admin_url, schema } = self else {
            return;
        };
        let (admin_url, schema) = (admin_url.clone(), schema.clone());
        // Drop may run outside a runtime: use a small thread and runtime of its own.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .execute(&mut conn)
                        .await
                        .ok();
                }
            });
        })
        .join()
        .ok();
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: Client,
    /// A second pool on the same database, to look at what the server stored.
    pub db: Db,
    pub hasher: Arc<CountingHasher>,
    pub clock: Arc<TestClock>,
    pub auth_cache: kitchen_api::auth::AuthCache,
    /// The server's mail queue (to wait for it, or count what went through it).
    pub mailer: Mailer,
    /// Every mail the server sent, unless the test configured a real SMTP server.
    pub outbox: Arc<Outbox>,
    pub database_url: String,
    /// Where this app stores uploaded pictures (local storage).
    pub picture_dir: std::path::PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _scratch: Scratch,
}

/// A fresh database URL: a new SQLite file, or a new schema on `TEST_DATABASE_URL`.
pub async fn scratch_database() -> (String, Scratch) {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let schema = format!("t_{}", uuid_like());
            let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap();
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.ok();
            let sep = if admin_url.contains('?') { '&' } else { '?' };
            let url = format!("{admin_url}{sep}options=-c%20search_path%3D{schema}");
            (url, Scratch::Postgres { admin_url, schema })
        }
        _ => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("kitchen.db").display());
            (url, Scratch::Sqlite(dir))
        }
    }
}

fn uuid_like() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().r#gen();
    format!("{n:016x}")
}

const PICTURE_DIR_PREFIX: &str = "kitchen-test-pictures-";

/// The settings every test starts from: fresh database, port 0, cheap everything.
pub fn test_config(database_url: &str) -> Config {
    Config {
        database_url: database_url.to_owned(),
        bind: "127.0.0.1:0".parse().unwrap(),
        db_max_connections: 5,
        // Many tests register or mail many times from 127.0.0.1; the limit tests set their own.
        registrations_per_address: 0,
        code_mails_per_address: 0,
        code_mails_per_account: 0,
        // Each app its own picture directory, removed with the app.
        picture_dir: std::env::temp_dir().join(format!("{PICTURE_DIR_PREFIX}{}", uuid_like())),
        // A key of its own, so no test writes the default key file into the working directory.
        mfa_key: Some(test_mfa_key().parse().unwrap()),
        ..Config::default()
    }
}

/// The TOTP sealing key of every test server (`KITCHEN_API_MFA_KEY`), so servers sharing a
/// database open each other's secrets.
pub fn test_mfa_key() -> String {
    // The base64 of 32 bytes 'B'.
    "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=".to_owned()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server whose settings `configure` may change first.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let (database_url, scratch) = scratch_database().await;
    spawn_app_on(database_url, scratch, configure).await
}

/// Starts a server on an existing database.
pub async fn spawn_app_on(
    database_url: String,
    scratch: Scratch,
    configure: impl FnOnce(&mut Config),
) -> TestApp {
    try_spawn_app_on(database_url, scratch, configure)
        .await
        .unwrap()
}

/// Starts a server on a loopback port picked beforehand and given to `configure`, for settings
/// that name the server's own address (a browser's WebAuthn origin, say). Another port is
/// tried when something else takes the picked one first.
pub async fn spawn_app_on_port(configure: impl Fn(&mut Config, u16)) -> TestApp {
    let mut attempt = 1;
    loop {
        let port = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let (database_url, scratch) = scratch_database().await;
        let spawned = try_spawn_app_on(database_url, scratch, |c| {
            c.bind = SocketAddr::from(([127, 0, 0, 1], port));
            configure(c, port);
        })
        .await;
        match spawned {
            Ok(app) => return app,
            Err(e) => assert!(attempt < 3, "no server on a picked port, 3 times: {e:#}"),
        }
        attempt += 1;
    }
}

async fn try_spawn_app_on(
    database_url: String,
    scratch: Scratch,
    configure: impl FnOnce(&mut Config),
) -> anyhow::Result<TestApp> {
    let mut config = test_config(&database_url);
    configure(&mut config);
    let hasher = Arc::new(CountingHasher::new());
    let clock = Arc::new(TestClock(Mutex::new(
        Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap(),
    )));
    let outbox = Arc::new(Outbox::default());
    let overrides = Overrides {
        hasher: Some(hasher.clone()),
        clock: Some(clock.clone()),
        // A test that configures SMTP talks to a real server; the others read the outbox.
        mail_transport: (config.mail.backend == MailBackend::Log)
            .then(|| outbox.clone() as Arc<dyn MailTransport>),
    };
    let app = Application::build_with(config.clone(), overrides).await?;
    let addr = app.local_addr()?;
    let db = app.state().db.clone();
    let auth_cache = app.state().auth_cache.clone();
    let mailer = app.state().mailer.clone();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        rx.await.ok();
    }));
    Ok(TestApp {
        addr,
        client: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        db,
        hasher,
        clock,
        auth_cache,
        mailer,
        outbox,
        database_url,
        picture_dir: config.picture_dir.clone(),
        shutdown: Some(tx),
        server: Some(server),
        _scratch: scratch,
    })
}

impl TestApp {
    /// A second, independent server process-equivalent (own pool, own state) on this app's
    /// database, as behind a load balancer.
    pub async fn spawn_peer(&self, configure: impl FnOnce(&mut Config)) -> TestApp {
        spawn_app_on(self.database_url.clone(), Scratch::Shared, configure).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Registers `email` with [`GOOD_PASSWORD`] and returns (user_id, token).
    pub async fn register(&self, email: &str) -> (i64, String) {
        let res = self
            .post_json(
                "/users/",
                &serde_json::json!({"email": email, "password": GOOD_PASSWORD}),
            )
            .await;
        assert_eq!(res.status(), 201, "registration of {email} failed");
        let body: Value = res.json().await.unwrap();
        (
            body["user_id"].as_i64().unwrap(),
            body["token"].as_str().unwrap().to_owned(),
        )
    }

    /// Logs in and returns the new token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let res = self
            .post_json(
                "/token/",
                &serde_json::json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(res.status(), 200, "login of {email} failed");
        let body: Value = res.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    /// `GET /users/me/` with `Authorization: Token <token>`.
    pub async fn get_me(&self, token: &str) -> Response {
        self.request(Method::GET, "/users/me/")
            .header("Authorization", format!("Token {token}"))
            .send()
            .await
            .unwrap()
    }

    pub async fn update_me(&self, method: Method, token: &str, body: &Value) -> Response {
        self.request(method, "/users/me/")
            .header("Authorization", format!("Token {token}"))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Runs a statement on the test database directly (to set up states the API cannot), then
    /// invalidates this server's session cache, as an announced change would.
    pub async fn execute(&self, sql: &str) {
        self.execute_unannounced(sql).await;
        self.auth_cache.invalidate_all();
    }

    /// Runs a statement behind the server's back: its session cache is not told.
    pub async fn execute_unannounced(&self, sql: &str) {
        match &self.db {
            Db::Sqlite(pools) => {
                sqlx::query(sql).execute(pools.write()).await.unwrap();
            }
            Db::Postgres(pool) => {
                sqlx::query(sql).execute(pool).await.unwrap();
            }
        }
    }

    /// The one integer a query answers (a count), read from the test database directly.
    pub async fn scalar_i64(&self, sql: &str) -> i64 {
        match &self.db {
            Db::Sqlite(pools) => sqlx::query_scalar(sql)
                .fetch_one(pools.read())
                .await
                .unwrap(),
            Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        }
    }

    /// Every stored token digest, as raw bytes.
    pub async fn stored_token_digests(&self) -> Vec<Vec<u8>> {
        let sql = "SELECT digest FROM tokens ORDER BY id";
        match &self.db {
            Db::Sqlite(pools) => sqlx::query_scalar(sql)
                .fetch_all(pools.read())
                .await
                .unwrap(),
            Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await.unwrap(),
        }
    }

    /// The query plan of `sql`, one line per step: SQLite's `EXPLAIN QUERY PLAN`, or
    /// PostgreSQL's `EXPLAIN` with sequential scans off (a scratch table of a few rows is
    /// cheaper to scan; the plan then shows whether an index can serve the query at all).
    pub async fn query_plan(&self, sql: &str) -> String {
        match &self.db {
            Db::Sqlite(pools) => {
                use sqlx::Row;
                let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .fetch_all(pools.read())
                    .await
                    .unwrap();
                let details: Vec<String> =
                    rows.iter().map(|r| r.get::<String, _>("detail")).collect();
                details.join("\n")
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await.unwrap();
                sqlx::query("SET LOCAL enable_seqscan = off")
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                let lines: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {sql}"))
                    .fetch_all(&mut *tx)
                    .await
                    .unwrap();
                tx.rollback().await.unwrap();
                lines.join("\n")
            }
        }
    }

    /// Text of every column of every row of `table`, to search for leaked secrets.
    pub async fn dump_table(&self, table: &str) -> String {
        let sql = match &self.db {
            Db::Sqlite(_) => format!("SELECT * FROM {table}"),
            Db::Postgres(_) => format!("SELECT CAST(t.* AS TEXT) FROM {table} t"),
        };
        match &self.db {
            Db::Sqlite(pools) => {
                use sqlx::{Row, ValueRef};
                let rows = sqlx::query(&sql).fetch_all(pools.read()).await.unwrap();
                let mut out = String::new();
                for row in rows {
                    for i in 0..row.len() {
                        let raw = row.try_get_raw(i).unwrap();
                        if raw.is_null() {
                            continue;
                        }
                        if let Ok(s) = row.try_get::<String, _>(i) {
                            out.push_str(&s);
                        } else if let Ok(b) = row.try_get::<Vec<u8>, _>(i) {
                            out.push_str(&String::from_utf8_lossy(&b));
                        } else if let Ok(n) = row.try_get::<i64, _>(i) {
                            out.push_str(&n.to_string());
                        }
                        out.push('|');
                    }
                    out.push('\n');
                }
                out
            }
            Db::Postgres(pool) => {
                let rows: Vec<String> = sqlx::query_scalar(&sql).fetch_all(pool).await.unwrap();
                rows.join("\n")
            }
        }
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            tx.send(()).ok();
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            tx.send(()).ok();
        }
        let ours = self.picture_dir.starts_with(std::env::temp_dir())
            && self
                .picture_dir
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(PICTURE_DIR_PREFIX));
        if ours {
            std::fs::remove_dir_all(&self.picture_dir).ok();
        }
    }
}

/// Asserts the status and the exact JSON body of a response.
pub async fn assert_json(res: Response, status: u16, expected: Value) {
    let got_status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = res.text().await.unwrap();
    assert_eq!(got_status, status, "unexpected status; body: {text}");
    assert_eq!(
        content_type.as_deref(),
        Some("application/json"),
        "body: {text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    assert_eq!(body, expected);
}

/// Sends SIGTERM to `child`, as a service manager stopping it would (no `kill` program needed).
pub fn terminate(child: &std::process::Child) {
    let pid = rustix::process::Pid::from_child(child);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
}
