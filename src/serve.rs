//! The HTTP/1.1 accept loop: `axum::serve` has no cap on open connections and no deadline for
//! request headers, without which a few slow clients hold every socket (slowloris). On
//! shutdown it stops accepting and lets the requests in flight finish.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

use crate::linger::{LingeringStream, UnreadBody};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
}

pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept(&listener, &slots) => accepted,
        };
        let Some((slot, stream, remote)) = accepted else {
            continue;
        };
        // Small JSON answers: send them now rather than wait for more to coalesce.
        stream.set_nodelay(true).ok();
        let service = service.clone();
        let unread = UnreadBody::default();
        let stream = LingeringStream::new(stream, unread.clone());
        let per_request = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(remote));
            let req = req.map(|body| Body::new(unread.track(body)));
            service.clone().oneshot(req)
        });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), per_request));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                // Header timeouts and clients that hang up land here: routine, not an error.
                tracing::debug!(%remote, error = %e, "connection ended");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> Option<(
    tokio::sync::OwnedSemaphorePermit,
    tokio::net::TcpStream,
    SocketAddr,
)> {
    let slot = Arc::clone(slots).acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, remote)) => Some((slot, stream, remote)),
        Err(e) => {
            // ECONNABORTED and the like concern one client; EMFILE/ENFILE the whole process.
            let out_of_files = matches!(e.raw_os_error(), Some(23 | 24));
            tracing::warn!(error = %e, "accept failed");
            if out_of_files {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            None
        }
    }
}
