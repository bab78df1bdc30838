//! Request bodies: every field's problem at once, with DRF's messages, in JSON, urlencoded and
//! multipart bodies alike.

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::json;

use crate::helpers::{GOOD_PASSWORD, assert_json, spawn_app};

#[tokio::test]
async fn every_field_problem_is_reported_at_once_in_each_media_type() {
    let app = spawn_app().await;
    let expected = json!({
        "user_id": ["A valid integer is required."],
        "code": ["This field may not be blank."],
    });
    let res = app
        .post_json("/users/verify/", &json!({"user_id": "abc", "code": " "}))
        .await;
    assert_json(res, 400, expected.clone()).await;
    let res = app
        .request(Method::POST, "/users/verify/")
        .form(&[("user_id", "abc"), ("code", " ")])
        .send()
        .await
        .unwrap();
    assert_json(res, 400, expected.clone()).await;
    let form = Form::new().text("user_id", "abc").text("code", " ");
    let res = app
        .request(Method::POST, "/users/verify/")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_json(res, 400, expected).await;
}

#[tokio::test]
async fn a_file_where_text_is_expected_is_refused_beside_the_other_fields_problems() {
    let app = spawn_app().await;
    let form = Form::new()
        .part(
            "email",
            Part::bytes(b"a@example.com".to_vec()).file_name("e.txt"),
        )
        .text("code", "12")
        .text("password", GOOD_PASSWORD);
    let res = app
        .request(Method::POST, "/users/reset/password/code/")
        .multipart(form)
        .send()
        .await
        .unwrap();
    let expected = json!({
        "email": ["Not a valid string."],
        "code": ["Enter the 6-digit code from the email."],
        "re_password": ["This field is required."],
    });
    assert_json(res, 400, expected).await;
}

#[tokio::test]
async fn keys_a_body_does_not_name_are_ignored() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/users/",
            &json!({
                "email": "cook@example.com",
                "password": GOOD_PASSWORD,
                "is_staff": true,
                "is_superuser": "yes",
            }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let token = app.login("cook@example.com", GOOD_PASSWORD).await;
    let profile: serde_json::Value = app.get_me(&token).await.json().await.unwrap();
    assert_eq!(profile["is_staff"], false);
    assert_eq!(profile["is_superuser"], false);
}
