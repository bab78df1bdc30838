//! POST /token/: logging in, one token per device.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{GOOD_PASSWORD, assert_json, spawn_app};

#[tokio::test]
async fn login_returns_token_user_id_and_email_in_that_order() {
    let app = spawn_app().await;
    let (id, _) = app.register("Cook@Example.com").await;
    let res = app
        .post_json(
            "/token/",
            &json!({"email": "cook@example.com", "password": GOOD_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["token", "user_id", "email"]);
    assert_eq!(body["user_id"], id);
    assert_eq!(body["email"], "Cook@example.com");
}

#[tokio::test]
async fn login_is_case_insensitive_on_the_address_and_works_without_slash_and_from_forms() {
    let app = spawn_app().await;
    app.register("cook@example.com").await;
    let res = app
        .post_json(
            "/token",
            &json!({"email": "COOK@EXAMPLE.COM", "password": GOOD_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .request(Method::POST, "/token/")
        .form(&[("email", "cook@example.com"), ("password", GOOD_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn two_logins_give_two_working_tokens_and_logout_kills_only_one() {
    let app = spawn_app().await;
    app.register("cook@example.com").await;
    let phone = app.login("cook@example.com", GOOD_PASSWORD).await;
    let laptop = app.login("cook@example.com", GOOD_PASSWORD).await;
    assert_ne!(phone, laptop);
    assert_eq!(app.get_me(&phone).await.status(), 200);
    assert_eq!(app.get_me(&laptop).await.status(), 200);

    let res = app
        .request(Method::POST, "/logout/")
        .header("Authorization", format!("Token {phone}"))
        .send()
        .await
        .unwrap();
    assert_json(res, 200, json!({"detail": "Logged out successfully."})).await;
    assert_eq!(app.get_me(&phone).await.status(), 401);
    assert_eq!(app.get_me(&laptop).await.status(), 200);
}

#[tokio::test]
async fn missing_and_blank_credentials_get_field_errors() {
    let app = spawn_app().await;
    assert_json(
        app.post_json("/token/", &json!({})).await,
        400,
        json!({"email": ["This field is required."], "password": ["This field is required."]}),
    )
    .await;
    assert_json(
        app.post_json("/token/", &json!({"email": " ", "password": ""})).await,
        400,
        json!({"email": ["This field may not be blank."], "password": ["This field may not be blank."]}),
    )
    .await;
    assert_json(
        app.post_json("/token/", &json!({"email": 12, "password": false}))
            .await,
        400,
        json!({"password": ["Not a valid string."]}),
    )
    .await;
}

#[tokio::test]
async fn wrong_password_unknown_and_malformed_addresses_are_one_answer() {
    let app = spawn_app().await;
    app.register("cook@example.com").await;
    let refused = json!({"non_field_errors": ["Unable to log in with provided credentials."]});
    for (email, password) in [
        ("cook@example.com", "wrong password!"),
        ("nobody@example.com", GOOD_PASSWORD),
        ("not-an-address", GOOD_PASSWORD),
        ("cook@example.com' OR '1'='1", GOOD_PASSWORD),
    ] {
        let res = app
            .post_json("/token/", &json!({"email": email, "password": password}))
            .await;
        assert_json(res, 400, refused.clone()).await;
    }
}

#[tokio::test]
async fn an_oversized_password_at_login_is_refused_without_error() {
    let app = spawn_app().await;
    app.register("cook@example.com").await;
    let res = app
        .post_json(
            "/token/",
            &json!({"email": "cook@example.com", "password": "p".repeat(20_000)}),
        )
        .await;
    assert_json(
        res,
        400,
        json!({"non_field_errors": ["Unable to log in with provided credentials."]}),
    )
    .await;
}
