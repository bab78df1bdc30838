//! `GET`, `PUT` and `PATCH /users/me/`: the caller's own profile.

use chrono::{TimeZone, Utc};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::{self, GOOD_PASSWORD, TestApp};

const EMAIL: &str = "chef@example.com";

/// The documented keys of a profile, in the documented order.
const PROFILE_KEYS: [&str; 12] = [
    "email",
    "name",
    "date_of_birth",
    "is_superuser",
    "is_staff",
    "is_active",
    "profile_picture",
    "bio",
    "user_id",
    "phone_number",
    "email_verified",
    "date_joined",
];

/// PUT and PATCH behave the same, so every edit test runs with both.
fn edit_methods() -> [Method; 2] {
    [Method::PUT, Method::PATCH]
}

/// The profile of a user who registered at the test clock's time and has set nothing yet.
fn untouched(user_id: i64, email: &str) -> Value {
    json!({
        "email": email,
        "name": null,
        "date_of_birth": null,
        "is_superuser": false,
        "is_staff": false,
        "is_active": true,
        "profile_picture": null,
        "bio": null,
        "user_id": user_id,
        "phone_number": null,
        "email_verified": false,
        "date_joined": "2026-11-24T12:00:00.000000Z",
    })
}

/// A fresh app with one registered user: (app, user_id, token).
async fn app_with_user() -> (TestApp, i64, String) {
    let app = helpers::spawn_app().await;
    let (id, token) = app.register(EMAIL).await;
    (app, id, token)
}

fn token_header(token: &str) -> String {
    format!("Token {token}")
}

/// The keys of a JSON object, in the order the text has them.
fn keys_in_order(text: &str) -> Vec<String> {
    let value: Value = serde_json::from_str(text).unwrap();
    value.as_object().unwrap().keys().cloned().collect()
}

/// Asserts an edit answered 200 with `expected`, and that a following GET shows the same.
async fn assert_saved(app: &TestApp, token: &str, res: Response, expected: &Value) {
    helpers::assert_json(res, 200, expected.clone()).await;
    helpers::assert_json(app.get_me(token).await, 200, expected.clone()).await;
}

/// Asserts an edit answered 400 with exactly `errors`, and that the profile is still `before`.
async fn assert_refused(app: &TestApp, token: &str, res: Response, errors: Value, before: &Value) {
    helpers::assert_json(res, 400, errors).await;
    helpers::assert_json(app.get_me(token).await, 200, before.clone()).await;
}

/// Sends `body` with `method` and asserts it is refused with `{field: [messages]}`, saving nothing.
async fn assert_field_refused(
    app: &TestApp,
    token: &str,
    field: &str,
    raw: &Value,
    messages: &[&str],
    before: &Value,
) {
    for method in edit_methods() {
        let res = app.update_me(method, token, &json!({ field: raw })).await;
        assert_refused(app, token, res, json!({ field: messages }), before).await;
    }
}

/// Sends `{field: raw}` with both methods and asserts it is stored as `stored`.
async fn assert_field_stored(app: &TestApp, token: &str, field: &str, raw: &str, stored: &str) {
    let mut expected = app.get_me(token).await.json::<Value>().await.unwrap();
    for method in edit_methods() {
        // Clear first so each method proves it sets the value itself.
        let res = app
            .update_me(method.clone(), token, &json!({ field: null }))
            .await;
        assert_eq!(res.status(), 200);
        let res = app.update_me(method, token, &json!({ field: raw })).await;
        expected[field] = json!(stored);
        assert_saved(app, token, res, &expected).await;
    }
}

#[tokio::test]
async fn get_returns_every_documented_key_in_order_with_nulls_for_unset_fields() {
    let app = helpers::spawn_app().await;
    let (id, token) = app.register("Foo@Example.COM").await;

    let res = app.get_me(&token).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let text = res.text().await.unwrap();
    assert_eq!(keys_in_order(&text), PROFILE_KEYS);
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body, untouched(id, "Foo@example.com"));
}

#[tokio::test]
async fn edit_responses_keep_the_documented_key_order() {
    let (app, _, token) = app_with_user().await;
    for method in edit_methods() {
        let res = app
            .update_me(method, &token, &json!({"bio": "Cooks."}))
            .await;
        assert_eq!(res.status(), 200);
        assert_eq!(keys_in_order(&res.text().await.unwrap()), PROFILE_KEYS);
    }
}

