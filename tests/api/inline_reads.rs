//! The session lookup that runs on the request's own thread on SQLite (`db::inline_reads`): it
//! is the one that answers there, it answers exactly like the pool, and where it cannot read a
//! row it hands the lookup to the pool instead of answering differently.

use reqwest::Method;
use serde_json::{Value, json};

use crate::binary::Server;
use crate::helpers::{scratch_database, spawn_app_with};

fn on_sqlite() -> bool {
    std::env::var("TEST_DATABASE_URL").map_or(true, |u| u.is_empty())
}

/// The `kitchen_api_session_lookups_total` samples of a metrics page, by `via`.
fn lookups(page: &str, via: &str) -> f64 {
    let prefix = format!("kitchen_api_session_lookups_total{{via=\"{via}\"}} ");
    page.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// Registers an account on a running binary, reads the profile `reads` times with its token,
/// and returns the server's metrics page.
async fn register_read_and_scrape(server: &Server, reads: usize) -> String {
    let client = reqwest::Client::new();
    let base = &server.base;
    let token = server.register("inline@example.com").await;
    for _ in 0..reads {
        assert_eq!(server.get_me(&token).await.status(), 200);
    }
    // Well-formed but unknown: looked up, not found.
    assert_eq!(server.get_me(&"A".repeat(43)).await.status(), 401);
    client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn on_sqlite_session_lookups_run_inline_unless_turned_off() {
    // The cache is off so that every request looks its token up.
    let (url, _scratch) = scratch_database().await;
    let server = Server::start(&url, &[("KITCHEN_API_AUTH_CACHE_TTL_MS", "0")]);
    let page = register_read_and_scrape(&server, 3).await;
    drop(server);
    // Three reads with the token and one with an unknown token: four lookups.
    if on_sqlite() {
        assert_eq!(lookups(&page, "inline"), 4.0, "{page}");
        assert_eq!(lookups(&page, "pool"), 0.0, "{page}");
    } else {
        assert_eq!(lookups(&page, "inline"), 0.0, "{page}");
        assert_eq!(lookups(&page, "pool"), 4.0, "{page}");
    }

    let (url, _scratch) = scratch_database().await;
    let server = Server::start(
        &url,
        &[
            ("KITCHEN_API_AUTH_CACHE_TTL_MS", "0"),
            ("KITCHEN_API_SQLITE_INLINE_READS", "false"),
        ],
    );
    let page = register_read_and_scrape(&server, 3).await;
    assert_eq!(lookups(&page, "inline"), 0.0, "{page}");
    assert_eq!(lookups(&page, "pool"), 4.0, "{page}");
}

#[tokio::test]
async fn inline_and_pool_lookups_give_the_same_answers() {
    let inline = spawn_app_with(|c| c.auth_cache_ttl_ms = 0).await;
    let pool = inline
        .spawn_peer(|c| {
            c.auth_cache_ttl_ms = 0;
            c.sqlite_inline_reads = false;
        })
        .await;
    let (_, token) = inline.register("Full.Profile@Example.com").await;
    let profile = json!({
        "name": "Ada \u{1F373} O'Brien; DROP TABLE users;--",
        "date_of_birth": "1990-02-28",
        "bio": "Line one\nline two \u{00E9}\u{0301}",
        "phone_number": "+14155552671",
        "profile_picture": "https://cdn.example.com/a.png",
    });
    let res = inline.update_me(Method::PATCH, &token, &profile).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    inline
        .execute("UPDATE users SET is_staff = TRUE, email_verified = TRUE")
        .await;

    let a: Value = inline.get_me(&token).await.json().await.unwrap();
    let b: Value = pool.get_me(&token).await.json().await.unwrap();
    assert_eq!(a, b);
    assert_eq!(a["name"], profile["name"]);
    assert_eq!(a["date_of_birth"], "1990-02-28");
    assert_eq!(a["is_staff"], true);
    assert_eq!(a["email_verified"], true);

    // The same refusals: an unknown token, a deactivated account.
    for app in [&inline, &pool] {
        assert_eq!(app.get_me("not-a-token").await.status(), 401);
    }
    inline.execute("UPDATE users SET is_active = FALSE").await;
    for app in [&inline, &pool] {
        let res = app.get_me(&token).await;
        assert_eq!(res.status(), 401);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body, json!({"detail": "User inactive or deleted."}));
    }
}

#[tokio::test]
async fn a_row_the_inline_path_cannot_read_is_answered_by_the_pool() {
    let app = spawn_app_with(|c| c.auth_cache_ttl_ms = 0).await;
    let (_, token) = app.register("legacy@example.com").await;
    // A creation time written by something other than this service, in a spelling sqlx reads
    // and the inline path does not (space instead of `T`, no offset).
    let now = app.clock.now_for_tests().format("%F %T%.f").to_string();
    app.execute(&format!("UPDATE tokens SET created_at = '{now}'"))
        .await;
    let res = app.get_me(&token).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["email"], "legacy@example.com");
}
