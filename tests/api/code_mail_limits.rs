//! Code mails and their limits: a request refused by a full mail queue (503) or by one limit
//! (429) uses up no limit and voids no code, and simultaneous requests never pass a limit.

use std::sync::Arc;

use kitchen_api::config::Config;
use reqwest::Method;
use serde_json::json;
use tokio::sync::Barrier;

use crate::helpers::{GOOD_PASSWORD, TestApp, spawn_app_with};

const NEW_PASSWORD: &str = "another horse battery staple";

/// `POST /users/reset/password/` for `email`, as client address `client` (through the trusted
/// proxy 127.0.0.1).
fn reset_request(app: &TestApp, email: &str, client: &str) -> reqwest::RequestBuilder {
    app.request(Method::POST, "/users/reset/password/")
        .header("X-Forwarded-For", client)
        .json(&json!({"email": email}))
}

/// [`reset_request`]'s status.
pub async fn reset_from(app: &TestApp, email: &str, client: &str) -> u16 {
    let res = reset_request(app, email, client).send().await.unwrap();
    res.status().as_u16()
}

async fn reset(app: &TestApp, email: &str) -> u16 {
    reset_from(app, email, "198.51.100.1").await
}

async fn resend(app: &TestApp, user_id: i64) -> u16 {
    app.post_json("/users/verify/resend-code/", &json!({"user_id": user_id}))
        .await
        .status()
        .as_u16()
}

/// Holds the outbox and registers until the mail queue is full (a registration answers 503).
async fn fill_mail_queue(app: &TestApp) {
    app.outbox.hold();
    for n in 0..10 {
        let body = json!({"email": format!("filler{n}@example.com"), "password": GOOD_PASSWORD});
        match app.post_json("/users/", &body).await.status().as_u16() {
            503 => return,
            201 => {}
            other => panic!("registration answered {other}"),
        }
    }
    panic!("the mail queue never filled");
}

/// `per_account` and `per_address` code mails, and clients named by `X-Forwarded-For`.
pub fn code_mail_limits(per_account: u32, per_address: u32) -> impl FnOnce(&mut Config) {
    move |c| {
        c.code_mails_per_account = per_account;
        c.code_mails_per_address = per_address;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    }
}

/// A queue of one mail, sent one at a time; 2 code mails per account and per address.
fn small_queue_and_limits(c: &mut Config) {
    c.mail.queue_capacity = 1;
    c.mail.concurrency = 1;
    code_mail_limits(2, 2)(c);
}

#[tokio::test]
async fn reset_requests_refused_by_a_full_mail_queue_use_no_quota_and_void_no_code() {
    let app = spawn_app_with(small_queue_and_limits).await;
    app.register("cook@example.com").await;
    assert_eq!(reset(&app, "cook@example.com").await, 200);
    let code = app.reset_code_sent_to("cook@example.com").await;

    fill_mail_queue(&app).await;
    for _ in 0..3 {
        assert_eq!(reset(&app, "cook@example.com").await, 503);
    }
    app.outbox.release();
    app.mail_settled().await;

    // The code mailed before the refusals still works: none was issued in its place.
    let body = json!({
        "email": "cook@example.com", "code": code,
        "password": NEW_PASSWORD, "re_password": NEW_PASSWORD,
    });
    let res = app.post_json("/users/reset/password/code/", &body).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    // The reset's notice takes the queue's one place until it is sent.
    app.mail_settled().await;
    // One of the two code mails was used before the refusals: exactly one is left.
    assert_eq!(reset(&app, "cook@example.com").await, 200);
    assert_eq!(reset(&app, "cook@example.com").await, 429);
}

