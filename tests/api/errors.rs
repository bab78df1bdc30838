//! Every row of SPEC part 2's error table, and bad input of every shape: each gets its
//! documented status and body, never a 500 by accident.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{GOOD_PASSWORD, assert_json, spawn_app, spawn_app_with};

#[tokio::test]
async fn malformed_json_is_a_400_parse_error() {
    let app = spawn_app().await;
    for body in [
        "{",
        "{\"email\": }",
        "not json",
        "{\"email\": \"a@b.co\",}",
        "\u{feff}{}",
    ] {
        let res = app
            .request(Method::POST, "/users/")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{body:?}");
        let detail: serde_json::Value = res.json().await.unwrap();
        let detail = detail["detail"].as_str().unwrap();
        assert!(detail.starts_with("JSON parse error - "), "{detail}");
    }
}

#[tokio::test]
async fn duplicate_json_keys_are_refused_not_resolved() {
    let app = spawn_app().await;
    let body = format!(
        r#"{{"email": "a@example.com", "password": "{GOOD_PASSWORD}", "email": "b@example.com"}}"#
    );
    let res = app
        .request(Method::POST, "/users/")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("JSON parse error - duplicate key \"email\" at line 1"),
        "{detail}"
    );
    // Nothing was created under either address.
    assert!(app.dump_table("users").await.is_empty());
}

#[tokio::test]
async fn a_json_array_or_scalar_body_is_not_a_dictionary() {
    let app = spawn_app().await;
    for (body, kind) in [
        ("[]", "list"),
        ("\"x\"", "str"),
        ("42", "int"),
        ("4.2", "float"),
        ("true", "bool"),
        ("null", "NoneType"),
    ] {
        let res = app
            .request(Method::POST, "/token/")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let expected = format!("Invalid data. Expected a dictionary, but got {kind}.");
        assert_json(res, 400, json!({"non_field_errors": [expected]})).await;
    }
}

#[tokio::test]
async fn an_unsupported_content_type_is_415() {
    let app = spawn_app().await;
    for (content_type, shown) in [
        ("text/plain", "text/plain"),
        (
            "application/xml; charset=utf-8",
            "application/xml; charset=utf-8",
        ),
    ] {
        let res = app
            .request(Method::POST, "/users/")
            .header("content-type", content_type)
            .body("email=a@example.com")
            .send()
            .await
            .unwrap();
        let expected = format!("Unsupported media type \"{shown}\" in request.");
        assert_json(res, 415, json!({"detail": expected})).await;
    }
    // A body with no content type at all.
    let res = app
        .request(Method::POST, "/token/")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_json(
        res,
        415,
        json!({"detail": "Unsupported media type \"\" in request."}),
    )
    .await;
}

#[tokio::test]
async fn a_1_mib_body_is_413_whether_declared_or_streamed() {
    let app = spawn_app().await;
    let big = format!(
        r#"{{"email": "a@example.com", "password": "{}"}}"#,
        "x".repeat(1024 * 1024)
    );
    let res = app
        .request(Method::POST, "/users/")
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_json(res, 413, json!({"detail": "Request body too large."})).await;

    // Chunked, so no Content-Length tells the server in advance.
    let stream = futures::stream::iter(
        big.into_bytes()
            .chunks(8192)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let res = app
        .request(Method::POST, "/token/")
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_json(res, 413, json!({"detail": "Request body too large."})).await;
}

#[tokio::test]
async fn the_body_limit_is_a_setting() {
    let app = spawn_app_with(|c| c.max_body_bytes = 2048).await;
    let body = json!({"email": "a@example.com", "password": "y".repeat(3000)});
    assert_json(
        app.post_json("/users/", &body).await,
        413,
        json!({"detail": "Request body too large."}),
    )
    .await;
}

#[tokio::test]
async fn unknown_paths_are_404_json() {
    let app = spawn_app().await;
    for path in [
        "/nope",
        "/users/me/extra/",
        "/admin/",
        "/users/../etc/passwd",
        "/%00",
    ] {
        let res = app.request(Method::GET, path).send().await.unwrap();
        assert_json(res, 404, json!({"detail": "Not found."})).await;
    }
}

#[tokio::test]
async fn wrong_methods_are_405_with_an_allow_header() {
    let app = spawn_app().await;
    let cases = [
        (Method::DELETE, "/users/", "GET,HEAD,POST"),
        (Method::POST, "/users/me", "DELETE,GET,HEAD,PATCH,PUT"),
        (Method::PUT, "/token/", "POST"),
        (Method::GET, "/logout/", "POST"),
    ];
    for (method, path, allow) in cases {
        let res = app.request(method.clone(), path).send().await.unwrap();
        let mut allowed: Vec<&str> = res.headers()["allow"]
            .to_str()
            .unwrap()
            .split(',')
            .collect();
        allowed.sort_unstable();
        assert_eq!(allowed.join(","), allow, "{method} {path}");
        let expected = format!("Method \"{method}\" not allowed.");
        assert_json(res, 405, json!({"detail": expected})).await;
    }
}

#[tokio::test]
async fn every_path_works_with_and_without_its_trailing_slash_without_redirect() {
    let app = spawn_app().await;
    let (_, token) = app.register("slash@example.com").await;
    for path in ["/users/me/", "/users/me"] {
        assert_eq!(app.get_me(&token).await.status(), 200);
        let res = app
            .request(Method::GET, path)
            .header("Authorization", format!("Token {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    for path in ["/token/", "/token"] {
        let res = app
            .post_json(
                path,
                &json!({"email": "slash@example.com", "password": GOOD_PASSWORD}),
            )
            .await;
        assert_eq!(res.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn an_internal_failure_is_a_generic_500_that_leaks_nothing() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    // Break the schema under the running server.
    app.execute("ALTER TABLE users RENAME COLUMN bio TO biography")
        .await;
    let res = app.get_me(&token).await;
    let text_status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(text_status, 500);
    assert_eq!(text, r#"{"detail":"A server error occurred."}"#);
    // The server lives on.
    let res = app.request(Method::GET, "/nope").send().await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn an_unreachable_database_is_503() {
    // A PostgreSQL URL where nothing listens, without migrations: the server starts, and every
    // request that needs the database says so.
    let app = kitchen_api::app::Application::build(kitchen_api::config::Config {
        database_url: "postgres://kitchen@127.0.0.1:9/none".into(),
        bind: "127.0.0.1:0".parse().unwrap(),
        migrate_on_start: false,
        db_acquire_timeout_secs: 1,
        argon2_memory_kib: 64,
        argon2_iterations: 1,
        mfa_key: Some(crate::helpers::test_mfa_key().parse().unwrap()),
        ..Default::default()
    })
    .await
    .unwrap();
    let addr = app.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        rx.await.ok();
    }));
    let client = reqwest::Client::new();
    let token = kitchen_api::auth::PlainToken::generate();
    let res = client
        .get(format!("http://{addr}/users/me/"))
        .header("Authorization", format!("Token {}", token.expose()))
        .send()
        .await
        .unwrap();
    assert_json(
        res,
        503,
        json!({"detail": "Service temporarily unavailable."}),
    )
    .await;
    let res = client
        .post(format!("http://{addr}/token/"))
        .json(&json!({"email": "a@example.com", "password": GOOD_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_json(
        res,
        503,
        json!({"detail": "Service temporarily unavailable."}),
    )
    .await;
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}
