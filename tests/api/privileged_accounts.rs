//! Staff members cannot act on the accounts above or beside them: a staff member's or a
//! superuser's account is a superuser's to deactivate or log out, and the last active superuser
//! stays, even when deleting themselves (at the same moment as another superuser too).

use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::{GOOD_PASSWORD, TestApp, assert_json, spawn_app};

const FORBIDDEN: &str = "You do not have permission to perform this action.";

/// Registers `email` and gives it `flags` (SQL assignments); returns (id, token).
async fn account(app: &TestApp, email: &str, flags: &str) -> (i64, String) {
    let (id, token) = app.register(email).await;
    if !flags.is_empty() {
        app.execute(&format!("UPDATE users SET {flags} WHERE id = {id}"))
            .await;
    }
    (id, token)
}

const SUPERUSER: &str = "is_superuser = TRUE, is_staff = TRUE";
const STAFF: &str = "is_staff = TRUE";

async fn deactivate(app: &TestApp, actor: &str, id: i64) -> Response {
    let body = json!({"is_active": false});
    app.send_as(Method::PATCH, &format!("/users/{id}/"), actor, Some(&body))
        .await
}

async fn revoke(app: &TestApp, actor: &str, id: i64) -> Response {
    app.send_as(
        Method::POST,
        &format!("/users/{id}/revoke-tokens/"),
        actor,
        None,
    )
    .await
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    match &app.db {
        kitchen_api::db::Db::Sqlite(pools) => sqlx::query_scalar(sql).fetch_one(pools.read()).await,
        kitchen_api::db::Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
    }
    .unwrap()
}

async fn active_superusers(app: &TestApp) -> i64 {
    scalar(
        app,
        "SELECT COUNT(*) FROM users WHERE is_superuser AND is_active",
    )
    .await
}

#[tokio::test]
async fn a_staff_member_cannot_deactivate_or_log_out_a_superuser_another_staff_member_or_themselves()
 {
    let app = spawn_app().await;
    let (staff_id, staff) = account(&app, "staff@example.com", STAFF).await;
    let (root_id, root) = account(&app, "root@example.com", SUPERUSER).await;
    let (peer_id, peer) = account(&app, "peer@example.com", STAFF).await;
    let (bare_root_id, bare_root) = account(&app, "bare@example.com", "is_superuser = TRUE").await;
    let targets = [
        (root_id, &root),
        (peer_id, &peer),
        (staff_id, &staff),
        (bare_root_id, &bare_root),
    ];
    for (id, _) in targets {
        for body in [
            json!({"is_active": false}),
            json!({"is_active": true}),
            json!({}),
        ] {
            let res = app
                .send_as(Method::PATCH, &format!("/users/{id}/"), &staff, Some(&body))
                .await;
            assert_json(res, 403, json!({"detail": FORBIDDEN})).await;
        }
        assert_json(
            revoke(&app, &staff, id).await,
            403,
            json!({"detail": FORBIDDEN}),
        )
        .await;
    }
    for (id, token) in targets {
        assert_eq!(app.get_me(token).await.status(), 200, "user {id} still in");
    }
    let inactive = scalar(&app, "SELECT COUNT(*) FROM users WHERE NOT is_active").await;
    assert_eq!(inactive, 0, "nobody was deactivated");
    let recorded = scalar(
        &app,
        "SELECT COUNT(*) FROM security_events \
         WHERE kind IN ('staff_updated_user', 'tokens_revoked')",
    )
    .await;
    assert_eq!(recorded, 0, "nothing recorded as done");

    // Ordinary accounts stay theirs to manage.
    let (user_id, user) = account(&app, "plain@example.com", "").await;
    assert_eq!(revoke(&app, &staff, user_id).await.status(), 200);
    assert_eq!(app.get_me(&user).await.status(), 401);
    assert_eq!(deactivate(&app, &staff, user_id).await.status(), 200);
}

#[tokio::test]
async fn a_superuser_may_deactivate_and_log_out_staff_and_other_superusers() {
    let app = spawn_app().await;
    let (root_id, root) = account(&app, "root@example.com", SUPERUSER).await;
    let (other_id, other) = account(&app, "other@example.com", SUPERUSER).await;
    let (staff_id, staff) = account(&app, "staff@example.com", STAFF).await;
    for (id, token) in [(staff_id, &staff), (other_id, &other)] {
        assert_json(revoke(&app, &root, id).await, 200, json!({"revoked": 1})).await;
        assert_eq!(app.get_me(token).await.status(), 401, "user {id}");
        let profile: Value = deactivate(&app, &root, id).await.json().await.unwrap();
        assert_eq!(profile["is_active"], false, "user {id}");
    }

    // Now the last active superuser: still refused its own deactivation.
    assert_json(
        deactivate(&app, &root, root_id).await,
        400,
        json!({"non_field_errors": ["The last active superuser cannot be demoted or deactivated."]}),
    )
    .await;
    assert_eq!(active_superusers(&app).await, 1);
}

const LAST_SUPERUSER: &str =
    "The last active superuser cannot delete their account; make another superuser first.";

async fn delete_me(app: &TestApp, token: &str) -> Response {
    let body = json!({"password": GOOD_PASSWORD});
    app.send_as(Method::DELETE, "/users/me/", token, Some(&body))
        .await
}

#[tokio::test]
async fn the_last_active_superuser_cannot_delete_their_account() {
    let app = spawn_app().await;
    let (root_id, root) = account(&app, "root@example.com", SUPERUSER).await;
    // An inactive superuser does not count.
    let (_, _) = account(
        &app,
        "asleep@example.com",
        "is_superuser = TRUE, is_active = FALSE",
    )
    .await;
    assert_json(
        delete_me(&app, &root).await,
        400,
        json!({"non_field_errors": [LAST_SUPERUSER]}),
    )
    .await;
    assert_eq!(app.get_me(&root).await.status(), 200, "still there");
    let deleted = scalar(
        &app,
        "SELECT COUNT(*) FROM security_events WHERE kind = 'account_deleted'",
    )
    .await;
    assert_eq!(deleted, 0, "nothing recorded as done");

    let (_, _) = account(&app, "second@example.com", SUPERUSER).await;
    assert_eq!(delete_me(&app, &root).await.status(), 204);
    let left = scalar(
        &app,
        &format!("SELECT COUNT(*) FROM users WHERE id = {root_id}"),
    )
    .await;
    assert_eq!(left, 0);
}

#[tokio::test]
async fn two_superusers_deleting_themselves_at_once_leave_one() {
    let app = spawn_app().await;
    let (_, mut survivor) = account(&app, "root0@example.com", SUPERUSER).await;
    for round in 1..=12 {
        let (_, newcomer) = account(&app, &format!("root{round}@example.com"), SUPERUSER).await;
        assert_eq!(active_superusers(&app).await, 2);
        let (a, b) = tokio::join!(delete_me(&app, &survivor), delete_me(&app, &newcomer));
        let statuses = [a.status().as_u16(), b.status().as_u16()];
        let mut sorted = statuses;
        sorted.sort_unstable();
        assert_eq!(sorted, [204, 400], "round {round}: exactly one may go");
        assert_eq!(active_superusers(&app).await, 1, "round {round}");
        if statuses[0] == 204 {
            survivor = newcomer;
        }
        assert_eq!(app.get_me(&survivor).await.status(), 200);
    }
}
