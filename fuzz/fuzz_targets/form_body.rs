//! An urlencoded request body → `Fields`: never panics, never accepts a repeated key.
#![no_main]

use kitchen_api::body::FieldValue;
use kitchen_api::body::fuzzing::parse_form_fields;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(fields) = parse_form_fields(data) else {
        return;
    };
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(data).expect("accepted a form serde_urlencoded refuses");
    let mut seen = std::collections::HashSet::new();
    for (key, value) in pairs {
        assert!(seen.insert(key.clone()), "repeated key {key:?} accepted");
        assert_eq!(fields.get(&key), FieldValue::Text(value));
    }
});