#[tokio::test]
async fn date_joined_is_the_registration_time_in_rfc3339_utc_with_microseconds() {
    let app = helpers::spawn_app().await;
    let joined = Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 7).unwrap()
        + chrono::Duration::microseconds(123_456);
    app.clock.set(joined);
    let (id, token) = app.register(EMAIL).await;
    // Time passing afterwards does not move it (a week: well inside the token's idle timeout).
    app.clock
        .set(Utc.with_ymd_and_hms(2025, 3, 11, 0, 0, 0).unwrap());

    let mut expected = untouched(id, EMAIL);
    expected["date_joined"] = json!("2025-03-04T05:06:07.123456Z");
    helpers::assert_json(app.get_me(&token).await, 200, expected).await;
}

#[tokio::test]
async fn put_and_patch_set_every_writable_field_at_once() {
    let (app, id, token) = app_with_user().await;
    for (i, method) in edit_methods().into_iter().enumerate() {
        let body = json!({
            "name": format!("  Chef Ramsay {i} "),
            "date_of_birth": "1990-02-28",
            "bio": format!("Cooks.\nEats. {i}"),
            "profile_picture": format!("https://cdn.example.com/avatars/{i}.png"),
            "phone_number": "+1 (415) 555-0123",
        });
        let res = app.update_me(method, &token, &body).await;
        let mut expected = untouched(id, EMAIL);
        expected["name"] = json!(format!("Chef Ramsay {i}"));
        expected["date_of_birth"] = json!("1990-02-28");
        expected["bio"] = json!(format!("Cooks.\nEats. {i}"));
        expected["profile_picture"] = json!(format!("https://cdn.example.com/avatars/{i}.png"));
        expected["phone_number"] = json!("+1 (415) 555-0123");
        assert_saved(&app, &token, res, &expected).await;
    }
}

#[tokio::test]
async fn each_field_can_be_set_alone_and_absent_fields_stay_unchanged() {
    let (app, _, token) = app_with_user().await;
    // Each step keeps what the earlier steps set: assert_field_stored compares whole profiles.
    assert_field_stored(&app, &token, "name", "Chef", "Chef").await;
    assert_field_stored(&app, &token, "date_of_birth", "1985-07-14", "1985-07-14").await;
    assert_field_stored(&app, &token, "bio", "Loves pasta.", "Loves pasta.").await;
    assert_field_stored(
        &app,
        &token,
        "profile_picture",
        "http://img.example.org/me.jpg",
        "http://img.example.org/me.jpg",
    )
    .await;
    assert_field_stored(
        &app,
        &token,
        "phone_number",
        "+44 20-7946-0958",
        "+44 20-7946-0958",
    )
    .await;
}

#[tokio::test]
async fn name_and_phone_number_are_trimmed() {
    let (app, _, token) = app_with_user().await;
    assert_field_stored(&app, &token, "name", " \t Chef Ramsay \n", "Chef Ramsay").await;
    assert_field_stored(
        &app,
        &token,
        "phone_number",
        " 08167930376\t",
        "08167930376",
    )
    .await;
}

#[tokio::test]
async fn an_empty_body_changes_nothing_and_answers_the_profile() {
    let (app, id, token) = app_with_user().await;
    for method in edit_methods() {
        let res = app.update_me(method, &token, &json!({})).await;
        assert_saved(&app, &token, res, &untouched(id, EMAIL)).await;
    }
}

/// A profile with every writable field set, and the body that sets it.
fn full_edit() -> Value {
    json!({
        "name": "Chef",
        "date_of_birth": "1990-01-01",
        "bio": "Cooks.",
        "profile_picture": "https://example.com/a.png",
        "phone_number": "+14155550123",
    })
}

fn fully_set(id: i64) -> Value {
    let mut expected = untouched(id, EMAIL);
    for (k, v) in full_edit().as_object().unwrap() {
        expected[k] = v.clone();
    }
    expected
}

async fn clears_each_field_with(clear: Value) {
    let (app, id, token) = app_with_user().await;
    for method in edit_methods() {
        for field in full_edit().as_object().unwrap().keys() {
            let res = app.update_me(Method::PATCH, &token, &full_edit()).await;
            assert_saved(&app, &token, res, &fully_set(id)).await;

            let res = app
                .update_me(method.clone(), &token, &json!({ field: clear.clone() }))
                .await;
            let mut expected = fully_set(id);
            expected[field] = Value::Null;
            assert_saved(&app, &token, res, &expected).await;
        }
    }
}

