//! `X-Request-Id`: a per-process random prefix and a counter, unique like a UUID without a
//! system call per request. A client's own id goes into every log line, so it is kept only when
//! short and plain (`A-Z a-z 0-9 . _ : -`); anything else could forge or bloat log entries.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderName, HeaderValue, Request};
use rand::RngCore;
use tower_http::request_id::{MakeRequestId, RequestId};

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub const MAX_CLIENT_ID_LEN: usize = 128;

fn acceptable(id: &HeaderValue) -> bool {
    let id = id.as_bytes();
    (1..=MAX_CLIENT_ID_LEN).contains(&id.len())
        && id
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
}

/// Runs before the layer that sets the id, so a refused one is replaced.
pub fn drop_unacceptable_id<B>(mut request: Request<B>) -> Request<B> {
    let headers = request.headers_mut();
    if headers
        .get_all(&REQUEST_ID)
        .iter()
        .any(|id| !acceptable(id))
    {
        headers.remove(&REQUEST_ID);
    }
    request
}

#[derive(Clone)]
pub struct SequentialRequestId {
    prefix: [u8; 17],
    next: Arc<AtomicU64>,
}

impl SequentialRequestId {
    pub fn new() -> Self {
        let mut prefix = [b'-'; 17];
        let random = rand::rngs::OsRng.next_u64();
        for (i, digit) in prefix[..16].iter_mut().enumerate() {
            *digit = HEX[((random >> (60 - 4 * i)) & 0xf) as usize];
        }
        Self {
            prefix,
            next: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Written by hand into a stack buffer: `format!` shows in the cheap path's profile.
    fn next_id(&self) -> ([u8; 33], usize) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut id = [0u8; 33];
        id[..17].copy_from_slice(&self.prefix);
        let digits = (16 - n.leading_zeros() as usize / 4).max(1);
        for i in 0..digits {
            id[17 + i] = HEX[((n >> (4 * (digits - 1 - i))) & 0xf) as usize];
        }
        (id, 17 + digits)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl Default for SequentialRequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl MakeRequestId for SequentialRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let (id, len) = self.next_id();
        HeaderValue::from_bytes(&id[..len]).ok().map(RequestId::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_after(ids: &SequentialRequestId, n: u64) -> String {
        ids.next.store(n, Ordering::Relaxed);
        let (id, len) = ids.next_id();
        String::from_utf8(id[..len].to_vec()).unwrap()
    }

    #[test]
    fn only_short_plain_client_ids_are_kept() {
        let kept = |id: &[u8]| {
            let request = Request::builder()
                .header(&REQUEST_ID, HeaderValue::from_bytes(id).unwrap())
                .body(())
                .unwrap();
            drop_unacceptable_id(request)
                .headers()
                .contains_key(&REQUEST_ID)
        };
        for id in [
            &b"from-the-app-42"[..],
            b"3f9c2a41-d07b-4e66-9a2b-1c2d3e4f5a6b",
            b"a.b:c_d-E",
            &[b'x'; MAX_CLIENT_ID_LEN],
        ] {
            assert!(kept(id), "{id:?}");
        }
        for id in [
            &b""[..],
            &[b'x'; MAX_CLIENT_ID_LEN + 1],
            b"two words",
            b"quote\"d",
            b"line\\nbreak",
            b"line%0Abreak",
            b"tab\tbed",
            "caf\u{e9}".as_bytes(),
            b"{\"json\":1}",
        ] {
            assert!(!kept(id), "{id:?}");
        }
    }

    #[test]
    fn ids_are_the_prefix_and_the_counter_in_lowercase_hex() {
        let ids = SequentialRequestId::new();
        let prefix = String::from_utf8(ids.prefix[..16].to_vec()).unwrap();
        assert!(
            prefix
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        for n in [0, 1, 0xf, 0x10, 0xabc, 0x1234_5678_9abc, u64::MAX] {
            assert_eq!(id_after(&ids, n), format!("{prefix}-{n:x}"));
        }
        let other = SequentialRequestId::new();
        assert_ne!(
            ids.prefix, other.prefix,
            "each process draws its own prefix"
        );
    }
}
