//! The one layer every route has, for what needs the matched route or the handler's answer:
//! the request's deadline, a panic turned into the generic 500, the session-cache
//! invalidation after a write, and the metrics. A request that may write runs on its own task,
//! so a client hanging up cannot stop what follows its commit. One layer rather than one per
//! concern: axum clones a route's layers on every request (docs/ARCHITECTURE.md).

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt as _;

use crate::auth::{announce_session_change, change_made_by, is_read};
use crate::error::ApiError;
use crate::state::AppState;

/// The middleware (installed with `from_fn_with_state` on the router).
pub async fn envelope(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = if is_read(&method) {
        handle(&state, request, next).await
    } else {
        // Detached from the connection: the task runs to its end even if this future is
        // dropped because the client went away.
        let task = tokio::spawn(handle_write(state.clone(), request, next));
        match task.await {
            Ok(response) => response,
            Err(e) => panic_response(if e.is_panic() {
                e.into_panic()
            } else {
                Box::new("the request's task was cancelled")
            }),
        }
    };
    crate::metrics::record_request(
        &method,
        route.as_ref().map(MatchedPath::as_str),
        response.status(),
        started.elapsed(),
    );
    response
}

/// A request that may write, then what must follow its commit.
async fn handle_write(state: AppState, request: Request, next: Next) -> Response {
    let response = handle(&state, request, next).await;
    announce_session_change(&state, change_made_by(&response)).await;
    response
}

/// The handler within the deadline, its panic turned into the generic 500.
async fn handle(state: &AppState, request: Request, next: Next) -> Response {
    let limit = Duration::from_millis(state.config.request_timeout_ms);
    let handled = AssertUnwindSafe(next.run(request)).catch_unwind();
    match tokio::time::timeout(limit, handled).await {
        Ok(Ok(response)) => response,
        Ok(Err(cause)) => panic_response(cause),
        Err(_) => ApiError::TimedOut.into_response(),
    }
}

/// The generic 500 for a handler that panicked; the panic's message goes to the log only.
fn panic_response(cause: Box<dyn Any + Send + 'static>) -> Response {
    let message = cause
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| cause.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    ApiError::Internal(anyhow::anyhow!("handler panicked: {message}")).into_response()
}
