//! The settings file (`--config FILE` / `KITCHEN_API_CONFIG`), through the real binary: it
//! configures the server, loses to the environment and to flags, and a bad key or value stops
//! start-up naming it. Also: every setting `--help` lists has a row in the README.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_kitchen-api");

/// `kitchen-api ARGS` with nothing of the caller's environment but `PATH` and `env`.
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn sqlite_url(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn a_config_file_sets_the_bind_address_and_the_database_of_the_server() {
    let dir = tempfile::tempdir().unwrap();
    // A free port, chosen here so the test can tell the file's address from the default.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let file = write(
        dir.path(),
        "kitchen.toml",
        &format!(
            "database_url = \"{}\"\nbind = \"127.0.0.1:{port}\"\nargon2_memory_kib = 64\n\
             argon2_iterations = 1\ntrusted_proxies = [\"10.0.0.1\", \"10.0.0.2\"]\n",
            sqlite_url(dir.path(), "from-file.db")
        ),
    );
    let mut child = Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KITCHEN_API_MFA_KEY", crate::helpers::test_mfa_key())
        .args(["--config", &file])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            tx.send(line).ok();
        }
    });
    let listening = loop {
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap();
        if line.contains("listening on http://") {
            break line;
        }
    };
    assert!(
        listening.contains(&format!("127.0.0.1:{port}")),
        "{listening}"
    );
    let res = reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(dir.path().join("from-file.db").exists());
    child.kill().ok();
    child.wait().ok();
}

#[test]
fn the_environment_beats_the_file_and_a_flag_beats_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let (file_db, env_db, flag_db) = (
        sqlite_url(dir.path(), "file.db"),
        sqlite_url(dir.path(), "env.db"),
        sqlite_url(dir.path(), "flag.db"),
    );
    let file = write(
        dir.path(),
        "kitchen.toml",
        &format!("database_url = \"{file_db}\"\n"),
    );

    // The file alone, named by the environment variable.
    let out = run(&["migrate"], &[("KITCHEN_API_CONFIG", &file)]);
    assert!(out.status.success(), "{out:?}");
    assert!(dir.path().join("file.db").exists());

    let out = run(
        &["migrate", "--config", &file],
        &[("DATABASE_URL", &env_db)],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        dir.path().join("env.db").exists(),
        "the environment wins over the file"
    );

    let out = run(
        &["--config", &file, "migrate", "--database-url", &flag_db],
        &[("DATABASE_URL", &env_db)],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(dir.path().join("flag.db").exists(), "a flag wins over both");
}

#[test]
fn a_bad_key_or_value_in_the_file_stops_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path(), "k.db");
    for (toml, named) in [
        ("argon2_memory_kb = 19456\n", "argon2_memory_kb"),
        ("argon2_memory_kib = \"lots\"\n", "argon2_memory_kib"),
        ("log_format = \"xml\"\n", "log_format"),
        ("migrate_on_start = \"maybe\"\n", "migrate_on_start"),
        ("[database]\nurl = \"x\"\n", "database"),
        ("public_url = \"https://x.example/?a\"\n", "public_url"),
        ("bind = [\n", "not valid TOML"),
        // Well-typed but unusable: caught by the same validation as any other source.
        ("argon2_memory_kib = 1\n", "KITCHEN_API_ARGON2"),
    ] {
        let file = write(dir.path(), "bad.toml", toml);
        let out = run(&["--config", &file, "migrate"], &[("DATABASE_URL", &db)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{toml} was accepted");
        assert!(stderr.contains(named), "{toml}: {stderr}");
    }
    let out = run(&["--config", "/no/such/kitchen.toml", "migrate"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/kitchen.toml"));
}

#[test]
fn every_setting_in_help_has_a_row_in_the_readme_settings_table() {
    let out = run(&["--help"], &[]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("--config <FILE>"), "{help}");
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let vars: Vec<&str> = help
        .split("[env: ")
        .skip(1)
        .map(|rest| {
            rest.split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .next()
                .unwrap()
        })
        .collect();
    assert!(vars.len() > 20, "{vars:?}");
    for var in vars {
        assert!(
            readme.contains(&format!("| `{var}` |")),
            "{var} is a setting (see --help) without a row in the README's settings table"
        );
    }
}
