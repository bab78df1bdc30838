//! SQLite's one writer (`db::SqlitePools`): reads go through connections opened read-only,
//! every write through one connection of its own, however many requests write at once, and
//! nothing written is lost on the way.

use futures::future::join_all;
use kitchen_api::db::Db;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{GOOD_PASSWORD, spawn_app, test_config};
use crate::ops::{scrape, value};

const INSERT: &str = "INSERT INTO throttle (key, failures, last_failure) VALUES ('k', 1, 0)";

async fn throttle_rows(db: &Db) -> i64 {
    let Db::Sqlite(pools) = db else {
        unreachable!("SQLite only")
    };
    sqlx::query_scalar("SELECT count(*) FROM throttle")
        .fetch_one(pools.read())
        .await
        .unwrap()
}

/// Whatever `TEST_DATABASE_URL` says: this is about the SQLite pools themselves.
#[tokio::test]
async fn the_readers_refuse_to_write_and_the_one_writer_writes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("kitchen.db").display());
    let db = Db::connect(&test_config(&url)).await.unwrap();
    db.migrate().await.unwrap();
    let Db::Sqlite(pools) = &db else {
        unreachable!("a sqlite: URL opens SQLite")
    };

    let refused = sqlx::query(INSERT)
        .execute(pools.read())
        .await
        .expect_err("a reader wrote");
    assert!(refused.to_string().contains("readonly"), "{refused}");
    assert_eq!(throttle_rows(&db).await, 0);

    sqlx::query(INSERT).execute(pools.write()).await.unwrap();
    assert_eq!(throttle_rows(&db).await, 1, "the readers see the write");
    assert_eq!(db.writer_connections(), Some(1));
    db.close().await;
}

/// Two pools on `:memory:` would be two databases: there one pool reads and writes.
#[tokio::test]
async fn an_in_memory_database_is_one_pool_that_reads_and_writes() {
    let db = Db::connect(&test_config("sqlite::memory:")).await.unwrap();
    db.migrate().await.unwrap();
    let Db::Sqlite(pools) = &db else {
        unreachable!("a sqlite: URL opens SQLite")
    };
    sqlx::query(INSERT).execute(pools.read()).await.unwrap();
    assert_eq!(throttle_rows(&db).await, 1);
    db.close().await;
}

/// Dozens of profile edits at once (no password hash to space them out): every one succeeds
/// and is stored, and on SQLite no second connection was ever opened to write them.
#[tokio::test]
async fn simultaneous_writes_all_land_and_sqlite_writes_them_through_one_connection() {
    let app = spawn_app().await;
    let mut users = Vec::new();
    for n in 0..4 {
        let (_, token) = app.register(&format!("cook{n}@example.com")).await;
        users.push(token);
    }
    let app = &app;
    let edits = (0..48).map(|i| {
        let token = &users[i % users.len()];
        async move {
            app.update_me(Method::PUT, token, &json!({"bio": format!("edit {i}")}))
                .await
                .status()
        }
    });
    let statuses = join_all(edits).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    // Logins write too (a token and a security event each).
    let logins = (0..8).map(|n| async move {
        let body =
            json!({"email": format!("cook{}@example.com", n % 4), "password": GOOD_PASSWORD});
        app.post_json("/token/", &body).await.status()
    });
    let statuses = join_all(logins).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    // Each user's last edit is one of the ones sent for that user, and every token is there.
    for (n, token) in users.iter().enumerate() {
        let me: serde_json::Value = app.get_me(token).await.json().await.unwrap();
        let bio = me["bio"].as_str().unwrap_or_default();
        let i: usize = bio.strip_prefix("edit ").unwrap().parse().unwrap();
        assert_eq!(i % users.len(), n, "{bio}");
    }
    let tokens = app.stored_token_digests().await.len();
    assert_eq!(tokens, 4 + 8);

    let metrics = scrape(app).await;
    match &app.db {
        Db::Sqlite(_) => assert_eq!(
            value(&metrics, "kitchen_api_db_writer_connections", &[]),
            1.0,
            "{metrics}"
        ),
        Db::Postgres(_) => assert!(
            !metrics.contains("kitchen_api_db_writer_connections"),
            "{metrics}"
        ),
    }
}
