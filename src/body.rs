//! Request bodies. DRF parses JSON, urlencoded forms and multipart forms alike, and the existing
//! apps use all three, so every body becomes one [`Fields`] map before a handler sees it. This
//! is also where the body-size limit, the media-type check and the parse errors live.
//!
//! JSON objects with a repeated key are refused: parsers disagree on which copy wins, which is
//! how request-smuggling and validation-bypass bugs start.

use std::fmt;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{ApiError, FieldErrors};
use crate::state::AppState;

/// The fields of a request body, whatever its media type.
#[derive(Debug, Default, Clone)]
pub struct Fields {
    map: Map<String, Value>,
    /// Names of multipart parts that carried a file.
    files: Vec<String>,
}

/// One field as found in the body.
#[derive(Debug, PartialEq)]
pub enum FieldValue {
    Missing,
    Null,
    /// A string, or a number (DRF's CharField accepts numbers as their text).
    Text(String),
    /// A boolean, list or object where text was expected.
    WrongType,
    /// A file upload where text was expected.
    File,
}

impl Fields {
    /// The value of `name`.
    pub fn get(&self, name: &str) -> FieldValue {
        if self.files.iter().any(|f| f == name) {
            return FieldValue::File;
        }
        match self.map.get(name) {
            None => FieldValue::Missing,
            Some(Value::Null) => FieldValue::Null,
            Some(Value::String(s)) => FieldValue::Text(s.clone()),
            Some(Value::Number(n)) => FieldValue::Text(n.to_string()),
            Some(_) => FieldValue::WrongType,
        }
    }

    /// A required text field, DRF-style: missing, null, wrong type and blank (after trimming)
    /// each add their message to `errors` and give `None`. The text is returned untrimmed.
    pub fn required_text(&self, name: &str, errors: &mut FieldErrors) -> Option<String> {
        let message = match self.get(name) {
            FieldValue::Text(s) if !s.trim().is_empty() => return Some(s),
            FieldValue::Text(_) => "This field may not be blank.",
            FieldValue::Missing => "This field is required.",
            FieldValue::Null => "This field may not be null.",
            FieldValue::WrongType | FieldValue::File => "Not a valid string.",
        };
        errors.add(name, [message.to_owned()]);
        None
    }

    /// An optional boolean, DRF-style: JSON `true`/`false`, or in forms `true`, `false`, `1`,
    /// `0`, `yes`, `no`, `on`, `off` (any case). Absent gives `None`.
    pub fn optional_bool(&self, name: &str, errors: &mut FieldErrors) -> Option<bool> {
        let parsed = match self.map.get(name) {
            None => return None,
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Some(true),
                "false" | "0" | "no" | "off" => Some(false),
                _ => None,
            },
            Some(Value::Number(n)) => match n.as_i64() {
                Some(1) => Some(true),
                Some(0) => Some(false),
                _ => None,
            },
            Some(_) => None,
        };
        if parsed.is_none() {
            errors.add(name, ["Must be a valid boolean.".to_owned()]);
        }
        parsed
    }

    /// An optional field of a partial update: `None` when absent (keep), `Some(None)` when
    /// null or blank (clear), `Some(Some(text))` to set. A wrong type adds an error.
    pub fn optional_text(&self, name: &str, errors: &mut FieldErrors) -> Option<Option<String>> {
        match self.get(name) {
            FieldValue::Missing => None,
            FieldValue::Null => Some(None),
            FieldValue::Text(s) if s.trim().is_empty() => Some(None),
            FieldValue::Text(s) => Some(Some(s)),
            FieldValue::File => {
                errors.add(
                    name,
                    ["File uploads are not accepted here; send text.".to_owned()],
                );
                None
            }
            FieldValue::WrongType => {
                errors.add(name, ["Not a valid string.".to_owned()]);
                None
            }
        }
    }
}

impl FromRequest<AppState> for Fields {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.config.max_body_bytes;
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(ApiError::PayloadTooLarge);
        }
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let (parts, body) = req.into_parts();
        let bytes = Limited::new(body, limit)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<LengthLimitError>().is_some() {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::Malformed("Request body could not be read.".into())
                }
            })?
            .to_bytes();

        if bytes.is_empty() {
            // DRF parses no body as no data, whatever the content type says.
            return Ok(Fields::default());
        }
        let raw_type = content_type.unwrap_or_default();
        let media_type = raw_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match media_type.as_str() {
            "application/json" => parse_json(&bytes),
            "application/x-www-form-urlencoded" => parse_form(&bytes),
            "multipart/form-data" => {
                let req = Request::from_parts(parts, Body::from(bytes));
                parse_multipart(req, state).await
            }
            _ => Err(ApiError::UnsupportedMediaType(raw_type)),
        }
    }
}

fn parse_json(bytes: &[u8]) -> Result<Fields, ApiError> {
    let parsed: StrictValue = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::Malformed(format!("JSON parse error - {e}")))?;
    match parsed.0 {
        Value::Object(map) => Ok(Fields {
            map,
            files: Vec::new(),
        }),
        other => Err(not_a_dictionary(&other)),
    }
}

