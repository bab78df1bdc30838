//! POST /users/change/password/: a new password, for a caller who knows the current one.

use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::{GOOD_PASSWORD, TestApp, assert_json, spawn_app};

const NEW_PASSWORD: &str = "a brand new kitchen passphrase";

async fn change(app: &TestApp, token: &str, body: Value) -> Response {
    app.send_as(Method::POST, "/users/change/password/", token, Some(&body))
        .await
}

fn body(old: &str, new: &str, confirm: &str) -> Value {
    json!({"old_password": old, "new_password": new, "confirm_new_password": confirm})
}

#[tokio::test]
async fn changing_the_password_keeps_this_session_and_ends_the_others() {
    let app = spawn_app().await;
    let (_, phone) = app.register("cook@example.com").await;
    let laptop = app.login("cook@example.com", GOOD_PASSWORD).await;
    let res = change(
        &app,
        &laptop,
        body(GOOD_PASSWORD, NEW_PASSWORD, NEW_PASSWORD),
    )
    .await;
    assert_json(res, 200, json!({"detail": "Password changed."})).await;
    assert_eq!(app.get_me(&laptop).await.status(), 200);
    assert_eq!(app.get_me(&phone).await.status(), 401);
    app.login("cook@example.com", NEW_PASSWORD).await;
    let old = app
        .post_json(
            "/token/",
            &json!({"email": "cook@example.com", "password": GOOD_PASSWORD}),
        )
        .await;
    assert_eq!(old.status(), 400);
}

#[tokio::test]
async fn a_wrong_current_password_changes_nothing() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let other = app.login("cook@example.com", GOOD_PASSWORD).await;
    let res = change(
        &app,
        &token,
        body("not my password", NEW_PASSWORD, NEW_PASSWORD),
    )
    .await;
    assert_json(res, 400, json!({"old_password": ["Wrong password."]})).await;
    assert_eq!(app.get_me(&other).await.status(), 200);
    app.login("cook@example.com", GOOD_PASSWORD).await;
}

#[tokio::test]
async fn mismatched_and_weak_new_passwords_are_refused_with_the_registration_messages() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let res = change(
        &app,
        &token,
        body(GOOD_PASSWORD, NEW_PASSWORD, "something else"),
    )
    .await;
    assert_json(
        res,
        400,
        json!({"confirm_new_password": ["Passwords do not match."]}),
    )
    .await;
    let res = change(&app, &token, body(GOOD_PASSWORD, "password", "password")).await;
    assert_json(
        res,
        400,
        json!({"new_password": ["This password is too common."]}),
    )
    .await;
    let res = change(
        &app,
        &token,
        body(GOOD_PASSWORD, "cookexample", "cookexample"),
    )
    .await;
    assert_json(
        res,
        400,
        json!({"new_password": ["The password is too similar to the email address."]}),
    )
    .await;
    let long = "x".repeat(1025);
    let res = change(&app, &token, body(GOOD_PASSWORD, &long, &long)).await;
    assert_json(
        res,
        400,
        json!({"new_password": ["Ensure this field has no more than 1024 characters."]}),
    )
    .await;
    app.login("cook@example.com", GOOD_PASSWORD).await;
}

#[tokio::test]
async fn every_problem_is_reported_at_once() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let res = change(&app, &token, body("wrong", "1234", "4321")).await;
    assert_json(
        res,
        400,
        json!({
            "new_password": [
                "This password is too short. It must contain at least 8 characters.",
                "This password is too common.",
                "This password is entirely numeric."
            ],
            "confirm_new_password": ["Passwords do not match."],
            "old_password": ["Wrong password."],
        }),
    )
    .await;
}

#[tokio::test]
async fn missing_blank_wrong_typed_and_malicious_fields_get_field_errors() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let required = json!(["This field is required."]);
    assert_json(
        change(&app, &token, json!({})).await,
        400,
        json!({"old_password": required, "new_password": required, "confirm_new_password": required}),
    )
    .await;
    assert_json(
        change(
            &app,
            &token,
            json!({"old_password": "", "new_password": [NEW_PASSWORD], "confirm_new_password": null}),
        )
        .await,
        400,
        json!({
            "old_password": ["This field may not be blank."],
            "new_password": ["Not a valid string."],
            "confirm_new_password": ["This field may not be null."],
        }),
    )
    .await;
    let res = change(
        &app,
        &token,
        body("' OR '1'='1", NEW_PASSWORD, NEW_PASSWORD),
    )
    .await;
    assert_json(res, 400, json!({"old_password": ["Wrong password."]})).await;
    let res = change(
        &app,
        &token,
        body(&"p".repeat(50_000), NEW_PASSWORD, NEW_PASSWORD),
    )
    .await;
    assert_json(res, 400, json!({"old_password": ["Wrong password."]})).await;
}

#[tokio::test]
async fn changing_the_password_needs_a_valid_token() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/users/change/password/",
            &body(GOOD_PASSWORD, NEW_PASSWORD, NEW_PASSWORD),
        )
        .await;
    assert_json(
        res,
        401,
        json!({"detail": "Authentication credentials were not provided."}),
    )
    .await;
    let res = change(
        &app,
        &"A".repeat(43),
        body(GOOD_PASSWORD, NEW_PASSWORD, NEW_PASSWORD),
    )
    .await;
    assert_json(res, 401, json!({"detail": "Invalid token."})).await;
}
