//! SQLite on storage that refuses writes: a full disk and a read-only database answer 503 (or
//! refuse to start, saying why), never 500, lose no acknowledged write, and leave a database
//! that passes `PRAGMA integrity_check`.
//!
//! These tests need a filesystem of their own: they mount a small tmpfs, which takes root, so
//! they are ignored unless asked for (`--include-ignored`, as CI does), and then a mount that
//! fails fails the test. They use SQLite files of their own whatever `TEST_DATABASE_URL` says.

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::Method;
use serde_json::{Value, json};

use kitchen_api::db::Db;

use crate::helpers::{GOOD_PASSWORD, TestApp, assert_json, spawn_app_with};

/// A filesystem mounted for one test on a fresh directory, unmounted when dropped.
struct Mount {
    dir: tempfile::TempDir,
}

impl Mount {
    fn new(args: &[&std::ffi::OsStr]) -> Mount {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount").args(args).arg(dir.path()).output();
        assert!(
            mounted.as_ref().is_ok_and(|o| o.status.success()),
            "cannot mount a filesystem (this test needs root and `mount`): {mounted:?}"
        );
        Mount { dir }
    }

    /// A tmpfs of `size` bytes (`4m`): a disk that fills up.
    fn tmpfs(size: &str) -> Mount {
        let options = format!("size={size}");
        Self::new(&[
            "-t".as_ref(),
            "tmpfs".as_ref(),
            "-o".as_ref(),
            options.as_ref(),
            "kitchen-test".as_ref(),
        ])
    }

