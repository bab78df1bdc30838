//! `Authorization` header → `parse_authorization`: never panics, and whatever it accepts is a
//! well-formed key taken from the header: one of ours (43 URL-safe characters) or an imported
//! Django REST Framework key (40 lowercase hex characters).
#![no_main]

use axum::http::HeaderValue;
use kitchen_api::auth::{is_drf_key, parse_authorization};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = HeaderValue::from_bytes(data) else {
        return;
    };
    if let Ok(Some(token)) = parse_authorization(Some(&header)) {
        let key = token.expose();
        let ours = key.len() == 43
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        assert!(ours || is_drf_key(key.as_bytes()), "accepted {key:?}");
        assert!(data.windows(key.len()).any(|w| w == key.as_bytes()));
    }
});
