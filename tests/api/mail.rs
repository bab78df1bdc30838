//! The mail path: codes delivered by a real SMTP server on loopback, retries, a full queue,
//! and shutdown.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{GOOD_PASSWORD, TestApp, spawn_app, spawn_app_with};
use crate::outbox::code_in;
use crate::smtp_sink::SmtpSink;

async fn register_status(app: &TestApp, email: &str) -> u16 {
    let body = json!({"email": email, "password": GOOD_PASSWORD});
    app.post_json("/users/", &body).await.status().as_u16()
}

#[tokio::test]
async fn a_verification_code_read_from_a_real_smtp_delivery_verifies_the_address() {
    let sink = SmtpSink::start(0);
    let app = spawn_app_with(|c| sink.configure(c)).await;
    let (id, token) = app.register("Cook@Example.com").await;
    app.mail_settled().await;
    let delivered = sink.delivered();
    assert_eq!(delivered.len(), 1);
    let mail = &delivered[0];
    assert_eq!(mail.envelope_to, "Cook@example.com");
    assert_eq!(mail.header("To").unwrap(), "Cook@example.com");
    assert_eq!(
        mail.header("From").unwrap(),
        "\"Rayvers Kitchen\" <no-reply@localhost>"
    );
    assert_eq!(
        mail.header("Subject").unwrap(),
        "Confirm your email address"
    );
    let code = code_in(mail.body()).expect("a code in the delivered body");
    let res = app
        .post_json("/users/verify/", &json!({"user_id": id, "code": code}))
        .await;
    assert_eq!(res.status(), 200);
    let profile: Value = app.get_me(&token).await.json().await.unwrap();
    assert_eq!(profile["email_verified"], true);
}

#[tokio::test]
async fn a_reset_code_read_from_a_real_smtp_delivery_resets_the_password() {
    let sink = SmtpSink::start(0);
    let app = spawn_app_with(|c| sink.configure(c)).await;
    app.register("cook@example.com").await;
    let res = app
        .post_json(
            "/users/reset/password/",
            &json!({"email": "cook@example.com"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    app.mail_settled().await;
    // Mails go out in parallel, so the reset mail may land before the verification mail.
    let delivered = sink.delivered();
    assert_eq!(delivered.len(), 2);
    let mail = delivered
        .iter()
        .find(|m| m.header("Subject").unwrap() == "Your password reset code")
        .unwrap();
    let code = code_in(mail.body()).unwrap();
    let new = "a brand new kitchen passphrase";
    let res = app
        .post_json(
            "/users/reset/password/code/",
            &json!({"email": "cook@example.com", "code": code, "password": new, "re_password": new}),
        )
        .await;
    assert_eq!(res.status(), 200);
    app.login("cook@example.com", new).await;
}

#[tokio::test]
async fn a_temporary_smtp_refusal_is_retried_until_the_mail_is_delivered() {
    let sink = SmtpSink::start(2);
    let app = spawn_app_with(|c| sink.configure(c)).await;
    app.register("cook@example.com").await;
    app.mail_settled().await;
    let stats = app.mailer.stats();
    assert_eq!((stats.delivered, stats.retries, stats.failed), (1, 2, 0));
    assert_eq!(sink.delivered().len(), 1);
}

#[tokio::test]
async fn an_unreachable_smtp_server_fails_neither_the_request_nor_silently() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let app = spawn_app_with(|c| {
        c.mail.backend = kitchen_api::mail::MailBackend::Smtp;
        c.mail.smtp_host = "127.0.0.1".to_owned();
        c.mail.smtp_port = Some(port);
        c.mail.smtp_tls = kitchen_api::mail::SmtpTls::None;
        c.mail.max_attempts = 3;
        c.mail.retry_base_ms = 1;
    })
    .await;
    assert_eq!(register_status(&app, "cook@example.com").await, 201);
    app.mail_settled().await;
    let stats = app.mailer.stats();
    assert_eq!((stats.delivered, stats.retries, stats.failed), (0, 2, 1));
}

#[tokio::test]
async fn a_permanent_refusal_is_reported_without_retrying() {
    let app = spawn_app().await;
    app.outbox.refuse_permanently();
    app.register("cook@example.com").await;
    app.mail_settled().await;
    let stats = app.mailer.stats();
    assert_eq!((stats.failed, stats.retries), (1, 0));
    assert_eq!(app.outbox.tries(), 1);
}

#[tokio::test]
async fn requests_do_not_wait_for_a_slow_mail_server() {
    let app = spawn_app().await;
    app.outbox.hold();
    let registered = tokio::time::timeout(
        Duration::from_secs(5),
        register_status(&app, "cook@example.com"),
    )
    .await;
    assert_eq!(registered.ok(), Some(201));
    let reset = app
        .post_json(
            "/users/reset/password/",
            &json!({"email": "cook@example.com"}),
        )
        .await;
    assert_eq!(reset.status(), 200);
    assert!(app.outbox.sent().is_empty());
    app.outbox.release();
    app.mail_settled().await;
    assert_eq!(app.outbox.sent().len(), 2);
}

#[tokio::test]
async fn a_full_mail_queue_answers_503_before_changing_anything() {
    let app = spawn_app_with(|c| {
        c.mail.queue_capacity = 1;
        c.mail.concurrency = 1;
    })
    .await;
    app.outbox.hold();
    let mut accepted = 0;
    let mut refused = None;
    for n in 0..10 {
        let body = json!({"email": format!("cook{n}@example.com"), "password": GOOD_PASSWORD});
        let res = app.post_json("/users/", &body).await;
        if res.status() == 503 {
            refused = Some(res.json::<Value>().await.unwrap());
            break;
        }
        assert_eq!(res.status(), 201);
        accepted += 1;
    }
    assert_eq!(
        refused,
        Some(json!({"detail": "Service temporarily unavailable."}))
    );
    assert!((1..=2).contains(&accepted), "{accepted} accepted");
    let users = app.dump_table("users").await;
    assert_eq!(users.lines().filter(|l| !l.is_empty()).count(), accepted);
    let reset = app
        .post_json(
            "/users/reset/password/",
            &json!({"email": "cook0@example.com"}),
        )
        .await;
    assert_eq!(reset.status(), 503);
    app.outbox.release();
    app.mail_settled().await;
    assert_eq!(app.outbox.sent().len(), accepted);
}

#[tokio::test]
async fn shutdown_waits_for_mail_already_promised() {
    let app = spawn_app().await;
    let outbox = app.outbox.clone();
    outbox.hold();
    app.register("cook@example.com").await;
    let mut stopping = tokio::spawn(app.stop());
    let early = tokio::time::timeout(Duration::from_millis(300), &mut stopping).await;
    assert!(early.is_err(), "the server stopped with a mail unsent");
    outbox.release();
    stopping.await.unwrap();
    assert_eq!(outbox.sent().len(), 1);
}
