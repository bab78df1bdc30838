//! What slow or greedy clients can hold: the cap on open connections and the deadline for
//! request headers, over raw TCP so the test controls every byte.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::spawn_app_with;

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// Reads until the end of one response's headers (or EOF) and returns what came.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// Whether the server closes `stream` (EOF or reset) within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // A 408 or any other answer before closing is fine; keep reading.
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let app = spawn_app_with(|c| c.header_read_timeout_ms = 300).await;
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: loc")
        .await
        .unwrap();
    assert!(
        closed_within(&mut slow, Duration::from_secs(10)).await,
        "a half-sent request head must not hold its connection forever"
    );
    // Everyone else is served as usual.
    let res = app
        .request(reqwest::Method::GET, "/healthz")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let app = spawn_app_with(|c| c.header_read_timeout_ms = 300).await;
    let mut conn = TcpStream::connect(app.addr).await.unwrap();
    conn.write_all(HEALTHZ).await.unwrap();
    assert!(read_head(&mut conn).await.starts_with("HTTP/1.1 200"));
    assert!(closed_within(&mut conn, Duration::from_secs(10)).await);
}

#[tokio::test]
async fn a_connection_beyond_the_cap_waits_until_another_closes() {
    let app = spawn_app_with(|c| c.max_connections = 2).await;
    // Two keep-alive connections, each answered once and then left open.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut conn = TcpStream::connect(app.addr).await.unwrap();
        conn.write_all(HEALTHZ).await.unwrap();
        assert!(read_head(&mut conn).await.starts_with("HTTP/1.1 200"));
        held.push(conn);
    }
    // The third connects (the kernel's backlog takes it) but is not served while both are open.
    let mut third = TcpStream::connect(app.addr).await.unwrap();
    third.write_all(HEALTHZ).await.unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "a third connection was served beyond the cap of 2"
    );
    // Once one of the first two goes away, the third is answered.
    drop(held.pop());
    let head = tokio::time::timeout(Duration::from_secs(10), read_head(&mut third))
        .await
        .expect("the waiting connection was never served");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

#[tokio::test]
async fn zero_connections_or_a_zero_header_timeout_are_refused_at_start() {
    for configure in [
        (|c: &mut kitchen_api::config::Config| c.max_connections = 0) as fn(&mut _),
        |c| c.header_read_timeout_ms = 0,
    ] {
        let mut config = kitchen_api::config::Config::default();
        configure(&mut config);
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.contains("KITCHEN_API_MAX_CONNECTIONS")
                || err.contains("KITCHEN_API_HEADER_READ_TIMEOUT_MS"),
            "{err}"
        );
    }
}
