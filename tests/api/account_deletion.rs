//! DELETE /users/me/: the account, its profile, tokens and codes go; the address is free again.

use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::{GOOD_PASSWORD, TestApp, assert_json, spawn_app};

async fn delete_me(app: &TestApp, token: &str, body: Option<Value>) -> Response {
    app.send_as(Method::DELETE, "/users/me/", token, body.as_ref())
        .await
}

async fn count(app: &TestApp, table: &str, user_id: i64) -> i64 {
    let column = if table == "users" { "id" } else { "user_id" };
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE {column} = {user_id}");
    match &app.db {
        kitchen_api::db::Db::Sqlite(pools) => {
            sqlx::query_scalar(&sql).fetch_one(pools.read()).await
        }
        kitchen_api::db::Db::Postgres(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await,
    }
    .unwrap()
}

#[tokio::test]
async fn deleting_the_account_removes_the_user_its_tokens_and_its_codes() {
    let app = spawn_app().await;
    let (id, first) = app.register("cook@example.com").await;
    let second = app.login("cook@example.com", GOOD_PASSWORD).await;
    app.mail_settled().await;
    assert_eq!(
        (
            count(&app, "users", id).await,
            count(&app, "tokens", id).await,
            count(&app, "codes", id).await
        ),
        (1, 2, 1)
    );
    let res = delete_me(&app, &first, Some(json!({"password": GOOD_PASSWORD}))).await;
    assert_eq!(res.status(), 204);
    assert!(res.bytes().await.unwrap().is_empty());
    for token in [&first, &second] {
        assert_json(
            app.get_me(token).await,
            401,
            json!({"detail": "Invalid token."}),
        )
        .await;
    }
    assert_eq!(
        (
            count(&app, "users", id).await,
            count(&app, "tokens", id).await,
            count(&app, "codes", id).await
        ),
        (0, 0, 0)
    );
    let res = app
        .post_json(
            "/token/",
            &json!({"email": "cook@example.com", "password": GOOD_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn the_address_can_register_again_afterwards() {
    let app = spawn_app().await;
    let (old_id, token) = app.register("Cook@Example.com").await;
    let res = delete_me(&app, &token, Some(json!({"password": GOOD_PASSWORD}))).await;
    assert_eq!(res.status(), 204);
    let (new_id, new_token) = app.register("cook@example.com").await;
    assert_ne!(new_id, old_id);
    let profile: Value = app.get_me(&new_token).await.json().await.unwrap();
    assert_eq!(profile["email_verified"], false);
    assert_eq!(profile["name"], Value::Null);
}

#[tokio::test]
async fn a_wrong_password_deletes_nothing() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    for password in [
        json!("not my password"),
        json!(12345678),
        json!("' OR '1'='1"),
    ] {
        let res = delete_me(&app, &token, Some(json!({"password": password}))).await;
        assert_json(res, 400, json!({"password": ["Wrong password."]})).await;
    }
    let res = delete_me(&app, &token, Some(json!({"password": "p".repeat(50_000)}))).await;
    assert_json(res, 400, json!({"password": ["Wrong password."]})).await;
    assert_eq!(app.get_me(&token).await.status(), 200);
}

#[tokio::test]
async fn missing_blank_and_wrong_typed_passwords_get_field_errors() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    for (body, expected) in [
        (None, json!({"password": ["This field is required."]})),
        (
            Some(json!({})),
            json!({"password": ["This field is required."]}),
        ),
        (
            Some(json!({"password": "  "})),
            json!({"password": ["This field may not be blank."]}),
        ),
        (
            Some(json!({"password": null})),
            json!({"password": ["This field may not be null."]}),
        ),
        (
            Some(json!({"password": [GOOD_PASSWORD]})),
            json!({"password": ["Not a valid string."]}),
        ),
        (
            Some(json!("password")),
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}),
        ),
    ] {
        assert_json(delete_me(&app, &token, body).await, 400, expected).await;
    }
    assert_eq!(app.get_me(&token).await.status(), 200);
}

#[tokio::test]
async fn deletion_accepts_a_form_and_leaves_other_accounts_alone() {
    let app = spawn_app().await;
    let (_, alice) = app.register("alice@example.com").await;
    let (_, bob) = app.register("bob@example.com").await;
    let res = app
        .request(Method::DELETE, "/users/me")
        .header("Authorization", format!("Token {alice}"))
        .form(&[("password", GOOD_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(app.get_me(&alice).await.status(), 401);
    assert_eq!(app.get_me(&bob).await.status(), 200);
}

#[tokio::test]
async fn deletion_needs_a_valid_token() {
    let app = spawn_app().await;
    let res = app
        .request(Method::DELETE, "/users/me/")
        .json(&json!({"password": GOOD_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_json(
        res,
        401,
        json!({"detail": "Authentication credentials were not provided."}),
    )
    .await;
}
