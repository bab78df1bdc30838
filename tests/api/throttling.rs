//! Throttled logins: per account and per client address, delays that grow and pass, shared by
//! every server on the database.

use chrono::TimeDelta;
use kitchen_api::config::Config;
use reqwest::Response;
use serde_json::json;

use crate::helpers::{GOOD_PASSWORD, TestApp, assert_json, spawn_app_with};

/// Small limits so tests reach them quickly: 3 free failures per account, 6 per address,
/// then 10 s doubling up to 60 s.
fn small_limits(c: &mut Config) {
    c.login_account_free_failures = 3;
    c.login_address_free_failures = 6;
    c.login_base_delay_secs = 10;
    c.login_max_delay_secs = 60;
}

async fn attempt(app: &TestApp, email: &str, password: &str) -> Response {
    app.post_json("/token/", &json!({"email": email, "password": password}))
        .await
}

async fn assert_throttled(res: Response, seconds: u64) {
    assert_eq!(
        res.headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned()),
        Some(seconds.to_string())
    );
    let unit = if seconds == 1 { "second" } else { "seconds" };
    let expected = format!("Request was throttled. Expected available in {seconds} {unit}.");
    assert_json(res, 429, json!({"detail": expected})).await;
}

async fn fail_times(app: &TestApp, email: &str, n: usize) {
    for _ in 0..n {
        assert_eq!(
            attempt(app, email, "wrong password 123").await.status(),
            400
        );
    }
}

#[tokio::test]
async fn after_the_free_failures_even_the_right_password_is_throttled() {
    let app = spawn_app_with(small_limits).await;
    app.register("victim@example.com").await;
    fail_times(&app, "victim@example.com", 3).await;
    let verifies = app.hasher.verifies();
    assert_throttled(attempt(&app, "victim@example.com", GOOD_PASSWORD).await, 10).await;
    assert_eq!(
        app.hasher.verifies(),
        verifies,
        "a throttled attempt costs no hash"
    );
    // The address form of the key is case-insensitive like the account itself.
    assert_throttled(attempt(&app, "VICTIM@example.com", GOOD_PASSWORD).await, 10).await;
}

#[tokio::test]
async fn a_one_second_wait_reads_second_in_the_singular_as_drf_writes_it() {
    let app = spawn_app_with(|c| {
        small_limits(c);
        c.login_base_delay_secs = 1;
    })
    .await;
    app.register("victim@example.com").await;
    fail_times(&app, "victim@example.com", 3).await;
    let res = attempt(&app, "victim@example.com", GOOD_PASSWORD).await;
    assert_json(
        res,
        429,
        json!({"detail": "Request was throttled. Expected available in 1 second."}),
    )
    .await;
}

