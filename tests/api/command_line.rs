//! What a newcomer meets in the first minutes with the real binary: each command's help, error
//! messages, secrets kept off the command line, and what start-up and a limit say in the log.

use std::process::Command;

use crate::binary::{BIN, Server, run_cli};
use crate::helpers::{GOOD_PASSWORD, scratch_database};

fn help(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn each_command_s_help_shows_the_settings_that_command_uses() {
    let migrate = help(&["migrate", "--help"]);
    assert!(migrate.contains("DATABASE_URL"), "{migrate}");
    assert!(migrate.contains("--config <FILE>"), "{migrate}");
    for server_only in [
        "KITCHEN_API_BIND",
        "KITCHEN_API_MAIL_BACKEND",
        "KITCHEN_API_ARGON2",
    ] {
        assert!(
            !migrate.contains(server_only),
            "{server_only} in:\n{migrate}"
        );
    }
    let createsuperuser = help(&["createsuperuser", "--help"]);
    for used in ["--email", "DATABASE_URL", "KITCHEN_API_ARGON2_MEMORY_KIB"] {
        assert!(
            createsuperuser.contains(used),
            "{used} missing:\n{createsuperuser}"
        );
    }
    assert!(!createsuperuser.contains("KITCHEN_API_BIND"));
    let deactivate = help(&["users", "deactivate", "--help"]);
    assert!(deactivate.contains("--email") && !deactivate.contains("KITCHEN_API_SMTP_HOST"));
    let serve = help(&["serve", "--help"]);
    assert!(serve.contains("KITCHEN_API_BIND") && serve.contains("KITCHEN_API_MAIL_BACKEND"));
}

#[test]
fn help_names_no_internal_module() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["migrate", "--help"],
    ] {
        let text = help(args);
        assert!(!text.contains("::"), "{args:?} names a module:\n{text}");
        assert!(!text.contains("config_file`"), "{text}");
    }
}

#[tokio::test]
async fn a_command_that_fails_says_why_in_a_message_not_a_log_record() {
    let (url, _scratch) = scratch_database().await;
    let out = run_cli(
        &url,
        &["users", "deactivate", "--email", "nobody@example.com"],
        "",
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert_eq!(last, "kitchen-api: no user with email nobody@example.com");
}

#[test]
fn secrets_given_as_flags_are_refused_with_the_variable_to_use() {
    for (args, env) in [
        (
            &["--smtp-password", "hunter2-smtp", "migrate"][..],
            "KITCHEN_API_SMTP_PASSWORD",
        ),
        (
            &["--metrics-token=scrape-secret"],
            "KITCHEN_API_METRICS_TOKEN",
        ),
        (
            &["--s3-secret-access-key", "hunter2-s3", "migrate"],
            "KITCHEN_API_S3_SECRET_ACCESS_KEY",
        ),
        (
            &[
                "migrate",
                "--database-url",
                "postgres://cook:s3cret@localhost/kitchen",
            ],
            "DATABASE_URL",
        ),
    ] {
        let out = Command::new(BIN)
            .args(args)
            .env("DATABASE_URL", "sqlite::memory:")
            .env("KITCHEN_API_BIND", "127.0.0.1:0")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(env), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("hunter2") && !stderr.contains("s3cret"),
            "{stderr}"
        );
    }
    let help = help(&["--help"]);
    assert!(!help.contains("--smtp-password") && !help.contains("--metrics-token"));
    assert!(!help.contains("--s3-secret-access-key"));
}

#[tokio::test]
async fn a_secret_in_the_settings_file_is_taken() {
    let (url, _scratch) = scratch_database().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kitchen.toml");
    std::fs::write(
        &file,
        "smtp_username = \"mailer\"\nsmtp_password = \"hunter2-smtp\"\n",
    )
    .unwrap();
    let file = file.display().to_string();
    let out = run_cli(&url, &["--config", &file, "migrate"], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without the password the pair is incomplete and start-up names the setting.
    std::fs::write(
        dir.path().join("kitchen.toml"),
        "smtp_username = \"mailer\"\n",
    )
    .unwrap();
    let out = run_cli(&url, &["--config", &file, "migrate"], "");
    assert!(String::from_utf8_lossy(&out.stderr).contains("KITCHEN_API_SMTP_PASSWORD"));
}

#[tokio::test]
async fn start_up_says_where_the_database_is_and_that_it_is_migrated_and_stops_quietly() {
    let (url, _scratch) = scratch_database().await;
    for run in 0..2 {
        let mut server = Server::start(&url, &[]);
        assert!(server.terminate().success());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !server.log_text().contains("stopped") && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let log = server.log_text();
        let opened = log
            .lines()
            .find(|l| l.contains("database opened"))
            .unwrap_or_else(|| panic!("no database line:\n{log}"));
        match url.strip_prefix("sqlite://") {
            Some(path) => assert!(opened.contains(path), "{opened}"),
            None => assert!(opened.contains("postgres"), "{opened}"),
        }
        assert!(log.contains("migrations applied"), "{log}");
        // The second run re-creates nothing: PostgreSQL's notices about it are not news.
        assert!(
            !log.contains("already exists, skipping"),
            "run {run}:\n{log}"
        );
        assert!(!log.contains("listener"), "a clean stop warned:\n{log}");
    }
}

#[tokio::test]
async fn a_sign_up_limit_names_its_setting_in_the_log() {
    let (url, _scratch) = scratch_database().await;
    let server = Server::start(&url, &[("KITCHEN_API_REGISTRATIONS_PER_ADDRESS", "1")]);
    server.register("first@example.com").await;
    let res = reqwest::Client::new()
        .post(format!("{}/users/", server.base))
        .json(&serde_json::json!({"email": "second@example.com", "password": GOOD_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    // The server may answer before its log line reaches the file.
    let names_the_setting = |log: &str| {
        log.lines().any(|l| {
            l.contains("rate limit reached") && l.contains("KITCHEN_API_REGISTRATIONS_PER_ADDRESS")
        })
    };
    let mut log = server.log_text();
    for _ in 0..50 {
        if names_the_setting(&log) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        log = server.log_text();
    }
    assert!(names_the_setting(&log), "{log}");
}
