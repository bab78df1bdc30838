//! What mail leaves in the log of the real `kitchen-api` binary: with the `log` backend (a
//! developer's machine) each code in exactly one INFO line; with SMTP, an ERROR without the
//! code when a mail cannot be sent.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{GOOD_PASSWORD, scratch_database};

/// A real `kitchen-api serve`, killed when dropped, and its JSON log lines as they come.
struct Binary {
    child: Child,
    base: String,
    lines: mpsc::Receiver<Value>,
}

impl Drop for Binary {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn start_binary(database_url: &str, extra_env: &[(&str, &str)]) -> Binary {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kitchen-api"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("KITCHEN_API_BIND", "127.0.0.1:0")
        .env("KITCHEN_API_ARGON2_MEMORY_KIB", "64")
        .env("KITCHEN_API_ARGON2_ITERATIONS", "1")
        .env("KITCHEN_API_LOG_FORMAT", "json")
        .envs(extra_env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let parsed = serde_json::from_str(&line).unwrap_or(json!({"message": line}));
            if tx.send(parsed).is_err() {
                break;
            }
        }
    });
    let listening = next_line(&rx, |l| {
        l["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("listening on")
    });
    let base = listening["message"]
        .as_str()
        .unwrap()
        .trim_start_matches("listening on ")
        .to_owned();
    Binary {
        child,
        base,
        lines: rx,
    }
}

/// The next log line that satisfies `wanted`, waiting at most 20 s. The lines passed over
/// are added to `seen`.
fn next_line_after(
    rx: &mpsc::Receiver<Value>,
    seen: &mut Vec<Value>,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the expected log line never came");
        if wanted(&line) {
            return line;
        }
        seen.push(line);
    }
}

fn next_line(rx: &mpsc::Receiver<Value>, wanted: impl Fn(&Value) -> bool) -> Value {
    next_line_after(rx, &mut Vec::new(), wanted)
}

#[tokio::test]
async fn the_log_backend_writes_each_code_in_one_info_line_and_nowhere_else() {
    let (url, _scratch) = scratch_database().await;
    let server = start_binary(&url, &[]);
    let (base, rx) = (&server.base, &server.lines);
    let client = reqwest::Client::new();
    let res = client
        .post(format!("{base}/users/"))
        .json(&json!({"email": "cook@example.com", "password": GOOD_PASSWORD}))
        .send()
        .await
        .unwrap();
    let registered: Value = res.json().await.unwrap();
    let mut others = Vec::new();
    let mail_line = next_line_after(rx, &mut others, |l| l.get("code").is_some());
    assert_eq!(mail_line["level"], "INFO");
    assert_eq!(mail_line["to"], "cook@example.com");
    assert_eq!(mail_line["kind"], "verify_email");
    let code = mail_line["code"].as_str().unwrap().to_owned();
    let res = client
        .post(format!("{base}/users/verify/"))
        .json(&json!({"user_id": registered["user_id"], "code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Every line up to the verification's answer: start-up, both requests, the mail.
    let answered = next_line_after(rx, &mut others, |l| {
        l["message"] == "finished processing request" && l["span"]["path"] == "/users/verify"
    });
    others.push(answered);
    assert!(others.len() > 3, "{others:?}");
    assert!(
        others.iter().all(|l| !l.to_string().contains(&code)),
        "the code appears in another log line"
    );
    assert!(
        others.iter().all(|l| l["message"] != "mail sent"),
        "the log backend claims a mail it did not send was sent: {others:?}"
    );
}

#[tokio::test]
async fn a_mail_that_cannot_be_sent_is_logged_as_an_error_without_its_code() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (url, _scratch) = scratch_database().await;
    let port = port.to_string();
    let server = start_binary(
        &url,
        &[
            ("KITCHEN_API_MAIL_BACKEND", "smtp"),
            ("KITCHEN_API_SMTP_HOST", "127.0.0.1"),
            ("KITCHEN_API_SMTP_PORT", &port),
            ("KITCHEN_API_SMTP_TLS", "none"),
            ("KITCHEN_API_MAIL_MAX_ATTEMPTS", "2"),
            ("KITCHEN_API_MAIL_RETRY_BASE_MS", "1"),
        ],
    );
    let (base, rx) = (&server.base, &server.lines);
    let res = reqwest::Client::new()
        .post(format!("{base}/users/"))
        .json(&json!({"email": "cook@example.com", "password": GOOD_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let error = next_line(rx, |l| l["level"] == "ERROR");
    assert_eq!(error["message"], "mail not sent; giving up");
    assert_eq!(error["to"], "cook@example.com");
    assert_eq!(error["attempt"], 2);
    assert!(error.get("code").is_none());
    assert!(!error.to_string().contains("code is"), "{error}");
}

#[test]
fn help_lists_the_mail_settings_and_never_shows_the_smtp_password() {
    let out = Command::new(env!("CARGO_BIN_EXE_kitchen-api"))
        .arg("--help")
        .env("KITCHEN_API_SMTP_PASSWORD", "hunter2-smtp")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for var in [
        "KITCHEN_API_REQUIRE_VERIFIED_EMAIL",
        "KITCHEN_API_MAIL_BACKEND",
        "KITCHEN_API_MAIL_FROM",
        "KITCHEN_API_SMTP_HOST",
        "KITCHEN_API_SMTP_PORT",
        "KITCHEN_API_SMTP_TLS",
        "KITCHEN_API_SMTP_USERNAME",
        "KITCHEN_API_SMTP_PASSWORD",
        "KITCHEN_API_SMTP_TIMEOUT_SECS",
        "KITCHEN_API_MAIL_QUEUE_CAPACITY",
        "KITCHEN_API_MAIL_CONCURRENCY",
        "KITCHEN_API_MAIL_MAX_ATTEMPTS",
        "KITCHEN_API_MAIL_RETRY_BASE_MS",
    ] {
        assert!(help.contains(var), "--help does not mention {var}");
    }
    assert!(!help.contains("hunter2-smtp"));
}
