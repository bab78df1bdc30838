//! The `Authorization` header (SPEC part 2), seen through `GET /users/me/`, and the public
//! endpoints that must ignore it.

use reqwest::header::HeaderValue;
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::{self, GOOD_PASSWORD, TestApp};

const NOT_PROVIDED: &str = "Authentication credentials were not provided.";
const NO_CREDENTIALS: &str = "Invalid token header. No credentials provided.";
const SPACES: &str = "Invalid token header. Token string should not contain spaces.";
const INVALID_CHARACTERS: &str =
    "Invalid token header. Token string should not contain invalid characters.";
const INVALID_TOKEN: &str = "Invalid token.";
const INACTIVE: &str = "User inactive or deleted.";

/// `GET /users/me/` with exactly this `Authorization` header.
async fn get_me_with(app: &TestApp, authorization: HeaderValue) -> Response {
    app.request(Method::GET, "/users/me/")
        .header("Authorization", authorization)
        .send()
        .await
        .unwrap()
}

fn header(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap()
}

/// Asserts a 401 with `{"detail": detail}` and `WWW-Authenticate: Token`.
async fn assert_unauthorized(res: Response, detail: &str) {
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(challenge.as_deref(), Some("Token"), "detail {detail:?}");
    helpers::assert_json(res, 401, json!({ "detail": detail })).await;
}

/// Asserts `GET /users/me/` with `authorization` is refused with `detail`.
async fn assert_header_refused(app: &TestApp, authorization: HeaderValue, detail: &str) {
    let shown = format!("{authorization:?}");
    let res = get_me_with(app, authorization).await;
    assert_eq!(res.status(), 401, "header {shown}");
    assert_unauthorized(res, detail).await;
}

/// Logs `token` out and asserts it worked.
async fn log_out(app: &TestApp, token: &str) {
    let res = app
        .request(Method::POST, "/logout/")
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    helpers::assert_json(res, 200, json!({"detail": "Logged out successfully."})).await;
}

#[tokio::test]
async fn no_header_is_not_provided() {
    let app = helpers::spawn_app().await;
    let res = app.request(Method::GET, "/users/me/").send().await.unwrap();
    assert_unauthorized(res, NOT_PROVIDED).await;
}

#[tokio::test]
async fn other_schemes_are_not_provided() {
    let app = helpers::spawn_app().await;
    let (_, token) = app.register("chef@example.com").await;
    for value in [
        "Basic dXNlcjpwYXNz".to_owned(),
        "Digest x".to_owned(),
        "".to_owned(),
        // A real key under a scheme we do not speak is still no credentials.
        format!("Basic {token}"),
        format!("Tokens {token}"),
        token.clone(),
    ] {
        assert_header_refused(&app, header(&value), NOT_PROVIDED).await;
    }
}

#[tokio::test]
async fn token_header_without_key_is_rejected() {
    let app = helpers::spawn_app().await;
    for value in ["Token", "Token   ", "Bearer", "token "] {
        assert_header_refused(&app, header(value), NO_CREDENTIALS).await;
    }
}

#[tokio::test]
async fn token_with_spaces_is_rejected() {
    let app = helpers::spawn_app().await;
    let (_, token) = app.register("chef@example.com").await;
    for value in [
        "Token a b".to_owned(),
        "Bearer a b c".to_owned(),
        // Even a valid key followed by anything else.
        format!("Token {token} extra"),
    ] {
        assert_header_refused(&app, header(&value), SPACES).await;
    }
}

#[tokio::test]
async fn token_with_characters_that_cannot_be_in_a_token_is_rejected() {
    let app = helpers::spawn_app().await;
    for value in [
        header("Token abc.def"),
        header("Token abc$"),
        header("Token abc="),
        header("Token abc+/def"),
        HeaderValue::from_bytes(b"Token \xff\xfe").unwrap(),
        HeaderValue::from_bytes("Token tökén".as_bytes()).unwrap(),
    ] {
        assert_header_refused(&app, value, INVALID_CHARACTERS).await;
    }
}

#[tokio::test]
async fn well_formed_but_unknown_token_is_invalid() {
    let app = helpers::spawn_app().await;
    app.register("chef@example.com").await;
    let unknown = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ-_01234";
    assert_eq!(unknown.len(), 43);
    for value in [format!("Token {unknown}"), "Token short".to_owned()] {
        assert_header_refused(&app, header(&value), INVALID_TOKEN).await;
    }
}