/// DRF's answer to a body that is valid JSON but not an object, naming Python's type.
fn not_a_dictionary(value: &Value) -> ApiError {
    let kind = match value {
        Value::Array(_) => "list",
        Value::String(_) => "str",
        Value::Bool(_) => "bool",
        Value::Null => "NoneType",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::Object(_) => "dict",
    };
    ApiError::field(
        "non_field_errors",
        format!("Invalid data. Expected a dictionary, but got {kind}."),
    )
}

fn parse_form(bytes: &[u8]) -> Result<Fields, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes)
        .map_err(|e| ApiError::Malformed(format!("Form parse error - {e}")))?;
    let mut map = Map::new();
    for (key, value) in pairs {
        if map.insert(key.clone(), Value::String(value)).is_some() {
            return Err(duplicate("Form parse error", &key));
        }
    }
    Ok(Fields {
        map,
        files: Vec::new(),
    })
}

async fn parse_multipart<S: Send + Sync>(req: Request, state: &S) -> Result<Fields, ApiError> {
    let malformed =
        |e: &dyn fmt::Display| ApiError::Malformed(format!("Multipart form parse error - {e}"));
    let mut multipart = Multipart::from_request(req, state)
        .await
        .map_err(|e| malformed(&e.body_text()))?;
    let mut fields = Fields::default();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| malformed(&e.body_text()))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if fields.map.contains_key(&name) || fields.files.contains(&name) {
            return Err(duplicate("Multipart form parse error", &name));
        }
        if field.file_name().is_some() {
            // The content is not needed (no field takes a file yet); dropping the field
            // discards it. Size is already bounded by the body limit.
            fields.files.push(name);
            continue;
        }
        let text = field.text().await.map_err(|e| malformed(&e.body_text()))?;
        fields.map.insert(name, Value::String(text));
    }
    Ok(fields)
}

fn duplicate(prefix: &str, key: &str) -> ApiError {
    ApiError::Malformed(format!("{prefix} - duplicate key \"{key}\""))
}

/// A JSON value whose objects, at any depth, have no repeated key.
struct StrictValue(Value);

impl<'de> serde::Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key \"{key}\"")));
            }
            let StrictValue(value) = access.next_value()?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

/// The body parsers, for the fuzz targets in `fuzz/` (not an API: it may change at any time).
#[doc(hidden)]
pub mod fuzzing {
    use super::{ApiError, Fields};

    /// A JSON body, as `POST` handlers see it.
    pub fn parse_json_fields(bytes: &[u8]) -> Result<Fields, ApiError> {
        super::parse_json(bytes)
    }

    /// An `application/x-www-form-urlencoded` body.
    pub fn parse_form_fields(bytes: &[u8]) -> Result<Fields, ApiError> {
        super::parse_form(bytes)
    }

    /// A `multipart/form-data` body with the given `Content-Type` header value.
    pub async fn parse_multipart_fields(
        content_type: &[u8],
        bytes: Vec<u8>,
    ) -> Result<Fields, ApiError> {
        let request = axum::http::Request::builder()
            .header(super::CONTENT_TYPE, content_type)
            .body(axum::body::Body::from(bytes))
            .map_err(|e| ApiError::Malformed(e.to_string()))?;
        super::parse_multipart(request, &()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_objects_parse_into_fields() {
        let f = parse_json(br#"{"email": "a@b.co", "n": 5, "x": null, "b": true}"#).unwrap();
        assert_eq!(f.get("email"), FieldValue::Text("a@b.co".into()));
        assert_eq!(f.get("n"), FieldValue::Text("5".into()));
        assert_eq!(f.get("x"), FieldValue::Null);
        assert_eq!(f.get("b"), FieldValue::WrongType);
        assert_eq!(f.get("missing"), FieldValue::Missing);
    }

    #[test]
    fn repeated_keys_are_refused_at_any_depth() {
        assert!(parse_json(br#"{"a": 1, "a": 2}"#).is_err());
        assert!(parse_json(br#"{"a": {"b": 1, "b": 2}}"#).is_err());
        assert!(parse_form(b"a=1&a=2").is_err());
    }

    #[test]
    fn non_objects_name_the_python_type() {
        for (body, kind) in [
            ("[]", "list"),
            ("\"x\"", "str"),
            ("1", "int"),
            ("1.5", "float"),
            ("null", "NoneType"),
            ("true", "bool"),
        ] {
            let err = parse_json(body.as_bytes()).unwrap_err();
            let ApiError::Validation(errors) = err else {
                panic!("{body}")
            };
            let expected = format!("Invalid data. Expected a dictionary, but got {kind}.");
            let mut want = FieldErrors::new();
            want.add("non_field_errors", [expected]);
            assert_eq!(errors, want);
        }
    }
}
