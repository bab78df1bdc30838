//! Token lifetimes (absolute and idle), purging, and the cap on live tokens per user.

use chrono::TimeDelta;
use kitchen_api::config::{Config, MIN_TOKEN_IDLE_TIMEOUT_SECS};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{GOOD_PASSWORD, assert_json, spawn_app_with};

#[tokio::test]
async fn a_token_dies_at_its_absolute_lifetime_however_much_it_is_used_and_is_purged() {
    let app = spawn_app_with(|c| {
        c.token_lifetime_secs = 3600;
        c.token_idle_timeout_secs = 0;
    })
    .await;
    let (_, token) = app.register("cook@example.com").await;
    let start = app.clock.now_for_tests();
    for minutes in [10, 30, 59] {
        app.clock.set(start + TimeDelta::minutes(minutes));
        assert_eq!(
            app.get_me(&token).await.status(),
            200,
            "alive at {minutes} min"
        );
    }
    app.clock.set(start + TimeDelta::seconds(3600));
    assert_json(
        app.get_me(&token).await,
        401,
        json!({"detail": "Invalid token."}),
    )
    .await;
    assert!(
        app.stored_token_digests().await.is_empty(),
        "the dead token was purged"
    );
}

#[tokio::test]
async fn a_token_dies_after_the_idle_timeout_but_use_keeps_it_alive() {
    let app = spawn_app_with(|c| {
        c.token_lifetime_secs = 0;
        c.token_idle_timeout_secs = 600;
    })
    .await;
    let (_, busy) = app.register("busy@example.com").await;
    let (_, idle) = app.register("idle@example.com").await;
    let mut now = app.clock.now_for_tests();
    // The busy token is used every 5 minutes for an hour.
    for _ in 0..12 {
        now += TimeDelta::minutes(5);
        app.clock.set(now);
        assert_eq!(app.get_me(&busy).await.status(), 200);
    }
    assert_json(
        app.get_me(&idle).await,
        401,
        json!({"detail": "Invalid token."}),
    )
    .await;
}

#[tokio::test]
async fn under_the_shortest_idle_timeout_a_token_used_more_often_stays_alive() {
    let app = spawn_app_with(|c| {
        c.token_lifetime_secs = 0;
        c.token_idle_timeout_secs = MIN_TOKEN_IDLE_TIMEOUT_SECS;
    })
    .await;
    let (_, busy) = app.register("busy@example.com").await;
    let (_, idle) = app.register("idle@example.com").await;
    let mut now = app.clock.now_for_tests();
    // Used every 50 s for ten minutes: each gap is under the 60 s timeout.
    for use_ in 0..12 {
        now += TimeDelta::seconds(50);
        app.clock.set(now);
        assert_eq!(app.get_me(&busy).await.status(), 200, "use {use_}");
    }
    assert_json(
        app.get_me(&idle).await,
        401,
        json!({"detail": "Invalid token."}),
    )
    .await;
}

#[test]
fn an_idle_timeout_shorter_than_the_minimum_is_refused_at_start() {
    for secs in [1, 30, MIN_TOKEN_IDLE_TIMEOUT_SECS - 1] {
        let config = Config {
            token_idle_timeout_secs: secs,
            ..Config::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("KITCHEN_API_TOKEN_IDLE_TIMEOUT_SECS"), "{err}");
    }
    for secs in [0, MIN_TOKEN_IDLE_TIMEOUT_SECS, 3600] {
        let config = Config {
            token_idle_timeout_secs: secs,
            ..Config::default()
        };
        config.validate().unwrap();
    }
}

