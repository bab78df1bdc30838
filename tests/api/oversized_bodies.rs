//! A client that sends a whole oversized body before reading (Python's `http.client`, many
//! mobile stacks) reads the `413`, instead of a connection reset that destroys it: the server
//! keeps reading and discarding for a while after answering (a lingering close).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

use crate::helpers::spawn_app;

/// Writes `head` and `body` in full, then reads the answer to the end. Any error (a reset while
/// writing or reading) is the failure this is about, so it is returned, not unwrapped. The
/// client's send buffer is kept small, as on a slow network: otherwise the kernel buffers on
/// loopback (megabytes) would swallow the whole body before the server even answers.
pub(crate) async fn send_all_then_read(
    addr: SocketAddr,
    head: &str,
    body: &[u8],
) -> std::io::Result<String> {
    let socket = TcpSocket::new_v4()?;
    socket.set_send_buffer_size(16 * 1024)?;
    let mut stream = socket.connect(addr).await?;
    let exchange = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        stream.flush().await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok(String::from_utf8_lossy(&answer).into_owned())
    };
    tokio::time::timeout(Duration::from_secs(20), exchange)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

pub(crate) fn assert_413(answer: std::io::Result<String>, what: &str) {
    let answer = answer.unwrap_or_else(|e| panic!("{what}: the connection failed: {e}"));
    assert!(answer.starts_with("HTTP/1.1 413 "), "{what}: {answer}");
    assert!(
        answer.ends_with("{\"detail\":\"Request body too large.\"}"),
        "{what}: a complete JSON body: {answer}"
    );
}

#[tokio::test]
async fn a_client_that_sends_a_large_body_in_full_before_reading_gets_the_413() {
    let app = spawn_app().await;
    for size in [1 << 20, 3 << 20] {
        let body = vec![b'a'; size];
        let head = format!(
            "POST /users/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {size}\r\n\r\n"
        );
        let answer = send_all_then_read(app.addr, &head, &body).await;
        assert_413(answer, &format!("Content-Length {size}"));
    }
}

#[tokio::test]
async fn a_client_that_sends_a_large_chunked_body_in_full_before_reading_gets_the_413() {
    let app = spawn_app().await;
    let chunk = vec![b'a'; 64 * 1024];
    let mut body = Vec::new();
    for _ in 0..32 {
        body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        body.extend_from_slice(&chunk);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let head = "POST /token/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                Transfer-Encoding: chunked\r\n\r\n";
    let answer = send_all_then_read(app.addr, head, &body).await;
    assert_413(answer, "2 MiB chunked");
}
