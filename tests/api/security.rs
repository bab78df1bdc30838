//! Security properties: no user enumeration, no secret stored in clear, production hashing.

use kitchen_api::app::Application;
use kitchen_api::auth::PlainToken;
use kitchen_api::config::Config;
use reqwest::Response;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::helpers::{GOOD_PASSWORD, spawn_app, test_config};

/// Status, the headers that are not per-request, and the exact body bytes.
async fn fingerprint(res: Response) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let status = res.status().as_u16();
    let mut headers: Vec<(String, String)> = res
        .headers()
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-request-id"))
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    headers.sort();
    (status, headers, res.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn unknown_email_wrong_password_and_inactive_user_are_indistinguishable() {
    let app = spawn_app().await;
    app.register("active@example.com").await;
    let (inactive_id, _) = app.register("inactive@example.com").await;
    app.execute(&format!(
        "UPDATE users SET is_active = FALSE WHERE id = {inactive_id}"
    ))
    .await;

    let mut seen = Vec::new();
    for (email, password) in [
        ("nobody@example.com", GOOD_PASSWORD),
        ("active@example.com", "not the password"),
        ("inactive@example.com", GOOD_PASSWORD),
    ] {
        let before = app.hasher.verifies();
        let res = app
            .post_json("/token/", &json!({"email": email, "password": password}))
            .await;
        assert_eq!(
            app.hasher.verifies() - before,
            1,
            "exactly one hash for {email}"
        );
        seen.push(fingerprint(res).await);
    }
    assert_eq!(seen[0].0, 400);
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1], seen[2]);
    assert_eq!(
        seen[0].2,
        br#"{"non_field_errors":["Unable to log in with provided credentials."]}"#
    );
}

#[tokio::test]
async fn a_successful_login_also_costs_exactly_one_hash() {
    let app = spawn_app().await;
    app.register("cook@example.com").await;
    let before = (app.hasher.hashes(), app.hasher.verifies());
    app.login("cook@example.com", GOOD_PASSWORD).await;
    assert_eq!(
        (app.hasher.hashes(), app.hasher.verifies()),
        (before.0, before.1 + 1)
    );
}

#[tokio::test]
async fn tokens_are_stored_only_as_sha256_digests() {
    let app = spawn_app().await;
    let (_, first) = app.register("cook@example.com").await;
    let second = app.login("cook@example.com", GOOD_PASSWORD).await;
    let digests = app.stored_token_digests().await;
    let expected: Vec<Vec<u8>> = [&first, &second]
        .iter()
        .map(|t| Sha256::digest(t.as_bytes()).to_vec())
        .collect();
    assert_eq!(digests, expected);
    let tokens_table = app.dump_table("tokens").await;
    let users_table = app.dump_table("users").await;
    for secret in [first.as_str(), second.as_str(), GOOD_PASSWORD] {
        assert!(!tokens_table.contains(secret), "secret in tokens table");
        assert!(!users_table.contains(secret), "secret in users table");
    }
    assert!(
        users_table.contains("$argon2id$"),
        "password stored as an Argon2id PHC string"
    );
}

#[tokio::test]
async fn a_stolen_digest_is_not_a_token() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let digest = app.stored_token_digests().await.remove(0);
    // Neither the digest's hex nor a digest re-encoded as a token logs in.
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(app.get_me(&hex).await.status(), 401);
    assert_eq!(app.get_me(&token).await.status(), 200);
    assert_ne!(PlainToken::generate().expose(), token);
}

#[tokio::test]
async fn production_defaults_are_owasp_argon2id_and_are_what_the_server_uses() {
    let defaults = Config::default();
    assert_eq!(
        (
            defaults.argon2_memory_kib,
            defaults.argon2_iterations,
            defaults.argon2_parallelism
        ),
        (19_456, 2, 1)
    );
    assert_eq!(defaults.database_url, "sqlite://kitchen.db");
    assert_eq!(defaults.bind.to_string(), "127.0.0.1:8000");
    assert_eq!(defaults.max_body_bytes, 64 * 1024);
    assert_eq!(
        (
            defaults.registrations_per_address,
            defaults.code_mails_per_address,
            defaults.code_mails_per_account
        ),
        (30, 10, 5)
    );
    assert_eq!(
        (
            defaults.token_lifetime_secs,
            defaults.token_idle_timeout_secs
        ),
        (90 * 86_400, 30 * 86_400)
    );

    // A real server with the real hasher (no override) stores hashes with those parameters.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("prod.db").display());
    let config = test_config(&url);
    let app = Application::build(config).await.unwrap();
    let addr = app.local_addr().unwrap();
    let db = app.state().db.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        rx.await.ok();
    }));
    let client = reqwest::Client::new();
    let res = client
        .post(format!("http://{addr}/users/"))
        .json(&json!({"email": "prod@example.com", "password": GOOD_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let hash: String = match &db {
        kitchen_api::db::Db::Sqlite(pools) => sqlx::query_scalar("SELECT password_hash FROM users")
            .fetch_one(pools.read())
            .await
            .unwrap(),
        kitchen_api::db::Db::Postgres(_) => unreachable!(),
    };
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_common_password_list_is_djangos_full_list() {
    // Django's list has 20,000 lines, 271 of them repeats.
    assert_eq!(kitchen_api::domain::common_password_count(), 19_729);
}