    /// `source` again, read-only (a bind mount, so files open on `source` do not matter).
    fn read_only_view(source: &Path) -> Mount {
        let view = Self::new(&["--bind".as_ref(), source.as_os_str()]);
        let status = Command::new("mount")
            .args(["-o", "remount,ro,bind"])
            .arg(view.path())
            .status()
            .unwrap();
        assert!(status.success(), "cannot make the bind mount read-only");
        view
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn database_url(&self) -> String {
        format!("sqlite://{}", self.path().join("kitchen.db").display())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status()
            .ok();
    }
}

async fn register(app: &TestApp, email: &str) -> reqwest::Response {
    app.post_json(
        "/users/",
        &json!({"email": email, "password": GOOD_PASSWORD}),
    )
    .await
}

async fn integrity_of(database_url: &str) -> String {
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(database_url)
        .await
        .unwrap();
    sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

fn unavailable() -> Value {
    json!({"detail": "Service temporarily unavailable."})
}

async fn readyz(app: &TestApp) -> (u16, Value) {
    let res = app.request(Method::GET, "/readyz").send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[ignore = "needs root (mounts a tmpfs): CI runs it with --include-ignored"]
#[tokio::test]
async fn a_full_disk_answers_503_loses_no_acknowledged_write_and_recovers_when_space_is_freed() {
    let disk = Mount::tmpfs("4m");
    let url = disk.database_url();
    let app = spawn_app_with(|c| c.database_url = url.clone()).await;
    // Room to give back later.
    let ballast: PathBuf = disk.path().join("ballast");
    std::fs::write(&ballast, vec![0u8; 1024 * 1024]).unwrap();

    let mut acknowledged = Vec::new();
    let full = loop {
        assert!(
            acknowledged.len() < 20_000,
            "the 4 MiB disk never filled up"
        );
        let email = format!("cook{}@example.com", acknowledged.len());
        let res = register(&app, &email).await;
        if res.status() != 201 {
            break res;
        }
        acknowledged.push(email);
    };
    assert!(!acknowledged.is_empty());
    assert_json(full, 503, unavailable()).await;
    // Reads still work while writes cannot, and readiness says writes fail.
    let res = app.request(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let (status, body) = readyz(&app).await;
    assert_eq!((status, &body["failed_check"]), (503, &json!("storage")));
    // Writes keep coming while the disk stays full: each is refused or really stored, never
    // answered 201 and then lost.
    for i in 0..30 {
        let email = format!("while-full{i}@example.com");
        let res = register(&app, &email).await;
        match res.status().as_u16() {
            201 => acknowledged.push(email),
            503 => assert_eq!(readyz(&app).await.0, 503, "ready while writes fail"),
            other => panic!("a write on a full disk answered {other}"),
        }
    }

    std::fs::remove_file(&ballast).unwrap();
    let res = register(&app, "after@example.com").await;
    assert_eq!(res.status(), 201, "no recovery once space was freed");
    acknowledged.push("after@example.com".to_owned());
    assert_eq!(
        readyz(&app).await.0,
        200,
        "not ready again once writes work"
    );
    for i in 0..10 {
        let email = format!("after{i}@example.com");
        assert_eq!(register(&app, &email).await.status(), 201);
        acknowledged.push(email);
    }
    // Another process can write to the file: the server holds no transaction open.
    let mut other = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query("UPDATE users SET name = 'Checked' WHERE id = 1")
        .execute(&mut other)
        .await
        .expect("another process cannot write: the database is locked");
    sqlx::Connection::close(other).await.unwrap();
    // Every acknowledged account is there (one query: logins would fill the disk again) ...
    let kitchen_api::db::Db::Sqlite(pools) = &app.db else {
        unreachable!("SQLite only")
    };
    let stored: Vec<String> = sqlx::query_scalar("SELECT email FROM users ORDER BY id")
        .fetch_all(pools.read())
        .await
        .unwrap();
    assert_eq!(
        stored, acknowledged,
        "an acknowledged registration was lost"
    );
    // ... and the first and the last of them can log in.
    for email in [&acknowledged[0], &acknowledged[acknowledged.len() - 1]] {
        let res = app
            .post_json(
                "/token/",
                &json!({"email": email, "password": GOOD_PASSWORD}),
            )
            .await;
        assert_eq!(res.status(), 200, "{email} cannot log in");
    }
    app.stop().await;
    assert_eq!(integrity_of(&url).await, "ok");
    // A server started afresh on the file finds every one of them.
    let restarted =
        crate::helpers::spawn_app_on(url.clone(), crate::helpers::Scratch::Shared, |_| {}).await;
    let Db::Sqlite(pools) = &restarted.db else {
        unreachable!("SQLite only")
    };
    let stored: Vec<String> = sqlx::query_scalar("SELECT email FROM users ORDER BY id")
        .fetch_all(pools.read())
        .await
        .unwrap();
    assert_eq!(stored, acknowledged, "lost across a restart");
    restarted.stop().await;
}

/// A server started by [`try_start`]: its address, and how to stop it (and wait until it has).
struct Started {
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    stopped: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Started {
    async fn stop(self) {
        self.stop.send(()).ok();
        self.stopped.await.unwrap().unwrap();
    }
}

/// Starts a server with the system clock on `database_url`, or says why it refuses to.
async fn try_start(database_url: &str) -> Result<Started, String> {
    let server = kitchen_api::app::Application::build(crate::helpers::test_config(database_url))
        .await
        .map_err(|e| format!("{e:#}"))?;
    let base = format!("http://{}", server.local_addr().unwrap());
    let (stop, signal) = tokio::sync::oneshot::channel::<()>();
    let stopped = tokio::spawn(server.run_until(async move {
        signal.await.ok();
    }));
    Ok(Started {
        base,
        stop,
        stopped,
    })
}

#[ignore = "needs root (mounts a tmpfs): CI runs it with --include-ignored"]
#[tokio::test]
async fn a_read_only_database_serves_reads_and_answers_writes_with_503_or_refuses_to_start() {
    let disk = Mount::tmpfs("8m");
    let app = spawn_app_with(|c| c.database_url = disk.database_url()).await;
    let (_, token) = app.register("cook@example.com").await;
    let read_only = Mount::read_only_view(disk.path());
    let url = read_only.database_url();

    // 1. While the database is open elsewhere (its -wal and -shm files exist), a server on the
    //    read-only view starts: it serves reads and answers every write with 503.
    let server = try_start(&url).await.unwrap();
    let base = &server.base;
    let client = reqwest::Client::new();
    for (path, email) in [
        ("/users/", "new@example.com"),
        ("/token/", "cook@example.com"),
    ] {
        let body = json!({"email": email, "password": GOOD_PASSWORD});
        let res = client
            .post(format!("{base}{path}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_json(res, 503, unavailable()).await;
    }
    // Its last use cannot be recorded (the system clock is a week past the test clock); the
    // request is served all the same.
    let res = client
        .get(format!("{base}/users/me/"))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "reads must still be served");
    server.stop().await;

    // 2. A database that does not exist yet cannot be created there: the server refuses to
    //    start and says which database.
    let missing = format!("sqlite://{}", read_only.path().join("new.db").display());
    let Err(message) = try_start(&missing).await else {
        panic!("started on a database it cannot create");
    };
    assert!(
        message.contains("cannot open the SQLite database"),
        "{message}"
    );
    let url = disk.database_url();
    app.stop().await;
    assert_eq!(integrity_of(&url).await, "ok");
}