#[tokio::test]
async fn null_clears_each_field_and_only_that_field() {
    clears_each_field_with(Value::Null).await;
}

#[tokio::test]
async fn empty_string_clears_each_field_and_only_that_field() {
    clears_each_field_with(json!("")).await;
}

#[tokio::test]
async fn name_longer_than_100_characters_is_refused() {
    let (app, id, token) = app_with_user().await;
    let before = untouched(id, EMAIL);
    assert_field_refused(
        &app,
        &token,
        "name",
        &json!("n".repeat(101)),
        &["Ensure this field has no more than 100 characters."],
        &before,
    )
    .await;
    // 100 characters (not bytes: each é is two) are fine.
    assert_field_stored(&app, &token, "name", &"é".repeat(100), &"é".repeat(100)).await;
}

#[tokio::test]
async fn name_with_control_characters_is_refused() {
    let (app, id, token) = app_with_user().await;
    let before = untouched(id, EMAIL);
    for raw in [
        "Chef\nRamsay",
        "Chef\tRamsay",
        "Chef\u{1b}[31m",
        "Chef\u{0}",
        "a\u{7f}b",
    ] {
        assert_field_refused(
            &app,
            &token,
            "name",
            &json!(raw),
            &["Name may not contain control characters."],
            &before,
        )
        .await;
    }
}

#[tokio::test]
async fn name_both_too_long_and_with_control_characters_gets_both_messages() {
    let (app, id, token) = app_with_user().await;
    assert_field_refused(
        &app,
        &token,
        "name",
        &json!(format!("{}\n{}", "a".repeat(60), "b".repeat(60))),
        &[
            "Ensure this field has no more than 100 characters.",
            "Name may not contain control characters.",
        ],
        &untouched(id, EMAIL),
    )
    .await;
}

#[tokio::test]
async fn date_of_birth_in_another_format_or_impossible_is_refused() {
    let (app, id, token) = app_with_user().await;
    for raw in [
        "1990-1-1",
        "01/02/1990",
        "1990-02-30",
        "2001-02-29",
        "19900101",
        "yesterday",
    ] {
        assert_field_refused(
            &app,
            &token,
            "date_of_birth",
            &json!(raw),
            &["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."],
            &untouched(id, EMAIL),
        )
        .await;
    }
    assert_field_stored(&app, &token, "date_of_birth", "2000-02-29", "2000-02-29").await;
}

#[tokio::test]
async fn date_of_birth_in_the_future_is_refused_and_today_is_accepted() {
    let (app, id, token) = app_with_user().await;
    assert_field_refused(
        &app,
        &token,
        "date_of_birth",
        &json!("2026-11-25"),
        &["Date of birth cannot be in the future."],
        &untouched(id, EMAIL),
    )
    .await;
    assert_field_stored(&app, &token, "date_of_birth", "2026-11-24", "2026-11-24").await;
}

#[tokio::test]
async fn the_future_is_judged_by_the_clock_in_utc() {
    let (app, _, token) = app_with_user().await;
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 24, 23, 59, 59).unwrap());
    let before = app.get_me(&token).await.json::<Value>().await.unwrap();
    assert_field_refused(
        &app,
        &token,
        "date_of_birth",
        &json!("2026-11-25"),
        &["Date of birth cannot be in the future."],
        &before,
    )
    .await;

    app.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap());
    assert_field_stored(&app, &token, "date_of_birth", "2026-11-25", "2026-11-25").await;
}

#[tokio::test]
async fn date_of_birth_before_1900_is_refused_and_1900_01_01_is_accepted() {
    let (app, id, token) = app_with_user().await;
    for raw in ["1899-12-31", "0001-01-01"] {
        assert_field_refused(
            &app,
            &token,
            "date_of_birth",
            &json!(raw),
            &["Date of birth cannot be before 1900-01-01."],
            &untouched(id, EMAIL),
        )
        .await;
    }
    assert_field_stored(&app, &token, "date_of_birth", "1900-01-01", "1900-01-01").await;
}

#[tokio::test]
async fn bio_longer_than_1000_characters_is_refused() {
    let (app, id, token) = app_with_user().await;
    assert_field_refused(
        &app,
        &token,
        "bio",
        &json!("b".repeat(1001)),
        &["Ensure this field has no more than 1000 characters."],
        &untouched(id, EMAIL),
    )
    .await;
    assert_field_stored(&app, &token, "bio", &"🍕".repeat(1000), &"🍕".repeat(1000)).await;
}

