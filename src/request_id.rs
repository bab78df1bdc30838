//! `X-Request-Id` for requests that come without one: a random prefix drawn once per process
//! and a counter (`3f9c2a41d07b5e66-1a2b`). Unique across processes and restarts like a UUID v4,
//! without a `getrandom` system call per request (visible in the cheap path's profile).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderValue, Request};
use rand::RngCore;
use tower_http::request_id::{MakeRequestId, RequestId};

/// Makes the ids. Cheap to clone; clones share the counter.
#[derive(Clone)]
pub struct SequentialRequestId {
    prefix: u64,
    next: Arc<AtomicU64>,
}

impl SequentialRequestId {
    pub fn new() -> Self {
        Self {
            prefix: rand::rngs::OsRng.next_u64(),
            next: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Default for SequentialRequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl MakeRequestId for SequentialRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let id = format!("{:016x}-{n:x}", self.prefix);
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}
