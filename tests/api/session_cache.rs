//! The in-process session cache: it serves repeated requests without the database, and never
//! outlives a change made through the API.

use chrono::TimeDelta;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{assert_json, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_cached_session_outlives_an_unannounced_change_only_until_the_ttl() {
    let app = spawn_app_with(|c| c.auth_cache_ttl_ms = 2_000).await;
    let (id, token) = app.register("cook@example.com").await;
    assert_eq!(app.get_me(&token).await.status(), 200);
    // Behind the server's back: the cache still answers, which shows it is in use...
    app.execute_unannounced(&format!("DELETE FROM tokens WHERE user_id = {id}"))
        .await;
    assert_eq!(app.get_me(&token).await.status(), 200);
    // ...but only until the TTL has passed.
    app.clock
        .set(app.clock.now_for_tests() + TimeDelta::milliseconds(2_000));
    assert_json(
        app.get_me(&token).await,
        401,
        json!({"detail": "Invalid token."}),
    )
    .await;
}

#[tokio::test]
async fn with_a_zero_ttl_nothing_is_cached() {
    let app = spawn_app_with(|c| c.auth_cache_ttl_ms = 0).await;
    let (id, token) = app.register("cook@example.com").await;
    assert_eq!(app.get_me(&token).await.status(), 200);
    app.execute_unannounced(&format!("DELETE FROM tokens WHERE user_id = {id}"))
        .await;
    assert_eq!(app.get_me(&token).await.status(), 401);
}

#[tokio::test]
async fn changes_through_the_api_are_seen_at_once() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let second = app
        .login("cook@example.com", crate::helpers::GOOD_PASSWORD)
        .await;
    for t in [&token, &second] {
        assert_eq!(app.get_me(t).await.status(), 200);
    }
    // A profile edit shows on the next read.
    app.update_me(Method::PATCH, &token, &json!({"name": "Chef"}))
        .await;
    let me: Value = app.get_me(&second).await.json().await.unwrap();
    assert_eq!(me["name"], "Chef");
    // A logout is refused on the very next request.
    let res = app
        .request(Method::POST, "/logout/")
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_json(
        app.get_me(&token).await,
        401,
        json!({"detail": "Invalid token."}),
    )
    .await;
    assert_eq!(app.get_me(&second).await.status(), 200);
}

#[tokio::test]
async fn a_failed_write_does_not_need_to_invalidate_and_reads_stay_correct() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let before: Value = app.get_me(&token).await.json().await.unwrap();
    let res = app
        .update_me(Method::PUT, &token, &json!({"date_of_birth": "nope"}))
        .await;
    assert_eq!(res.status(), 400);
    let after: Value = app.get_me(&token).await.json().await.unwrap();
    assert_eq!(before, after);
}

#[tokio::test]
async fn a_logout_on_one_server_reaches_the_other_servers() {
    let first = spawn_app().await;
    let second = first.spawn_peer(|_| {}).await;
    let (_, token) = first.register("cook@example.com").await;
    assert_eq!(
        second.get_me(&token).await.status(),
        200,
        "now cached on the second server"
    );
    let res = first
        .request(Method::POST, "/logout/")
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    if first.db.engine() == "postgres" {
        // NOTIFY is delivered asynchronously: allow it a moment (bounded), no fixed sleep.
        let mut refused = false;
        for _ in 0..100 {
            if second.get_me(&token).await.status() == 401 {
                refused = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(
            refused,
            "the second server still accepts a token logged out on the first"
        );
    } else {
        // Several processes on one SQLite file: no broadcast, the TTL bounds the staleness.
        assert_eq!(second.get_me(&token).await.status(), 200);
        second
            .clock
            .set(second.clock.now_for_tests() + TimeDelta::seconds(5));
        assert_eq!(second.get_me(&token).await.status(), 401);
    }
}
