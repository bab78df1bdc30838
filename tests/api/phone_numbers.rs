//! `phone_number` in `PUT`/`PATCH /users/me/`: national and international forms as the apps
//! send them, kept exactly as sent; what no region could dial is a `400`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{self, TestApp};

const INVALID: &str = "Enter a valid phone number, for example 08167930376 or +2348167930376.";

async fn app_with_user(
    configure: impl FnOnce(&mut kitchen_api::config::Config),
) -> (TestApp, String) {
    let app = helpers::spawn_app_with(configure).await;
    let (_, token) = app.register("chef@example.com").await;
    (app, token)
}

/// Sends `raw` with PUT and with PATCH; returns each answer's status and `phone_number`.
async fn send(app: &TestApp, token: &str, raw: &str) -> Vec<(u16, Value)> {
    let mut answers = Vec::new();
    for method in [Method::PUT, Method::PATCH] {
        let res = app
            .update_me(method, token, &json!({ "phone_number": raw }))
            .await;
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap();
        answers.push((status, body["phone_number"].clone()));
    }
    answers
}

async fn stored(app: &TestApp, token: &str) -> Value {
    let me: Value = app.get_me(token).await.json().await.unwrap();
    me["phone_number"].clone()
}

#[tokio::test]
async fn the_apps_national_form_round_trips_exactly_as_sent() {
    let (app, token) = app_with_user(|_| {}).await;
    for raw in ["08167930376", "0816 793 0376", "(020) 7946-0958"] {
        assert_eq!(send(&app, &token, raw).await, vec![(200, json!(raw)); 2]);
        assert_eq!(stored(&app, &token).await, json!(raw));
    }
}

#[tokio::test]
async fn the_international_form_round_trips_exactly_as_sent_but_trimmed() {
    let (app, token) = app_with_user(|_| {}).await;
    for raw in ["+2348167930376", "+234 816 793 0376", "+1 (415) 555-0123"] {
        assert_eq!(send(&app, &token, raw).await, vec![(200, json!(raw)); 2]);
    }
    let sent = "  +44 20 7946 0958\t";
    assert_eq!(
        send(&app, &token, sent).await,
        vec![(200, json!("+44 20 7946 0958")); 2]
    );
    assert_eq!(stored(&app, &token).await, json!("+44 20 7946 0958"));
}

#[tokio::test]
async fn junk_text_is_a_400_and_keeps_the_number_already_stored() {
    let (app, token) = app_with_user(|_| {}).await;
    assert_eq!(send(&app, &token, "08167930376").await[0].0, 200);
    for junk in [
        "call me maybe",
        "12",
        "+99912345678",
        "0816793037612345678",
        "1-800-FLOWERS",
    ] {
        for method in [Method::PUT, Method::PATCH] {
            let res = app
                .update_me(method, &token, &json!({ "phone_number": junk }))
                .await;
            helpers::assert_json(res, 400, json!({ "phone_number": [INVALID] })).await;
        }
    }
    let long = format!("0816 793 0376{}", " ".repeat(20)) + "1";
    let res = app
        .update_me(Method::PATCH, &token, &json!({ "phone_number": long }))
        .await;
    helpers::assert_json(
        res,
        400,
        json!({ "phone_number": ["Ensure this field has no more than 30 characters."] }),
    )
    .await;
    assert_eq!(stored(&app, &token).await, json!("08167930376"));
}

#[tokio::test]
async fn a_default_region_reads_national_numbers_as_that_regions() {
    let (app, token) = app_with_user(|c| c.phone_region = Some("NG".parse().unwrap())).await;
    assert_eq!(
        send(&app, &token, "08167930376").await,
        vec![(200, json!("08167930376")); 2]
    );
    // A British mobile number in national form is no Nigerian one; in international form it is welcome.
    let res = app
        .update_me(
            Method::PATCH,
            &token,
            &json!({ "phone_number": "07911 123456" }),
        )
        .await;
    helpers::assert_json(res, 400, json!({ "phone_number": [INVALID] })).await;
    assert_eq!(send(&app, &token, "+44 20 7946 0958").await[0].0, 200);
}

#[tokio::test]
async fn an_unknown_default_region_stops_the_server_from_starting() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kitchen-api"))
        .args(["migrate"])
        .env("KITCHEN_API_PHONE_REGION", "Narnia")
        .env("DATABASE_URL", "sqlite::memory:")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("KITCHEN_API_PHONE_REGION") || stderr.contains("phone-region"),
        "{stderr}"
    );
}
