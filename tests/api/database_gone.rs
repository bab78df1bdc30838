//! A database that is not there, or has gone away mid-run, is the service's trouble, not the
//! request's: every endpoint that needs it answers `503 {"detail": ...}`, never a `500`.

use kitchen_api::config::{Config, defaults};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Connection;

use crate::helpers::{GOOD_PASSWORD, TestApp, spawn_app_with};

const UNAVAILABLE: &str = "Service temporarily unavailable.";

/// The production limits on code mails: their counters live in the database, so the two
/// code-mail endpoints need it (without them the mail is prepared after the answer).
fn with_code_mail_limits(config: &mut Config) {
    config.code_mails_per_address = defaults::CODE_MAILS_PER_ADDRESS;
    config.code_mails_per_account = defaults::CODE_MAILS_PER_ACCOUNT;
    config.db_acquire_timeout_secs = 1;
}

/// One request of each class of endpoint, with a body it would accept: (what, method, path,
/// body, whether it carries the token).
fn every_endpoint(user_id: i64) -> Vec<(&'static str, Method, String, Option<Value>, bool)> {
    let other = "Another horse battery staple";
    vec![
        (
            "register",
            Method::POST,
            "/users/".into(),
            Some(json!({"email": "new@example.com", "password": GOOD_PASSWORD})),
            false,
        ),
        (
            "login",
            Method::POST,
            "/token/".into(),
            Some(json!({"email": "gone@example.com", "password": GOOD_PASSWORD})),
            false,
        ),
        (
            "profile edit",
            Method::PATCH,
            "/users/me/".into(),
            Some(json!({"name": "Gone"})),
            true,
        ),
        (
            "profile replace",
            Method::PUT,
            "/users/me/".into(),
            Some(json!({"name": "Gone"})),
            true,
        ),
        (
            "account deletion",
            Method::DELETE,
            "/users/me/".into(),
            Some(json!({"password": GOOD_PASSWORD})),
            true,
        ),
        ("logout", Method::POST, "/logout/".into(), None, true),
        (
            "logout everywhere",
            Method::POST,
            "/logout/all/".into(),
            None,
            true,
        ),
        (
            "sessions",
            Method::GET,
            "/users/me/sessions/".into(),
            None,
            true,
        ),
        (
            "session revocation",
            Method::DELETE,
            "/users/me/sessions/1/".into(),
            None,
            true,
        ),
        (
            "verification",
            Method::POST,
            "/users/verify/".into(),
            Some(json!({"user_id": user_id, "code": "123456"})),
            false,
        ),
        (
            "verification resend",
            Method::POST,
            "/users/verify/resend-code/".into(),
            Some(json!({"user_id": user_id})),
            false,
        ),
        (
            "reset request",
            Method::POST,
            "/users/reset/password/".into(),
            Some(json!({"email": "gone@example.com"})),
            false,
        ),
        (
            "reset",
            Method::POST,
            "/users/reset/password/code/".into(),
            Some(
                json!({"email": "gone@example.com", "code": "123456", "password": other, "re_password": other}),
            ),
            false,
        ),
        (
            "password change",
            Method::POST,
            "/users/change/password/".into(),
            Some(
                json!({"old_password": GOOD_PASSWORD, "new_password": other, "confirm_new_password": other}),
            ),
            true,
        ),
        ("staff list", Method::GET, "/users/".into(), None, true),
        (
            "staff read",
            Method::GET,
            format!("/users/{user_id}/"),
            None,
            true,
        ),
        (
            "staff update",
            Method::PATCH,
            format!("/users/{user_id}/"),
            Some(json!({"is_active": true})),
            true,
        ),
        (
            "staff revocation",
            Method::POST,
            format!("/users/{user_id}/revoke-tokens/"),
            None,
            true,
        ),
        (
            "security events",
            Method::GET,
            "/security-events/".into(),
            None,
            true,
        ),
    ]
}

