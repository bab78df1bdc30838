//! TOTP and recovery codes (SPEC 3c): enrolment, confirmation, codes taken once, drift, recovery
//! codes, turning it off, the two-step login and its `mfa_token`, throttling, staff, deletion.
//! Codes are computed here from the returned secret at the server's (test) clock.

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::{Method, Response};
use serde_json::{Value, json};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::helpers::{GOOD_PASSWORD, TestApp, assert_json, spawn_app, spawn_app_with};

const EMAIL: &str = "cook@example.com";

fn code_at(secret: &str, at: DateTime<Utc>) -> String {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    let totp = TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, bytes, None, String::new());
    totp.generate(at.timestamp() as u64)
}

pub(crate) fn now_code(app: &TestApp, secret: &str) -> String {
    code_at(secret, app.clock.now_for_tests())
}

/// Moves the server's clock on by `secs`.
fn advance(app: &TestApp, secs: i64) {
    app.clock
        .set(app.clock.now_for_tests() + TimeDelta::seconds(secs));
}

async fn call(app: &TestApp, method: Method, path: &str, token: &str, body: Value) -> Response {
    app.request(method, path)
        .header("Authorization", format!("Token {token}"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn enrol(app: &TestApp, token: &str) -> String {
    let res = call(
        app,
        Method::POST,
        "/users/me/mfa/totp/",
        token,
        json!({"password": GOOD_PASSWORD}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["secret"].as_str().unwrap().to_owned()
}

/// Registers `email`, turns TOTP on; (user id, token, secret, recovery codes). The clock is then
/// moved a step on, so the confirming code's step is behind.
pub(crate) async fn with_totp(app: &TestApp, email: &str) -> (i64, String, String, Vec<String>) {
    let (id, token) = app.register(email).await;
    let secret = enrol(app, &token).await;
    let code = now_code(app, &secret);
    let res = call(
        app,
        Method::POST,
        "/users/me/mfa/totp/confirm/",
        &token,
        json!({"code": code}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let codes = body["recovery_codes"].as_array().unwrap();
    let codes = codes
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    advance(app, 30);
    (id, token, secret, codes)
}

pub(crate) async fn start_login(app: &TestApp, email: &str) -> String {
    let res = app
        .post_json(
            "/token/",
            &json!({"email": email, "password": GOOD_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["mfa_required"], json!(true));
    assert_eq!(body["methods"], json!(["totp", "recovery_code"]));
    assert!(body.get("token").is_none(), "{body}");
    body["mfa_token"].as_str().unwrap().to_owned()
}

async fn finish(app: &TestApp, mfa_token: &str, code: &str) -> Response {
    app.post_json(
        "/token/mfa/",
        &json!({"mfa_token": mfa_token, "code": code}),
    )
    .await
}

async fn status_of(app: &TestApp, token: &str) -> Value {
    let res = call(app, Method::GET, "/users/me/mfa/", token, json!({})).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn invalid_code() -> Value {
    json!({"code": ["Invalid code."]})
}

fn invalid_mfa_token() -> Value {
    json!({"mfa_token": ["Invalid or expired."]})
}

#[tokio::test]
async fn enrolling_gives_a_secret_and_a_confirmed_code_turns_totp_on_with_ten_recovery_codes() {
    let app = spawn_app().await;
    let (_, token) = app.register(EMAIL).await;
    let res = call(
        &app,
        Method::POST,
        "/users/me/mfa/totp/",
        &token,
        json!({"password": "wrong password 1"}),
    )
    .await;
    assert_json(res, 400, json!({"password": ["Wrong password."]})).await;
    let res = call(
        &app,
        Method::POST,
        "/users/me/mfa/totp/",
        &token,
        json!({"password": GOOD_PASSWORD}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let secret = body["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32, "160 bits in base32");
    let url = body["otpauth_url"].as_str().unwrap();
    assert!(
        url.starts_with("otpauth://totp/Rayvers%20Kitchen:cook%40example.com?"),
        "{url}"
    );
    assert!(url.contains(&format!("secret={secret}")) && url.contains("issuer=Rayvers%20Kitchen"));
    let off = json!({"totp": false, "recovery_codes_left": 0, "passkeys": 0});
    assert_eq!(status_of(&app, &token).await, off);

    // A second enrolment replaces the pending secret: the first one's codes no longer work.
    let secret = enrol(&app, &token).await;
    let res = call(
        &app,
        Method::POST,
        "/users/me/mfa/totp/confirm/",
        &token,
        json!({"code": "000000"}),
    )
    .await;
    assert_json(res, 400, invalid_code()).await;
    let res = call(
        &app,
        Method::POST,
        "/users/me/mfa/totp/confirm/",
        &token,
        json!({}),
    )
    .await;
    assert_json(res, 400, json!({"code": ["This field is required."]})).await;
    let code = now_code(&app, &secret);
    let res = call(
        &app,
        Method::POST,
        "/users/me/mfa/totp/confirm/",
        &token,
        json!({"code": code}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let codes: Vec<&str> = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), 10);
    let distinct: std::collections::HashSet<_> = codes.iter().collect();
    assert_eq!(distinct.len(), 10);
    assert!(
        codes
            .iter()
            .all(|c| c.len() == 19 && c.matches('-').count() == 3),
        "{codes:?}"
    );
    let on = json!({"totp": true, "recovery_codes_left": 10, "passkeys": 0});
    assert_eq!(status_of(&app, &token).await, on);

    let res = call(
        &app,
        Method::POST,
        "/users/me/mfa/totp/",
        &token,
        json!({"password": GOOD_PASSWORD}),
    )
    .await;
    assert_json(
        res,
        400,
        json!({"non_field_errors": ["Two-factor authentication is already on."]}),
    )
    .await;
    let events = app
        .scalar_i64("SELECT count(*) FROM security_events WHERE kind = 'totp_enabled'")
        .await;
    assert_eq!(events, 1);
}

#[tokio::test]
async fn the_secret_and_recovery_codes_are_not_stored_in_clear() {
    let app = spawn_app().await;
    let (_, _, secret, codes) = with_totp(&app, EMAIL).await;
    let raw = Secret::Encoded(secret.clone()).to_bytes().unwrap();
    let totp = app.dump_table("user_totp").await;
    assert!(!totp.is_empty());
    assert!(
        !totp.contains(&secret) && !totp.contains(&secret.to_lowercase()),
        "{totp}"
    );
    let sealed: Vec<u8> = match &app.db {
        kitchen_api::db::Db::Sqlite(p) => sqlx::query_scalar("SELECT sealed FROM user_totp")
            .fetch_one(p.read())
            .await
            .unwrap(),
        kitchen_api::db::Db::Postgres(p) => sqlx::query_scalar("SELECT sealed FROM user_totp")
            .fetch_one(p)
            .await
            .unwrap(),
    };
    assert!(!sealed.windows(raw.len()).any(|w| w == raw.as_slice()));
    let recovery = app.dump_table("recovery_codes").await;
    for code in &codes {
        assert!(!recovery.contains(code.as_str()) && !recovery.contains(&code.replace('-', "")));
    }
}

#[tokio::test]
async fn login_with_totp_on_asks_for_a_code_and_the_mfa_token_finishes_it_once() {
    let app = spawn_app().await;
    let (id, _, secret, _) = with_totp(&app, EMAIL).await;
    let mfa_token = start_login(&app, EMAIL).await;
    // The mfa_token is no API token.
    let res = app.get_me(&mfa_token).await;
    assert_eq!(res.status(), 401);
    let res = finish(&app, &mfa_token, &now_code(&app, &secret)).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user_id"], json!(id));
    assert_eq!(body["email"], json!(EMAIL));
    let token = body["token"].as_str().unwrap();
    assert_eq!(app.get_me(token).await.status(), 200);
    let detail = app.scalar_i64("SELECT count(*) FROM security_events WHERE kind = 'login_succeeded' AND detail = 'totp'").await;
    assert_eq!(detail, 1);

    // Once: a second finish, even with a fresh code, is refused.
    advance(&app, 30);
    let res = finish(&app, &mfa_token, &now_code(&app, &secret)).await;
    assert_json(res, 400, invalid_mfa_token()).await;
    let res = finish(&app, "no-such-token", &now_code(&app, &secret)).await;
    assert_json(res, 400, invalid_mfa_token()).await;
}

#[tokio::test]
async fn a_totp_code_is_taken_once_and_drift_of_one_step_is_accepted_but_not_two() {
    let app = spawn_app_with(|c| c.login_account_free_failures = 100).await;
    let (_, _, secret, _) = with_totp(&app, EMAIL).await;
    let now = app.clock.now_for_tests();
    // The confirming code (a step ago) is spent.
    let mfa_token = start_login(&app, EMAIL).await;
    let res = finish(
        &app,
        &mfa_token,
        &code_at(&secret, now - TimeDelta::seconds(30)),
    )
    .await;
    assert_json(res, 400, invalid_code()).await;
    advance(&app, 300);
    let now = app.clock.now_for_tests();
    let mfa_token = start_login(&app, EMAIL).await;
    let step = |n: i64| code_at(&secret, now + TimeDelta::seconds(30 * n));
    for far in [-2, 2] {
        let res = finish(&app, &mfa_token, &step(far)).await;
        assert_json(res, 400, invalid_code()).await;
    }
    let res = finish(&app, &mfa_token, &step(-1)).await;
    assert_eq!(res.status(), 200);
    // The same code again, in a new login: a replay.
    let mfa_token = start_login(&app, EMAIL).await;
    let res = finish(&app, &mfa_token, &step(-1)).await;
    assert_json(res, 400, invalid_code()).await;
    let res = finish(&app, &mfa_token, &step(1)).await;
    assert_eq!(res.status(), 200);
    // After step +1 was taken, the current step's code is an earlier one: refused too.
    let mfa_token = start_login(&app, EMAIL).await;
    let res = finish(&app, &mfa_token, &step(0)).await;
    assert_json(res, 400, invalid_code()).await;
}

#[tokio::test]
async fn a_recovery_code_works_once_in_any_case_and_spacing() {
    let app = spawn_app().await;
    let (_, token, _, codes) = with_totp(&app, EMAIL).await;
    let typed = codes[3].to_uppercase().replace('-', " ");
    let mfa_token = start_login(&app, EMAIL).await;
    let res = finish(&app, &mfa_token, &typed).await;
    assert_eq!(res.status(), 200);
    let left = json!({"totp": true, "recovery_codes_left": 9, "passkeys": 0});
    assert_eq!(status_of(&app, &token).await, left);
    let mfa_token = start_login(&app, EMAIL).await;
    let res = finish(&app, &mfa_token, &codes[3]).await;
    assert_json(res, 400, invalid_code()).await;
    let res = finish(&app, &mfa_token, &codes[4]).await;
    assert_eq!(res.status(), 200);
    let used = app
        .scalar_i64("SELECT count(*) FROM security_events WHERE kind = 'recovery_code_used'")
        .await;
    assert_eq!(used, 2);
}

#[tokio::test]
async fn new_recovery_codes_void_the_old_set() {
    let app = spawn_app().await;
    let (_, token, secret, old) = with_totp(&app, EMAIL).await;
    let body = json!({"password": GOOD_PASSWORD, "code": "123"});
    let res = call(
        &app,
        Method::POST,
        "/users/me/mfa/recovery-codes/",
        &token,
        body,
    )
    .await;
    assert_json(res, 400, invalid_code()).await;
    let body = json!({"password": "wrong password 1", "code": now_code(&app, &secret)});
    let res = call(
        &app,
        Method::POST,
        "/users/me/mfa/recovery-codes/",
        &token,
        body,
    )
    .await;
    assert_json(res, 400, json!({"password": ["Wrong password."]})).await;
    let body = json!({"password": GOOD_PASSWORD, "code": old[0]});
    let res = call(
        &app,
        Method::POST,
        "/users/me/mfa/recovery-codes/",
        &token,
        body,
    )
    .await;
    assert_eq!(res.status(), 200);
    let renewed: Value = res.json().await.unwrap();
    let new: Vec<String> = renewed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(new.len(), 10);
    assert_eq!(
        status_of(&app, &token).await["recovery_codes_left"],
        json!(10)
    );
    let mfa_token = start_login(&app, EMAIL).await;
    let res = finish(&app, &mfa_token, &old[1]).await;
    assert_json(res, 400, invalid_code()).await;
    let res = finish(&app, &mfa_token, &new[0]).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn turning_totp_off_needs_the_password_and_a_code_and_logins_are_one_step_again() {
    let app = spawn_app().await;
    let (_, token, secret, _) = with_totp(&app, EMAIL).await;
    let res = call(
        &app,
        Method::DELETE,
        "/users/me/mfa/totp/",
        &token,
        json!({}),
    )
    .await;
    assert_json(
        res,
        400,
        json!({"password": ["This field is required."], "code": ["This field is required."]}),
    )
    .await;
    let body = json!({"password": GOOD_PASSWORD, "code": "999999"});
    let res = call(&app, Method::DELETE, "/users/me/mfa/totp/", &token, body).await;
    assert_json(res, 400, invalid_code()).await;
    let body = json!({"password": GOOD_PASSWORD, "code": now_code(&app, &secret)});
    let res = call(&app, Method::DELETE, "/users/me/mfa/totp/", &token, body).await;
    assert_eq!(res.status(), 204);
    let off = json!({"totp": false, "recovery_codes_left": 0, "passkeys": 0});
    assert_eq!(status_of(&app, &token).await, off);
    app.login(EMAIL, GOOD_PASSWORD).await;
    let body = json!({"password": GOOD_PASSWORD, "code": "123456"});
    let res = call(&app, Method::DELETE, "/users/me/mfa/totp/", &token, body).await;
    assert_json(
        res,
        400,
        json!({"non_field_errors": ["Two-factor authentication is not on."]}),
    )
    .await;
}

#[tokio::test]
async fn an_mfa_token_expires_after_five_minutes() {
    let app = spawn_app().await;
    let (_, _, secret, _) = with_totp(&app, EMAIL).await;
    let mfa_token = start_login(&app, EMAIL).await;
    advance(&app, 299);
    let early = start_login(&app, EMAIL).await;
    advance(&app, 1);
    let res = finish(&app, &mfa_token, &now_code(&app, &secret)).await;
    assert_json(res, 400, invalid_mfa_token()).await;
    let res = finish(&app, &early, &now_code(&app, &secret)).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn an_mfa_token_dies_after_five_wrong_codes() {
    let app = spawn_app_with(|c| {
        c.login_account_free_failures = 100;
        c.login_address_free_failures = 100;
    })
    .await;
    let (_, _, secret, _) = with_totp(&app, EMAIL).await;
    let mfa_token = start_login(&app, EMAIL).await;
    for _ in 0..5 {
        assert_json(
            finish(&app, &mfa_token, "000000").await,
            400,
            invalid_code(),
        )
        .await;
    }
    let res = finish(&app, &mfa_token, &now_code(&app, &secret)).await;
    assert_json(res, 400, invalid_mfa_token()).await;
    let failed = app
        .scalar_i64("SELECT count(*) FROM security_events WHERE kind = 'second_factor_failed'")
        .await;
    assert_eq!(failed, 5);
}

#[tokio::test]
async fn wrong_codes_count_towards_login_throttling() {
    let app = spawn_app_with(|c| {
        c.login_account_free_failures = 4;
        c.login_base_delay_secs = 10;
        c.login_max_delay_secs = 60;
    })
    .await;
    let (_, token, secret, _) = with_totp(&app, EMAIL).await;
    // A wrong step-up code counts under the account key, and the right password beside it
    // does not take the count back while the code is wrong.
    let body = json!({"password": GOOD_PASSWORD, "code": "000000"});
    let res = call(
        &app,
        Method::POST,
        "/users/me/mfa/recovery-codes/",
        &token,
        body,
    )
    .await;
    assert_json(res, 400, invalid_code()).await;
    // Nor does the right password of a login whose second step is still due.
    let mfa_token = start_login(&app, EMAIL).await;
    assert_json(
        finish(&app, &mfa_token, "000000").await,
        400,
        invalid_code(),
    )
    .await;
    let res = app
        .post_json(
            "/token/",
            &json!({"email": EMAIL, "password": GOOD_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 429);
    let res = finish(&app, &mfa_token, &now_code(&app, &secret)).await;
    assert_eq!(res.status(), 429);
    advance(&app, 10);
    let res = finish(&app, &mfa_token, &now_code(&app, &secret)).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn two_simultaneous_finishes_of_one_mfa_token_give_one_token() {
    let app = spawn_app().await;
    let (_, _, secret, codes) = with_totp(&app, EMAIL).await;
    for (round, recovery) in codes.iter().enumerate().take(3) {
        let mfa_token = start_login(&app, EMAIL).await;
        let totp = now_code(&app, &secret);
        // The same code twice, then two different right codes.
        let other = if round == 0 {
            totp.clone()
        } else {
            recovery.clone()
        };
        let (a, b) = tokio::join!(
            finish(&app, &mfa_token, &totp),
            finish(&app, &mfa_token, &other)
        );
        let ok = [a.status(), b.status()]
            .iter()
            .filter(|s| s.as_u16() == 200)
            .count();
        assert_eq!(ok, 1, "round {round}");
        advance(&app, 30);
    }
    let logins = app
        .scalar_i64("SELECT count(*) FROM security_events WHERE kind = 'login_succeeded'")
        .await;
    assert_eq!(logins, 3);
}

#[tokio::test]
async fn a_user_deactivated_between_the_two_steps_gets_no_token() {
    let app = spawn_app().await;
    let (id, _, secret, _) = with_totp(&app, EMAIL).await;
    let mfa_token = start_login(&app, EMAIL).await;
    app.execute(&format!(
        "UPDATE users SET is_active = FALSE WHERE id = {id}"
    ))
    .await;
    let res = finish(&app, &mfa_token, &now_code(&app, &secret)).await;
    assert_json(res, 400, invalid_mfa_token()).await;
}

#[tokio::test]
async fn the_verified_email_policy_holds_for_the_second_step() {
    let app = spawn_app().await;
    let (id, _, secret, _) = with_totp(&app, EMAIL).await;
    let app2 = app.spawn_peer(|c| c.require_verified_email = true).await;
    app.execute(&format!(
        "UPDATE users SET email_verified = FALSE WHERE id = {id}"
    ))
    .await;
    let res = app2
        .post_json(
            "/token/",
            &json!({"email": EMAIL, "password": GOOD_PASSWORD}),
        )
        .await;
    assert_json(
        res,
        400,
        json!({"non_field_errors": ["E-mail is not verified."]}),
    )
    .await;
    // A challenge begun where the policy is off is not finished where it is on.
    let mfa_token = start_login(&app, EMAIL).await;
    let res = finish(&app2, &mfa_token, &now_code(&app, &secret)).await;
    assert_json(
        res,
        400,
        json!({"non_field_errors": ["E-mail is not verified."]}),
    )
    .await;
}

async fn make(app: &TestApp, id: i64, flags: &str) {
    app.execute(&format!("UPDATE users SET {flags} WHERE id = {id}"))
        .await;
}

#[tokio::test]
async fn staff_see_second_factors_and_remove_them_and_the_user_profile_does_not_show_them() {
    let app = spawn_app().await;
    let (staff_id, staff) = app.register("staff@example.com").await;
    make(&app, staff_id, "is_staff = TRUE").await;
    let (id, token, _, _) = with_totp(&app, EMAIL).await;
    let res = call(
        &app,
        Method::GET,
        &format!("/users/{id}/"),
        &staff,
        json!({}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (&body["totp"], &body["passkeys"], &body["email"]),
        (&json!(true), &json!(0), &json!(EMAIL))
    );
    let own: Value = app.get_me(&token).await.json().await.unwrap();
    assert!(
        own.get("totp").is_none() && own.get("passkeys").is_none(),
        "{own}"
    );

    let res = call(
        &app,
        Method::DELETE,
        &format!("/users/{id}/mfa/"),
        &token,
        json!({}),
    )
    .await;
    assert_eq!(res.status(), 403);
    let res = call(
        &app,
        Method::DELETE,
        &format!("/users/{id}/mfa/"),
        &staff,
        json!({}),
    )
    .await;
    assert_eq!(res.status(), 204);
    let off = json!({"totp": false, "recovery_codes_left": 0, "passkeys": 0});
    assert_eq!(status_of(&app, &token).await, off);
    app.login(EMAIL, GOOD_PASSWORD).await;
    let sql = format!(
        "SELECT count(*) FROM security_events WHERE kind = 'staff_removed_second_factors' AND user_id = {id} AND actor_id = {staff_id}"
    );
    assert_eq!(app.scalar_i64(&sql).await, 1);
    let res = call(
        &app,
        Method::DELETE,
        "/users/999999/mfa/",
        &staff,
        json!({}),
    )
    .await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn a_staff_member_cannot_remove_a_superusers_factors_but_a_superuser_can() {
    let app = spawn_app().await;
    let (staff_id, staff) = app.register("staff@example.com").await;
    make(&app, staff_id, "is_staff = TRUE").await;
    let (root_id, root) = app.register("root@example.com").await;
    make(&app, root_id, "is_staff = TRUE, is_superuser = TRUE").await;
    let (id, token, _, _) = with_totp(&app, "boss@example.com").await;
    make(&app, id, "is_superuser = TRUE").await;
    let res = call(
        &app,
        Method::DELETE,
        &format!("/users/{id}/mfa/"),
        &staff,
        json!({}),
    )
    .await;
    assert_eq!(res.status(), 403);
    assert_eq!(status_of(&app, &token).await["totp"], json!(true));
    let res = call(
        &app,
        Method::DELETE,
        &format!("/users/{id}/mfa/"),
        &root,
        json!({}),
    )
    .await;
    assert_eq!(res.status(), 204);
    assert_eq!(status_of(&app, &token).await["totp"], json!(false));
}

#[tokio::test]
async fn deleting_the_account_leaves_no_second_factor_rows() {
    let app = spawn_app().await;
    let (id, token, secret, _) = with_totp(&app, EMAIL).await;
    start_login(&app, EMAIL).await;
    let bytes = |hex: &str| match &app.db {
        kitchen_api::db::Db::Sqlite(_) => format!("X'{hex}'"),
        kitchen_api::db::Db::Postgres(_) => format!("decode('{hex}', 'hex')"),
    };
    let (credential, digest) = (bytes("0102"), bytes("0304"));
    app.execute(&format!(
        "INSERT INTO passkeys (user_id, credential_id, passkey, name, created_at) \
         VALUES ({id}, {credential}, '{{}}', 'phone', '2026-11-24T12:00:00Z')"
    ))
    .await;
    app.execute(&format!(
        "INSERT INTO webauthn_ceremonies (digest, purpose, user_id, state, expires_at) \
         VALUES ({digest}, 'register', {id}, '{{}}', '2026-11-24T12:05:00Z')"
    ))
    .await;
    let tables = [
        "user_totp",
        "recovery_codes",
        "mfa_challenges",
        "passkeys",
        "webauthn_ceremonies",
    ];
    for table in tables {
        let n = app
            .scalar_i64(&format!("SELECT count(*) FROM {table}"))
            .await;
        assert!(n > 0, "{table} is empty before");
    }
    let res = call(
        &app,
        Method::DELETE,
        "/users/me/",
        &token,
        json!({"password": GOOD_PASSWORD, "code": now_code(&app, &secret)}),
    )
    .await;
    assert_eq!(res.status(), 204);
    for table in tables {
        let n = app
            .scalar_i64(&format!("SELECT count(*) FROM {table}"))
            .await;
        assert_eq!(n, 0, "{table}");
    }
}

/// An attacker who has the password and has seen one code sends it with many `mfa_token`s at
/// once (each its own login): the code is taken once, and so is a recovery code.
#[tokio::test]
async fn one_code_sent_with_twenty_mfa_tokens_at_once_gives_one_token() {
    // Each right password stays counted until its code (TOTP on): room for the 40 logins begun.
    let app = spawn_app_with(|c| {
        c.login_account_free_failures = 1000;
        c.login_address_free_failures = 1000;
    })
    .await;
    let (_, _, secret, codes) = with_totp(&app, EMAIL).await;
    for code in [now_code(&app, &secret), codes[0].clone()] {
        let mut mfa_tokens = Vec::new();
        for _ in 0..20 {
            mfa_tokens.push(start_login(&app, EMAIL).await);
        }
        let finishes = mfa_tokens.iter().map(|t| finish(&app, t, &code));
        let answers = futures::future::join_all(finishes).await;
        let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
        let ok = statuses.iter().filter(|&&s| s == 200).count();
        assert_eq!(ok, 1, "{code}: {statuses:?}");
        for refused in answers.into_iter().filter(|r| r.status() != 200) {
            assert_json(refused, 400, invalid_code()).await;
        }
    }
}
