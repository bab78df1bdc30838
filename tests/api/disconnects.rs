//! A write's consequences do not depend on the client staying connected: a client that sends a
//! revoking request and hangs up at once (a raw socket reset right after the request) still
//! gets the revocation everywhere — in this server's session cache and in another server's on
//! the same database — and its security event.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::helpers::{GOOD_PASSWORD, TestApp, spawn_app};

/// Sends `method path` with `body` and `token`, then resets the connection without reading.
async fn send_and_hang_up(app: &TestApp, method: &str, path: &str, token: &str, body: &Value) {
    let body = body.to_string();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Token {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        app.addr,
        body.len()
    );
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    // A reset, not an orderly close: the server sees the connection fail while it handles the
    // request, as when a phone loses its network. (Deprecated for the blocking close a
    // non-zero linger causes; a zero linger closes at once.)
    #[allow(deprecated)]
    stream.set_linger(Some(Duration::ZERO)).unwrap();
    drop(stream);
}

/// Waits (up to 5 s, the test clock standing still so no cache TTL helps) for `token` to be
/// refused by `app`.
async fn refused_soon(app: &TestApp, token: &str) -> bool {
    for _ in 0..100 {
        if app.get_me(token).await.status() == 401 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn event_kinds(app: &TestApp) -> Vec<String> {
    let sql = "SELECT kind FROM security_events ORDER BY id";
    match &app.db {
        kitchen_api::db::Db::Sqlite(pools) => sqlx::query_scalar(sql)
            .fetch_all(pools.read())
            .await
            .unwrap(),
        kitchen_api::db::Db::Postgres(pool) => {
            sqlx::query_scalar(sql).fetch_all(pool).await.unwrap()
        }
    }
}

/// One revoking request, sent and abandoned; `victim` is the token that must stop working.
struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    body: Value,
    /// The token that sends it.
    sender: String,
    victim: String,
    event: &'static str,
}

async fn cases(app: &TestApp) -> Vec<Case> {
    let mut cases = Vec::new();
    let (_, token) = app.register("logout@example.com").await;
    cases.push(Case {
        name: "logout",
        method: "POST",
        path: "/logout/".into(),
        body: json!({}),
        sender: token.clone(),
        victim: token,
        event: "logged_out",
    });
    let (_, first) = app.register("all@example.com").await;
    let second = app.login("all@example.com", GOOD_PASSWORD).await;
    cases.push(Case {
        name: "logout everywhere",
        method: "POST",
        path: "/logout/all/".into(),
        body: json!({}),
        sender: first,
        victim: second,
        event: "tokens_revoked",
    });
    let (_, first) = app.register("session@example.com").await;
    let second = app.login("session@example.com", GOOD_PASSWORD).await;
    let listed: Value = app
        .request(reqwest::Method::GET, "/users/me/sessions/")
        .header("Authorization", format!("Token {first}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let other = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .clone();
    cases.push(Case {
        name: "session delete",
        method: "DELETE",
        path: format!("/users/me/sessions/{other}/"),
        body: json!({}),
        sender: first,
        victim: second,
        event: "tokens_revoked",
    });
    let (_, first) = app.register("password@example.com").await;
    let second = app.login("password@example.com", GOOD_PASSWORD).await;
    cases.push(Case {
        name: "password change",
        method: "POST",
        path: "/users/change/password/".into(),
        body: json!({
            "old_password": GOOD_PASSWORD,
            "new_password": "a brand new kitchen secret",
            "confirm_new_password": "a brand new kitchen secret",
        }),
        sender: first,
        victim: second,
        event: "password_changed",
    });
    let (admin_id, admin) = app.register("admin@example.com").await;
    app.execute(&format!(
        "UPDATE users SET is_staff = TRUE, is_superuser = TRUE WHERE id = {admin_id}"
    ))
    .await;
    let (cook_id, cook) = app.register("cook@example.com").await;
    cases.push(Case {
        name: "staff deactivation",
        method: "PATCH",
        path: format!("/users/{cook_id}/"),
        body: json!({"is_active": false}),
        sender: admin,
        victim: cook,
        event: "staff_updated_user",
    });
    cases
}

#[tokio::test]
async fn a_revocation_sticks_everywhere_when_the_client_hangs_up_at_once() {
    let app = spawn_app().await;
    let peer = app.spawn_peer(|_| {}).await;
    for case in cases(&app).await {
        // Both servers have the victim's session cached.
        for server in [&app, &peer] {
            assert_eq!(server.get_me(&case.victim).await.status(), 200);
        }
        let events_before = event_kinds(&app).await.len();
        send_and_hang_up(&app, case.method, &case.path, &case.sender, &case.body).await;
        assert!(
            refused_soon(&app, &case.victim).await,
            "{}: the revoked token still works on the server that took the request",
            case.name
        );
        assert!(
            refused_soon(&peer, &case.victim).await,
            "{}: the revoked token still works on the other server",
            case.name
        );
        let events = event_kinds(&app).await;
        assert!(
            events[events_before..].iter().any(|k| k == case.event),
            "{}: no {} event after {events:?}",
            case.name,
            case.event
        );
    }
}
