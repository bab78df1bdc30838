//! Password guessing in bursts, and on every endpoint that checks a password: however many
//! guesses arrive together, no more are evaluated (hashed) than the throttle allows one after
//! the other, per account and per client address.

use std::sync::Arc;

use kitchen_api::config::Config;
use reqwest::{Method, Response};
use serde_json::{Value, json};
use tokio::sync::Barrier;

use crate::helpers::{GOOD_PASSWORD, TestApp, spawn_app_with};

/// 3 free failures per account, 6 per address, then 10 s doubling up to 60 s.
fn small_limits(c: &mut Config) {
    c.login_account_free_failures = 3;
    c.login_address_free_failures = 6;
    c.login_base_delay_secs = 10;
    c.login_max_delay_secs = 60;
}

/// Sends `n` requests made by `make(i)` at the same moment; returns their statuses.
async fn burst<F, Fut>(n: usize, make: F) -> Vec<u16>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Response> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            let request = make(i);
            tokio::spawn(async move {
                barrier.wait().await;
                request.await.status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|&&s| s == status).count()
}

fn login(app: &TestApp, email: &str, password: &str) -> impl Future<Output = Response> + use<> {
    let request = app
        .request(Method::POST, "/token/")
        .json(&json!({"email": email, "password": password}));
    async move { request.send().await.unwrap() }
}

async fn event_count(app: &TestApp, kind: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM security_events WHERE kind = '{kind}'");
    match &app.db {
        kitchen_api::db::Db::Sqlite(pools) => sqlx::query_scalar(&sql)
            .fetch_one(pools.read())
            .await
            .unwrap(),
        kitchen_api::db::Db::Postgres(pool) => {
            sqlx::query_scalar(&sql).fetch_one(pool).await.unwrap()
        }
    }
}

#[tokio::test]
async fn sixty_simultaneous_wrong_passwords_for_one_account_get_only_the_free_guesses() {
    let app = spawn_app_with(small_limits).await;
    app.register("victim@example.com").await;
    let before = app.hasher.verifies();
    let statuses = burst(60, |_| {
        login(&app, "victim@example.com", "wrong password 123")
    })
    .await;
    assert_eq!(app.hasher.verifies() - before, 3, "{statuses:?}");
    assert_eq!(count(&statuses, 400), 3, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 57, "{statuses:?}");
    // The right password waits like everything else.
    assert_eq!(
        login(&app, "victim@example.com", GOOD_PASSWORD)
            .await
            .status(),
        429
    );
}

#[tokio::test]
async fn sixty_simultaneous_guesses_at_sixty_accounts_from_one_address_get_only_its_free_guesses() {
    let app = spawn_app_with(small_limits).await;
    let before = app.hasher.verifies();
    let statuses = burst(60, |i| {
        login(&app, &format!("user{i}@example.com"), "wrong password 123")
    })
    .await;
    assert_eq!(app.hasher.verifies() - before, 6, "{statuses:?}");
    assert_eq!(count(&statuses, 400), 6, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 54, "{statuses:?}");
}

#[tokio::test]
async fn right_passwords_do_not_use_up_the_address_or_the_account() {
    let app = spawn_app_with(small_limits).await;
    app.register("cook@example.com").await;
    // Many more successful logins from one address than it has free failures, some at once.
    for _ in 0..4 {
        let statuses = burst(3, |_| login(&app, "cook@example.com", GOOD_PASSWORD)).await;
        assert_eq!(statuses, [200, 200, 200]);
    }
    // ...and the free failures are all still there.
    let before = app.hasher.verifies();
    for _ in 0..3 {
        let res = login(&app, "cook@example.com", "wrong password 123").await;
        assert_eq!(res.status(), 400);
    }
    assert_eq!(app.hasher.verifies() - before, 3);
    assert_eq!(
        login(&app, "cook@example.com", "wrong password 123")
            .await
            .status(),
        429
    );
}

/// A signed-in caller re-entering a password: `POST /users/change/password/` or `DELETE
/// /users/me/`.
fn reenter(
    app: &TestApp,
    token: &str,
    change: bool,
    password: &str,
) -> impl Future<Output = Response> + use<> {
    let request = if change {
        app.request(Method::POST, "/users/change/password/")
            .json(&json!({
                "old_password": password,
                "new_password": "a brand new kitchen secret",
                "confirm_new_password": "a brand new kitchen secret",
            }))
    } else {
        app.request(Method::DELETE, "/users/me/")
            .json(&json!({"password": password}))
    };
    let request = request.header("Authorization", format!("Token {token}"));
    async move { request.send().await.unwrap() }
}

#[tokio::test]
async fn re_entering_the_password_is_throttled_per_account_like_login_and_failures_are_events() {
    for change in [true, false] {
        let app = spawn_app_with(small_limits).await;
        let (_, token) = app.register("cook@example.com").await;
        let before = app.hasher.verifies();
        let statuses = burst(30, |_| reenter(&app, &token, change, "wrong password 123")).await;
        assert_eq!(app.hasher.verifies() - before, 3, "{statuses:?}");
        assert_eq!(count(&statuses, 400), 3, "{statuses:?}");
        assert_eq!(count(&statuses, 429), 27, "{statuses:?}");
        assert_eq!(event_count(&app, "password_check_failed").await, 3);
        // The right password waits too, and so does a login to the same account: one budget.
        let res = reenter(&app, &token, change, GOOD_PASSWORD).await;
        assert_eq!(res.status(), 429);
        assert!(res.headers().get("retry-after").is_some());
        let body: Value = res.json().await.unwrap();
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .starts_with("Request was throttled.")
        );
        assert_eq!(
            login(&app, "cook@example.com", GOOD_PASSWORD)
                .await
                .status(),
            429
        );
        // Once the delay has passed, the right password works and clears the account.
        app.clock
            .set(app.clock.now_for_tests() + chrono::TimeDelta::seconds(10));
        let res = reenter(&app, &token, change, GOOD_PASSWORD).await;
        assert_eq!(res.status(), if change { 200 } else { 204 });
    }
}
