//! /users/addresses/ and /users/addresses/{id}/: the caller's saved delivery addresses, with
//! the original service's rules and DRF's messages, only ever the caller's own, and a cap that
//! holds under parallel requests.

use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::{GOOD_PASSWORD, TestApp, assert_json, spawn_app, spawn_app_with};

const HOME: &str = "/users/addresses/";

fn at(id: impl std::fmt::Display) -> String {
    format!("/users/addresses/{id}/")
}

async fn send(app: &TestApp, method: Method, path: &str, token: &str, body: Value) -> Response {
    app.send_as(method, path, token, Some(&body)).await
}

/// Saves an address and returns its answer (201).
async fn add(app: &TestApp, token: &str, body: Value) -> Value {
    let res = send(app, Method::POST, HOME, token, body).await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

async fn list(app: &TestApp, token: &str) -> Vec<Value> {
    let res = app.send_as(Method::GET, HOME, token, None).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn count_rows(app: &TestApp, user_id: i64) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM user_addresses WHERE user_id = {user_id}");
    app.scalar_i64(&sql).await
}

fn not_found() -> Value {
    json!({"detail": "Not found."})
}

#[tokio::test]
async fn an_address_is_saved_read_listed_newest_last_and_answered_in_key_order() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    assert_eq!(list(&app, &token).await, Vec::<Value>::new());

    let res = send(
        &app,
        Method::POST,
        HOME,
        &token,
        json!({"address": "  Opposite the mango tree\nring twice ", "street": "12 Allen Avenue",
               "post_code": 100271, "apartment": "Flat 4B", "labelled_place": "HOME",
               "id": 999, "user_id": 1}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let text = res.text().await.unwrap();
    let first: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
    let keys: Vec<&str> = first.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "address",
            "street",
            "post_code",
            "apartment",
            "labelled_place"
        ]
    );
    let id = first["id"].as_i64().unwrap();
    assert_ne!(id, 999, "the id is the server's, never the client's");
    assert_eq!(
        Value::Object(first.clone()),
        json!({"id": id, "address": "Opposite the mango tree\nring twice",
               "street": "12 Allen Avenue", "post_code": "100271", "apartment": "Flat 4B",
               "labelled_place": "HOME"})
    );

    // Only the label is required; the other parts are blank strings, never null.
    let second = add(&app, &token, json!({"labelled_place": "WORK"})).await;
    assert_eq!(
        second,
        json!({"id": second["id"], "address": "", "street": "", "post_code": "",
               "apartment": "", "labelled_place": "WORK"})
    );
    // Forms work as JSON does (the apps post forms too).
    let res = app
        .request(Method::POST, "/users/addresses")
        .header("Authorization", format!("Token {token}"))
        .form(&[("labelled_place", "OTHER"), ("street", "Ékó Street 🍲")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let third: Value = res.json().await.unwrap();
    assert_eq!(third["street"], "Ékó Street 🍲");

    let listed = list(&app, &token).await;
    assert_eq!(listed, [Value::Object(first), second, third.clone()]);
    for path in [at(id), format!("/users/addresses/{id}")] {
        let res = app.send_as(Method::GET, &path, &token, None).await;
        assert_json(res, 200, listed[0].clone()).await;
    }
}

#[tokio::test]
async fn every_broken_rule_is_reported_at_once_with_drfs_messages() {
    let app = spawn_app().await;
    let (user_id, token) = app.register("cook@example.com").await;
    let res = send(
        &app,
        Method::POST,
        HOME,
        &token,
        json!({"address": "a".repeat(1001), "street": "é".repeat(101),
               "post_code": "1".repeat(31), "apartment": "x".repeat(51),
               "labelled_place": "home"}),
    )
    .await;
    assert_json(
        res,
        400,
        json!({
            "address": ["Ensure this field has no more than 1000 characters."],
            "street": ["Ensure this field has no more than 100 characters."],
            "post_code": ["Ensure this field has no more than 30 characters."],
            "apartment": ["Ensure this field has no more than 50 characters."],
            "labelled_place": ["\"home\" is not a valid choice."],
        }),
    )
    .await;
    for (label, message) in [
        (json!(null), "This field may not be null."),
        (json!(""), "\"\" is not a valid choice."),
        (json!(" HOME"), "\" HOME\" is not a valid choice."),
        (json!(5), "\"5\" is not a valid choice."),
        (json!(true), "\"True\" is not a valid choice."),
    ] {
        let body = json!({"labelled_place": label});
        let res = send(&app, Method::POST, HOME, &token, body).await;
        assert_json(res, 400, json!({"labelled_place": [message]})).await;
    }
    let res = send(&app, Method::POST, HOME, &token, json!({"street": "x"})).await;
    assert_json(
        res,
        400,
        json!({"labelled_place": ["This field is required."]}),
    )
    .await;
    let body = json!({"street": ["x"], "apartment": "4\u{0}B", "labelled_place": "HOME"});
    let res = send(&app, Method::POST, HOME, &token, body).await;
    assert_json(
        res,
        400,
        json!({"street": ["Not a valid string."],
               "apartment": ["Null characters are not allowed."]}),
    )
    .await;
    let res = send(&app, Method::POST, HOME, &token, json!(["HOME"])).await;
    assert_json(
        res,
        400,
        json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
    )
    .await;
    // Exactly at each bound is fine, counted in characters after trimming; null is blank.
    let body = json!({"address": format!(" {} ", "🍲".repeat(1000)), "street": "é".repeat(100),
                      "post_code": "1".repeat(30), "apartment": null, "labelled_place": "OTHER"});
    let saved = add(&app, &token, body).await;
    assert_eq!(saved["apartment"], "");
    assert_eq!(count_rows(&app, user_id).await, 1);
}

#[tokio::test]
async fn put_needs_the_label_and_keeps_unsent_parts_and_patch_changes_only_what_is_sent() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let saved = add(
        &app,
        &token,
        json!({"address": "Gate 2", "street": "Allen Avenue", "post_code": "100271",
               "apartment": "4B", "labelled_place": "HOME"}),
    )
    .await;
    let id = saved["id"].as_i64().unwrap();

    let res = send(&app, Method::PUT, &at(id), &token, json!({"street": "x"})).await;
    assert_json(
        res,
        400,
        json!({"labelled_place": ["This field is required."]}),
    )
    .await;
    let res = send(
        &app,
        Method::PUT,
        &format!("/users/addresses/{id}"),
        &token,
        json!({"street": " Awolowo Road ", "apartment": "", "labelled_place": "WORK"}),
    )
    .await;
    let replaced = json!({"id": id, "address": "Gate 2", "street": "Awolowo Road",
                          "post_code": "100271", "apartment": "", "labelled_place": "WORK"});
    assert_json(res, 200, replaced.clone()).await;

    let res = send(&app, Method::PATCH, &at(id), &token, json!({})).await;
    assert_json(res, 200, replaced).await;
    let res = send(
        &app,
        Method::PATCH,
        &at(id),
        &token,
        json!({"post_code": null, "labelled_place": "OTHER"}),
    )
    .await;
    assert_json(
        res,
        200,
        json!({"id": id, "address": "Gate 2", "street": "Awolowo Road", "post_code": "",
               "apartment": "", "labelled_place": "OTHER"}),
    )
    .await;
    let body = json!({"street": "s".repeat(101), "labelled_place": "Home"});
    let res = send(&app, Method::PATCH, &at(id), &token, body).await;
    assert_json(
        res,
        400,
        json!({"street": ["Ensure this field has no more than 100 characters."],
               "labelled_place": ["\"Home\" is not a valid choice."]}),
    )
    .await;
    let res = send(
        &app,
        Method::PATCH,
        &at(id),
        &token,
        json!({"labelled_place": null}),
    )
    .await;
    assert_json(
        res,
        400,
        json!({"labelled_place": ["This field may not be null."]}),
    )
    .await;
    assert_eq!(list(&app, &token).await[0]["labelled_place"], "OTHER");
}

#[tokio::test]
async fn delete_answers_204_with_no_body_and_the_address_is_gone() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let kept = add(&app, &token, json!({"labelled_place": "HOME"})).await;
    let gone = add(&app, &token, json!({"labelled_place": "WORK"})).await;
    let path = at(&gone["id"]);
    let res = app.send_as(Method::DELETE, &path, &token, None).await;
    assert_eq!(res.status(), 204);
    assert_eq!(res.text().await.unwrap(), "");
    let res = app.send_as(Method::DELETE, &path, &token, None).await;
    assert_json(res, 404, not_found()).await;
    let res = app.send_as(Method::GET, &path, &token, None).await;
    assert_json(res, 404, not_found()).await;
    assert_eq!(list(&app, &token).await, [kept]);
}