#[tokio::test]
async fn revoked_token_is_invalid() {
    let app = helpers::spawn_app().await;
    let (_, token) = app.register("chef@example.com").await;
    log_out(&app, &token).await;
    assert_header_refused(&app, header(&format!("Token {token}")), INVALID_TOKEN).await;
}

#[tokio::test]
async fn token_of_a_deleted_user_is_invalid() {
    let app = helpers::spawn_app().await;
    let (id, token) = app.register("chef@example.com").await;
    app.execute(&format!("DELETE FROM users WHERE id = {id}"))
        .await;
    assert_header_refused(&app, header(&format!("Token {token}")), INVALID_TOKEN).await;
}

#[tokio::test]
async fn token_of_a_deactivated_user_is_inactive() {
    let app = helpers::spawn_app().await;
    let (id, token) = app.register("chef@example.com").await;
    let second = app.login("chef@example.com", GOOD_PASSWORD).await;
    app.execute(&format!(
        "UPDATE users SET is_active = FALSE WHERE id = {id}"
    ))
    .await;
    for t in [&token, &second] {
        assert_header_refused(&app, header(&format!("Token {t}")), INACTIVE).await;
    }
    // Edits are refused the same way, and change nothing.
    let res = app
        .update_me(Method::PATCH, &token, &json!({"name": "Ghost"}))
        .await;
    assert_unauthorized(res, INACTIVE).await;
    app.execute(&format!(
        "UPDATE users SET is_active = TRUE WHERE id = {id}"
    ))
    .await;
    let res = app.get_me(&token).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["name"], Value::Null);
}

#[tokio::test]
async fn token_and_bearer_schemes_work_in_any_case() {
    let app = helpers::spawn_app().await;
    let (id, token) = app.register("chef@example.com").await;
    for scheme in [
        "Token", "token", "TOKEN", "ToKeN", "Bearer", "bearer", "BEARER",
    ] {
        let res = get_me_with(&app, header(&format!("{scheme} {token}"))).await;
        assert_eq!(res.status(), 200, "scheme {scheme}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["user_id"], json!(id), "scheme {scheme}");
        assert_eq!(body["email"], json!("chef@example.com"), "scheme {scheme}");
    }
}

/// Authorization headers a stale or broken app might still send.
async fn junk_headers(app: &TestApp) -> Vec<HeaderValue> {
    let (_, revoked) = app.register("stale@example.com").await;
    log_out(app, &revoked).await;
    vec![
        header("Token garbage"),
        header(&format!("Token {revoked}")),
        header("Token a b"),
        header("Token"),
        header("Token abc$"),
        header("Basic dXNlcjpwYXNz"),
    ]
}

#[tokio::test]
async fn registration_ignores_any_authorization_header() {
    let app = helpers::spawn_app().await;
    for (i, value) in junk_headers(&app).await.into_iter().enumerate() {
        let email = format!("new{i}@example.com");
        let res = app
            .request(Method::POST, "/users/")
            .header("Authorization", value)
            .json(&json!({"email": email, "password": GOOD_PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "header #{i}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["email"], json!(email));
        let token = body["token"].as_str().unwrap();
        assert_eq!(app.get_me(token).await.status(), 200);
    }
}

#[tokio::test]
async fn login_ignores_any_authorization_header() {
    let app = helpers::spawn_app().await;
    let (id, _) = app.register("chef@example.com").await;
    for (i, value) in junk_headers(&app).await.into_iter().enumerate() {
        let res = app
            .request(Method::POST, "/token/")
            .header("Authorization", value)
            .json(&json!({"email": "chef@example.com", "password": GOOD_PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "header #{i}");
        let body: Value = res.json().await.unwrap();
        let token = body["token"].as_str().unwrap().to_owned();
        assert_eq!(
            body,
            json!({"token": token, "user_id": id, "email": "chef@example.com"})
        );
        assert_eq!(app.get_me(&token).await.status(), 200);
    }
}

#[tokio::test]
async fn a_two_kilobyte_header_is_an_ordinary_401() {
    let app = helpers::spawn_app().await;
    let long_key = "A".repeat(2048);
    assert_header_refused(&app, header(&format!("Token {long_key}")), INVALID_TOKEN).await;
    let long_junk = "A.".repeat(1024);
    assert_header_refused(
        &app,
        header(&format!("Bearer {long_junk}")),
        INVALID_CHARACTERS,
    )
    .await;
    let many_words = "a ".repeat(1024);
    assert_header_refused(&app, header(&format!("Token {many_words}")), SPACES).await;
}
