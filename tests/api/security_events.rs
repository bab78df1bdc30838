//! The security event log: what is recorded, who may read it, and that it holds no secret.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{GOOD_PASSWORD, TestApp, assert_json, spawn_app, spawn_app_with};

/// Registers `staff@example.com` and makes it staff: (id, token).
async fn register_staff(app: &TestApp) -> (i64, String) {
    let (id, token) = app.register("staff@example.com").await;
    app.execute(&format!("UPDATE users SET is_staff = TRUE WHERE id = {id}"))
        .await;
    (id, token)
}

async fn events(app: &TestApp, staff: &str, query: &str) -> Value {
    let res = app
        .request(Method::GET, &format!("/security-events/{query}"))
        .header("Authorization", format!("Token {staff}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn kinds(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn logins_logouts_and_staff_actions_are_recorded_with_who_and_where() {
    let app = spawn_app().await;
    let (staff_id, staff) = register_staff(&app).await;
    let (user_id, _) = app.register("cook@example.com").await;

    let res = app
        .post_json(
            "/token/",
            &json!({"email": "cook@example.com", "password": "wrong password!"}),
        )
        .await;
    assert_eq!(res.status(), 400);
    let res = app
        .post_json(
            "/token/",
            &json!({"email": "ghost@example.com", "password": "wrong password!"}),
        )
        .await;
    assert_eq!(res.status(), 400);
    let token = app.login("cook@example.com", GOOD_PASSWORD).await;
    let res = app
        .request(Method::POST, "/logout/")
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .request(Method::PATCH, &format!("/users/{user_id}/"))
        .header("Authorization", format!("Token {staff}"))
        .json(&json!({"is_active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let page = events(&app, &staff, &format!("?user_id={user_id}")).await;
    assert_eq!(
        kinds(&page),
        [
            "staff_updated_user",
            "logged_out",
            "login_succeeded",
            "login_failed"
        ]
    );
    let newest = &page["results"][0];
    assert_eq!(newest["actor_id"], staff_id);
    assert_eq!(newest["user_id"], user_id);
    assert_eq!(newest["ip"], "127.0.0.1");
    assert_eq!(newest["detail"], "is_active: true -> false");
    assert!(newest["at"].as_str().unwrap().ends_with('Z'));

    // The unknown address's failure is recorded too, without a user.
    let all = events(&app, &staff, "").await;
    let anonymous: Vec<&Value> = all["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["user_id"].is_null())
        .collect();
    assert_eq!(anonymous.len(), 1);
    assert_eq!(anonymous[0]["kind"], "login_failed");
    assert_eq!(anonymous[0]["detail"], "no such account: ghost@example.com");
    let known_failure = page["results"][3].clone();
    assert_eq!(known_failure["detail"], "wrong password");
}

#[tokio::test]
async fn a_failed_login_records_the_address_tried_only_when_it_is_an_address() {
    let app = spawn_app().await;
    let (_, staff) = register_staff(&app).await;
    // A password typed into the email field must not end up in the log.
    let secret = "my secret kitchen passphrase";
    let res = app
        .post_json("/token/", &json!({"email": secret, "password": "x"}))
        .await;
    assert_eq!(res.status(), 400);
    let all = events(&app, &staff, "").await;
    let text = all.to_string();
    assert!(!text.contains(secret), "{text}");
    assert_eq!(
        all["results"][0]["detail"],
        "no such account (not an email address; not recorded)"
    );
}

#[tokio::test]
async fn password_changes_and_account_deletions_are_recorded_and_outlive_the_account() {
    let app = spawn_app().await;
    let (_, staff) = register_staff(&app).await;
    let (user_id, token) = app.register("cook@example.com").await;
    let new_password = "an entirely new kitchen passphrase";
    let res = app
        .request(Method::POST, "/users/change/password/")
        .header("Authorization", format!("Token {token}"))
        .json(&json!({"old_password": GOOD_PASSWORD, "new_password": new_password, "confirm_new_password": new_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .request(Method::DELETE, "/users/me/")
        .header("Authorization", format!("Token {token}"))
        .json(&json!({"password": new_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let page = events(&app, &staff, &format!("?user_id={user_id}")).await;
    assert_eq!(kinds(&page), ["account_deleted", "password_changed"]);

    let table = app.dump_table("security_events").await;
    for secret in [GOOD_PASSWORD, new_password, token.as_str()] {
        assert!(!table.contains(secret), "a secret reached the security log");
    }
}

#[tokio::test]
async fn only_staff_read_the_log_and_bad_queries_are_clear_errors() {
    let app = spawn_app().await;
    let (_, staff) = register_staff(&app).await;
    let (_, user) = app.register("cook@example.com").await;
    let res = app
        .request(Method::GET, "/security-events/")
        .header("Authorization", format!("Token {user}"))
        .send()
        .await
        .unwrap();
    assert_json(
        res,
        403,
        json!({"detail": "You do not have permission to perform this action."}),
    )
    .await;
    let res = app
        .request(Method::GET, "/security-events/")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let bad = |q: &'static str| {
        app.request(Method::GET, &format!("/security-events/{q}"))
            .header("Authorization", format!("Token {staff}"))
            .send()
    };
    assert_json(
        bad("?user_id=abc").await.unwrap(),
        400,
        json!({"user_id": ["A valid integer is required."]}),
    )
    .await;
    assert_json(
        bad("?page=0").await.unwrap(),
        404,
        json!({"detail": "Invalid page."}),
    )
    .await;
    // Pages far past the end, up to i64::MAX (schemathesis found the offset overflowing into a
    // 500 here), are the same 404.
    for page in [
        "?page=99",
        "?page=9223372036854775806",
        "?page=9223372036854775807",
    ] {
        assert_json(
            bad(page).await.unwrap(),
            404,
            json!({"detail": "Invalid page."}),
        )
        .await;
    }
}

#[tokio::test]
async fn staff_reads_of_users_are_recorded_as_staff_actions() {
    let app = spawn_app().await;
    let (staff_id, staff) = register_staff(&app).await;
    let (user_id, _) = app.register("cook@example.com").await;
    for path in [
        "/users/?search=cook".to_owned(),
        format!("/users/{user_id}/"),
    ] {
        let res = app
            .request(Method::GET, &path)
            .header("Authorization", format!("Token {staff}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    let all = events(&app, &staff, "").await;
    let (viewed, listed) = (&all["results"][0], &all["results"][1]);
    assert_eq!(viewed["kind"], "staff_viewed_user");
    assert_eq!(viewed["user_id"], user_id);
    assert_eq!(viewed["actor_id"], staff_id);
    assert_eq!(listed["kind"], "staff_listed_users");
    assert_eq!(listed["actor_id"], staff_id);
    assert_eq!(listed["detail"], "search=\"cook\" page=1 page_size=20");
}

/// A login's token and its event are committed together: when the event cannot be stored, the
/// login fails and no token is left behind. Both ways of storing them: a user within the token
/// cap (one statement on PostgreSQL) and one at the cap (the transaction that also trims).
#[tokio::test]
async fn a_login_whose_event_cannot_be_stored_fails_and_leaves_no_token() {
    for cap in [10, 1] {
        let app = spawn_app_with(|c| c.max_tokens_per_user = cap).await;
        let (user_id, _) = app.register("cook@example.com").await;
        let before = app.stored_token_digests().await;
        app.execute("ALTER TABLE security_events RENAME TO security_events_away")
            .await;
        let credentials = json!({"email": "cook@example.com", "password": GOOD_PASSWORD});
        let res = app.post_json("/token/", &credentials).await;
        // A missing table: on PostgreSQL (42P01) the database is not in the shape the
        // migrations made, like a dropped schema, so 503; SQLite's error says nothing as
        // specific, so 500.
        let expected = match app.db {
            kitchen_api::db::Db::Postgres(_) => 503,
            kitchen_api::db::Db::Sqlite(_) => 500,
        };
        assert_eq!(res.status(), expected, "cap {cap}");
        assert_eq!(app.stored_token_digests().await, before, "cap {cap}");

        app.execute("ALTER TABLE security_events_away RENAME TO security_events")
            .await;
        let token = app.login("cook@example.com", GOOD_PASSWORD).await;
        assert_eq!(app.get_me(&token).await.status(), 200, "cap {cap}");
        let stored = app.stored_token_digests().await;
        let expected = if cap == 1 { 1 } else { before.len() + 1 };
        assert_eq!(stored.len(), expected, "cap {cap}");
        let (_, staff) = register_staff(&app).await;
        let page = events(&app, &staff, &format!("?user_id={user_id}")).await;
        assert_eq!(kinds(&page), ["login_succeeded"], "cap {cap}");
    }
}

#[tokio::test]
async fn the_log_pages_like_the_user_list_with_links_to_its_neighbours() {
    let app = spawn_app().await;
    let (staff_id, staff) = register_staff(&app).await;
    // Each listing of users is an event about the staff member's action.
    for _ in 0..101 {
        let res = app
            .request(Method::GET, "/users/")
            .header("Authorization", format!("Token {staff}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }

    let first = events(&app, &staff, "").await;
    let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["count", "next", "previous", "results"]);
    let count = first["count"].as_i64().unwrap();
    assert!(count > 100, "{count}");
    assert_eq!(first["results"].as_array().unwrap().len(), 100);
    assert_eq!(first["previous"], Value::Null);
    let base = format!("http://{}/security-events/", app.addr);
    assert_eq!(first["next"], format!("{base}?page=2"));

    let second = events(&app, &staff, "?page=2").await;
    assert_eq!(second["next"], Value::Null);
    assert_eq!(second["previous"], format!("{base}?page=1"));
    assert_eq!(
        second["results"].as_array().unwrap().len() as i64,
        count - 100
    );

    // A filter is kept in the links.
    let mine = events(&app, &staff, &format!("?user_id={staff_id}")).await;
    assert_eq!(mine["next"], Value::Null);
    assert_eq!(mine["previous"], Value::Null);
}