#[tokio::test]
async fn a_user_keeps_at_most_the_configured_number_of_tokens_newest_first() {
    let app = spawn_app_with(|c| c.max_tokens_per_user = 3).await;
    let (_, first) = app.register("cook@example.com").await;
    let mut tokens = vec![first];
    for _ in 0..4 {
        let token = app.login("cook@example.com", GOOD_PASSWORD).await;
        // Each token is cached by a read before the next login pushes the oldest out.
        assert_eq!(app.get_me(&token).await.status(), 200);
        tokens.push(token);
    }
    for (i, token) in tokens.iter().enumerate() {
        let expected = if i < 2 { 401 } else { 200 };
        assert_eq!(app.get_me(token).await.status(), expected, "token #{i}");
    }
    assert_eq!(app.stored_token_digests().await.len(), 3);
    let res = app
        .request(Method::POST, "/logout/")
        .header("Authorization", format!("Token {}", tokens[4]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn simultaneous_logins_may_pass_the_cap_by_one_each_and_the_next_login_trims_them() {
    let app = spawn_app_with(|c| {
        c.max_tokens_per_user = 3;
        // Six logins in flight at once are six guesses until their password proves right.
        c.login_account_free_failures = 6;
    })
    .await;
    app.register("cook@example.com").await;
    let logins = (0..6).map(|_| app.login("cook@example.com", GOOD_PASSWORD));
    let tokens = futures::future::join_all(logins).await;
    let held = app.stored_token_digests().await.len();
    assert!((3..=7).contains(&held), "{held} tokens");
    let newest = app.login("cook@example.com", GOOD_PASSWORD).await;
    assert_eq!(app.stored_token_digests().await.len(), 3);
    assert_eq!(app.get_me(&newest).await.status(), 200);
    let live = futures::future::join_all(tokens.iter().map(|t| app.get_me(t))).await;
    let live = live.iter().filter(|r| r.status() == 200).count();
    assert_eq!(live, 2, "the newest token and the two before it survive");
}

#[tokio::test]
async fn a_last_use_shows_at_once_and_reaches_the_database_without_the_request_writing_it() {
    let app = spawn_app_with(|_| {}).await;
    let (_, token) = app.register("cook@example.com").await;
    app.clock
        .set(app.clock.now_for_tests() + TimeDelta::minutes(5));
    assert_eq!(app.get_me(&token).await.status(), 200);
    let res = app
        .request(Method::GET, "/users/me/sessions/")
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    let list: serde_json::Value = res.json().await.unwrap();
    assert_eq!(list[0]["last_used"], "2026-11-24T12:05:00.000000Z");
    // Written by the background flush, every couple of seconds.
    let stored = || async {
        let sql = "SELECT COUNT(*) FROM tokens WHERE last_used_at IS NOT NULL";
        match &app.db {
            kitchen_api::db::Db::Sqlite(pools) => {
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(pools.read())
                    .await
            }
            kitchen_api::db::Db::Postgres(pool) => {
                sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await
            }
        }
        .unwrap()
    };
    let deadline = std::time::Instant::now() + 5 * kitchen_api::auth::FLUSH_EVERY;
    while stored().await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the last use never reached the database"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Stored as the time it was, in the spelling sqlx writes itself (the inline SQLite reads
    // depend on it).
    let expected = app.clock.now_for_tests();
    let sql = "SELECT last_used_at FROM tokens";
    match &app.db {
        kitchen_api::db::Db::Sqlite(pools) => {
            let text: String = sqlx::query_scalar(sql)
                .fetch_one(pools.read())
                .await
                .unwrap();
            assert_eq!(
                text,
                expected.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
            );
        }
        kitchen_api::db::Db::Postgres(pool) => {
            let at: chrono::DateTime<chrono::Utc> =
                sqlx::query_scalar(sql).fetch_one(pool).await.unwrap();
            assert_eq!(at, expected);
        }
    }
}

/// A flush bigger than one chunk (200 rows on SQLite, 250 on PostgreSQL, with pauses between)
/// writes every last use it was given.
#[tokio::test]
async fn a_flush_of_several_chunks_writes_every_last_use() {
    let app = spawn_app_with(|c| c.max_tokens_per_user = 1000).await;
    app.register("cook@example.com").await;
    for _ in 0..599 {
        app.login("cook@example.com", GOOD_PASSWORD).await;
    }
    let stored = || async {
        let sql = "SELECT COUNT(*) FROM tokens WHERE last_used_at IS NOT NULL";
        match &app.db {
            kitchen_api::db::Db::Sqlite(pools) => {
                sqlx::query_scalar(sql).fetch_one(pools.read()).await
            }
            kitchen_api::db::Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        }
        .unwrap()
    };
    let ids: Vec<i64> = match &app.db {
        kitchen_api::db::Db::Sqlite(pools) => {
            sqlx::query_scalar("SELECT id FROM tokens")
                .fetch_all(pools.read())
                .await
        }
        kitchen_api::db::Db::Postgres(pool) => {
            sqlx::query_scalar("SELECT id FROM tokens")
                .fetch_all(pool)
                .await
        }
    }
    .unwrap();
    assert_eq!((ids.len(), stored().await), (600, 0_i64));

    let at = app.clock.now_for_tests() + TimeDelta::minutes(5);
    let uses: Vec<_> = ids.iter().map(|&id| (id, at)).collect();
    kitchen_api::db::touch_tokens(&app.db, &uses).await.unwrap();
    assert_eq!(stored().await, 600);
}
