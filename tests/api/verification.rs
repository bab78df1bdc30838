//! POST /users/verify/ and /users/verify/resend-code/: proving the address with the code mailed
//! at registration; and the setting that makes login wait for it.

use chrono::TimeDelta;
use kitchen_api::auth::Clock;
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::{GOOD_PASSWORD, TestApp, assert_json, spawn_app, spawn_app_with};

const INVALID: &str = "Invalid or expired code.";

async fn verify(app: &TestApp, user_id: Value, code: &str) -> Response {
    app.post_json("/users/verify/", &json!({"user_id": user_id, "code": code}))
        .await
}

async fn email_verified(app: &TestApp, token: &str) -> bool {
    let profile: Value = app.get_me(token).await.json().await.unwrap();
    profile["email_verified"].as_bool().unwrap()
}

/// A code that is not `code` (to guess wrong on purpose).
fn other_than(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

async fn assert_invalid(res: Response) {
    assert_json(res, 400, json!({"code": [INVALID]})).await;
}

#[tokio::test]
async fn registration_mails_a_six_digit_code_to_the_new_address() {
    let app = spawn_app().await;
    app.register("Cook@Example.com").await;
    let code = app.verification_code_sent_to("Cook@example.com").await;
    assert_eq!(code.len(), 6);
    let mails = app.outbox.sent();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, "Cook@example.com");
    assert_eq!(mails[0].subject, "Confirm your email address");
}

#[tokio::test]
async fn the_mailed_code_verifies_the_address_and_the_profile_shows_it() {
    let app = spawn_app().await;
    let (id, token) = app.register("cook@example.com").await;
    assert!(!email_verified(&app, &token).await);
    let code = app.verification_code_sent_to("cook@example.com").await;
    assert_json(
        verify(&app, json!(id), &code).await,
        200,
        json!({"detail": "Email verified."}),
    )
    .await;
    assert!(email_verified(&app, &token).await);
}

#[tokio::test]
async fn a_wrong_code_is_refused_and_the_address_stays_unverified() {
    let app = spawn_app().await;
    let (id, token) = app.register("cook@example.com").await;
    let code = app.verification_code_sent_to("cook@example.com").await;
    assert_invalid(verify(&app, json!(id), &other_than(&code)).await).await;
    assert!(!email_verified(&app, &token).await);
}

#[tokio::test]
async fn a_code_is_good_for_fifteen_minutes_and_not_a_moment_longer() {
    let app = spawn_app().await;
    let (id, _) = app.register("late@example.com").await;
    let (other_id, _) = app.register("prompt@example.com").await;
    let late = app.verification_code_sent_to("late@example.com").await;
    let prompt = app.verification_code_sent_to("prompt@example.com").await;
    let issued = app.clock.now();

    app.clock
        .set(issued + TimeDelta::minutes(15) - TimeDelta::seconds(1));
    assert_eq!(verify(&app, json!(other_id), &prompt).await.status(), 200);
    app.clock.set(issued + TimeDelta::minutes(15));
    assert_invalid(verify(&app, json!(id), &late).await).await;
}

#[tokio::test]
async fn after_five_wrong_tries_even_the_right_code_is_refused() {
    let app = spawn_app().await;
    let (id, token) = app.register("cook@example.com").await;
    let code = app.verification_code_sent_to("cook@example.com").await;
    for _ in 0..5 {
        assert_invalid(verify(&app, json!(id), &other_than(&code)).await).await;
    }
    assert_invalid(verify(&app, json!(id), &code).await).await;
    assert!(!email_verified(&app, &token).await);
}

#[tokio::test]
async fn the_right_code_on_the_fifth_try_still_works() {
    let app = spawn_app().await;
    let (id, _) = app.register("cook@example.com").await;
    let code = app.verification_code_sent_to("cook@example.com").await;
    for _ in 0..4 {
        assert_invalid(verify(&app, json!(id), &other_than(&code)).await).await;
    }
    assert_eq!(verify(&app, json!(id), &code).await.status(), 200);
}

