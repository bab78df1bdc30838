//! Step-up (SPEC 3d): where TOTP is on, deleting the account needs a current code beside the
//! password, and every failure counts towards the login throttle of the account. The passkey
//! that stands in for both is in passkeys.rs; TOTP off and new recovery codes in totp.rs.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{GOOD_PASSWORD, assert_json, spawn_app, spawn_app_with};
use crate::totp::{now_code, with_totp};

const EMAIL: &str = "cook@example.com";

/// A code that is not the current one.
fn wrong_code(right: &str) -> &'static str {
    if right == "000000" {
        "111111"
    } else {
        "000000"
    }
}

#[tokio::test]
async fn deleting_the_account_with_totp_on_needs_a_current_code() {
    let app = spawn_app_with(|c| c.login_account_free_failures = 10).await;
    let (_, token, secret, _) = with_totp(&app, EMAIL).await;
    let password_only = json!({"password": GOOD_PASSWORD});
    let res = app
        .send_as(Method::DELETE, "/users/me/", &token, Some(&password_only))
        .await;
    assert_json(res, 400, json!({"code": ["This field is required."]})).await;
    let right = now_code(&app, &secret);
    let wrong = json!({"password": GOOD_PASSWORD, "code": wrong_code(&right)});
    let res = app
        .send_as(Method::DELETE, "/users/me/", &token, Some(&wrong))
        .await;
    assert_json(res, 400, json!({"code": ["Invalid code."]})).await;
    // A wrong password is refused before any code is spent.
    let bad_password = json!({"password": "not the password at all", "code": right});
    let res = app
        .send_as(Method::DELETE, "/users/me/", &token, Some(&bad_password))
        .await;
    assert_json(res, 400, json!({"password": ["Wrong password."]})).await;
    assert_eq!(app.scalar_i64("SELECT count(*) FROM users").await, 1);
    let stepped_up = json!({"password": GOOD_PASSWORD, "code": right});
    let res = app
        .send_as(Method::DELETE, "/users/me/", &token, Some(&stepped_up))
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(app.scalar_i64("SELECT count(*) FROM users").await, 0);
}

#[tokio::test]
async fn without_totp_the_password_alone_deletes_and_a_code_is_not_asked() {
    let app = spawn_app().await;
    let (_, token) = app.register(EMAIL).await;
    let password_only = json!({"password": GOOD_PASSWORD});
    let res = app
        .send_as(Method::DELETE, "/users/me/", &token, Some(&password_only))
        .await;
    assert_eq!(res.status(), 204);
}

#[tokio::test]
async fn wrong_step_up_codes_count_towards_the_accounts_login_throttle() {
    let app = spawn_app_with(|c| {
        c.login_account_free_failures = 3;
        c.login_base_delay_secs = 10;
        c.login_max_delay_secs = 60;
    })
    .await;
    let (_, token, secret, _) = with_totp(&app, EMAIL).await;
    let right = now_code(&app, &secret);
    let wrong = json!({"password": GOOD_PASSWORD, "code": wrong_code(&right)});
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let res = app
            .send_as(Method::DELETE, "/users/me/", &token, Some(&wrong))
            .await;
        statuses.push(res.status().as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    // The account is throttled for logins too, and even the right code waits.
    let res = app
        .post_json(
            "/token/",
            &json!({"email": EMAIL, "password": GOOD_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 429);
    let stepped_up = json!({"password": GOOD_PASSWORD, "code": right});
    let res = app
        .send_as(Method::DELETE, "/users/me/", &token, Some(&stepped_up))
        .await;
    assert_eq!(res.status(), 429);
    assert_eq!(app.scalar_i64("SELECT count(*) FROM users").await, 1);
}
