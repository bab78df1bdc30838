//! POST /users/reset/password/ and /users/reset/password/code/: a forgotten password, replaced
//! with a mailed code.

use chrono::TimeDelta;
use kitchen_api::auth::Clock;
use reqwest::Response;
use serde_json::{Value, json};

use crate::helpers::{GOOD_PASSWORD, TestApp, assert_json, spawn_app};

const NEW_PASSWORD: &str = "a brand new kitchen passphrase";
const SENT: &str = "If an account uses this address, a password reset code is on its way.";

async fn request_reset(app: &TestApp, email: &str) -> Response {
    app.post_json("/users/reset/password/", &json!({"email": email}))
        .await
}

async fn reset(app: &TestApp, email: &str, code: &str) -> Response {
    app.post_json(
        "/users/reset/password/code/",
        &json!({"email": email, "code": code, "password": NEW_PASSWORD, "re_password": NEW_PASSWORD}),
    )
    .await
}

/// Asks for a reset code for `email` and returns it, read from the mail.
async fn reset_code(app: &TestApp, email: &str) -> String {
    assert_json(
        request_reset(app, email).await,
        200,
        json!({"detail": SENT}),
    )
    .await;
    app.reset_code_sent_to(email).await
}

async fn login_status(app: &TestApp, email: &str, password: &str) -> u16 {
    app.post_json("/token/", &json!({"email": email, "password": password}))
        .await
        .status()
        .as_u16()
}