#[tokio::test]
async fn resends_refused_by_a_full_mail_queue_use_no_quota_and_void_no_code() {
    let app = spawn_app_with(small_queue_and_limits).await;
    let (id, token) = app.register("cook@example.com").await;
    assert_eq!(resend(&app, id).await, 200);
    let code = app.verification_code_sent_to("cook@example.com").await;

    fill_mail_queue(&app).await;
    for _ in 0..3 {
        assert_eq!(resend(&app, id).await, 503);
    }
    app.outbox.release();
    app.mail_settled().await;

    let res = app
        .post_json("/users/verify/", &json!({"user_id": id, "code": code}))
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let me: serde_json::Value = app.get_me(&token).await.json().await.unwrap();
    assert_eq!(me["email_verified"], true);
    assert_eq!(resend(&app, id).await, 200);
    assert_eq!(resend(&app, id).await, 429);
}

#[tokio::test]
async fn a_request_refused_by_one_code_mail_limit_counts_against_neither() {
    let app = spawn_app_with(code_mail_limits(2, 4)).await;
    let here = "198.51.100.1";
    // 2 + 5 requests for one account: the account's limit refuses the last 5 ...
    for expected in [200, 200, 429, 429, 429, 429, 429] {
        assert_eq!(reset_from(&app, "victim@example.com", here).await, expected);
    }
    // ... which the address's count did not take: it has 2 of its 4 left, not none.
    assert_eq!(reset_from(&app, "a@example.com", here).await, 200);
    assert_eq!(reset_from(&app, "b@example.com", here).await, 200);
    assert_eq!(reset_from(&app, "c@example.com", here).await, 429);
    // And the other way round: the address's refusals did not count against the account.
    for _ in 0..3 {
        assert_eq!(reset_from(&app, "d@example.com", here).await, 429);
    }
    let elsewhere = "198.51.100.2";
    assert_eq!(reset_from(&app, "d@example.com", elsewhere).await, 200);
    assert_eq!(reset_from(&app, "d@example.com", elsewhere).await, 200);
    assert_eq!(reset_from(&app, "d@example.com", elsewhere).await, 429);
}

/// Sends a reset request for each of `emails` from `client`, in tokio tasks released
/// together: whether each passed (200; every other answer must be 429).
async fn reset_burst(app: &TestApp, emails: &[String], client: &'static str) -> Vec<bool> {
    let start = Arc::new(Barrier::new(emails.len()));
    let tasks: Vec<_> = emails
        .iter()
        .map(|email| {
            let request = reset_request(app, email, client);
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                request.send().await.unwrap().status().as_u16()
            })
        })
        .collect();
    let mut passed = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            200 => passed.push(true),
            429 => passed.push(false),
            other => panic!("unexpected status {other}"),
        }
    }
    passed
}

fn count(passed: &[bool]) -> usize {
    passed.iter().filter(|p| **p).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_code_requests_never_pass_a_limit_nor_spend_the_other() {
    let app = spawn_app_with(code_mail_limits(5, 8)).await;
    // 50 at once for one account: exactly its 5 pass, and the address spends only those 5.
    let same = vec!["victim@example.com".to_owned(); 50];
    assert_eq!(count(&reset_burst(&app, &same, "198.51.100.1").await), 5);
    for (email, expected) in [("a", 200), ("b", 200), ("c", 200), ("d", 429)] {
        let email = format!("{email}@example.com");
        assert_eq!(reset_from(&app, &email, "198.51.100.1").await, expected);
    }
    // 50 at once for 50 accounts from a fresh address: exactly its 8 pass, and an account the
    // address refused keeps its whole quota.
    let many: Vec<String> = (0..50).map(|i| format!("many{i}@example.com")).collect();
    let passed = reset_burst(&app, &many, "198.51.100.2").await;
    assert_eq!(count(&passed), 8);
    let refused = &many[passed.iter().position(|p| !p).unwrap()];
    for _ in 0..5 {
        assert_eq!(reset_from(&app, refused, "198.51.100.3").await, 200);
    }
    assert_eq!(reset_from(&app, refused, "198.51.100.3").await, 429);
}
