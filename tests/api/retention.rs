//! The periodic purge of throttle counters and security events, driven directly through
//! `maintenance::purge_old_records` with the server's fixed clock.

use chrono::TimeDelta;
use kitchen_api::config::Config;
use kitchen_api::maintenance::{PURGE_CHUNK, purge_old_records};
use serde_json::json;

use crate::code_mail_limits;
use crate::helpers::{TestApp, spawn_app_with};

/// Starts a server with `configure`, and returns it with the settings it runs with.
async fn spawn_with_config(configure: impl FnOnce(&mut Config)) -> (TestApp, Config) {
    let mut settings = None;
    let app = spawn_app_with(|c| {
        configure(c);
        settings = Some(c.clone());
    })
    .await;
    (app, settings.unwrap())
}

fn rows(dump: &str) -> usize {
    dump.lines().filter(|l| !l.trim().is_empty()).count()
}

async fn failed_login(app: &TestApp, email: &str) {
    let body = json!({"email": email, "password": "not the password"});
    assert_eq!(app.post_json("/token/", &body).await.status(), 400);
}

async fn reset_from(app: &TestApp, email: &str, client: &str) {
    assert_eq!(code_mail_limits::reset_from(app, email, client).await, 200);
}

fn advance(app: &TestApp, by: TimeDelta) {
    app.clock.set(app.clock.now_for_tests() + by);
}

#[tokio::test]
async fn throttle_counters_past_their_window_are_purged_and_live_ones_kept() {
    let (app, config) = spawn_with_config(code_mail_limits::code_mail_limits(5, 10)).await;
    failed_login(&app, "old@example.com").await;
    reset_from(&app, "old@example.com", "198.51.100.1").await;
    assert_eq!(rows(&app.dump_table("throttle").await), 4);
    // Within the login counters' day, nothing goes.
    advance(&app, TimeDelta::hours(20));
    let purged = purge_old_records(&app.db, &config, app.clock.now_for_tests())
        .await
        .unwrap();
    assert_eq!(purged.throttle_rows, 0);

    advance(&app, TimeDelta::days(2));
    reset_from(&app, "new@example.com", "198.51.100.2").await;
    let purged = purge_old_records(&app.db, &config, app.clock.now_for_tests())
        .await
        .unwrap();
    assert_eq!(purged.throttle_rows, 4);
    let left = app.dump_table("throttle").await;
    assert_eq!(rows(&left), 2, "{left}");
    assert!(left.contains("code-mail-ip:198.51.100.2"), "{left}");
    assert!(!left.contains("198.51.100.1"), "{left}");
}

#[tokio::test]
async fn security_events_older_than_the_retention_are_purged_in_chunks() {
    let (app, config) = spawn_with_config(|c| c.security_event_retention_days = 30).await;
    failed_login(&app, "old@example.com").await;
    // A backlog of more than two chunks, older still.
    let backlog = 2 * PURGE_CHUNK + 500;
    app.execute(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {backlog}) \
         INSERT INTO security_events (at, kind) \
         SELECT '2025-01-01T00:00:00+00:00', 'login_failed' FROM n"
    ))
    .await;
    advance(&app, TimeDelta::days(29));
    failed_login(&app, "recent@example.com").await;
    advance(&app, TimeDelta::days(2));
    failed_login(&app, "new@example.com").await;
    let total = rows(&app.dump_table("security_events").await);
    assert_eq!(total, backlog as usize + 3);

    // Retention 0 keeps everything.
    let forever = Config {
        security_event_retention_days: 0,
        ..config.clone()
    };
    let purged = purge_old_records(&app.db, &forever, app.clock.now_for_tests())
        .await
        .unwrap();
    assert_eq!(purged.security_events, 0);

    let purged = purge_old_records(&app.db, &config, app.clock.now_for_tests())
        .await
        .unwrap();
    assert_eq!(purged.security_events, backlog as u64 + 1);
    let left = app.dump_table("security_events").await;
    assert_eq!(rows(&left), 2, "{left}");
    assert!(left.contains("recent@example.com") && left.contains("new@example.com"));
}

#[tokio::test]
async fn devices_not_seen_within_the_retention_are_forgotten() {
    let (app, config) = spawn_with_config(|c| c.security_event_retention_days = 30).await;
    app.register("old@example.com").await;
    advance(&app, TimeDelta::days(20));
    app.register("recent@example.com").await;
    advance(&app, TimeDelta::days(11));
    let now = app.clock.now_for_tests();
    let forever = Config {
        security_event_retention_days: 0,
        ..config.clone()
    };
    let purged = purge_old_records(&app.db, &forever, now).await.unwrap();
    assert_eq!(purged.known_devices, 0, "retention 0 keeps them");
    let purged = purge_old_records(&app.db, &config, now).await.unwrap();
    assert_eq!(purged.known_devices, 1);
    let left = app
        .scalar_i64(
            "SELECT count(*) FROM known_devices d JOIN users u ON u.id = d.user_id \
             WHERE u.email = 'recent@example.com'",
        )
        .await;
    assert_eq!((rows(&app.dump_table("known_devices").await), left), (1, 1));
}

#[tokio::test]
async fn the_retention_setting_defaults_to_a_year_and_refuses_absurd_values() {
    assert_eq!(Config::default().security_event_retention_days, 365);
    let too_long = Config {
        security_event_retention_days: 36_501,
        ..Config::default()
    };
    let error = too_long.validate().unwrap_err().to_string();
    assert!(
        error.contains("KITCHEN_API_SECURITY_EVENT_RETENTION_DAYS"),
        "{error}"
    );
}

#[tokio::test]
async fn expired_mfa_challenges_and_passkey_ceremonies_are_purged_and_live_ones_kept() {
    let (app, config) = spawn_with_config(|_| {}).await;
    crate::totp::with_totp(&app, "cook@example.com").await;
    crate::totp::start_login(&app, "cook@example.com").await;
    let begun = app.post_json("/token/passkey/options/", &json!({})).await;
    assert_eq!(begun.status(), 200);
    let now = app.clock.now_for_tests();
    let purged = purge_old_records(&app.db, &config, now).await.unwrap();
    assert_eq!(
        (purged.mfa_challenges, purged.ceremonies),
        (0, 0),
        "both live"
    );
    advance(&app, TimeDelta::minutes(6));
    let now = app.clock.now_for_tests();
    let purged = purge_old_records(&app.db, &config, now).await.unwrap();
    assert_eq!((purged.mfa_challenges, purged.ceremonies), (1, 1));
    assert_eq!(rows(&app.dump_table("mfa_challenges").await), 0);
    assert_eq!(rows(&app.dump_table("webauthn_ceremonies").await), 0);
}

#[tokio::test]
async fn console_sessions_past_their_idle_timeout_are_purged() {
    let (app, config) = spawn_with_config(|c| c.console_idle_minutes = 30).await;
    crate::console::staff_member(&app, "support@example.com", "is_staff = TRUE").await;
    let mut console = crate::console::Console::new(&app);
    let res = console
        .sign_in("support@example.com", crate::helpers::GOOD_PASSWORD)
        .await;
    assert_eq!(res.status(), 303);
    let now = app.clock.now_for_tests();
    let purged = purge_old_records(&app.db, &config, now).await.unwrap();
    assert_eq!(purged.console_sessions, 0, "live");
    advance(&app, TimeDelta::minutes(31));
    let now = app.clock.now_for_tests();
    let purged = purge_old_records(&app.db, &config, now).await.unwrap();
    assert_eq!(purged.console_sessions, 1);
    assert_eq!(rows(&app.dump_table("console_sessions").await), 0);
}
