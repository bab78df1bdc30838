//! POST /logout/: revokes exactly the presented token.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{assert_json, spawn_app};

#[tokio::test]
async fn logout_accepts_no_body_an_empty_object_and_no_trailing_slash() {
    let app = spawn_app().await;
    let (_, first) = app.register("cook@example.com").await;
    let res = app
        .request(Method::POST, "/logout/")
        .header("Authorization", format!("Token {first}"))
        .send()
        .await
        .unwrap();
    assert_json(res, 200, json!({"detail": "Logged out successfully."})).await;

    let second = app
        .login("cook@example.com", crate::helpers::GOOD_PASSWORD)
        .await;
    let res = app
        .request(Method::POST, "/logout")
        .header("Authorization", format!("Token {second}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_json(res, 200, json!({"detail": "Logged out successfully."})).await;
}

#[tokio::test]
async fn a_token_logs_out_once() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let logout = || {
        app.request(Method::POST, "/logout/")
            .header("Authorization", format!("Token {token}"))
            .send()
    };
    assert_eq!(logout().await.unwrap().status(), 200);
    assert_json(
        logout().await.unwrap(),
        401,
        json!({"detail": "Invalid token."}),
    )
    .await;
    assert!(app.stored_token_digests().await.is_empty());
}

#[tokio::test]
async fn logout_without_credentials_is_401() {
    let app = spawn_app().await;
    let res = app.request(Method::POST, "/logout/").send().await.unwrap();
    assert_eq!(res.headers()["www-authenticate"], "Token");
    assert_json(
        res,
        401,
        json!({"detail": "Authentication credentials were not provided."}),
    )
    .await;
}

#[tokio::test]
async fn logout_only_answers_post() {
    let app = spawn_app().await;
    let res = app.request(Method::GET, "/logout/").send().await.unwrap();
    assert_eq!(res.headers()["allow"], "POST");
    assert_json(res, 405, json!({"detail": "Method \"GET\" not allowed."})).await;
}
