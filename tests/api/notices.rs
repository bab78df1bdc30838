//! Security notices (SPEC 3d): one mail per change to the account (password changed or reset,
//! TOTP on or off, recovery codes used or renewed; passkeys and the email change have theirs
//! in passkeys.rs and email_change.rs), and sign-ins from a device the account has not used.
//! Read from the outbox, and once from a real SMTP delivery with both parts.

use kitchen_api::mail::NoticeKind;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{GOOD_PASSWORD, TestApp, spawn_app, spawn_app_with};
use crate::outbox::SentMail;
use crate::smtp_sink::SmtpSink;
use crate::totp::{now_code, with_totp};

const EMAIL: &str = "cook@example.com";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) \
     AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
const NEW_PASSWORD: &str = "a brand new kitchen passphrase";

/// The one notice of `kind` to `email` (it fails if there are none or several).
async fn one_notice(app: &TestApp, email: &str, kind: NoticeKind) -> SentMail {
    let mut notices = app.notices_to(email, kind).await;
    assert_eq!(notices.len(), 1, "{kind:?}: {notices:?}");
    notices.remove(0)
}

/// Every notice says when, from which device and network, and what to do.
fn assert_says_where_and_what_to_do(mail: &SentMail, device: &str, network: &str) {
    for part in [&mail.text, &mail.html] {
        assert!(part.contains("2026-11-24"), "no date in {part}");
        assert!(part.contains(device), "no {device} in {part}");
        assert!(part.contains(network), "no {network} in {part}");
        assert!(part.contains("reset it now"), "no advice in {part}");
        assert!(
            part.contains("sign out of all devices"),
            "no advice in {part}"
        );
    }
    assert!(mail.html.starts_with("<!DOCTYPE html>"));
}

