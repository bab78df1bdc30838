//! POST /users/me/email/ and /users/me/email/confirm/ (SPEC 3d): a code mailed to the new
//! address moves the account there; the old address is told, and is free again.

use chrono::TimeDelta;
use kitchen_api::auth::{Clock, CodePurpose};
use kitchen_api::mail::{MailKind, NoticeKind};
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::{GOOD_PASSWORD, TestApp, assert_json, spawn_app, spawn_app_with};
use crate::totp::{now_code, with_totp};

const OLD: &str = "cook@example.com";
const NEW: &str = "chef@example.org";
const SENT: &str = "A code is on its way to the new address.";
const TAKEN: &str = "User with email already exists.";

async fn request_change(app: &TestApp, token: &str, body: &Value) -> Response {
    app.send_as(Method::POST, "/users/me/email/", token, Some(body))
        .await
}

async fn confirm(app: &TestApp, token: &str, code: &str) -> Response {
    let body = json!({"code": code});
    app.send_as(Method::POST, "/users/me/email/confirm/", token, Some(&body))
        .await
}

/// Asks to move the caller to `new_email` and returns the code mailed there.
async fn change_code(app: &TestApp, token: &str, new_email: &str) -> String {
    let body = json!({"new_email": new_email, "password": GOOD_PASSWORD});
    let res = request_change(app, token, &body).await;
    assert_json(res, 200, json!({"detail": SENT})).await;
    app.code_sent_to(new_email, CodePurpose::ChangeEmail).await
}

async fn email_of(app: &TestApp, token: &str) -> Value {
    let res = app.get_me(token).await;
    assert_eq!(res.status(), 200);
    let profile: Value = res.json().await.unwrap();
    profile["email"].clone()
}

async fn login_status(app: &TestApp, email: &str) -> u16 {
    let body = json!({"email": email, "password": GOOD_PASSWORD});
    app.post_json("/token/", &body).await.status().as_u16()
}

/// Email change codes mailed so far, to anyone.
async fn change_mails(app: &TestApp) -> usize {
    app.mail_settled().await;
    let sent = app.outbox.sent();
    let kind = MailKind::Code(CodePurpose::ChangeEmail);
    sent.iter().filter(|m| m.kind == kind).count()
}

