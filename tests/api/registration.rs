//! POST /users/: registration, its validation rules, and the duplicate-address race.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{GOOD_PASSWORD, assert_json, spawn_app};

#[tokio::test]
async fn registration_returns_201_with_id_email_and_a_working_token() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/users/",
            &json!({"email": "new.hero@example.com", "password": GOOD_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let text = res.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["user_id", "email", "token"]);
    assert_eq!(body["email"], "new.hero@example.com");
    let token = body["token"].as_str().unwrap();
    assert!(token.len() >= 22, "at least 128 bits of base64");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    let me: Value = app.get_me(token).await.json().await.unwrap();
    assert_eq!(me["user_id"], body["user_id"]);
    // The server stops cleanly after serving.
    app.stop().await;
}

#[tokio::test]
async fn registration_works_without_the_trailing_slash_and_from_a_form() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/users",
            &json!({"email": "a@example.com", "password": GOOD_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let res = app
        .request(Method::POST, "/users/")
        .form(&[("email", "b@example.com"), ("password", GOOD_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let form = reqwest::multipart::Form::new()
        .text("email", "c@example.com")
        .text("password", GOOD_PASSWORD);
    let res = app
        .request(Method::POST, "/users/")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn email_domain_is_lowercased_and_the_local_part_kept() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/users/",
            &json!({"email": "  Foo.Bar@Example.COM ", "password": GOOD_PASSWORD}),
        )
        .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["email"], "Foo.Bar@example.com");
}

#[tokio::test]
async fn the_same_address_in_another_case_is_a_duplicate() {
    let app = spawn_app().await;
    app.register("Foo@Example.com").await;
    for email in ["foo@example.com", "FOO@EXAMPLE.COM", "Foo@Example.com"] {
        let res = app
            .post_json(
                "/users/",
                &json!({"email": email, "password": GOOD_PASSWORD}),
            )
            .await;
        assert_json(
            res,
            400,
            json!({"email": ["User with email already exists."]}),
        )
        .await;
    }
}

#[tokio::test]
async fn missing_blank_null_and_wrong_typed_fields_get_drf_messages() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({}),
            json!({"email": ["This field is required."], "password": ["This field is required."]}),
        ),
        (
            json!({"email": "", "password": "  "}),
            json!({"email": ["This field may not be blank."], "password": ["This field may not be blank."]}),
        ),
        (
            json!({"email": null, "password": GOOD_PASSWORD}),
            json!({"email": ["This field may not be null."]}),
        ),
        (
            json!({"email": true, "password": [GOOD_PASSWORD]}),
            json!({"email": ["Not a valid string."], "password": ["Not a valid string."]}),
        ),
        (
            json!({"email": {"a": 1}, "password": GOOD_PASSWORD}),
            json!({"email": ["Not a valid string."]}),
        ),
    ];
    for (body, expected) in cases {
        assert_json(app.post_json("/users/", &body).await, 400, expected).await;
    }
}

#[tokio::test]
async fn invalid_and_oversized_addresses_are_refused() {
    let app = spawn_app().await;
    let invalid = json!({"email": ["Please enter a valid email address"]});
    for email in [
        "plainaddress",
        "a@b",
        "@example.com",
        "a@@example.com",
        "a b@example.com",
        "a@example..com",
        "<script>@example.com",
        "a@example.com\u{0}",
    ] {
        let res = app
            .post_json(
                "/users/",
                &json!({"email": email, "password": GOOD_PASSWORD}),
            )
            .await;
        assert_json(res, 400, invalid.clone()).await;
    }
    let long = format!("{}@example.com", "a".repeat(243));
    assert_eq!(long.len(), 255);
    let res = app
        .post_json(
            "/users/",
            &json!({"email": long, "password": GOOD_PASSWORD}),
        )
        .await;
    assert_json(
        res,
        400,
        json!({"email": ["Ensure this field has no more than 254 characters."]}),
    )
    .await;
}