#[tokio::test]
async fn bio_with_a_nul_character_is_refused() {
    let (app, id, token) = app_with_user().await;
    assert_field_refused(
        &app,
        &token,
        "bio",
        &json!("before\u{0}after"),
        &["Bio may not contain null characters."],
        &untouched(id, EMAIL),
    )
    .await;
}

#[tokio::test]
async fn profile_picture_that_is_not_an_absolute_http_url_is_refused() {
    let (app, id, token) = app_with_user().await;
    for raw in [
        "ftp://x.com",
        "not a url",
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "/relative/path.png",
        "https://",
        "http://exa mple.com/a.png",
    ] {
        assert_field_refused(
            &app,
            &token,
            "profile_picture",
            &json!(raw),
            &["Enter a valid URL."],
            &untouched(id, EMAIL),
        )
        .await;
    }
}

#[tokio::test]
async fn profile_picture_longer_than_2048_characters_is_refused() {
    let (app, id, token) = app_with_user().await;
    let prefix = "https://example.com/";
    let longest = format!("{prefix}{}", "a".repeat(2048 - prefix.len()));
    assert_field_refused(
        &app,
        &token,
        "profile_picture",
        &json!(format!("{longest}a")),
        &["Ensure this field has no more than 2048 characters."],
        &untouched(id, EMAIL),
    )
    .await;
    assert_field_stored(&app, &token, "profile_picture", &longest, &longest).await;
}

#[tokio::test]
async fn several_invalid_fields_report_all_errors_together_and_bad_input_loses_nothing() {
    let (app, id, token) = app_with_user().await;
    let res = app.update_me(Method::PATCH, &token, &full_edit()).await;
    let before = fully_set(id);
    assert_saved(&app, &token, res, &before).await;

    for method in edit_methods() {
        let body = json!({
            "name": "n".repeat(101),
            "date_of_birth": "2026-11-25",
            "bio": "b".repeat(1001),
            "profile_picture": "javascript:alert(1)",
            "phone_number": "12345",
        });
        let res = app.update_me(method.clone(), &token, &body).await;
        let errors = json!({
            "name": ["Ensure this field has no more than 100 characters."],
            "date_of_birth": ["Date of birth cannot be in the future."],
            "bio": ["Ensure this field has no more than 1000 characters."],
            "profile_picture": ["Enter a valid URL."],
            "phone_number": ["Enter a valid phone number, for example 08167930376 or +2348167930376."],
        });
        assert_refused(&app, &token, res, errors, &before).await;

        // One bad field spoils the valid ones sent with it.
        let body = json!({"name": "Other", "bio": "", "phone_number": "12345"});
        let res = app.update_me(method, &token, &body).await;
        let errors = json!({
            "phone_number": ["Enter a valid phone number, for example 08167930376 or +2348167930376."],
        });
        assert_refused(&app, &token, res, errors, &before).await;
    }
}

#[tokio::test]
async fn values_of_the_wrong_type_are_not_valid_strings() {
    let (app, id, token) = app_with_user().await;
    for (field, raw) in [
        ("name", json!(true)),
        ("bio", json!(["x"])),
        ("date_of_birth", json!({})),
        ("profile_picture", json!(false)),
        ("phone_number", json!({"number": "+14155550123"})),
    ] {
        assert_field_refused(
            &app,
            &token,
            field,
            &raw,
            &["Not a valid string."],
            &untouched(id, EMAIL),
        )
        .await;
    }
}

#[tokio::test]
async fn a_number_is_accepted_as_its_text() {
    let (app, id, token) = app_with_user().await;
    for method in edit_methods() {
        let res = app
            .update_me(method, &token, &json!({"name": 42, "bio": 1.5}))
            .await;
        let mut expected = untouched(id, EMAIL);
        expected["name"] = json!("42");
        expected["bio"] = json!("1.5");
        assert_saved(&app, &token, res, &expected).await;
    }
}

/// Every read-only key of the profile, with a value an attacker would like, plus unknown keys.
fn privileged_fields() -> Value {
    json!({
        "is_superuser": true,
        "is_staff": true,
        "is_active": false,
        "email": "other@example.com",
        "user_id": 999,
        "email_verified": true,
        "date_joined": "2000-01-01T00:00:00Z",
        "password": "x",
        "id": 999,
        "role": "admin",
        "groups": ["admin"],
        "password_hash": "$argon2id$v=19$m=8,t=1,p=1$AAAA$AAAA",
    })
}