#[tokio::test]
async fn another_account_is_not_affected() {
    let app = spawn_app_with(small_limits).await;
    app.register("victim@example.com").await;
    app.register("bystander@example.com").await;
    fail_times(&app, "victim@example.com", 3).await;
    assert_eq!(
        attempt(&app, "bystander@example.com", GOOD_PASSWORD)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn the_delay_passes_grows_with_further_failures_and_a_success_clears_it() {
    // Only the account policy is under test here.
    let app = spawn_app_with(|c| {
        small_limits(c);
        c.login_address_free_failures = 100;
    })
    .await;
    app.register("victim@example.com").await;
    fail_times(&app, "victim@example.com", 3).await;
    let start = app.clock.now_for_tests();

    app.clock.set(start + TimeDelta::seconds(9));
    assert_throttled(attempt(&app, "victim@example.com", GOOD_PASSWORD).await, 1).await;

    app.clock.set(start + TimeDelta::seconds(10));
    fail_times(&app, "victim@example.com", 1).await; // 4th failure: next delay 20 s
    assert_throttled(attempt(&app, "victim@example.com", GOOD_PASSWORD).await, 20).await;

    app.clock.set(start + TimeDelta::seconds(30));
    assert_eq!(
        attempt(&app, "victim@example.com", GOOD_PASSWORD)
            .await
            .status(),
        200
    );
    // The success cleared the account's counter: three free failures again.
    fail_times(&app, "victim@example.com", 3).await;
}

#[tokio::test]
async fn delays_are_capped_and_counters_are_forgotten() {
    let app = spawn_app_with(small_limits).await;
    app.register("victim@example.com").await;
    let mut now = app.clock.now_for_tests();
    for _ in 0..8 {
        fail_times(&app, "victim@example.com", 1).await;
        now += TimeDelta::seconds(61);
        app.clock.set(now);
    }
    // 8 failures would mean 160 s uncapped; the cap is 60 s.
    fail_times(&app, "victim@example.com", 1).await;
    assert_throttled(attempt(&app, "victim@example.com", GOOD_PASSWORD).await, 60).await;
    // A day later the counter is forgotten altogether.
    app.clock
        .set(now + TimeDelta::days(1) + TimeDelta::seconds(1));
    fail_times(&app, "victim@example.com", 3).await;
}

#[tokio::test]
async fn one_address_guessing_many_accounts_is_throttled() {
    let app = spawn_app_with(small_limits).await;
    for i in 0..6 {
        fail_times(&app, &format!("guess{i}@example.com"), 1).await;
    }
    app.register("fresh@example.com").await;
    assert_throttled(attempt(&app, "fresh@example.com", GOOD_PASSWORD).await, 10).await;
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_cannot_dodge_the_address_limit() {
    let app = spawn_app_with(small_limits).await;
    for i in 0..6 {
        let res = app
            .request(reqwest::Method::POST, "/token/")
            .header("X-Forwarded-For", format!("198.51.100.{i}"))
            .json(&json!({"email": format!("guess{i}@example.com"), "password": "nope nope"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
    }
    assert_eq!(
        attempt(&app, "other@example.com", "nope nope")
            .await
            .status(),
        429
    );
}

#[tokio::test]
async fn forwarded_for_from_a_trusted_proxy_names_the_client() {
    let app = spawn_app_with(|c| {
        small_limits(c);
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    for i in 0..6 {
        let res = app
            .request(reqwest::Method::POST, "/token/")
            .header("X-Forwarded-For", format!("198.51.100.{i}"))
            .json(&json!({"email": format!("guess{i}@example.com"), "password": "nope nope"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
    }
    // Six clients with one failure each: none is throttled.
    let res = app
        .request(reqwest::Method::POST, "/token/")
        .header("X-Forwarded-For", "198.51.100.0")
        .json(&json!({"email": "other@example.com", "password": "nope nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn two_servers_on_one_database_share_the_counters() {
    let first = spawn_app_with(small_limits).await;
    let second = first.spawn_peer(small_limits).await;
    first.register("victim@example.com").await;
    fail_times(&first, "victim@example.com", 2).await;
    fail_times(&second, "victim@example.com", 1).await;
    assert_throttled(
        attempt(&first, "victim@example.com", GOOD_PASSWORD).await,
        10,
    )
    .await;
    assert_throttled(
        attempt(&second, "victim@example.com", GOOD_PASSWORD).await,
        10,
    )
    .await;
}

#[tokio::test]
async fn registrations_are_limited_per_client_address() {
    let app = spawn_app_with(|c| {
        c.registrations_per_address = 2;
        c.registration_window_secs = 3600;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let register = |email: &'static str, client: &'static str| {
        app.request(reqwest::Method::POST, "/users/")
            .header("X-Forwarded-For", client)
            .json(&json!({"email": email, "password": GOOD_PASSWORD}))
            .send()
    };
    assert_eq!(
        register("a@example.com", "198.51.100.1")
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        register("b@example.com", "198.51.100.1")
            .await
            .unwrap()
            .status(),
        201
    );
    let hashes = app.hasher.hashes();
    assert_throttled(
        register("c@example.com", "198.51.100.1").await.unwrap(),
        3600,
    )
    .await;
    assert_eq!(
        app.hasher.hashes(),
        hashes,
        "a refused registration costs no hash"
    );
    // Another address is not affected, and the window passes.
    assert_eq!(
        register("d@example.com", "198.51.100.2")
            .await
            .unwrap()
            .status(),
        201
    );
    app.clock
        .set(app.clock.now_for_tests() + TimeDelta::seconds(3600));
    assert_eq!(
        register("c@example.com", "198.51.100.1")
            .await
            .unwrap()
            .status(),
        201
    );
}

#[tokio::test]
async fn a_burst_of_simultaneous_registrations_gets_exactly_the_limit_through() {
    let app = spawn_app_with(|c| {
        c.registrations_per_address = 3;
        c.registration_window_secs = 3600;
    })
    .await;
    let hashes = app.hasher.hashes();
    let attempts = (0..10).map(|i| {
        let body = json!({"email": format!("burst{i}@example.com"), "password": GOOD_PASSWORD});
        let app = &app;
        async move { app.post_json("/users/", &body).await }
    });
    let mut created = 0;
    let mut refused = 0;
    for res in futures::future::join_all(attempts).await {
        match res.status().as_u16() {
            201 => created += 1,
            429 => {
                refused += 1;
                assert_throttled(res, 3600).await;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(
        (created, refused),
        (3, 7),
        "the check and the count are one step"
    );
    assert_eq!(app.hasher.hashes() - hashes, 3, "refusals cost no hash");
    // A refusal half an hour later neither counts nor moves the window: it still closes an
    // hour after the events that filled it.
    let register = |email: &'static str| {
        let body = json!({"email": email, "password": GOOD_PASSWORD});
        let app = &app;
        async move { app.post_json("/users/", &body).await }
    };
    app.clock
        .set(app.clock.now_for_tests() + TimeDelta::seconds(1800));
    assert_throttled(register("later@example.com").await, 1800).await;
    app.clock
        .set(app.clock.now_for_tests() + TimeDelta::seconds(1800));
    assert_eq!(register("after@example.com").await.status(), 201);
}

#[tokio::test]
async fn by_default_an_address_may_register_30_times_in_any_5_minutes() {
    let app = spawn_app_with(|c| {
        let defaults = Config::default();
        c.registrations_per_address = defaults.registrations_per_address;
        c.registration_window_secs = defaults.registration_window_secs;
    })
    .await;
    let register = |i: usize| {
        let body = json!({"email": format!("cook{i}@example.com"), "password": GOOD_PASSWORD});
        let app = &app;
        async move { app.post_json("/users/", &body).await }
    };
    let later = |secs| {
        app.clock
            .set(app.clock.now_for_tests() + TimeDelta::seconds(secs))
    };
    for i in 0..10 {
        assert_eq!(register(i).await.status(), 201);
    }
    later(200);
    for i in 10..30 {
        assert_eq!(register(i).await.status(), 201);
    }
    assert_throttled(register(30).await, 100).await;
    // The window slides: the first ten leave it 300 s after they came, the others stay.
    later(100);
    for i in 30..40 {
        assert_eq!(register(i).await.status(), 201);
    }
    assert_throttled(register(40).await, 200).await;
}

#[tokio::test]
async fn reset_codes_are_limited_per_account_whoever_asks_and_per_address() {
    let app = spawn_app_with(|c| {
        c.code_mails_per_account = 2;
        c.code_mails_per_address = 3;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    app.register("victim@example.com").await;
    let reset = |email: &'static str, client: &'static str| {
        app.request(reqwest::Method::POST, "/users/reset/password/")
            .header("X-Forwarded-For", client)
            .json(&json!({"email": email}))
            .send()
    };
    assert_eq!(
        reset("victim@example.com", "198.51.100.1")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        reset("VICTIM@example.com", "198.51.100.2")
            .await
            .unwrap()
            .status(),
        200
    );
    // A third code for the same account, from yet another address: refused.
    assert_throttled(
        reset("victim@example.com", "198.51.100.3").await.unwrap(),
        3600,
    )
    .await;
    // An unknown address is limited exactly the same way (nothing to learn from the limit).
    assert_eq!(
        reset("nobody@example.com", "198.51.100.4")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        reset("nobody@example.com", "198.51.100.4")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_throttled(
        reset("nobody@example.com", "198.51.100.5").await.unwrap(),
        3600,
    )
    .await;
    // One address asking for many accounts hits the per-address limit.
    for email in ["x0@example.com", "x1@example.com", "x2@example.com"] {
        assert_eq!(reset(email, "198.51.100.9").await.unwrap().status(), 200);
    }
    assert_throttled(reset("x9@example.com", "198.51.100.9").await.unwrap(), 3600).await;
}

#[tokio::test]
async fn verification_resends_are_limited_per_account() {
    let app = spawn_app_with(|c| c.code_mails_per_account = 1).await;
    let (id, _) = app.register("new@example.com").await;
    let body = json!({"user_id": id});
    assert_eq!(
        app.post_json("/users/verify/resend-code/", &body)
            .await
            .status(),
        200
    );
    assert_throttled(
        app.post_json("/users/verify/resend-code/", &body).await,
        3600,
    )
    .await;
}
