//! Response headers, CORS, request deadlines and panics.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kitchen_api::app::Application;
use kitchen_api::auth::Clock;
use kitchen_api::state::Overrides;
use reqwest::{Method, Response};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{
    GOOD_PASSWORD, assert_json, scratch_database, spawn_app, spawn_app_with, test_config,
};

fn assert_hardened(res: &Response, cacheable: bool) {
    let h = res.headers();
    assert_eq!(h["x-content-type-options"], "nosniff", "{}", res.url());
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert!(h.get("server").is_none(), "no version banner");
    if cacheable {
        assert!(h.get("cache-control").is_none_or(|v| v != "no-store"));
    } else {
        assert_eq!(h["cache-control"], "no-store", "{}", res.url());
    }
}

#[tokio::test]
async fn every_api_answer_is_no_store_and_nosniff_without_a_server_banner() {
    let app = spawn_app().await;
    let registered = app
        .post_json(
            "/users/",
            &json!({"email": "h@example.com", "password": GOOD_PASSWORD}),
        )
        .await;
    assert_hardened(&registered, false);
    let token = app.login("h@example.com", GOOD_PASSWORD).await;
    let answers = [
        app.get_me(&token).await,
        app.post_json("/token/", &json!({})).await,
        app.request(Method::GET, "/users/me/").send().await.unwrap(),
        app.request(Method::GET, "/nope").send().await.unwrap(),
        app.request(Method::DELETE, "/token/").send().await.unwrap(),
        app.request(Method::GET, "/openapi.json")
            .send()
            .await
            .unwrap(),
    ];
    for res in &answers {
        assert_hardened(res, false);
    }
    let docs = app.request(Method::GET, "/docs/").send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert_hardened(&docs, true);
}

#[tokio::test]
async fn without_configured_origins_there_are_no_cors_headers() {
    let app = spawn_app().await;
    let res = app
        .request(Method::GET, "/users/me/")
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn cors_answers_preflights_for_allowed_origins_only() {
    let app = spawn_app_with(|c| c.cors_origins = vec!["https://app.example.com".into()]).await;
    let preflight = |origin: &'static str| {
        app.request(Method::OPTIONS, "/users/me/")
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "PUT")
            .header(
                "Access-Control-Request-Headers",
                "authorization,content-type",
            )
            .send()
    };
    let res = preflight("https://app.example.com").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let methods = res.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(methods.contains("PUT"), "{methods}");
    let res = preflight("https://evil.example").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_request_whose_body_never_arrives_gets_503_at_the_deadline() {
    let app = spawn_app_with(|c| c.request_timeout_ms = 300).await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = "POST /users/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 1024];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            answer.extend_from_slice(&buf[..n]);
            if n == 0 || String::from_utf8_lossy(&answer).contains("unavailable") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within 10 s");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(
        text.contains(r#"{"detail":"Service temporarily unavailable."}"#),
        "{text}"
    );
}

/// A clock that panics when told to: a real panic inside request handling.
struct PanickyClock(AtomicBool);

impl Clock for PanickyClock {
    fn now(&self) -> DateTime<Utc> {
        assert!(!self.0.load(Ordering::SeqCst), "injected panic");
        Utc::now()
    }
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_json_and_the_server_lives_on() {
    let (url, _scratch) = scratch_database().await;
    let clock = Arc::new(PanickyClock(AtomicBool::new(false)));
    let mut config = test_config(&url);
    config.argon2_memory_kib = 64;
    config.argon2_iterations = 1;
    let app = Application::build_with(
        config,
        Overrides {
            clock: Some(clock.clone()),
            ..Overrides::default()
        },
    )
    .await
    .unwrap();
    let addr = app.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        rx.await.ok();
    }));
    let client = reqwest::Client::new();
    let register = || {
        client
            .post(format!("http://{addr}/users/"))
            .json(&json!({"email": "p@example.com", "password": GOOD_PASSWORD}))
            .send()
    };

    let panics_counted = || async {
        let page = client
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        page.lines()
            .filter(|l| {
                l.starts_with("kitchen_api_http_requests_total{")
                    && l.contains(r#"method="POST""#)
                    && l.contains(r#"route="/users""#)
                    && l.contains(r#"status="500""#)
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let counted_before = panics_counted().await;

    clock.0.store(true, Ordering::SeqCst);
    let res = register().await.unwrap();
    assert_hardened(&res, false);
    assert_json(res, 500, json!({"detail": "A server error occurred."})).await;

    clock.0.store(false, Ordering::SeqCst);
    assert!(
        panics_counted().await > counted_before,
        "the panic's 500 is in the request metrics"
    );
    assert_eq!(
        register().await.unwrap().status(),
        201,
        "the server lives on"
    );
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn every_answer_has_a_request_id_unique_to_it_and_a_clients_own_is_kept() {
    let app = spawn_app().await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let res = app.request(Method::GET, "/healthz").send().await.unwrap();
        let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(id.len() >= 18, "{id}");
        assert!(seen.insert(id), "a request id was given twice");
    }
    let res = app
        .request(Method::GET, "/healthz")
        .header("X-Request-Id", "from-the-app-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "from-the-app-42");
}

#[tokio::test]
async fn a_clients_request_id_is_kept_only_when_short_and_plain() {
    let app = spawn_app().await;
    let echoed = |id: reqwest::header::HeaderValue| {
        let request = app
            .request(Method::GET, "/healthz")
            .header("X-Request-Id", id);
        async move {
            let res = request.send().await.unwrap();
            assert_eq!(res.status(), 200);
            let all: Vec<_> = res.headers().get_all("x-request-id").iter().collect();
            assert_eq!(all.len(), 1, "one id");
            all[0].to_str().unwrap().to_owned()
        }
    };
    let uuid = "3f9c2a41-d07b-4e66-9a2b-1c2d3e4f5a6b".to_owned();
    for kept in [uuid, "a.b:c_d-E".to_owned(), "x".repeat(128)] {
        let id = reqwest::header::HeaderValue::from_str(&kept).unwrap();
        assert_eq!(echoed(id).await, kept);
    }
    let fresh = app.request(Method::GET, "/healthz").send().await.unwrap();
    // This process's own ids: its random prefix, then a counter.
    let prefix = fresh.headers()["x-request-id"].to_str().unwrap()[..17].to_owned();
    for refused in [
        "x".repeat(129).into_bytes(),
        b"two words".to_vec(),
        b"say \"hi\"".to_vec(),
        b"forged\\nlevel=error msg=pwned".to_vec(),
        b"line%0d%0abreak".to_vec(),
        "caf\u{e9}".as_bytes().to_vec(),
        b"".to_vec(),
    ] {
        let id = reqwest::header::HeaderValue::from_bytes(&refused).unwrap();
        let got = echoed(id).await;
        assert!(
            got.starts_with(&prefix) && got.len() <= 33,
            "{:?} replaced by a new id, got {got:?}",
            String::from_utf8_lossy(&refused)
        );
    }
}