#[tokio::test]
async fn a_used_code_cannot_be_used_again() {
    let app = spawn_app().await;
    let (id, _) = app.register("cook@example.com").await;
    let code = app.verification_code_sent_to("cook@example.com").await;
    assert_eq!(verify(&app, json!(id), &code).await.status(), 200);
    assert_invalid(verify(&app, json!(id), &code).await).await;
}

#[tokio::test]
async fn resending_voids_the_previous_code_and_the_new_one_works() {
    let app = spawn_app().await;
    let (id, token) = app.register("cook@example.com").await;
    let first = app.verification_code_sent_to("cook@example.com").await;
    let res = app
        .post_json("/users/verify/resend-code/", &json!({"user_id": id}))
        .await;
    assert_eq!(res.status(), 200);
    let second = app.verification_code_sent_to("cook@example.com").await;
    assert_eq!(app.outbox.sent().len(), 2);
    if first != second {
        assert_invalid(verify(&app, json!(id), &first).await).await;
    }
    assert_eq!(verify(&app, json!(id), &second).await.status(), 200);
    assert!(email_verified(&app, &token).await);
}

#[tokio::test]
async fn resend_answers_alike_for_unknown_verified_and_unverified_users_and_mails_only_the_last() {
    let app = spawn_app().await;
    let (verified, _) = app.register("done@example.com").await;
    let code = app.verification_code_sent_to("done@example.com").await;
    assert_eq!(verify(&app, json!(verified), &code).await.status(), 200);
    let (pending, _) = app.register("pending@example.com").await;
    app.mail_settled().await;
    let before = app.outbox.sent().len();

    let mut bodies = Vec::new();
    for id in [json!(verified), json!(999_999), json!(pending)] {
        let res = app
            .post_json("/users/verify/resend-code/", &json!({"user_id": id}))
            .await;
        assert_eq!(res.status(), 200);
        bodies.push(res.text().await.unwrap());
    }
    assert!(bodies.iter().all(|b| *b == bodies[0]), "{bodies:?}");
    app.mail_settled().await;
    let sent = app.outbox.sent();
    assert_eq!(sent.len(), before + 1);
    assert_eq!(sent.last().unwrap().to, "pending@example.com");
}

#[tokio::test]
async fn a_code_verifies_only_its_own_user() {
    let app = spawn_app().await;
    let (alice, _) = app.register("alice@example.com").await;
    let (bob, bob_token) = app.register("bob@example.com").await;
    let alice_code = app.verification_code_sent_to("alice@example.com").await;
    assert_invalid(verify(&app, json!(bob), &alice_code).await).await;
    assert!(!email_verified(&app, &bob_token).await);
    assert_eq!(verify(&app, json!(alice), &alice_code).await.status(), 200);
}

#[tokio::test]
async fn an_unknown_user_gets_the_same_answer_as_a_wrong_code() {
    let app = spawn_app().await;
    for id in [json!(424_242), json!(0), json!(-3), json!("77")] {
        assert_invalid(verify(&app, id, "123456").await).await;
    }
}

#[tokio::test]
async fn missing_blank_wrong_typed_oversized_and_malicious_fields_get_field_errors() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({}),
            json!({"user_id": ["This field is required."], "code": ["This field is required."]}),
        ),
        (
            json!({"user_id": " ", "code": ""}),
            json!({"user_id": ["This field may not be blank."], "code": ["This field may not be blank."]}),
        ),
        (
            json!({"user_id": null, "code": [1]}),
            json!({"user_id": ["This field may not be null."], "code": ["Not a valid string."]}),
        ),
        (
            json!({"user_id": "1 OR 1=1", "code": "12345"}),
            json!({"user_id": ["A valid integer is required."], "code": ["Enter the 6-digit code from the email."]}),
        ),
        (
            json!({"user_id": "9".repeat(40), "code": "1".repeat(10_000)}),
            json!({"user_id": ["A valid integer is required."], "code": ["Enter the 6-digit code from the email."]}),
        ),
        (
            json!({"user_id": 1, "code": "12345'; DROP TABLE codes;--"}),
            json!({"code": ["Enter the 6-digit code from the email."]}),
        ),
    ];
    for (body, expected) in cases {
        let res = app.post_json("/users/verify/", &body).await;
        assert_json(res, 400, expected).await;
    }
    for (body, expected) in [
        (json!({}), json!({"user_id": ["This field is required."]})),
        (
            json!({"user_id": true}),
            json!({"user_id": ["Not a valid string."]}),
        ),
        (
            json!({"user_id": "abc"}),
            json!({"user_id": ["A valid integer is required."]}),
        ),
    ] {
        let res = app.post_json("/users/verify/resend-code/", &body).await;
        assert_json(res, 400, expected).await;
    }
    let res = app.post_json("/users/verify/", &json!([1, 2])).await;
    assert_json(
        res,
        400,
        json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
    )
    .await;
}

