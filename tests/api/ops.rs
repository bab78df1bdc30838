//! `/healthz`, `/readyz` and `/metrics`. The metrics recorder is one per process and every test
//! here shares it, so counters are compared before and after, never to exact values.

use std::collections::BTreeMap;

use reqwest::{Method, Response};
use serde_json::json;

use crate::helpers::{GOOD_PASSWORD, TestApp, assert_json, scratch_database, spawn_app_with};

/// Builds and serves an app from `config` without the test helpers' overrides.
async fn serve(config: kitchen_api::config::Config) -> (String, tokio::sync::oneshot::Sender<()>) {
    let app = kitchen_api::app::Application::build(kitchen_api::config::Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        argon2_memory_kib: 64,
        argon2_iterations: 1,
        mfa_key: Some(crate::helpers::test_mfa_key().parse().unwrap()),
        ..config
    })
    .await
    .unwrap();
    let base = format!("http://{}", app.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        rx.await.ok();
    }));
    (base, tx)
}

async fn get(url: &str) -> Response {
    reqwest::get(url).await.unwrap()
}

#[tokio::test]
async fn healthz_and_readyz_are_200_on_a_healthy_app_and_never_cached() {
    let app = crate::helpers::spawn_app().await;
    for (path, status) in [
        ("/healthz", "ok"),
        ("/readyz", "ready"),
        ("/readyz/", "ready"),
    ] {
        let res = app.request(Method::GET, path).send().await.unwrap();
        assert_eq!(res.headers()["cache-control"], "no-store", "{path}");
        assert_json(res, 200, json!({ "status": status })).await;
    }
}

#[tokio::test]
async fn probes_ignore_credentials_and_the_login_throttle() {
    let app = spawn_app_with(|c| {
        c.login_account_free_failures = 1;
        c.login_address_free_failures = 1;
    })
    .await;
    for _ in 0..3 {
        app.post_json(
            "/token/",
            &json!({"email": "x@example.com", "password": "nope"}),
        )
        .await;
    }
    for path in ["/healthz", "/readyz", "/metrics"] {
        let res = app
            .request(Method::GET, path)
            .header("Authorization", "Token not-a-real-token")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn readyz_is_503_naming_the_database_when_it_is_unreachable() {
    let (base, _stop) = serve(kitchen_api::config::Config {
        database_url: "postgres://kitchen@127.0.0.1:9/none".into(),
        migrate_on_start: false,
        db_acquire_timeout_secs: 1,
        ..Default::default()
    })
    .await;
    assert_json(
        get(&format!("{base}/healthz")).await,
        200,
        json!({"status": "ok"}),
    )
    .await;
    let res = get(&format!("{base}/readyz")).await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_json(
        res,
        503,
        json!({"detail": "Service temporarily unavailable.", "failed_check": "database"}),
    )
    .await;
}

#[tokio::test]
async fn readyz_is_503_naming_the_migrations_until_they_are_applied() {
    let (url, _scratch) = scratch_database().await;
    let (base, _stop) = serve(kitchen_api::config::Config {
        database_url: url.clone(),
        migrate_on_start: false,
        ..Default::default()
    })
    .await;
    assert_json(
        get(&format!("{base}/healthz")).await,
        200,
        json!({"status": "ok"}),
    )
    .await;
    assert_json(
        get(&format!("{base}/readyz")).await,
        503,
        json!({"detail": "Service temporarily unavailable.", "failed_check": "migrations"}),
    )
    .await;

    let config = kitchen_api::config::Config {
        database_url: url,
        ..Default::default()
    };
    let db = kitchen_api::db::Db::connect(&config).await.unwrap();
    db.migrate().await.unwrap();
    assert_json(
        get(&format!("{base}/readyz")).await,
        200,
        json!({"status": "ready"}),
    )
    .await;
    db.close().await;
}

/// One sample of a Prometheus text page: its name and labels.
type Series = (String, BTreeMap<String, String>);

/// Every sample of a page (comments skipped).
fn parse(page: &str) -> Vec<(Series, f64)> {
    let mut samples = Vec::new();
    for line in page
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let labels = labels
            .split("\",")
            .filter(|l| !l.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap();
                (k.to_owned(), v.trim_matches('"').to_owned())
            })
            .collect();
        samples.push(((name.to_owned(), labels), value.parse().unwrap()));
    }
    samples
}

/// The value of the sample named `name` with (at least) these labels; 0 when absent.
pub(crate) fn value(page: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    parse(page)
        .into_iter()
        .filter(|((n, l), _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(v))
        })
        .map(|(_, v)| v)
        .sum()
}