#[tokio::test]
async fn another_users_address_is_not_found_and_stays_as_it_was() {
    let app = spawn_app().await;
    let (_, alice) = app.register("alice@example.com").await;
    let (_, bob) = app.register("bob@example.com").await;
    let hers = add(
        &app,
        &alice,
        json!({"street": "Alice's", "labelled_place": "HOME"}),
    )
    .await;
    let path = at(&hers["id"]);
    let body = json!({"street": "Bob's now", "labelled_place": "WORK"});
    for method in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {
        let res = send(&app, method.clone(), &path, &bob, body.clone()).await;
        assert_json(res, 404, not_found()).await;
    }
    assert_eq!(list(&app, &bob).await, Vec::<Value>::new());
    assert_eq!(list(&app, &alice).await, [hers]);
}

#[tokio::test]
async fn ids_that_are_not_numbers_or_do_not_fit_are_not_found_never_an_error() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let saved = add(&app, &token, json!({"labelled_place": "HOME"})).await;
    let id = saved["id"].as_i64().unwrap();
    let body = json!({"labelled_place": "WORK"});
    for raw in [
        "abc".to_owned(),
        "0".to_owned(),
        "-1".to_owned(),
        format!("+{id}"),
        format!("{id}.0"),
        "9223372036854775807".to_owned(),
        "9223372036854775808".to_owned(),
        "99999999999999999999999999999".to_owned(),
        "%FF".to_owned(),
        "%E2%82%AC".to_owned(),
        "1%20".to_owned(),
    ] {
        for method in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {
            let res = send(&app, method.clone(), &at(&raw), &token, body.clone()).await;
            assert_json(res, 404, not_found()).await;
        }
    }
    assert_eq!(list(&app, &token).await, [saved]);
}