#[tokio::test]
async fn put_and_patch_ignore_privileged_and_unknown_fields() {
    let (app, id, token) = app_with_user().await;
    for (i, method) in edit_methods().into_iter().enumerate() {
        // Alone: nothing to change at all.
        let res = app
            .update_me(method.clone(), &token, &privileged_fields())
            .await;
        let mut expected = untouched(id, EMAIL);
        if i > 0 {
            expected["name"] = json!("Chef 0");
        }
        assert_saved(&app, &token, res, &expected).await;

        // With a legitimate edit in the same request: only that edit happens.
        let mut body = privileged_fields();
        body["name"] = json!(format!("Chef {i}"));
        let res = app.update_me(method, &token, &body).await;
        expected["name"] = json!(format!("Chef {i}"));
        assert_saved(&app, &token, res, &expected).await;
    }

    // The password did not change, and the address is still this account's only.
    app.login(EMAIL, GOOD_PASSWORD).await;
    let res = app
        .post_json("/token/", &json!({"email": EMAIL, "password": "x"}))
        .await;
    helpers::assert_json(
        res,
        400,
        json!({"non_field_errors": ["Unable to log in with provided credentials."]}),
    )
    .await;
    let res = app
        .post_json(
            "/token/",
            &json!({"email": "other@example.com", "password": "x"}),
        )
        .await;
    assert_eq!(res.status(), 400);
    app.register("other@example.com").await;
}

#[tokio::test]
async fn urlencoded_patch_works_like_json() {
    let (app, id, token) = app_with_user().await;
    let res = app
        .update_me(Method::PATCH, &token, &json!({"bio": "Old bio."}))
        .await;
    assert_eq!(res.status(), 200);

    let res = app
        .request(Method::PATCH, "/users/me/")
        .header("Authorization", token_header(&token))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("name=Chef&bio=&phone_number=%2B1+%28415%29+555-0123&is_staff=true")
        .send()
        .await
        .unwrap();
    let mut expected = untouched(id, EMAIL);
    expected["name"] = json!("Chef");
    expected["phone_number"] = json!("+1 (415) 555-0123");
    assert_saved(&app, &token, res, &expected).await;
}

#[tokio::test]
async fn multipart_put_works_like_json() {
    let (app, id, token) = app_with_user().await;
    let form = Form::new()
        .text("name", " Chef ")
        .text("date_of_birth", "1990-02-28")
        .text("bio", "Cooks.\nEats.")
        .text("profile_picture", "https://example.com/a.png")
        .text("phone_number", "+1 (415) 555-0123")
        .text("is_superuser", "true");
    let res = app
        .request(Method::PUT, "/users/me/")
        .header("Authorization", token_header(&token))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let mut expected = untouched(id, EMAIL);
    expected["name"] = json!("Chef");
    expected["date_of_birth"] = json!("1990-02-28");
    expected["bio"] = json!("Cooks.\nEats.");
    expected["profile_picture"] = json!("https://example.com/a.png");
    expected["phone_number"] = json!("+1 (415) 555-0123");
    assert_saved(&app, &token, res, &expected).await;

    // An empty text part clears, as in JSON.
    let res = app
        .request(Method::PATCH, "/users/me/")
        .header("Authorization", token_header(&token))
        .multipart(Form::new().text("bio", ""))
        .send()
        .await
        .unwrap();
    expected["bio"] = Value::Null;
    assert_saved(&app, &token, res, &expected).await;
}

#[tokio::test]
async fn a_multipart_file_in_profile_picture_that_is_no_image_is_refused_and_nothing_is_saved() {
    let (app, id, token) = app_with_user().await;
    for method in edit_methods() {
        let image = Part::bytes(b"\x89PNG\r\n\x1a\n".to_vec())
            .file_name("me.png")
            .mime_str("image/png")
            .unwrap();
        let form = Form::new()
            .text("name", "Chef")
            .part("profile_picture", image);
        let res = app
            .request(method, "/users/me/")
            .header("Authorization", token_header(&token))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_refused(
            &app,
            &token,
            res,
            json!({"profile_picture": [
                "Upload a valid image. The file you uploaded was either not an image or a corrupted image."
            ]}),
            &untouched(id, EMAIL),
        )
        .await;
    }
}