pub(crate) async fn scrape(app: &TestApp) -> String {
    let res = app.request(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    res.text().await.unwrap()
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_logins_and_throttled_requests() {
    let app = spawn_app_with(|c| {
        c.login_account_free_failures = 3;
        c.login_address_free_failures = 100;
        c.login_base_delay_secs = 10;
    })
    .await;
    let before = scrape(&app).await;
    let (user_id, token) = app.register("metered@example.com").await;
    app.login("metered@example.com", GOOD_PASSWORD).await;
    for _ in 0..3 {
        let res = app
            .post_json(
                "/token/",
                &json!({"email": "metered@example.com", "password": "wrong 123"}),
            )
            .await;
        assert_eq!(res.status(), 400);
    }
    let res = app
        .post_json(
            "/token/",
            &json!({"email": "metered@example.com", "password": GOOD_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 429);
    assert_eq!(app.get_me(&token).await.status(), 200);
    let res = app
        .request(Method::GET, &format!("/users/{user_id}/"))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let after = scrape(&app).await;

    let grew = |name: &str, labels: &[(&str, &str)], by: f64| {
        let (was, now) = (value(&before, name, labels), value(&after, name, labels));
        assert!(now - was >= by, "{name}{labels:?}: {was} → {now}\n{after}");
    };
    let requests = "kitchen_api_http_requests_total";
    let token_route = [("method", "POST"), ("route", "/token")];
    grew(
        requests,
        &[token_route[0], token_route[1], ("status", "200")],
        1.0,
    );
    grew(
        requests,
        &[token_route[0], token_route[1], ("status", "400")],
        3.0,
    );
    grew(
        requests,
        &[token_route[0], token_route[1], ("status", "429")],
        1.0,
    );
    grew(
        requests,
        &[("method", "POST"), ("route", "/users"), ("status", "201")],
        1.0,
    );
    grew(
        requests,
        &[("method", "GET"), ("route", "/users/me"), ("status", "200")],
        1.0,
    );
    grew(
        requests,
        &[
            ("method", "GET"),
            ("route", "/users/{id}"),
            ("status", "403"),
        ],
        1.0,
    );
    grew(
        "kitchen_api_http_throttled_total",
        &[("route", "/token")],
        1.0,
    );
    grew("kitchen_api_logins_total", &[("outcome", "ok")], 1.0);
    grew("kitchen_api_logins_total", &[("outcome", "failed")], 3.0);
    grew(
        "kitchen_api_http_request_duration_seconds_count",
        &[("route", "/users/me"), ("status", "200")],
        1.0,
    );
    let buckets = value(
        &after,
        "kitchen_api_http_request_duration_seconds_bucket",
        &[("route", "/users/me"), ("le", "+Inf")],
    );
    assert!(
        buckets >= 1.0,
        "latency is a histogram with buckets:\n{after}"
    );
    // A cached read takes tens of microseconds: buckets below a millisecond show its tail.
    let sub_millisecond = after.lines().any(|line| {
        line.starts_with("kitchen_api_http_request_duration_seconds_bucket")
            && line.contains("le=\"0.00025\"")
    });
    assert!(sub_millisecond, "sub-millisecond buckets:\n{after}");
    assert!(
        !after.contains(&format!("route=\"/users/{user_id}\"")),
        "raw paths must not become labels"
    );
    for gauge in [
        "kitchen_api_hashing_queue_depth",
        "kitchen_api_hashing_in_progress",
        "kitchen_api_db_pool_idle_connections",
    ] {
        assert!(
            after.contains(&format!("\n{gauge} ")),
            "{gauge} missing:\n{after}"
        );
    }
    assert!(value(&after, "kitchen_api_db_pool_connections", &[]) >= 1.0);
    assert_eq!(
        value(&after, "kitchen_api_db_pool_max_connections", &[]),
        5.0
    );
}

#[tokio::test]
async fn unmatched_paths_share_one_series() {
    let app = crate::helpers::spawn_app().await;
    for path in ["/no/such/path-1", "/no/such/path-2"] {
        assert_eq!(
            app.request(Method::GET, path)
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
    }
    let page = scrape(&app).await;
    assert!(!page.contains("path-1"), "{page}");
    assert!(
        value(
            &page,
            "kitchen_api_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ) >= 2.0
    );
}

#[tokio::test]
async fn metrics_require_the_metrics_token_when_one_is_set() {
    let app = spawn_app_with(|c| c.metrics_token = Some("scrape-secret-42".parse().unwrap())).await;
    let res = app.request(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .request(Method::GET, "/metrics")
        .header("Authorization", "Bearer wrong")
        .send()
        .await
        .unwrap();
    assert_json(res, 401, json!({"detail": "Invalid token."})).await;
    let res = app
        .request(Method::GET, "/metrics")
        .header("Authorization", "Bearer scrape-secret-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("kitchen_api_http_requests_total")
    );
    // The probes stay open: an orchestrator does not hold the scrape token.
    let res = app.request(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn metrics_count_timed_out_requests_and_give_unknown_methods_one_label() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app_with(|c| c.request_timeout_ms = 300).await;
    let before = scrape(&app).await;

    // A body that never arrives: the deadline answers 503, and that answer is counted too.
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = "POST /users/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                Content-Length: 100\r\n\r\n{\"email\":";
    stream.write_all(head.as_bytes()).await.unwrap();
    // Any method name is a valid HTTP token; none of them may become a series of its own.
    for method in ["BREW", "PROPFIND", "X-ANYTHING-0001"] {
        let res = app
            .request(Method::from_bytes(method.as_bytes()).unwrap(), "/users/me/")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405, "{method}");
    }
    let requests = "kitchen_api_http_requests_total";
    let timed_out = [("method", "POST"), ("route", "/users"), ("status", "503")];
    // The stalled request ends 300 ms after it began: poll for its count, 5 s at most.
    let mut after = scrape(&app).await;
    for _ in 0..50 {
        if value(&after, requests, &timed_out) > value(&before, requests, &timed_out) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        after = scrape(&app).await;
    }
    drop(stream);

    assert!(
        value(&after, requests, &timed_out) > value(&before, requests, &timed_out),
        "the deadline's 503 is counted\n{after}"
    );
    let other = [
        ("method", "OTHER"),
        ("route", "/users/me"),
        ("status", "405"),
    ];
    assert!(
        value(&after, requests, &other) - value(&before, requests, &other) >= 3.0,
        "{after}"
    );
    for method in ["BREW", "PROPFIND", "X-ANYTHING-0001"] {
        assert!(!after.contains(method), "{method} became a label:\n{after}");
    }
}