async fn log_in_from(app: &TestApp, agent: &str, forwarded_for: Option<&str>) -> u16 {
    let mut request = app
        .request(Method::POST, "/token/")
        .header("User-Agent", agent)
        .json(&json!({"email": EMAIL, "password": GOOD_PASSWORD}));
    if let Some(address) = forwarded_for {
        request = request.header("X-Forwarded-For", address);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn changing_the_password_tells_the_user_from_which_device_and_network() {
    let app = spawn_app().await;
    let (_, token) = app.register(EMAIL).await;
    let res = app
        .request(Method::POST, "/users/change/password/")
        .header("Authorization", format!("Token {token}"))
        .header("User-Agent", IPHONE)
        .json(&json!({
            "old_password": GOOD_PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm_new_password": NEW_PASSWORD,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mail = one_notice(&app, EMAIL, NoticeKind::PasswordChanged).await;
    assert_eq!(mail.subject, "Your password was changed");
    assert_says_where_and_what_to_do(&mail, "Safari on iPhone", "127.0.0.0/24");
    // Nothing secret in it.
    assert!(!mail.text.contains(NEW_PASSWORD) && !mail.html.contains(NEW_PASSWORD));
    assert!(!mail.text.contains(&token));
}

#[tokio::test]
async fn a_wrong_old_password_sends_no_notice() {
    let app = spawn_app().await;
    let (_, token) = app.register(EMAIL).await;
    let wrong = json!({
        "old_password": "not the password at all",
        "new_password": NEW_PASSWORD,
        "confirm_new_password": NEW_PASSWORD,
    });
    let res = app
        .send_as(
            Method::POST,
            "/users/change/password/",
            &token,
            Some(&wrong),
        )
        .await;
    assert_eq!(res.status(), 400);
    assert!(app.all_notices_to(EMAIL).await.is_empty());
}

#[tokio::test]
async fn resetting_the_password_tells_the_user() {
    let app = spawn_app().await;
    app.register(EMAIL).await;
    let res = app
        .post_json("/users/reset/password/", &json!({"email": EMAIL}))
        .await;
    assert_eq!(res.status(), 200);
    let code = app.reset_code_sent_to(EMAIL).await;
    let body = json!({"email": EMAIL, "code": code, "password": NEW_PASSWORD, "re_password": NEW_PASSWORD});
    let res = app.post_json("/users/reset/password/code/", &body).await;
    assert_eq!(res.status(), 200);
    let mail = one_notice(&app, EMAIL, NoticeKind::PasswordReset).await;
    assert!(
        mail.text.contains("every device was signed out"),
        "{}",
        mail.text
    );
    assert_says_where_and_what_to_do(&mail, "Unknown device", "127.0.0.0/24");
}

#[tokio::test]
async fn totp_on_off_and_recovery_codes_each_tell_the_user() {
    let app = spawn_app().await;
    let (_, token, secret, recovery) = with_totp(&app, EMAIL).await;
    let on = one_notice(&app, EMAIL, NoticeKind::TotpEnabled).await;
    assert_eq!(on.subject, "Two-factor authentication is on");

    // A recovery code used to log in.
    let mfa_token = crate::totp::start_login(&app, EMAIL).await;
    let body = json!({"mfa_token": mfa_token, "code": recovery[0]});
    let res = app.post_json("/token/mfa/", &body).await;
    assert_eq!(res.status(), 200);
    one_notice(&app, EMAIL, NoticeKind::RecoveryCodeUsed).await;

    let code = now_code(&app, &secret);
    let proof = json!({"password": GOOD_PASSWORD, "code": code});
    let res = app
        .send_as(
            Method::POST,
            "/users/me/mfa/recovery-codes/",
            &token,
            Some(&proof),
        )
        .await;
    assert_eq!(res.status(), 200);
    let renewed: Value = res.json().await.unwrap();
    one_notice(&app, EMAIL, NoticeKind::RecoveryCodesRenewed).await;
    let codes = renewed["recovery_codes"].as_array().unwrap();
    for code in codes {
        let mail = app.all_notices_to(EMAIL).await;
        assert!(
            mail.iter()
                .all(|m| !m.text.contains(code.as_str().unwrap()))
        );
    }

    // A recovery code as the step-up of turning TOTP off: both are told.
    let proof = json!({"password": GOOD_PASSWORD, "code": codes[0]});
    let res = app
        .send_as(Method::DELETE, "/users/me/mfa/totp/", &token, Some(&proof))
        .await;
    assert_eq!(res.status(), 204);
    one_notice(&app, EMAIL, NoticeKind::TotpDisabled).await;
    assert_eq!(
        app.notices_to(EMAIL, NoticeKind::RecoveryCodeUsed)
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn a_sign_in_from_a_new_device_is_told_once_and_registration_is_never_told() {
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    app.register(EMAIL).await;
    // The device the account was made on (no user agent, 127.0.0.1) is known.
    app.login(EMAIL, GOOD_PASSWORD).await;
    assert!(app.all_notices_to(EMAIL).await.is_empty());

    assert_eq!(log_in_from(&app, IPHONE, None).await, 200);
    let mail = one_notice(&app, EMAIL, NoticeKind::NewDevice).await;
    assert_eq!(mail.subject, "New sign-in to your account");
    assert_says_where_and_what_to_do(&mail, "Safari on iPhone", "127.0.0.0/24");
    // The same phone after an update, and again from its network: known.
    let updated = IPHONE.replace("17.1", "17.2");
    assert_eq!(log_in_from(&app, &updated, None).await, 200);
    assert_eq!(log_in_from(&app, IPHONE, Some("127.0.0.9")).await, 200);
    assert_eq!(app.notices_to(EMAIL, NoticeKind::NewDevice).await.len(), 1);
    // The same phone on another network is new.
    assert_eq!(log_in_from(&app, IPHONE, Some("203.0.113.7")).await, 200);
    let notices = app.notices_to(EMAIL, NoticeKind::NewDevice).await;
    assert_eq!(notices.len(), 2);
    assert!(notices.iter().any(|m| m.text.contains("203.0.113.0/24")));
    // A failed login tells nothing.
    let res = app
        .request(Method::POST, "/token/")
        .header("User-Agent", "okhttp/4.12.0")
        .json(&json!({"email": EMAIL, "password": "not the password at all"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(app.notices_to(EMAIL, NoticeKind::NewDevice).await.len(), 2);
}

#[tokio::test]
async fn the_device_an_account_is_made_on_is_known_before_the_registration_answers() {
    // One mail at a time, and the first one held: no work queued with the registration's
    // mail can have run when the logins follow.
    let app = spawn_app_with(|c| c.mail.concurrency = 1).await;
    app.outbox.hold();
    app.register("first@example.com").await;
    let res = app
        .request(Method::POST, "/users/")
        .header("User-Agent", IPHONE)
        .json(&json!({"email": EMAIL, "password": GOOD_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let known = app
        .scalar_i64("SELECT count(*) FROM known_devices WHERE family = 'Safari on iPhone'")
        .await;
    assert_eq!(known, 1, "remembered in the registration's own commit");
    let statuses = futures::future::join_all((0..5).map(|_| log_in_from(&app, IPHONE, None)));
    assert!(statuses.await.iter().all(|s| *s == 200));
    app.outbox.release();
    assert!(app.all_notices_to(EMAIL).await.is_empty());
}

#[tokio::test]
async fn an_account_that_knows_no_device_learns_its_first_one_without_a_notice() {
    // As an account made before devices were kept, or imported from Django: none known. Its
    // next sign-in must not mail every such user at once after an upgrade.
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    app.register(EMAIL).await;
    app.execute("DELETE FROM known_devices").await;
    assert_eq!(log_in_from(&app, IPHONE, Some("203.0.113.7")).await, 200);
    assert!(app.all_notices_to(EMAIL).await.is_empty());
    // Once it knows one, another is new.
    assert_eq!(log_in_from(&app, IPHONE, Some("198.51.100.7")).await, 200);
    let mail = one_notice(&app, EMAIL, NoticeKind::NewDevice).await;
    assert!(mail.text.contains("198.51.100.0/24"), "{}", mail.text);
}

#[tokio::test]
async fn twenty_first_sign_ins_from_one_new_device_at_once_send_one_notice() {
    // Logins in flight count as guesses until their password is checked: allow twenty.
    let app = spawn_app_with(|c| {
        c.login_account_free_failures = 50;
        c.login_address_free_failures = 50;
    })
    .await;
    app.register(EMAIL).await;
    let logins = (0..20).map(|_| log_in_from(&app, "RayversKitchen/2.3 (Android 14)", None));
    let statuses = futures::future::join_all(logins).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let notices = app.notices_to(EMAIL, NoticeKind::NewDevice).await;
    assert_eq!(notices.len(), 1);
    assert!(notices[0].text.contains("RayversKitchen"));
    let devices = app.scalar_i64("SELECT count(*) FROM known_devices").await;
    assert_eq!(devices, 2, "the registration's device and the app");
}

#[tokio::test]
async fn a_full_mail_queue_drops_the_notice_but_not_the_change() {
    let app = spawn_app_with(|c| {
        c.mail.queue_capacity = 1;
        c.mail.concurrency = 1;
    })
    .await;
    let (_, token) = app.register(EMAIL).await;
    app.mail_settled().await;
    // One mail being sent (held), one waiting: the queue is full.
    app.outbox.hold();
    let mut full = false;
    for _ in 0..5 {
        let res = app
            .post_json("/users/reset/password/", &json!({"email": EMAIL}))
            .await;
        if res.status() == 503 {
            full = true;
            break;
        }
        assert_eq!(res.status(), 200);
    }
    assert!(full, "the queue never filled");
    let change = json!({
        "old_password": GOOD_PASSWORD,
        "new_password": NEW_PASSWORD,
        "confirm_new_password": NEW_PASSWORD,
    });
    let res = app
        .send_as(
            Method::POST,
            "/users/change/password/",
            &token,
            Some(&change),
        )
        .await;
    assert_eq!(res.status(), 200, "the password changed all the same");
    app.outbox.release();
    assert!(
        app.notices_to(EMAIL, NoticeKind::PasswordChanged)
            .await
            .is_empty()
    );
    app.login(EMAIL, NEW_PASSWORD).await;
}

/// Quoted-printable decoded (soft line breaks joined, `=XX` turned back into bytes).
fn unquote(part: &str) -> String {
    let joined = part.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn a_notice_delivered_over_smtp_has_a_text_and_an_escaped_html_part() {
    let sink = SmtpSink::start(0);
    let app = spawn_app_with(|c| {
        sink.configure(c);
        c.mail.service_name = "Rayvers & Sons <Kitchen>".to_owned();
    })
    .await;
    app.register(EMAIL).await;
    let res = app
        .request(Method::POST, "/token/")
        .header("User-Agent", "<script>alert(1)</script>")
        .json(&json!({"email": EMAIL, "password": GOOD_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.mail_settled().await;
    let delivered = sink.delivered();
    let mail = delivered
        .iter()
        .find(|m| m.header("Subject").as_deref() == Some("New sign-in to your account"))
        .expect("the new-device notice was delivered");
    assert_eq!(mail.envelope_to, EMAIL);
    let content_type = mail.header("Content-Type").unwrap();
    assert!(
        content_type.starts_with("multipart/alternative"),
        "{content_type}"
    );
    let body = unquote(mail.body());
    let text_at = body.find("Content-Type: text/plain").expect("a text part");
    let html_at = body.find("Content-Type: text/html").expect("an HTML part");
    let (text, html) = (&body[text_at..html_at], &body[html_at..]);
    assert!(text.contains("Someone signed in to your Rayvers & Sons <Kitchen> account"));
    assert!(
        text.contains("<script>alert"),
        "the text part is not escaped"
    );
    // askama escapes with numeric character references.
    assert!(html.contains("&#60;script&#62;alert"), "{html}");
    assert!(
        html.contains("Rayvers &#38; Sons &#60;Kitchen&#62;"),
        "{html}"
    );
    assert!(!html.contains("<script"));
    assert!(!html.contains("<img") && !html.contains("http://") && !html.contains("https://"));
}
