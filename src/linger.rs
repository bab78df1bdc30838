//! Lingering close, as nginx does it. Closing a socket with unread data (a `413`, a `401`
//! before the body) makes the kernel send a reset, and a client that sends its whole body
//! before reading loses the answer. So such a connection, once answered, sends its end of
//! stream and discards what arrives until the client closes or a bound is reached; it keeps
//! its slot of `max_connections` meanwhile.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

pub const LINGER_FOR: Duration = Duration::from_secs(10);

pub const LINGER_BYTES: u64 = 8 * 1024 * 1024;

#[derive(Clone, Default, Debug)]
pub struct UnreadBody(Arc<AtomicBool>);

impl UnreadBody {
    pub fn track(&self, body: Incoming) -> TrackedBody {
        self.0.store(!body.is_end_stream(), Ordering::Relaxed);
        TrackedBody {
            inner: body,
            unread: self.clone(),
        }
    }

    fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

pub struct TrackedBody {
    inner: Incoming,
    unread: UnreadBody,
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if frame.is_none() || self.inner.is_end_stream() {
            self.unread.0.store(false, Ordering::Relaxed);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A connection's stream whose shutdown lingers when a request body was left unread.
pub struct LingeringStream<S> {
    inner: S,
    unread: UnreadBody,
    closing: Closing,
}

enum Closing {
    Open,
    Draining {
        deadline: Pin<Box<Sleep>>,
        discarded: u64,
    },
    Closed,
}

impl<S> LingeringStream<S> {
    pub fn new(inner: S, unread: UnreadBody) -> Self {
        Self {
            inner,
            unread,
            closing: Closing::Open,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for LingeringStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for LingeringStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            match &mut this.closing {
                Closing::Open => {
                    let shut = ready!(Pin::new(&mut this.inner).poll_shutdown(cx));
                    if shut.is_err() || !this.unread.get() {
                        this.closing = Closing::Closed;
                        return Poll::Ready(shut);
                    }
                    this.closing = Closing::Draining {
                        deadline: Box::pin(tokio::time::sleep(LINGER_FOR)),
                        discarded: 0,
                    };
                }
                Closing::Draining {
                    deadline,
                    discarded,
                } => {
                    if deadline.as_mut().poll(cx).is_ready()
                        || drain(&mut this.inner, cx, discarded).is_ready()
                    {
                        this.closing = Closing::Closed;
                    } else {
                        return Poll::Pending;
                    }
                }
                Closing::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

fn drain<S: AsyncRead + Unpin>(
    inner: &mut S,
    cx: &mut Context<'_>,
    discarded: &mut u64,
) -> Poll<()> {
    let mut scratch = [0u8; 16 * 1024];
    loop {
        let mut buf = ReadBuf::new(&mut scratch);
        match ready!(Pin::new(&mut *inner).poll_read(cx, &mut buf)) {
            Ok(()) if !buf.filled().is_empty() => {
                *discarded += buf.filled().len() as u64;
                if *discarded >= LINGER_BYTES {
                    return Poll::Ready(());
                }
            }
            // End of stream, or an error: nothing more to wait for.
            _ => return Poll::Ready(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    fn lingering(
        unread: bool,
    ) -> (
        LingeringStream<tokio::io::DuplexStream>,
        tokio::io::DuplexStream,
    ) {
        let (server, client) = duplex(64 * 1024);
        let flag = UnreadBody::default();
        flag.0.store(unread, Ordering::Relaxed);
        (LingeringStream::new(server, flag), client)
    }

    #[tokio::test(start_paused = true)]
    async fn without_an_unread_body_shutdown_is_immediate() {
        let (mut server, mut client) = lingering(false);
        let started = tokio::time::Instant::now();
        server.shutdown().await.unwrap();
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(
            client.read(&mut [0u8; 8]).await.unwrap(),
            0,
            "end of stream sent"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn with_an_unread_body_shutdown_sends_the_end_and_waits_for_the_client_to_close() {
        let (mut server, mut client) = lingering(true);
        let client_side = tokio::spawn(async move {
            assert_eq!(
                client.read(&mut [0u8; 8]).await.unwrap(),
                0,
                "end of stream first"
            );
            client.write_all(&[b'x'; 100_000]).await.unwrap();
            tokio::time::sleep(Duration::from_secs(1)).await;
            drop(client);
        });
        let started = tokio::time::Instant::now();
        server.shutdown().await.unwrap();
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(1),
            "until the client closed"
        );
        client_side.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn lingering_ends_after_its_time() {
        let (mut server, _client) = lingering(true);
        let started = tokio::time::Instant::now();
        server.shutdown().await.unwrap();
        assert_eq!(started.elapsed(), LINGER_FOR);
    }

    #[tokio::test(start_paused = true)]
    async fn lingering_ends_after_its_bytes() {
        let (mut server, mut client) = lingering(true);
        let sender = tokio::spawn(async move {
            let chunk = [b'x'; 64 * 1024];
            let mut sent = 0u64;
            while client.write_all(&chunk).await.is_ok() {
                sent += chunk.len() as u64;
            }
            sent
        });
        let started = tokio::time::Instant::now();
        server.shutdown().await.unwrap();
        assert!(started.elapsed() < LINGER_FOR);
        drop(server);
        let sent = sender.await.unwrap();
        assert!(
            (LINGER_BYTES..LINGER_BYTES + 256 * 1024).contains(&sent),
            "{sent} bytes accepted"
        );
    }
}
