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
    assert_refused_soon(&second, &token).await;
}

/// Waits (bounded, no fixed sleep) until `app` refuses `token`: another process hears of a
/// change by NOTIFY on PostgreSQL (milliseconds), by the recorded change on SQLite (a second).
pub(crate) async fn assert_refused_soon(app: &crate::helpers::TestApp, token: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let status = app.get_me(token).await.status();
        if status == 401 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {status} for a token whose session ended on another server"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// `name` as this server answers it for `token`.
async fn name_seen(app: &crate::helpers::TestApp, token: &str) -> Value {
    let me: Value = app.get_me(token).await.json().await.unwrap();
    me["name"].clone()
}

#[tokio::test]
async fn a_write_drops_only_the_changed_users_sessions() {
    let app = spawn_app().await;
    let (_, writer) = app.register("writer@example.com").await;
    let (other_id, other) = app.register("other@example.com").await;
    for t in [&writer, &other] {
        assert_eq!(app.get_me(t).await.status(), 200);
    }
    // Behind the server's back, so only a cache that kept `other`'s session still shows null.
    app.execute_unannounced(&format!(
        "UPDATE users SET name = 'Behind' WHERE id = {other_id}"
    ))
    .await;
    let res = app
        .update_me(Method::PATCH, &writer, &json!({"name": "Chef"}))
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .request(Method::POST, "/users/verify/resend-code/")
        .json(&json!({"user_id": other_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "a write that changes no session");
    assert_eq!(name_seen(&app, &writer).await, "Chef");
    assert_eq!(
        name_seen(&app, &other).await,
        Value::Null,
        "another user's write (or a mail queued for this one) dropped this session"
    );
    // A write by `other` drops `other`'s own session: the next read sees the database.
    let res = app
        .request(Method::POST, "/logout/all/")
        .header("Authorization", format!("Token {writer}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(name_seen(&app, &other).await, Value::Null);
    let res = app
        .update_me(Method::PATCH, &other, &json!({"bio": "hello"}))
        .await;
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["name"], "Behind", "the write itself read the row");
    assert_eq!(name_seen(&app, &other).await, "Behind");
    assert_eq!(app.get_me(&writer).await.status(), 401);
}

#[tokio::test]
async fn a_staff_deactivation_reaches_every_server_and_spares_other_users() {
    let first = spawn_app().await;
    let second = first.spawn_peer(|_| {}).await;
    let (target_id, target) = first.register("target@example.com").await;
    let (other_id, other) = first.register("other@example.com").await;
    let (staff_id, staff) = first.register("boss@example.com").await;
    first
        .execute(&format!(
            "UPDATE users SET is_staff = TRUE WHERE id = {staff_id}"
        ))
        .await;
    for t in [&target, &other] {
        assert_eq!(second.get_me(t).await.status(), 200, "cached on the second");
    }
    second
        .execute_unannounced(&format!(
            "UPDATE users SET name = 'Behind' WHERE id = {other_id}"
        ))
        .await;
    let res = first
        .request(Method::PATCH, &format!("/users/{target_id}/"))
        .header("Authorization", format!("Token {staff}"))
        .json(&json!({"is_active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_refused_soon(&second, &target).await;
    assert_eq!(
        name_seen(&second, &other).await,
        Value::Null,
        "the change to one user dropped another user's session on the second server"
    );
}

#[tokio::test]
async fn concurrent_writes_on_one_server_all_reach_the_other() {
    let first = spawn_app().await;
    let second = first.spawn_peer(|_| {}).await;
    let mut tokens = Vec::new();
    for i in 0..12 {
        let (_, token) = first.register(&format!("cook{i}@example.com")).await;
        assert_eq!(
            second.get_me(&token).await.status(),
            200,
            "cached on the second"
        );
        tokens.push(token);
    }
    // Announced together (on SQLite, several changes share one recorded batch): none is lost.
    let writes = tokens.iter().enumerate().map(|(i, token)| {
        let first = &first;
        async move {
            let res = first
                .update_me(Method::PATCH, token, &json!({"name": format!("Chef {i}")}))
                .await;
            assert_eq!(res.status(), 200);
        }
    });
    futures::future::join_all(writes).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    for (i, token) in tokens.iter().enumerate() {
        loop {
            let name = name_seen(&second, token).await;
            if name == format!("Chef {i}") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the second server still shows {name} for user {i}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn a_session_in_constant_use_is_read_again_from_the_database_once_the_ttl_has_passed() {
    // Each use a minute apart refreshes the token's last use; that must not refresh how long
    // the cached entry is trusted.
    let app = spawn_app_with(|c| c.auth_cache_ttl_ms = 120_000).await;
    let (id, token) = app.register("cook@example.com").await;
    assert_eq!(app.get_me(&token).await.status(), 200);
    app.execute_unannounced(&format!("DELETE FROM tokens WHERE user_id = {id}"))
        .await;
    app.clock
        .set(app.clock.now_for_tests() + TimeDelta::seconds(61));
    assert_eq!(app.get_me(&token).await.status(), 200, "within the TTL");
    app.clock
        .set(app.clock.now_for_tests() + TimeDelta::seconds(60));
    assert_json(
        app.get_me(&token).await,
        401,
        json!({"detail": "Invalid token."}),
    )
    .await;
}