fn other_than(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

async fn assert_invalid(res: Response) {
    assert_json(res, 400, json!({"code": ["Invalid or expired code."]})).await;
}

#[tokio::test]
async fn a_reset_code_sets_the_new_password_and_revokes_every_token() {
    let app = spawn_app().await;
    let (_, first) = app.register("cook@example.com").await;
    let second = app.login("cook@example.com", GOOD_PASSWORD).await;
    let code = reset_code(&app, "cook@example.com").await;
    let sent = app.outbox.sent();
    let mail = sent.iter().find(|m| m.text.contains(&code)).unwrap();
    assert_eq!(mail.subject, "Your password reset code");

    assert_json(
        reset(&app, "cook@example.com", &code).await,
        200,
        json!({"detail": "Password has been reset."}),
    )
    .await;
    assert_eq!(app.get_me(&first).await.status(), 401);
    assert_eq!(app.get_me(&second).await.status(), 401);
    assert_eq!(
        login_status(&app, "cook@example.com", GOOD_PASSWORD).await,
        400
    );
    assert_eq!(
        login_status(&app, "cook@example.com", NEW_PASSWORD).await,
        200
    );
}

#[tokio::test]
async fn the_address_is_matched_whatever_its_case_and_the_reset_proves_it() {
    let app = spawn_app().await;
    app.register("Cook@Example.com").await;
    let code = reset_code(&app, "COOK@example.COM").await;
    assert_eq!(app.outbox.sent().pop().unwrap().to, "Cook@example.com");
    assert_eq!(reset(&app, "cook@EXAMPLE.com", &code).await.status(), 200);
    let token = app.login("cook@example.com", NEW_PASSWORD).await;
    let profile: Value = app.get_me(&token).await.json().await.unwrap();
    assert_eq!(profile["email_verified"], true);
}

#[tokio::test]
async fn known_and_unknown_addresses_get_the_same_answer_and_only_the_known_one_a_mail() {
    let app = spawn_app().await;
    app.register("cook@example.com").await;
    app.mail_settled().await;
    let before = app.outbox.sent().len();
    let known = request_reset(&app, "cook@example.com").await;
    let unknown = request_reset(&app, "nobody@example.com").await;
    assert_eq!(known.status(), unknown.status());
    assert_eq!(
        known.headers().get("content-type"),
        unknown.headers().get("content-type")
    );
    assert_eq!(known.bytes().await.unwrap(), unknown.bytes().await.unwrap());
    app.mail_settled().await;
    let sent = app.outbox.sent();
    assert_eq!(sent.len(), before + 1);
    assert_eq!(sent.last().unwrap().to, "cook@example.com");
}

/// The request itself only validates the address and queues one job; the look-up, the code
/// and its storage run in the mail queue, identically for both (the unknown address's job
/// ends as "nothing to send"). Counting the work shows it is the same.
#[tokio::test]
async fn a_reset_request_does_the_same_work_for_known_and_unknown_addresses() {
    let app = spawn_app().await;
    app.register("cook@example.com").await;
    app.mail_settled().await;
    let mut work = Vec::new();
    for email in ["cook@example.com", "nobody@example.com"] {
        let (hashes, verifies) = (app.hasher.hashes(), app.hasher.verifies());
        let queued = app.mailer.stats().enqueued;
        let res = request_reset(&app, email).await;
        assert_eq!(res.status(), 200);
        work.push((
            app.hasher.hashes() - hashes,
            app.hasher.verifies() - verifies,
            app.mailer.stats().enqueued - queued,
        ));
    }
    assert_eq!(work[0], work[1]);
    assert_eq!(work[0], (0, 0, 1), "no password hash, one queued job");
    app.mail_settled().await;
    let stats = app.mailer.stats();
    // Registration and the known address: delivered. The unknown address: prepared, dropped.
    assert_eq!((stats.delivered, stats.discarded, stats.failed), (2, 1, 0));
}

#[tokio::test]
async fn a_wrong_code_is_refused_and_the_password_stays() {
    let app = spawn_app().await;
    app.register("cook@example.com").await;
    let code = reset_code(&app, "cook@example.com").await;
    assert_invalid(reset(&app, "cook@example.com", &other_than(&code)).await).await;
    assert_eq!(
        login_status(&app, "cook@example.com", GOOD_PASSWORD).await,
        200
    );
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let app = spawn_app().await;
    app.register("cook@example.com").await;
    let code = reset_code(&app, "cook@example.com").await;
    app.clock.set(app.clock.now() + TimeDelta::minutes(15));
    assert_invalid(reset(&app, "cook@example.com", &code).await).await;
}

#[tokio::test]
async fn after_five_wrong_tries_the_right_code_is_refused_too() {
    let app = spawn_app().await;
    app.register("cook@example.com").await;
    let code = reset_code(&app, "cook@example.com").await;
    for _ in 0..5 {
        assert_invalid(reset(&app, "cook@example.com", &other_than(&code)).await).await;
    }
    assert_invalid(reset(&app, "cook@example.com", &code).await).await;
    assert_eq!(
        login_status(&app, "cook@example.com", GOOD_PASSWORD).await,
        200
    );
}

#[tokio::test]
async fn a_used_code_cannot_reset_again() {
    let app = spawn_app().await;
    app.register("cook@example.com").await;
    let code = reset_code(&app, "cook@example.com").await;
    assert_eq!(reset(&app, "cook@example.com", &code).await.status(), 200);
    assert_invalid(reset(&app, "cook@example.com", &code).await).await;
}

#[tokio::test]
async fn a_new_reset_request_voids_the_previous_code() {
    let app = spawn_app().await;
    app.register("cook@example.com").await;
    let first = reset_code(&app, "cook@example.com").await;
    let second = reset_code(&app, "cook@example.com").await;
    if first != second {
        assert_invalid(reset(&app, "cook@example.com", &first).await).await;
    }
    assert_eq!(reset(&app, "cook@example.com", &second).await.status(), 200);
}

#[tokio::test]
async fn a_code_works_only_for_its_address_and_its_purpose() {
    let app = spawn_app().await;
    app.register("alice@example.com").await;
    app.register("bob@example.com").await;
    let verification = app.verification_code_sent_to("alice@example.com").await;
    assert_invalid(reset(&app, "alice@example.com", &verification).await).await;
    let alice = reset_code(&app, "alice@example.com").await;
    assert_invalid(reset(&app, "bob@example.com", &alice).await).await;
    assert_invalid(reset(&app, "nobody@example.com", &alice).await).await;
    assert_eq!(reset(&app, "alice@example.com", &alice).await.status(), 200);
}

#[tokio::test]
async fn mismatched_and_weak_passwords_are_refused_without_spending_a_try() {
    let app = spawn_app().await;
    app.register("cook@example.com").await;
    let code = reset_code(&app, "cook@example.com").await;
    let app = &app;
    let attempt = |password: &str, re_password: &str| {
        let body = json!({"email": "cook@example.com", "code": code, "password": password, "re_password": re_password});
        async move { app.post_json("/users/reset/password/code/", &body).await }
    };
    assert_json(
        attempt(NEW_PASSWORD, "something else entirely").await,
        400,
        json!({"re_password": ["Passwords do not match."]}),
    )
    .await;
    assert_json(
        attempt("12345", "12345").await,
        400,
        json!({"password": [
            "This password is too short. It must contain at least 8 characters.",
            "This password is too common.",
            "This password is entirely numeric."
        ]}),
    )
    .await;
    assert_json(
        attempt("cook@example.com1", "cook@example.com1").await,
        400,
        json!({"password": ["The password is too similar to the email address."]}),
    )
    .await;
    for _ in 0..5 {
        assert_eq!(attempt("password", "password").await.status(), 400);
    }
    assert_eq!(attempt(NEW_PASSWORD, NEW_PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn missing_blank_wrong_typed_oversized_and_malicious_fields_get_field_errors() {
    let app = spawn_app().await;
    for (body, expected) in [
        (json!({}), json!({"email": ["This field is required."]})),
        (
            json!({"email": "  "}),
            json!({"email": ["This field may not be blank."]}),
        ),
        (
            json!({"email": ["a@b.co"]}),
            json!({"email": ["Not a valid string."]}),
        ),
        (
            json!({"email": "not-an-address"}),
            json!({"email": ["Please enter a valid email address"]}),
        ),
        (
            json!({"email": format!("{}@example.com", "a".repeat(300))}),
            json!({"email": ["Ensure this field has no more than 254 characters."]}),
        ),
        (
            json!({"email": "x@example.com' OR '1'='1"}),
            json!({"email": ["Please enter a valid email address"]}),
        ),
    ] {
        let res = app.post_json("/users/reset/password/", &body).await;
        assert_json(res, 400, expected).await;
    }
    let required = json!(["This field is required."]);
    assert_json(
        app.post_json("/users/reset/password/code/", &json!({}))
            .await,
        400,
        json!({"email": required, "code": required, "password": required, "re_password": required}),
    )
    .await;
    let res = app
        .post_json(
            "/users/reset/password/code/",
            &json!({"email": "cook@example.com", "code": 12.5, "password": {"a": 1}, "re_password": "p".repeat(2000)}),
        )
        .await;
    assert_json(
        res,
        400,
        json!({"code": ["Enter the 6-digit code from the email."], "password": ["Not a valid string."]}),
    )
    .await;
    let res = app
        .post_json(
            "/users/reset/password/code/",
            &json!({"email": "cook@example.com", "code": "123456", "password": "p".repeat(2000), "re_password": "p".repeat(2000)}),
        )
        .await;
    assert_json(
        res,
        400,
        json!({"password": ["Ensure this field has no more than 1024 characters."]}),
    )
    .await;
}
