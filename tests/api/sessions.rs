//! GET /users/me/sessions/, DELETE /users/me/sessions/{id}/ and POST /logout/all/: the caller's
//! logins, one per token, and only ever the caller's own.

use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::{GOOD_PASSWORD, TestApp, assert_json, spawn_app};

async fn login_as(app: &TestApp, email: &str, user_agent: &str) -> String {
    let res = app
        .request(Method::POST, "/token/")
        .header("User-Agent", user_agent)
        .json(&json!({"email": email, "password": GOOD_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

async fn sessions(app: &TestApp, token: &str) -> Vec<Value> {
    let res = app
        .send_as(Method::GET, "/users/me/sessions/", token, None)
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn end_session(app: &TestApp, token: &str, id: &str) -> Response {
    app.send_as(
        Method::DELETE,
        &format!("/users/me/sessions/{id}/"),
        token,
        None,
    )
    .await
}

#[tokio::test]
async fn the_list_shows_each_login_newest_first_and_marks_the_current_one() {
    let app = spawn_app().await;
    let (_, first) = app.register("cook@example.com").await;
    let phone = login_as(&app, "cook@example.com", "RayversKitchen/2.3 (iPhone)").await;
    let res = app
        .send_as(Method::GET, "/users/me/sessions", &phone, None)
        .await;
    let text = res.text().await.unwrap();
    assert!(
        !text.contains(&phone) && !text.contains(&first),
        "a token in {text}"
    );
    let list: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(list.len(), 2);
    let keys: Vec<&str> = list[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["id", "created", "last_used", "user_agent", "current"]
    );
    assert_eq!(list[0]["user_agent"], "RayversKitchen/2.3 (iPhone)");
    assert_eq!(list[0]["current"], true);
    assert_eq!(list[1]["current"], false);
    assert!(list[0]["id"].as_i64().unwrap() > list[1]["id"].as_i64().unwrap());
    assert_eq!(list[1]["created"], "2026-11-24T12:00:00.000000Z");
    for session in &list {
        let last_used = &session["last_used"];
        assert!(last_used.is_null() || last_used.as_str().unwrap().ends_with('Z'));
    }
}

#[tokio::test]
async fn an_ended_session_stops_working_and_the_others_carry_on() {
    let app = spawn_app().await;
    let (_, laptop) = app.register("cook@example.com").await;
    let phone = login_as(&app, "cook@example.com", "phone").await;
    let list = sessions(&app, &laptop).await;
    let phone_id = list.iter().find(|s| s["user_agent"] == "phone").unwrap()["id"].to_string();
    let res = end_session(&app, &laptop, &phone_id).await;
    assert_eq!(res.status(), 204);
    assert!(res.bytes().await.unwrap().is_empty());
    assert_eq!(app.get_me(&phone).await.status(), 401);
    assert_eq!(app.get_me(&laptop).await.status(), 200);
    assert_eq!(sessions(&app, &laptop).await.len(), 1);
    assert_json(
        end_session(&app, &laptop, &phone_id).await,
        404,
        json!({"detail": "Not found."}),
    )
    .await;
}

#[tokio::test]
async fn ending_the_current_session_is_a_logout() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let id = sessions(&app, &token).await[0]["id"].to_string();
    assert_eq!(end_session(&app, &token, &id).await.status(), 204);
    assert_eq!(app.get_me(&token).await.status(), 401);
}

#[tokio::test]
async fn someone_elses_session_id_is_not_found_and_their_session_lives_on() {
    let app = spawn_app().await;
    let (_, alice) = app.register("alice@example.com").await;
    let (_, bob) = app.register("bob@example.com").await;
    let bob_session = sessions(&app, &bob).await[0]["id"].to_string();
    assert_json(
        end_session(&app, &alice, &bob_session).await,
        404,
        json!({"detail": "Not found."}),
    )
    .await;
    assert_eq!(app.get_me(&bob).await.status(), 200);
    let alice_list = sessions(&app, &alice).await;
    assert_eq!(alice_list.len(), 1);
    assert_ne!(alice_list[0]["id"].to_string(), bob_session);
}

#[tokio::test]
async fn unknown_and_malformed_session_ids_are_not_found() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    for id in [
        "999999",
        "0",
        "-1",
        "1.5",
        "abc",
        "99999999999999999999999999",
        "1%20OR%201=1",
        "%00",
        "%FF",
    ] {
        let res = end_session(&app, &token, id).await;
        assert_json(res, 404, json!({"detail": "Not found."})).await;
    }
    assert_eq!(app.get_me(&token).await.status(), 200);
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_caller_and_no_one_elses() {
    let app = spawn_app().await;
    let (_, first) = app.register("alice@example.com").await;
    let second = app.login("alice@example.com", GOOD_PASSWORD).await;
    let (_, bob) = app.register("bob@example.com").await;
    let res = app
        .send_as(Method::POST, "/logout/all/", &first, None)
        .await;
    assert_json(res, 200, json!({"detail": "Logged out of all sessions."})).await;
    assert_eq!(app.get_me(&first).await.status(), 401);
    assert_eq!(app.get_me(&second).await.status(), 401);
    assert_eq!(app.get_me(&bob).await.status(), 200);
    app.login("alice@example.com", GOOD_PASSWORD).await;
}

#[tokio::test]
async fn every_session_endpoint_needs_a_valid_token() {
    let app = spawn_app().await;
    let not_provided = json!({"detail": "Authentication credentials were not provided."});
    for (method, path) in [
        (Method::GET, "/users/me/sessions/"),
        (Method::DELETE, "/users/me/sessions/1/"),
        (Method::POST, "/logout/all/"),
    ] {
        let res = app.request(method.clone(), path).send().await.unwrap();
        assert_eq!(res.headers()["www-authenticate"], "Token");
        assert_json(res, 401, not_provided.clone()).await;
        let res = app.send_as(method, path, &"A".repeat(43), None).await;
        assert_json(res, 401, json!({"detail": "Invalid token."})).await;
    }
}

#[tokio::test]
async fn a_session_is_ended_with_delete_only() {
    let app = spawn_app().await;
    let (_, token) = app.register("cook@example.com").await;
    let res = app
        .send_as(Method::GET, "/users/me/sessions/1/", &token, None)
        .await;
    assert_eq!(res.headers()["allow"], "DELETE");
    assert_json(res, 405, json!({"detail": "Method \"GET\" not allowed."})).await;
}