fn other_than(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

async fn assert_invalid(res: Response) {
    assert_json(res, 400, json!({"code": ["Invalid or expired code."]})).await;
}

#[tokio::test]
async fn a_code_mailed_to_the_new_address_moves_the_account_there_and_frees_the_old_one() {
    let app = spawn_app().await;
    let (id, token) = app.register(OLD).await;
    let code = change_code(&app, &token, NEW).await;
    let sent = app.outbox.sent();
    let mail = sent.iter().find(|m| m.text.contains(&code)).unwrap();
    assert_eq!(mail.to, NEW);
    assert_eq!(mail.subject, "Confirm your new email address");
    // Nothing changes before the confirmation.
    assert_eq!(email_of(&app, &token).await, OLD);

    let res = confirm(&app, &token, &code).await;
    assert_eq!(res.status(), 200);
    let profile: Value = res.json().await.unwrap();
    assert_eq!(profile["email"], NEW);
    assert_eq!(profile["email_verified"], true);
    assert_eq!(profile["user_id"], id);
    let me: Value = app.get_me(&token).await.json().await.unwrap();
    assert_eq!(me, profile, "the confirmation answers the profile");

    assert_eq!(login_status(&app, NEW).await, 200);
    assert_eq!(login_status(&app, OLD).await, 400);
    app.register(OLD).await;

    let notices = app.notices_to(OLD, NoticeKind::EmailChanged).await;
    assert_eq!(notices.len(), 1);
    assert!(
        notices[0].text.contains("c***@example.org"),
        "{}",
        notices[0].text
    );
    assert!(!notices[0].text.contains(NEW), "the new address is masked");
    assert!(
        app.notices_to(NEW, NoticeKind::EmailChanged)
            .await
            .is_empty()
    );
    let events = format!(
        "SELECT count(*) FROM security_events WHERE kind = 'email_changed' AND user_id = {id} \
         AND detail IS NULL"
    );
    assert_eq!(app.scalar_i64(&events).await, 1);
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_nothing_is_mailed() {
    let app = spawn_app().await;
    let (_, token) = app.register(OLD).await;
    let body = json!({"new_email": NEW, "password": "not the password at all"});
    let res = request_change(&app, &token, &body).await;
    assert_json(res, 400, json!({"password": ["Wrong password."]})).await;
    assert_eq!(change_mails(&app).await, 0);
    let stored = "SELECT count(*) FROM codes WHERE purpose = 'change_email'";
    assert_eq!(app.scalar_i64(stored).await, 0);
}

#[tokio::test]
async fn missing_fields_and_a_malformed_address_get_registrations_messages() {
    let app = spawn_app().await;
    let (_, token) = app.register(OLD).await;
    let res = request_change(&app, &token, &json!({})).await;
    let required = json!(["This field is required."]);
    assert_json(
        res,
        400,
        json!({"new_email": required, "password": required}),
    )
    .await;
    let body = json!({"new_email": "chef@", "password": GOOD_PASSWORD});
    let res = request_change(&app, &token, &body).await;
    let invalid = json!({"new_email": ["Please enter a valid email address"]});
    assert_json(res, 400, invalid).await;
    assert_eq!(change_mails(&app).await, 0);
}

#[tokio::test]
async fn an_address_another_account_uses_is_refused_as_at_registration() {
    let app = spawn_app().await;
    let (_, token) = app.register(OLD).await;
    app.register(NEW).await;
    let body = json!({"new_email": NEW, "password": GOOD_PASSWORD});
    let res = request_change(&app, &token, &body).await;
    assert_json(res, 400, json!({"new_email": [TAKEN]})).await;
    assert_eq!(change_mails(&app).await, 0);
}

#[tokio::test]
async fn another_spelling_of_a_taken_address_is_the_same_address() {
    let app = spawn_app().await;
    let (_, token) = app.register(OLD).await;
    app.register("jane@bücher.example").await;
    for spelling in [
        "JANE@bu\u{308}cher.EXAMPLE",
        "Jane@xn--bcher-kva.example",
        "jane@ｂüｃｈｅｒ.example",
    ] {
        let body = json!({"new_email": spelling, "password": GOOD_PASSWORD});
        let res = request_change(&app, &token, &body).await;
        assert_json(res, 400, json!({"new_email": [TAKEN]})).await;
    }
    assert_eq!(change_mails(&app).await, 0);
}

#[tokio::test]
async fn the_current_address_in_any_spelling_is_refused() {
    let app = spawn_app().await;
    let (_, token) = app.register(OLD).await;
    for spelling in [OLD, "COOK@Example.COM"] {
        let body = json!({"new_email": spelling, "password": GOOD_PASSWORD});
        let res = request_change(&app, &token, &body).await;
        let yours = json!({"new_email": ["This is already your email address."]});
        assert_json(res, 400, yours).await;
    }
    assert_eq!(change_mails(&app).await, 0);
}

#[tokio::test]
async fn a_wrong_or_malformed_code_changes_nothing_and_the_right_one_still_works() {
    let app = spawn_app().await;
    let (_, token) = app.register(OLD).await;
    let code = change_code(&app, &token, NEW).await;
    assert_invalid(confirm(&app, &token, &other_than(&code)).await).await;
    let malformed = json!({"code": ["Enter the 6-digit code from the email."]});
    assert_json(confirm(&app, &token, "12345").await, 400, malformed).await;
    assert_eq!(email_of(&app, &token).await, OLD);
    assert_eq!(confirm(&app, &token, &code).await.status(), 200);
}

#[tokio::test]
async fn another_users_code_does_not_work() {
    let app = spawn_app().await;
    let (_, alice) = app.register(OLD).await;
    let (_, bob) = app.register("bob@example.com").await;
    // Alice has no code yet: Bob's is nothing to her.
    let mut bobs = change_code(&app, &bob, "bob@example.org").await;
    assert_invalid(confirm(&app, &alice, &bobs).await).await;
    // Nor when she has one of her own (drawn again in the unlikely case they are equal).
    let alices = change_code(&app, &alice, NEW).await;
    while bobs == alices {
        bobs = change_code(&app, &bob, "bob@example.org").await;
    }
    assert_invalid(confirm(&app, &alice, &bobs).await).await;
    assert_eq!(email_of(&app, &alice).await, OLD);
    assert_eq!(email_of(&app, &bob).await, "bob@example.com");
    // Each code still works for its own user.
    assert_eq!(confirm(&app, &alice, &alices).await.status(), 200);
    assert_eq!(confirm(&app, &bob, &bobs).await.status(), 200);
    assert_eq!(email_of(&app, &bob).await, "bob@example.org");
}

#[tokio::test]
async fn a_code_expires_after_fifteen_minutes() {
    let app = spawn_app().await;
    let (_, token) = app.register(OLD).await;
    let code = change_code(&app, &token, NEW).await;
    app.clock.set(app.clock.now() + TimeDelta::minutes(15));
    assert_invalid(confirm(&app, &token, &code).await).await;
    assert_eq!(email_of(&app, &token).await, OLD);
}

#[tokio::test]
async fn after_five_tries_even_the_right_code_is_refused() {
    let app = spawn_app().await;
    let (_, token) = app.register(OLD).await;
    let code = change_code(&app, &token, NEW).await;
    for _ in 0..5 {
        assert_invalid(confirm(&app, &token, &other_than(&code)).await).await;
    }
    assert_invalid(confirm(&app, &token, &code).await).await;
    assert_eq!(email_of(&app, &token).await, OLD);
}

#[tokio::test]
async fn a_code_works_once() {
    let app = spawn_app().await;
    let (_, token) = app.register(OLD).await;
    let code = change_code(&app, &token, NEW).await;
    assert_eq!(confirm(&app, &token, &code).await.status(), 200);
    assert_invalid(confirm(&app, &token, &code).await).await;
    assert_eq!(app.notices_to(OLD, NoticeKind::EmailChanged).await.len(), 1);
}

#[tokio::test]
async fn of_ten_confirmations_at_once_one_moves_the_account_and_the_old_address_is_told_once() {
    let app = spawn_app().await;
    let (id, token) = app.register(OLD).await;
    let code = change_code(&app, &token, NEW).await;
    let confirms = (0..10).map(|_| confirm(&app, &token, &code));
    let mut statuses: Vec<u16> = futures::future::join_all(confirms)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    statuses.sort_unstable();
    let mut expected = vec![400; 9];
    expected.insert(0, 200);
    assert_eq!(statuses, expected);
    assert_eq!(email_of(&app, &token).await, NEW);
    assert_eq!(app.notices_to(OLD, NoticeKind::EmailChanged).await.len(), 1);
    let events = format!(
        "SELECT count(*) FROM security_events WHERE kind = 'email_changed' AND user_id = {id}"
    );
    assert_eq!(app.scalar_i64(&events).await, 1);
}

#[tokio::test]
async fn asking_again_replaces_the_code_and_the_address() {
    let app = spawn_app().await;
    let (_, token) = app.register(OLD).await;
    let mut first = change_code(&app, &token, "first@example.org").await;
    let mut second = change_code(&app, &token, NEW).await;
    while first == second {
        first = change_code(&app, &token, "first@example.org").await;
        second = change_code(&app, &token, NEW).await;
    }
    assert_invalid(confirm(&app, &token, &first).await).await;
    assert_eq!(confirm(&app, &token, &second).await.status(), 200);
    assert_eq!(email_of(&app, &token).await, NEW);
}

#[tokio::test]
async fn an_address_taken_before_the_confirmation_is_refused_and_nothing_changes() {
    let app = spawn_app().await;
    let (id, token) = app.register(OLD).await;
    let code = change_code(&app, &token, NEW).await;
    // Another spelling of the same mailbox, registered meanwhile.
    let (other, _) = app.register("Chef@EXAMPLE.org").await;
    let res = confirm(&app, &token, &code).await;
    assert_json(res, 400, json!({"new_email": [TAKEN]})).await;
    assert_eq!(email_of(&app, &token).await, OLD);
    assert_eq!(login_status(&app, OLD).await, 200);
    let unused = format!(
        "SELECT count(*) FROM codes WHERE user_id = {id} AND purpose = 'change_email' \
         AND used_at IS NULL"
    );
    assert_eq!(app.scalar_i64(&unused).await, 1);
    let others =
        format!("SELECT count(*) FROM users WHERE id = {other} AND email = 'Chef@example.org'");
    assert_eq!(app.scalar_i64(&others).await, 1);
    assert!(
        app.notices_to(OLD, NoticeKind::EmailChanged)
            .await
            .is_empty()
    );
    let events = "SELECT count(*) FROM security_events WHERE kind = 'email_changed'";
    assert_eq!(app.scalar_i64(events).await, 0);
}

#[tokio::test]
async fn with_totp_on_the_request_needs_a_current_code() {
    let app = spawn_app().await;
    let (_, token, secret, _) = with_totp(&app, OLD).await;
    let body = json!({"new_email": NEW, "password": GOOD_PASSWORD});
    let res = request_change(&app, &token, &body).await;
    assert_json(res, 400, json!({"code": ["This field is required."]})).await;
    assert_eq!(change_mails(&app).await, 0);
    let body =
        json!({"new_email": NEW, "password": GOOD_PASSWORD, "code": now_code(&app, &secret)});
    let res = request_change(&app, &token, &body).await;
    assert_json(res, 200, json!({"detail": SENT})).await;
    let code = app.code_sent_to(NEW, CodePurpose::ChangeEmail).await;
    assert_eq!(confirm(&app, &token, &code).await.status(), 200);
}

#[tokio::test]
async fn both_routes_need_a_token() {
    let app = spawn_app().await;
    let body = json!({"new_email": NEW, "password": GOOD_PASSWORD});
    let not_provided = json!({"detail": "Authentication credentials were not provided."});
    let res = app.post_json("/users/me/email/", &body).await;
    assert_json(res, 401, not_provided.clone()).await;
    let res = app
        .post_json("/users/me/email/confirm/", &json!({"code": "123456"}))
        .await;
    assert_json(res, 401, not_provided).await;
}

#[tokio::test]
async fn the_same_tokens_cached_session_shows_the_new_address_at_once() {
    let app = spawn_app().await;
    let (_, token) = app.register(OLD).await;
    let other_session = app.login(OLD, GOOD_PASSWORD).await;
    // Both sessions are cached now.
    assert_eq!(email_of(&app, &token).await, OLD);
    assert_eq!(email_of(&app, &other_session).await, OLD);
    let code = change_code(&app, &token, NEW).await;
    assert_eq!(confirm(&app, &token, &code).await.status(), 200);
    assert_eq!(email_of(&app, &token).await, NEW);
    // Sessions stay, and every one of the user's sees the new address.
    assert_eq!(email_of(&app, &other_session).await, NEW);
}

#[tokio::test]
async fn change_codes_are_mailed_within_the_code_mail_limits() {
    let app = spawn_app_with(|c| c.code_mails_per_account = 1).await;
    let (_, token) = app.register(OLD).await;
    change_code(&app, &token, NEW).await;
    let body = json!({"new_email": "again@example.org", "password": GOOD_PASSWORD});
    let res = request_change(&app, &token, &body).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(change_mails(&app).await, 1);
}