#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_refused() {
    let (app, id, token) = app_with_user().await;
    for method in edit_methods() {
        for (body, kind) in [
            ("[]", "list"),
            (r#"["name"]"#, "list"),
            (r#""x""#, "str"),
            ("1", "int"),
        ] {
            let res = app
                .request(method.clone(), "/users/me/")
                .header("Authorization", token_header(&token))
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let message = format!("Invalid data. Expected a dictionary, but got {kind}.");
            assert_refused(
                &app,
                &token,
                res,
                json!({"non_field_errors": [message]}),
                &untouched(id, EMAIL),
            )
            .await;
        }
    }
}

#[tokio::test]
async fn malicious_looking_text_is_stored_and_returned_verbatim() {
    let (app, id, token) = app_with_user().await;
    let name = "Robert'); DROP TABLE users;-- \\ \"q\" %_ مرحبا 👩‍🍳";
    let bio =
        "<script>alert(1)</script>\n' OR '1'='1\n$1 ?; \u{202e}שלום עולם 🍕\r\n{{7*7}} ${jndi:x}";
    let picture = "https://example.com/a.png?q=%27%20OR%201=1--&x=<b>";
    for method in edit_methods() {
        let body = json!({"name": name, "bio": bio, "profile_picture": picture});
        let res = app.update_me(method, &token, &body).await;
        let mut expected = untouched(id, EMAIL);
        expected["name"] = json!(name);
        expected["bio"] = json!(bio);
        expected["profile_picture"] = json!(picture);
        assert_saved(&app, &token, res, &expected).await;
    }
    // The table is still there and still works.
    app.register("second@example.com").await;
    app.login(EMAIL, GOOD_PASSWORD).await;
}

#[tokio::test]
async fn concurrent_patches_of_different_fields_both_survive() {
    let (app, id, token) = app_with_user().await;
    for i in 0..20 {
        let name = json!({ "name": format!("name {i}") });
        let bio = json!({ "bio": format!("bio {i}") });
        let (a, b) = tokio::join!(
            app.update_me(Method::PATCH, &token, &name),
            app.update_me(Method::PATCH, &token, &bio),
        );
        assert_eq!(a.status(), 200, "{}", a.text().await.unwrap());
        assert_eq!(b.status(), 200, "{}", b.text().await.unwrap());
        let mut expected = untouched(id, EMAIL);
        expected["name"] = json!(format!("name {i}"));
        expected["bio"] = json!(format!("bio {i}"));
        helpers::assert_json(app.get_me(&token).await, 200, expected).await;
    }
}

#[tokio::test]
async fn without_a_token_every_method_is_401_with_www_authenticate() {
    let app = helpers::spawn_app().await;
    for method in [Method::GET, Method::PUT, Method::PATCH] {
        let res = app
            .request(method, "/users/me/")
            .json(&json!({"name": "Chef"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["www-authenticate"], "Token");
        helpers::assert_json(
            res,
            401,
            json!({"detail": "Authentication credentials were not provided."}),
        )
        .await;
    }
}

#[tokio::test]
async fn authentication_is_checked_before_the_body() {
    let app = helpers::spawn_app().await;
    let bad_bodies: [(&str, &str); 4] = [
        ("application/json", r#"{"name": true, "bio": ["x"]}"#),
        ("application/json", "{not json"),
        ("application/json", "[]"),
        ("text/plain", "name=Chef"),
    ];
    for method in edit_methods() {
        for (content_type, body) in bad_bodies {
            let res = app
                .request(method.clone(), "/users/me/")
                .header("Content-Type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.headers()["www-authenticate"], "Token");
            helpers::assert_json(
                res,
                401,
                json!({"detail": "Authentication credentials were not provided."}),
            )
            .await;
        }
    }
}

#[tokio::test]
async fn the_path_works_with_and_without_trailing_slash_and_never_redirects() {
    let (app, id, token) = app_with_user().await;
    for path in ["/users/me/", "/users/me"] {
        let res = app
            .request(Method::GET, path)
            .header("Authorization", token_header(&token))
            .send()
            .await
            .unwrap();
        helpers::assert_json(res, 200, untouched(id, EMAIL)).await;
    }
    let mut expected = untouched(id, EMAIL);
    for (path, method) in [
        ("/users/me", Method::PUT),
        ("/users/me", Method::PATCH),
        ("/users/me/", Method::PUT),
        ("/users/me/", Method::PATCH),
    ] {
        let name = format!("{method} {path}");
        let res = app
            .request(method, path)
            .header("Authorization", token_header(&token))
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        expected["name"] = json!(name);
        assert_saved(&app, &token, res, &expected).await;
    }
}