#[tokio::test]
async fn every_route_needs_a_token() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let saved = add(&app, &token, json!({"labelled_place": "HOME"})).await;
    let one = at(&saved["id"]);
    for (method, path) in [
        (Method::GET, HOME),
        (Method::POST, HOME),
        (Method::GET, one.as_str()),
        (Method::PUT, one.as_str()),
        (Method::PATCH, one.as_str()),
        (Method::DELETE, one.as_str()),
    ] {
        let res = app
            .request(method, path)
            .json(&json!({"labelled_place": "WORK"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["www-authenticate"], "Token");
        assert_json(
            res,
            401,
            json!({"detail": "Authentication credentials were not provided."}),
        )
        .await;
    }
    assert_eq!(list(&app, &token).await, [saved]);
}

#[tokio::test]
async fn the_cap_refuses_one_more_and_a_deleted_one_makes_room() {
    let app = spawn_app_with(|c| c.max_addresses_per_user = 3).await;
    let (_, token) = app.register("cook@example.com").await;
    let (_, other) = app.register("other@example.com").await;
    let mut saved = Vec::new();
    for _ in 0..3 {
        saved.push(add(&app, &token, json!({"labelled_place": "HOME"})).await);
    }
    let res = send(
        &app,
        Method::POST,
        HOME,
        &token,
        json!({"labelled_place": "WORK"}),
    )
    .await;
    assert_json(
        res,
        400,
        json!({"non_field_errors": [
            "You can save at most 3 delivery addresses. Delete one before adding another."
        ]}),
    )
    .await;
    // The cap is per user.
    add(&app, &other, json!({"labelled_place": "HOME"})).await;
    let res = app
        .send_as(Method::DELETE, &at(&saved[0]["id"]), &token, None)
        .await;
    assert_eq!(res.status(), 204);
    add(&app, &token, json!({"labelled_place": "WORK"})).await;
    assert_eq!(list(&app, &token).await.len(), 3);
}

#[tokio::test]
async fn fifty_parallel_posts_never_pass_the_cap() {
    let app = spawn_app_with(|c| c.max_addresses_per_user = 20).await;
    let (user_id, token) = app.register("cook@example.com").await;
    let posts = (0..50).map(|i| {
        let (app, token) = (&app, &token);
        async move {
            let body = json!({"street": format!("Street {i}"), "labelled_place": "HOME"});
            send(app, Method::POST, HOME, token, body).await.status()
        }
    });
    let statuses = futures::future::join_all(posts).await;
    let created = statuses.iter().filter(|s| s.as_u16() == 201).count();
    let refused = statuses.iter().filter(|s| s.as_u16() == 400).count();
    assert_eq!((created, refused), (20, 30), "{statuses:?}");
    assert_eq!(count_rows(&app, user_id).await, 20);
}

#[tokio::test]
async fn deleting_the_account_deletes_its_addresses() {
    let app = spawn_app().await;
    let (alice_id, alice) = app.register("alice@example.com").await;
    let (bob_id, bob) = app.register("bob@example.com").await;
    add(&app, &alice, json!({"labelled_place": "HOME"})).await;
    add(&app, &alice, json!({"labelled_place": "WORK"})).await;
    add(&app, &bob, json!({"labelled_place": "HOME"})).await;
    let res = app
        .send_as(
            Method::DELETE,
            "/users/me/",
            &alice,
            Some(&json!({"password": GOOD_PASSWORD})),
        )
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(count_rows(&app, alice_id).await, 0);
    assert_eq!(count_rows(&app, bob_id).await, 1);
}

#[tokio::test]
async fn the_routes_and_their_schemas_are_in_the_openapi_document() {
    let app = spawn_app().await;
    let doc: Value = app
        .request(Method::GET, "/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = &doc["paths"];
    for method in ["get", "post"] {
        assert!(paths[HOME][method].is_object(), "{method} {HOME}");
    }
    for method in ["get", "put", "patch", "delete"] {
        assert!(
            paths["/users/addresses/{id}/"][method].is_object(),
            "{method}"
        );
    }
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["LabelledPlace"]["enum"],
        json!(["HOME", "WORK", "OTHER"])
    );
    let answer = &schemas["DeliveryAddress"]["properties"];
    for key in [
        "id",
        "address",
        "street",
        "post_code",
        "apartment",
        "labelled_place",
    ] {
        assert!(answer[key].is_object(), "{key}");
    }
    assert_eq!(
        schemas["AddressBody"]["properties"]["street"]["maxLength"],
        100
    );
    // POST and PUT need the label; PATCH does not.
    assert_eq!(
        schemas["FullAddressBody"]["required"],
        json!(["labelled_place"])
    );
    assert_eq!(
        schemas["FullAddressBody"]["properties"]["street"]["maxLength"],
        100
    );
    let body_of = |path: &str, method: &str| {
        doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .clone()
    };
    let full = json!("#/components/schemas/FullAddressBody");
    assert_eq!(body_of("/users/addresses/", "post"), full);
    assert_eq!(body_of("/users/addresses/{id}/", "put"), full);
}

#[tokio::test]
async fn two_server_processes_on_one_database_still_keep_the_cap() {
    let app = spawn_app_with(|c| c.max_addresses_per_user = 20).await;
    let peer = app.spawn_peer(|c| c.max_addresses_per_user = 20).await;
    let (user_id, token) = app.register("cook@example.com").await;
    let posts = (0..50).map(|i| {
        let (server, token) = (if i % 2 == 0 { &app } else { &peer }, &token);
        async move {
            let body = json!({"street": format!("Street {i}"), "labelled_place": "WORK"});
            send(server, Method::POST, HOME, token, body).await.status()
        }
    });
    let statuses = futures::future::join_all(posts).await;
    let created = statuses.iter().filter(|s| s.as_u16() == 201).count();
    let refused = statuses.iter().filter(|s| s.as_u16() == 400).count();
    assert_eq!((created, refused), (20, 30), "{statuses:?}");
    assert_eq!(count_rows(&app, user_id).await, 20);
}

#[tokio::test]
async fn multipart_forms_work_and_a_file_is_not_a_text_part() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let form = reqwest::multipart::Form::new()
        .text("labelled_place", "WORK")
        .text("apartment", " 7 ");
    let res = app
        .request(Method::POST, HOME)
        .header("Authorization", format!("Token {token}"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let saved: Value = res.json().await.unwrap();
    assert_eq!(
        (&saved["apartment"], &saved["labelled_place"]),
        (&json!("7"), &json!("WORK"))
    );
    let file = reqwest::multipart::Part::bytes(b"HOME".to_vec()).file_name("place.txt");
    let form = reqwest::multipart::Form::new()
        .part("labelled_place", file)
        .part(
            "street",
            reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("street.txt"),
        );
    let res = app
        .request(Method::PATCH, &at(&saved["id"]))
        .header("Authorization", format!("Token {token}"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_json(
        res,
        400,
        json!({"street": ["File uploads are not accepted here; send text."],
               "labelled_place": ["Not a valid string."]}),
    )
    .await;
    assert_eq!(list(&app, &token).await, [saved]);
}