#[tokio::test]
async fn verification_works_without_slash_from_forms_and_ignores_a_bad_token() {
    let app = spawn_app().await;
    let (id, _) = app.register("cook@example.com").await;
    let code = app.verification_code_sent_to("cook@example.com").await;
    let res = app
        .request(Method::POST, "/users/verify/resend-code")
        .header("Authorization", "Token not-a-real-token")
        .form(&[("user_id", id.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let code = {
        let newer = app.verification_code_sent_to("cook@example.com").await;
        assert_eq!(code.len(), newer.len());
        newer
    };
    let res = app
        .request(Method::POST, "/users/verify")
        .header("Authorization", "Token not-a-real-token")
        .form(&[("user_id", id.to_string()), ("code", code)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// DRF's `IntegerField` takes the id's digits as a JSON string too, and the document says so
/// (schemathesis sends `"4"` as a schema violation otherwise).
#[tokio::test]
async fn a_user_id_given_as_digits_in_json_works_and_is_documented() {
    let app = spawn_app().await;
    let (id, _) = app.register("cook@example.com").await;
    let first = app.verification_code_sent_to("cook@example.com").await;
    let res = app
        .post_json(
            "/users/verify/resend-code/",
            &json!({"user_id": format!(" {id} ")}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let code = app.verification_code_sent_to("cook@example.com").await;
    assert_ne!(first, code, "no new code was sent");
    assert_eq!(
        verify(&app, json!(id.to_string()), &code).await.status(),
        200
    );

    let doc = crate::docs::openapi(&app).await;
    let field = &doc["components"]["schemas"]["ResendCodeBody"]["properties"]["user_id"];
    let kinds: Vec<&str> = field["oneOf"]
        .as_array()
        .map(|v| v.iter().filter_map(|k| k["type"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(kinds, ["integer", "string"], "{field}");
}

#[tokio::test]
async fn codes_are_stored_only_as_salted_digests() {
    let app = spawn_app().await;
    app.register("cook@example.com").await;
    let code = app.verification_code_sent_to("cook@example.com").await;
    let table = app.dump_table("codes").await;
    assert!(table.contains("verify_email"), "{table}");
    assert!(
        !table.contains(&code),
        "the code is stored in clear: {table}"
    );
}

#[tokio::test]
async fn by_default_login_does_not_wait_for_verification() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    assert_eq!(app.get_me(&token).await.status(), 200);
    app.login("cook@example.com", GOOD_PASSWORD).await;
}

#[tokio::test]
async fn with_verification_required_login_waits_for_it_but_only_behind_the_right_password() {
    let app = spawn_app_with(|c| c.require_verified_email = true).await;
    let (id, _) = app.register("cook@example.com").await;
    let app = &app;
    let login = |password: &'static str| async move {
        app.post_json(
            "/token/",
            &json!({"email": "cook@example.com", "password": password}),
        )
        .await
    };
    assert_json(
        login("not the password").await,
        400,
        json!({"non_field_errors": ["Unable to log in with provided credentials."]}),
    )
    .await;
    assert_json(
        login(GOOD_PASSWORD).await,
        400,
        json!({"non_field_errors": ["E-mail is not verified."]}),
    )
    .await;
    let code = app.verification_code_sent_to("cook@example.com").await;
    assert_eq!(verify(app, json!(id), &code).await.status(), 200);
    assert_eq!(login(GOOD_PASSWORD).await.status(), 200);
}