/// Sends every request with `token`, all at once (each may wait for the pool's timeout); fails
/// on any answer but a 503 with the documented body.
async fn assert_every_endpoint_is_unavailable(app: &TestApp, user_id: i64, token: &str) {
    let answers =
        every_endpoint(user_id)
            .into_iter()
            .map(|(what, method, path, body, authenticated)| {
                let mut request = app.request(method, &path);
                if authenticated {
                    request = request.header("Authorization", format!("Token {token}"));
                }
                if let Some(body) = body {
                    request = request.json(&body);
                }
                async move {
                    let res = request.send().await.unwrap();
                    let status = res.status().as_u16();
                    let body: Value = res.json().await.unwrap_or(Value::Null);
                    (what, status, body)
                }
            });
    let mut wrong: Vec<String> = futures::future::join_all(answers)
        .await
        .into_iter()
        .filter(|(_, status, body)| *status != 503 || *body != json!({"detail": UNAVAILABLE}))
        .map(|(what, status, body)| format!("{what}: {status} {body}"))
        .collect();
    let ready = app.request(Method::GET, "/readyz").send().await.unwrap();
    if ready.status() != 503 {
        wrong.push(format!("readiness: {}", ready.status()));
    }
    assert!(wrong.is_empty(), "not 503: {wrong:#?}");
}

#[tokio::test]
async fn a_postgresql_server_that_is_not_there_gets_503_everywhere() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let app = spawn_app_with(|c| {
        c.database_url = format!("postgres://postgres@127.0.0.1:{port}/kitchen");
        c.migrate_on_start = false;
        with_code_mail_limits(c);
    })
    .await;
    assert_every_endpoint_is_unavailable(&app, 1, &"A".repeat(43)).await;
}

/// The PostgreSQL leg's admin URL: on SQLite nothing can drop a database under a server.
fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("this test needs PostgreSQL: set TEST_DATABASE_URL")
}

async fn run(admin: &mut sqlx::PgConnection, sql: &str) {
    sqlx::query(sql).execute(admin).await.unwrap();
}

/// A superuser on `app`, whose session the server has cached, so requests get past
/// authentication to the handlers' own queries.
async fn cached_superuser(app: &TestApp) -> (i64, String) {
    let (id, token) = app.register("gone@example.com").await;
    app.execute(&format!(
        "UPDATE users SET is_superuser = TRUE, is_staff = TRUE WHERE id = {id}"
    ))
    .await;
    assert_eq!(app.get_me(&token).await.status(), 200);
    // The registration's mail job (its code, its device) writes too: let it finish, or the
    // drop below can deadlock with it instead of happening under an idle server.
    app.mail_settled().await;
    (id, token)
}

#[ignore = "needs PostgreSQL (TEST_DATABASE_URL): CI runs it with --include-ignored"]
#[tokio::test]
async fn a_schema_dropped_under_a_running_server_gets_503_everywhere() {
    let admin_url = postgres_admin_url();
    let app = spawn_app_with(with_code_mail_limits).await;
    let (id, token) = cached_superuser(&app).await;
    let schema = app
        .database_url
        .rsplit("search_path%3D")
        .next()
        .unwrap()
        .to_owned();
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    run(&mut admin, &format!("DROP SCHEMA {schema} CASCADE")).await;
    assert_every_endpoint_is_unavailable(&app, id, &token).await;
    assert_every_endpoint_is_unavailable(&app, id, &"A".repeat(43)).await;
}

#[ignore = "needs PostgreSQL (TEST_DATABASE_URL): CI runs it with --include-ignored"]
#[tokio::test]
async fn a_database_dropped_under_a_running_server_gets_503_everywhere() {
    let admin_url = postgres_admin_url();
    let name = format!("kitchen_gone_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    run(
        &mut admin,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await;
    run(&mut admin, &format!("CREATE DATABASE {name}")).await;
    let base = admin_url.split('?').next().unwrap();
    let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
    let app = spawn_app_with(|c| {
        c.database_url = url;
        with_code_mail_limits(c);
    })
    .await;
    let (id, token) = cached_superuser(&app).await;
    run(&mut admin, &format!("DROP DATABASE {name} WITH (FORCE)")).await;
    assert_every_endpoint_is_unavailable(&app, id, &token).await;
    assert_every_endpoint_is_unavailable(&app, id, &"A".repeat(43)).await;
}