#[tokio::test]
async fn weak_passwords_list_every_failure_together() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/users/",
            &json!({"email": "chef@example.com", "password": "123456"}),
        )
        .await;
    assert_json(
        res,
        400,
        json!({"password": [
            "This password is too short. It must contain at least 8 characters.",
            "This password is too common.",
            "This password is entirely numeric.",
        ]}),
    )
    .await;
    let res = app
        .post_json(
            "/users/",
            &json!({"email": "chef@example.com", "password": "PASSWORD"}),
        )
        .await;
    assert_json(
        res,
        400,
        json!({"password": ["This password is too common."]}),
    )
    .await;
    let res = app
        .post_json(
            "/users/",
            &json!({"email": "gordonramsay@example.com", "password": "gordonramsay1"}),
        )
        .await;
    assert_json(
        res,
        400,
        json!({"password": ["The password is too similar to the email address."]}),
    )
    .await;
    // Both fields wrong: both reported.
    let res = app
        .post_json("/users/", &json!({"email": "nope", "password": "short"}))
        .await;
    assert_json(
        res,
        400,
        json!({
            "email": ["Please enter a valid email address"],
            "password": ["This password is too short. It must contain at least 8 characters."],
        }),
    )
    .await;
}

#[tokio::test]
async fn long_and_unicode_passwords_register_and_log_in() {
    let app = spawn_app().await;
    let passwords = [
        "x7#".repeat(21) + "z",                     // 64 characters
        "correct horse ".repeat(71) + "battery st", // 1004 characters
        "пароль-очень-надёжный".to_owned(),
        "🍳🥘🍜 kitchen 密码 ✓".to_owned(),
        "a".to_owned() + &"é".repeat(1023), // exactly 1024 characters
    ];
    for (i, password) in passwords.iter().enumerate() {
        let email = format!("user{i}@example.com");
        let res = app
            .post_json("/users/", &json!({"email": email, "password": password}))
            .await;
        assert_eq!(
            res.status(),
            201,
            "password #{i} refused: {}",
            res.text().await.unwrap()
        );
        app.login(&email, password).await;
    }
    assert_eq!(passwords[0].chars().count(), 64);
    assert_eq!(passwords[4].chars().count(), 1024);
}

#[tokio::test]
async fn a_1025_character_password_is_refused() {
    let app = spawn_app().await;
    let password = "k".to_owned() + &"x9".repeat(512);
    assert_eq!(password.chars().count(), 1025);
    let res = app
        .post_json(
            "/users/",
            &json!({"email": "long@example.com", "password": password}),
        )
        .await;
    assert_json(
        res,
        400,
        json!({"password": ["Ensure this field has no more than 1024 characters."]}),
    )
    .await;
}

#[tokio::test]
async fn concurrent_registrations_of_one_address_yield_exactly_one_account() {
    let app = spawn_app().await;
    let attempts = 12;
    let app = &app;
    let futures = (0..attempts).map(|i| async move {
        // Vary the case: the race is on the normalized address.
        let email = if i % 2 == 0 {
            "Race@Example.com"
        } else {
            "race@example.COM"
        };
        app.post_json(
            "/users/",
            &json!({"email": email, "password": GOOD_PASSWORD}),
        )
        .await
    });
    let responses = futures::future::join_all(futures).await;
    let mut created = 0;
    for res in responses {
        match res.status().as_u16() {
            201 => created += 1,
            400 => {
                let body: Value = res.json().await.unwrap();
                assert_eq!(body, json!({"email": ["User with email already exists."]}));
            }
            other => panic!("unexpected status {other}: {}", res.text().await.unwrap()),
        }
    }
    assert_eq!(created, 1);
    let rows = app.dump_table("users").await;
    assert_eq!(
        rows.lines().filter(|l| !l.is_empty()).count(),
        1,
        "exactly one row: {rows}"
    );
}

#[tokio::test]
async fn registration_ignores_privileged_fields() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/users/",
            &json!({"email": "sneaky@example.com", "password": GOOD_PASSWORD, "is_superuser": true, "is_staff": true, "email_verified": true, "user_id": 1000}),
        )
        .await;
    let body: Value = res.json().await.unwrap();
    let me: Value = app
        .get_me(body["token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["is_superuser"], false);
    assert_eq!(me["is_staff"], false);
    assert_eq!(me["email_verified"], false);
    assert_ne!(me["user_id"], 1000);
}
