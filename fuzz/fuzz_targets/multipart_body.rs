//! A multipart request body → `Fields`: never panics, whatever the boundary and the parts.
//! The first line of the input is the boundary; the rest is the body.
#![no_main]

use kitchen_api::body::fuzzing::parse_multipart_fields;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (boundary, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"x"[..], data),
    };
    let mut content_type = b"multipart/form-data; boundary=".to_vec();
    content_type.extend_from_slice(boundary);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let _ = runtime.block_on(parse_multipart_fields(&content_type, body.to_vec()));
});
