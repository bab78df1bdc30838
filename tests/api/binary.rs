//! The `kitchen-api` binary itself: its command line, its logs, its shutdown.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{GOOD_PASSWORD, scratch_database};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_kitchen-api");

/// A running `kitchen-api serve` and everything it has written to stderr.
/// The production Argon2 cost (19 MiB, 2 passes), for tests that need real hashes: `start`
/// otherwise uses a cheap one.
pub(crate) const PRODUCTION_ARGON2: [(&str, &str); 2] = [
    ("KITCHEN_API_ARGON2_MEMORY_KIB", "19456"),
    ("KITCHEN_API_ARGON2_ITERATIONS", "2"),
];

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub(crate) fn start(database_url: &str, extra_env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", database_url)
            .env("KITCHEN_API_BIND", "127.0.0.1:0")
            .env("KITCHEN_API_ARGON2_MEMORY_KIB", "64")
            .env("KITCHEN_API_ARGON2_ITERATIONS", "1")
            .env("KITCHEN_API_MFA_KEY", crate::helpers::test_mfa_key())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                    tx.send(addr).ok();
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("server did not start: {:?}", log.lock().unwrap()));
        Server {
            child,
            base: format!("http://{addr}"),
            log,
        }
    }

    pub(crate) fn terminate(&mut self) -> std::process::ExitStatus {
        crate::helpers::terminate(&self.child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Registers `email` (with [`GOOD_PASSWORD`]) and returns its token.
    pub(crate) async fn register(&self, email: &str) -> String {
        let res = reqwest::Client::new()
            .post(format!("{}/users/", self.base))
            .json(&json!({"email": email, "password": GOOD_PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    /// `GET /users/me/` with this token.
    pub(crate) async fn get_me(&self, token: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(format!("{}/users/me/", self.base))
            .header("Authorization", format!("Token {token}"))
            .send()
            .await
            .unwrap()
    }

    pub(crate) fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

#[test]
fn help_lists_every_setting_with_its_environment_variable() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for var in [
        "DATABASE_URL",
        "KITCHEN_API_BIND",
        "KITCHEN_API_ARGON2_MEMORY_KIB",
        "KITCHEN_API_ARGON2_ITERATIONS",
        "KITCHEN_API_ARGON2_PARALLELISM",
        "KITCHEN_API_HASH_CONCURRENCY",
        "KITCHEN_API_MAX_BODY_BYTES",
        "KITCHEN_API_DB_MAX_CONNECTIONS",
        "KITCHEN_API_DB_ACQUIRE_TIMEOUT_SECS",
        "KITCHEN_API_MIGRATE_ON_START",
        "KITCHEN_API_LOG",
        "KITCHEN_API_LOG_FORMAT",
    ] {
        assert!(help.contains(var), "--help does not mention {var}:\n{help}");
    }
    for command in ["serve", "migrate", "createsuperuser", "users"] {
        assert!(help.contains(command), "--help does not list `{command}`");
    }
}

#[test]
fn a_bad_setting_stops_start_up_with_a_message_naming_it() {
    let out = Command::new(BIN)
        .env("KITCHEN_API_ARGON2_MEMORY_KIB", "1")
        .env("DATABASE_URL", "sqlite::memory:")
        .env("KITCHEN_API_BIND", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("KITCHEN_API_ARGON2"), "{stderr}");

    let out = Command::new(BIN)
        .env("DATABASE_URL", "mysql://localhost/x")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL"));
}

#[tokio::test]
async fn migrate_creates_the_schema_and_is_idempotent() {
    let (url, _scratch) = scratch_database().await;
    for _ in 0..2 {
        let out = Command::new(BIN)
            .arg("migrate")
            .env("DATABASE_URL", &url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut server = Server::start(&url, &[("KITCHEN_API_MIGRATE_ON_START", "false")]);
    let res = reqwest::Client::new()
        .post(format!("{}/users/", server.base))
        .json(&json!({"email": "m@example.com", "password": GOOD_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert!(server.terminate().success());
}

#[tokio::test]
async fn the_default_database_is_a_sqlite_file_in_wal_mode_created_on_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env("KITCHEN_API_BIND", "127.0.0.1:0")
        .stderr(Stdio::piped());
    // Start from the documented default (no DATABASE_URL at all).
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let started = lines.any(|l| {
        l.map(|l| l.contains("listening on http://"))
            .unwrap_or(false)
    });
    assert!(started);
    let db = dir.path().join("kitchen.db");
    assert!(db.exists(), "kitchen.db was not created");
    crate::helpers::terminate(&child);
    assert!(child.wait().unwrap().success());
    // The journal mode is stored in the file header: bytes 18 and 19 are 2 for WAL.
    let header = std::fs::read(&db).unwrap();
    assert_eq!((header[18], header[19]), (2, 2), "not in WAL mode");
}

#[tokio::test]
async fn sigterm_lets_requests_in_flight_finish_and_exits_zero() {
    let (url, _scratch) = scratch_database().await;
    // Expensive hashing makes a registration take long enough to still be running at SIGTERM.
    let mut server = Server::start(
        &url,
        &[
            ("KITCHEN_API_ARGON2_MEMORY_KIB", "262144"),
            ("KITCHEN_API_ARGON2_ITERATIONS", "4"),
        ],
    );
    let client = reqwest::Client::new();
    let request = client
        .post(format!("{}/users/", server.base))
        .json(&json!({"email": "slow@example.com", "password": GOOD_PASSWORD}))
        .send();
    let in_flight = tokio::spawn(request);
    // Not a timing assertion: only gives the request time to reach the server.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let status = tokio::task::spawn_blocking(move || {
        let status = server.terminate();
        (status, server)
    })
    .await
    .unwrap();
    let res = in_flight.await.unwrap().unwrap();
    assert_eq!(res.status(), 201, "the in-flight registration was cut off");
    assert!(status.0.success(), "exit status {:?}", status.0);
}

#[tokio::test]
async fn no_log_line_contains_a_password_token_or_authorization_header() {
    let (url, _scratch) = scratch_database().await;
    let mut server = Server::start(&url, &[("KITCHEN_API_LOG", "trace")]);
    let client = reqwest::Client::new();
    let base = server.base.clone();
    let secret_password = "Very-Secret-Passphrase-4242";
    let res = client
        .post(format!("{base}/users/"))
        .json(&json!({"email": "logs@example.com", "password": secret_password}))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    let first = body["token"].as_str().unwrap().to_owned();
    let res = client
        .post(format!("{base}/token/"))
        .json(&json!({"email": "logs@example.com", "password": secret_password}))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    let second = body["token"].as_str().unwrap().to_owned();
    for token in [&first, &second] {
        assert_eq!(server.get_me(token).await.status(), 200);
    }
    client
        .post(format!("{base}/token/"))
        .json(&json!({"email": "logs@example.com", "password": "wrong-but-secret-9"}))
        .send()
        .await
        .unwrap();
    client
        .post(format!("{base}/logout/"))
        .header("Authorization", format!("Token {first}"))
        .send()
        .await
        .unwrap();
    assert!(server.terminate().success());

    let log = server.log_text();
    assert!(log.contains("login_succeeded"), "the log is being captured");
    for secret in [
        secret_password,
        "wrong-but-secret-9",
        first.as_str(),
        second.as_str(),
    ] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
    assert!(
        !log.to_ascii_lowercase().contains("authorization: token"),
        "an Authorization header reached the log"
    );
    assert!(log.contains("request_id"), "log lines carry the request id");
}

/// Runs `kitchen-api ARGS` with `stdin` as its standard input.
pub(crate) fn run_cli(database_url: &str, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("KITCHEN_API_ARGON2_MEMORY_KIB", "64")
        .env("KITCHEN_API_ARGON2_ITERATIONS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn createsuperuser_reads_the_password_from_stdin_and_the_superuser_can_administer() {
    let (url, _scratch) = scratch_database().await;
    let out = run_cli(
        &url,
        &["createsuperuser", "--email", "Root@Example.com"],
        "root kitchen passphrase\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Root@example.com"));

    let mut server = Server::start(&url, &[]);
    let client = reqwest::Client::new();
    let res = client
        .post(format!("{}/token/", server.base))
        .json(&json!({"email": "root@example.com", "password": "root kitchen passphrase"}))
        .send()
        .await
        .unwrap();
    let token = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me: Value = server.get_me(&token).await.json().await.unwrap();
    assert_eq!(
        (me["is_superuser"].clone(), me["is_staff"].clone()),
        (json!(true), json!(true))
    );
    let res = client
        .get(format!("{}/users/", server.base))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(server.terminate().success());
}

#[tokio::test]
async fn createsuperuser_refuses_weak_passwords_duplicates_and_arguments_as_passwords() {
    let (url, _scratch) = scratch_database().await;
    let out = run_cli(
        &url,
        &["createsuperuser", "--email", "root@example.com"],
        "password\n",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("This password is too common."));
    let out = run_cli(
        &url,
        &["createsuperuser", "--email", "root@example.com"],
        "",
    );
    assert!(!out.status.success(), "an empty stdin is no password");
    let out = run_cli(
        &url,
        &[
            "createsuperuser",
            "--email",
            "root@example.com",
            "--password",
            "x",
        ],
        "",
    );
    assert!(!out.status.success(), "there is no --password argument");
    let ok = run_cli(
        &url,
        &["createsuperuser", "--email", "root@example.com"],
        "root kitchen passphrase\n",
    );
    assert!(ok.status.success());
    let dup = run_cli(
        &url,
        &["createsuperuser", "--email", "ROOT@example.com"],
        "root kitchen passphrase\n",
    );
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
}

#[tokio::test]
async fn users_list_and_deactivate_from_the_command_line() {
    let (url, _scratch) = scratch_database().await;
    for email in ["a@example.com", "b@example.com"] {
        let out = run_cli(
            &url,
            &["createsuperuser", "--email", email],
            "root kitchen passphrase\n",
        );
        assert!(out.status.success());
    }
    let out = run_cli(&url, &["users", "list"], "");
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("id\temail"));
    assert!(lines[1].contains("a@example.com\ttrue"));

    let out = run_cli(
        &url,
        &["users", "deactivate", "--email", "B@example.com"],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_cli(&url, &["users", "list", "--search", "b@"], "");
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table
            .lines()
            .nth(1)
            .unwrap()
            .contains("b@example.com\tfalse"),
        "{table}"
    );
    let out = run_cli(
        &url,
        &["users", "deactivate", "--email", "nobody@example.com"],
        "",
    );
    assert!(!out.status.success());
}

#[tokio::test]
async fn a_deactivation_from_the_command_line_reaches_a_running_server_within_a_second_or_two() {
    let (url, _scratch) = scratch_database().await;
    // A TTL far longer than the test: only the announcement can end the cached session.
    let server = Server::start(&url, &[("KITCHEN_API_AUTH_CACHE_TTL_MS", "600000")]);
    let mut tokens = Vec::new();
    for email in ["gone@example.com", "stays@example.com"] {
        let token = server.register(email).await;
        assert_eq!(server.get_me(&token).await.status(), 200, "now cached");
        tokens.push(token);
    }
    let out = run_cli(
        &url,
        &["users", "deactivate", "--email", "gone@example.com"],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let res = server.get_me(&tokens[0]).await;
        if res.status() == 401 {
            let body: Value = res.json().await.unwrap();
            assert_eq!(body, json!({"detail": "User inactive or deleted."}));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a running server still serves an account deactivated from the command line"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.get_me(&tokens[1]).await.status(), 200);
}
