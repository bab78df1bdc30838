//! Request bodies. DRF parses JSON, urlencoded and multipart forms alike, and the apps use all
//! three, so every body becomes one [`Fields`] map, which a handler takes as [`Body<T>`]: a
//! struct of [`Field`]s that names and documents its fields, each checked with DRF's messages,
//! every problem reported at once. The size limit and media-type check live here too.
//!
//! JSON objects with a repeated key are refused: parsers disagree on which copy wins, which is
//! how request-smuggling and validation-bypass bugs start.

use std::fmt;

use axum::body::{Body as HttpBody, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::value::{BoolDeserializer, Error as DeError, StrDeserializer};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor,
};
use serde::forward_to_deserialize_any;
use serde_json::{Map, Value};
use tower::{Layer, ServiceExt};

use crate::domain::Invalid;
use crate::error::{ApiError, FieldErrors};
use crate::state::AppState;

/// The fields of a request body, whatever its media type.
#[derive(Debug, Default, Clone)]
pub struct Fields {
    map: Map<String, Value>,
    files: Vec<String>,
    /// The content of the one file part a route takes ([`Upload`]), if sent.
    upload: Option<Bytes>,
}

/// What a body may hold beyond text fields: one file part of this name, up to `max_bytes`.
#[derive(Debug, Clone, Copy)]
pub struct FilePart {
    pub name: &'static str,
    pub max_bytes: usize,
}

/// A body as `T` with the content of its file part `F` (multipart only). A multipart body may
/// then be as large as the file allows, plus room for the text fields and the framing.
#[derive(Debug)]
pub struct Upload<T, F> {
    pub body: T,
    pub file: Option<Bytes>,
    part: std::marker::PhantomData<F>,
}

/// The file part an [`Upload`] takes.
pub trait FileField {
    const PART: FilePart;
}

/// Room for the text fields and the multipart framing beside a file part.
const FRAMING_BYTES: usize = 64 * 1024;

/// One field as found in the body.
#[derive(Debug, PartialEq)]
pub enum FieldValue {
    Missing,
    Null,
    /// A string, or a number (DRF's CharField accepts numbers as their text).
    Text(String),
    WrongType,
    File,
}

impl Fields {
    pub fn get(&self, name: &str) -> FieldValue {
        let file = self.files.iter().any(|f| f == name);
        classify(file, self.map.get(name))
    }

    /// `T`'s fields, each under its serde name; keys `T` does not name are ignored, like DRF.
    fn into_body<T: DeserializeOwned>(self) -> Result<T, ApiError> {
        T::deserialize(Declared(&self))
            .map_err(|e| ApiError::internal(anyhow::anyhow!("request body type: {e}")))
    }
}

fn classify(file: bool, value: Option<&Value>) -> FieldValue {
    if file {
        return FieldValue::File;
    }
    match value {
        None => FieldValue::Missing,
        Some(Value::Null) => FieldValue::Null,
        Some(Value::String(s)) => FieldValue::Text(s.clone()),
        Some(Value::Number(n)) => FieldValue::Text(n.to_string()),
        Some(_) => FieldValue::WrongType,
    }
}

/// A request body as `T`, whatever its media type; the rejection is the DRF-shaped error.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        Fields::from_request(req, state)
            .await?
            .into_body()
            .map(Body)
    }
}

impl<T: DeserializeOwned, F: FileField> FromRequest<AppState> for Upload<T, F> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        // Only a multipart body can hold the file; JSON and forms keep the usual limit.
        let multipart = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("multipart/")
            });
        let usual = state.config.max_body_bytes;
        let limit = if multipart {
            usual.max(F::PART.max_bytes + FRAMING_BYTES)
        } else {
            usual
        };
        let mut fields = Fields::read(req, limit, Some(F::PART)).await?;
        let file = fields.upload.take();
        Ok(Upload {
            body: fields.into_body()?,
            file,
            part: std::marker::PhantomData,
        })
    }
}

/// One field of a request body as it was sent, under its name. Reading it checks it the way
/// DRF's field would and adds any message to the caller's [`FieldErrors`] under that name.
/// `Debug` shows only the name: the value may be a password.
pub struct Field {
    name: String,
    file: bool,
    value: Option<Value>,
}

impl fmt::Debug for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Field")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Field {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a file part was sent under this name.
    pub fn is_file(&self) -> bool {
        self.file
    }

    fn get(&self) -> FieldValue {
        classify(self.file, self.value.as_ref())
    }

    pub fn reject(&self, errors: &mut FieldErrors, messages: impl IntoIterator<Item = String>) {
        errors.add(&self.name, messages);
    }

    /// A 400 with `message` under this field's name.
    pub fn error(&self, message: &str) -> ApiError {
        ApiError::field(&self.name, message)
    }

    /// Whether the field was left out or sent as null.
    pub fn is_absent(&self) -> bool {
        matches!(self.get(), FieldValue::Missing | FieldValue::Null)
    }

    /// A required text field: missing, null, wrong type and blank each add their message. The
    /// text is returned untrimmed.
    pub fn text(&self, errors: &mut FieldErrors) -> Option<String> {
        let message = match self.get() {
            FieldValue::Text(s) if !s.trim().is_empty() => return Some(s),
            FieldValue::Text(_) => "This field may not be blank.",
            FieldValue::Missing => "This field is required.",
            FieldValue::Null => "This field may not be null.",
            FieldValue::WrongType | FieldValue::File => "Not a valid string.",
        };
        self.reject(errors, [message.to_owned()]);
        None
    }

    /// A required text field that `parse` turns into a value or refuses with its messages.
    pub fn parse<T>(
        &self,
        errors: &mut FieldErrors,
        parse: impl FnOnce(&str) -> Result<T, Invalid>,
    ) -> Option<T> {
        let text = self.text(errors)?;
        parse(&text)
            .map_err(|Invalid(messages)| self.reject(errors, messages))
            .ok()
    }

    /// A required JSON value that `T` reads (an object in a JSON body; its JSON text in a
    /// form); `invalid` is the message when it does not.
    pub fn json<T: DeserializeOwned>(&self, errors: &mut FieldErrors, invalid: &str) -> Option<T> {
        let read = match self.value.as_ref() {
            _ if self.file => None,
            None => return self.refuse(errors, "This field is required."),
            Some(Value::Null) => return self.refuse(errors, "This field may not be null."),
            Some(Value::String(text)) => serde_json::from_str(text).ok(),
            Some(value) => T::deserialize(value).ok(),
        };
        match read {
            Some(value) => Some(value),
            None => self.refuse(errors, invalid),
        }
    }

    fn refuse<T>(&self, errors: &mut FieldErrors, message: &str) -> Option<T> {
        self.reject(errors, [message.to_owned()]);
        None
    }

    /// An optional field of a partial update: `None` when absent (keep), `Some(None)` when
    /// null or blank (clear), `Some(Some(text))` to set. A wrong type adds an error.
    pub fn optional_text(&self, errors: &mut FieldErrors) -> Option<Option<String>> {
        let message = match self.get() {
            FieldValue::Missing => return None,
            FieldValue::Null => return Some(None),
            FieldValue::Text(s) if s.trim().is_empty() => return Some(None),
            FieldValue::Text(s) => return Some(Some(s)),
            FieldValue::File => "File uploads are not accepted here; send text.",
            FieldValue::WrongType => "Not a valid string.",
        };
        self.reject(errors, [message.to_owned()]);
        None
    }

    /// A field of DRF's `ChoiceField`: `parse` gets the value as DRF compares it with the
    /// choices (`str()` of it: numbers as their digits, booleans as `True`/`False`), never
    /// trimmed. Missing gives `None`, with an error only when `required`.
    pub fn choice<T>(
        &self,
        errors: &mut FieldErrors,
        required: bool,
        parse: impl FnOnce(&str) -> Result<T, Invalid>,
    ) -> Option<T> {
        let refuse = |errors: &mut FieldErrors, message: &str| {
            self.reject(errors, [message.to_owned()]);
            None
        };
        let shown = match self.value.as_ref() {
            _ if self.file => return refuse(errors, "Not a valid string."),
            None if required => return refuse(errors, "This field is required."),
            None => return None,
            Some(Value::Null) => return refuse(errors, "This field may not be null."),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Bool(true)) => "True".to_owned(),
            Some(Value::Bool(false)) => "False".to_owned(),
            Some(other) => other.to_string(),
        };
        parse(&shown)
            .map_err(|Invalid(messages)| self.reject(errors, messages))
            .ok()
    }

    /// An optional boolean: JSON `true`/`false`, or in forms `true`, `false`, `1`, `0`, `yes`,
    /// `no`, `on`, `off` (any case). Absent gives `None`.
    pub fn optional_bool(&self, errors: &mut FieldErrors) -> Option<bool> {
        let parsed = match self.value.as_ref() {
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
            self.reject(errors, ["Must be a valid boolean.".to_owned()]);
        }
        parsed
    }
}

/// Hands a struct every field it declares, so a missing one is a field problem, not a failed parse.
struct Declared<'f>(&'f Fields);

impl<'de> Deserializer<'de> for Declared<'_> {
    type Error = DeError;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        names: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_map(DeclaredFields {
            fields: self.0,
            names: names.iter(),
            current: "",
        })
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, DeError> {
        Err(de::Error::custom("a request body is a struct of `Field`s"))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

struct DeclaredFields<'f> {
    fields: &'f Fields,
    names: std::slice::Iter<'static, &'static str>,
    current: &'static str,
}

impl<'de> MapAccess<'de> for DeclaredFields<'_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some(name) = self.names.next() else {
            return Ok(None);
        };
        self.current = name;
        seed.deserialize(StrDeserializer::new(name)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let name = self.current;
        seed.deserialize(FieldSlot(Field {
            name: name.to_owned(),
            file: self.fields.files.iter().any(|f| f == name),
            value: self.fields.map.get(name).cloned(),
        }))
    }
}

/// One [`Field`] as the sequence its `Deserialize` reads: name, sent, file, value.
struct FieldSlot(Field);

impl<'de> Deserializer<'de> for FieldSlot {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_seq(FieldParts {
            field: self.0,
            next: 0,
        })
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

struct FieldParts {
    field: Field,
    next: u8,
}

impl<'de> SeqAccess<'de> for FieldParts {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let step = self.next;
        self.next += 1;
        let field = &mut self.field;
        let part = match step {
            0 => seed.deserialize(StrDeserializer::new(&field.name)),
            1 => seed.deserialize(BoolDeserializer::new(field.value.is_some())),
            2 => seed.deserialize(BoolDeserializer::new(field.file)),
            3 => seed
                .deserialize(field.value.take().unwrap_or(Value::Null))
                .map_err(de::Error::custom),
            _ => return Ok(None),
        };
        part.map(Some)
    }
}

impl<'de> serde::Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Parts(String, bool, bool, Value);
        let Parts(name, sent, file, value) = Parts::deserialize(deserializer)?;
        Ok(Field {
            name,
            file,
            value: sent.then_some(value),
        })
    }
}

impl FromRequest<AppState> for Fields {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        Fields::read(req, state.config.max_body_bytes, None).await
    }
}

impl Fields {
    /// Reads a body of at most `limit` bytes; a multipart body may hold the file part `file`.
    async fn read(req: Request, limit: usize, file: Option<FilePart>) -> Result<Self, ApiError> {
        refuse_declared_excess(&req, limit)?;
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let (parts, body) = req.into_parts();
        let bytes = read_limited(body, limit).await?;

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
                let req = Request::from_parts(parts, HttpBody::from(bytes));
                parse_multipart(req, &(), file).await
            }
            _ => Err(ApiError::UnsupportedMediaType(raw_type)),
        }
    }
}

/// A `413` at once, body unread, when the declared length is over `limit`.
pub fn refuse_declared_excess(req: &Request, limit: usize) -> Result<(), ApiError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(())
}

/// A body of at most `limit` bytes, whole; more is a `413`.
pub async fn read_limited(body: HttpBody, limit: usize) -> Result<Bytes, ApiError> {
    Ok(Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<LengthLimitError>().is_some() {
                ApiError::PayloadTooLarge
            } else {
                ApiError::Malformed("Request body could not be read.".into())
            }
        })?
        .to_bytes())
}

fn parse_json(bytes: &[u8]) -> Result<Fields, ApiError> {
    let parsed: StrictValue = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::Malformed(format!("JSON parse error - {e}")))?;
    match parsed.0 {
        Value::Object(map) => Ok(Fields {
            map,
            ..Fields::default()
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
        ..Fields::default()
    })
}

async fn parse_multipart<S: Send + Sync>(
    req: Request,
    state: &S,
    file: Option<FilePart>,
) -> Result<Fields, ApiError> {
    let malformed =
        |e: &dyn fmt::Display| ApiError::Malformed(format!("Multipart form parse error - {e}"));
    // The body is already read within this route's limit; axum's own 2 MB default for
    // multipart would refuse a picture, so it is lifted for this parse.
    let parse = DefaultBodyLimit::disable().layer(tower::service_fn(|req: Request| async move {
        Ok::<_, std::convert::Infallible>(Multipart::from_request(req, state).await)
    }));
    let mut multipart = match parse.oneshot(req).await {
        Ok(parsed) => parsed.map_err(|e| malformed(&e.body_text()))?,
        Err(never) => match never {},
    };
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
        let taken = file.filter(|f| f.name == name);
        if let Some(part) = taken.filter(|_| is_file_part(&field)) {
            let bytes = field.bytes().await.map_err(|e| malformed(&e.body_text()))?;
            if bytes.len() > part.max_bytes {
                return Err(ApiError::PayloadTooLarge);
            }
            if bytes.is_empty() {
                // A browser's file input with no file chosen: no file, as Django reads it.
                continue;
            }
            fields.upload = Some(bytes);
            fields.files.push(name);
            continue;
        }
        if field.file_name().is_some() {
            // No field takes this file; dropping the field discards its (bounded) content.
            fields.files.push(name);
            continue;
        }
        let text = field.text().await.map_err(|e| malformed(&e.body_text()))?;
        fields.map.insert(name, Value::String(text));
    }
    Ok(fields)
}

/// A part with a file name, or one whose declared type is not text (an app that sends the
/// photo's bytes without a file name).
fn is_file_part(field: &axum::extract::multipart::Field<'_>) -> bool {
    field.file_name().is_some()
        || field
            .content_type()
            .is_some_and(|t| !t.to_ascii_lowercase().starts_with("text/"))
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

    pub fn parse_json_fields(bytes: &[u8]) -> Result<Fields, ApiError> {
        super::parse_json(bytes)
    }

    pub fn parse_form_fields(bytes: &[u8]) -> Result<Fields, ApiError> {
        super::parse_form(bytes)
    }

    pub async fn parse_multipart_fields(
        content_type: &[u8],
        bytes: Vec<u8>,
    ) -> Result<Fields, ApiError> {
        let request = axum::http::Request::builder()
            .header(super::CONTENT_TYPE, content_type)
            .body(axum::body::Body::from(bytes))
            .map_err(|e| ApiError::Malformed(e.to_string()))?;
        super::parse_multipart(request, &(), None).await
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

    #[derive(Debug, serde::Deserialize)]
    struct Sample {
        email: Field,
        is_staff: Field,
        bio: Field,
    }

    fn sample(body: &str) -> Sample {
        parse_json(body.as_bytes()).unwrap().into_body().unwrap()
    }

    #[test]
    fn a_body_type_reads_each_field_under_its_own_name() {
        let body = sample(r#"{"email": " ", "is_staff": "maybe", "bio": 5, "other": []}"#);
        let mut errors = FieldErrors::new();
        assert_eq!(body.email.text(&mut errors), None);
        assert_eq!(body.is_staff.optional_bool(&mut errors), None);
        assert_eq!(body.bio.optional_text(&mut errors), Some(Some("5".into())));
        let mut want = FieldErrors::new();
        want.add("email", ["This field may not be blank.".to_owned()]);
        want.add("is_staff", ["Must be a valid boolean.".to_owned()]);
        assert_eq!(errors, want);
    }

    #[test]
    fn a_missing_field_is_a_problem_of_that_field_not_of_the_parse() {
        let body = sample("{}");
        let mut errors = FieldErrors::new();
        assert_eq!(body.email.text(&mut errors), None);
        assert_eq!(body.is_staff.optional_bool(&mut errors), None);
        assert_eq!(body.bio.optional_text(&mut errors), None);
        let mut want = FieldErrors::new();
        want.add("email", ["This field is required.".to_owned()]);
        assert_eq!(errors, want);
    }

    #[test]
    fn null_text_and_files_keep_their_messages() {
        let body = sample(r#"{"email": null, "bio": null, "is_staff": null}"#);
        let mut errors = FieldErrors::new();
        body.email.text(&mut errors);
        assert_eq!(body.bio.optional_text(&mut errors), Some(None));
        body.is_staff.optional_bool(&mut errors);
        let mut want = FieldErrors::new();
        want.add("email", ["This field may not be null.".to_owned()]);
        want.add("is_staff", ["Must be a valid boolean.".to_owned()]);
        assert_eq!(errors, want);

        let fields = Fields {
            files: vec!["bio".into(), "email".into()],
            ..Fields::default()
        };
        let body: Sample = fields.into_body().unwrap();
        let mut errors = FieldErrors::new();
        body.email.text(&mut errors);
        assert_eq!(body.bio.optional_text(&mut errors), None);
        let mut want = FieldErrors::new();
        want.add("email", ["Not a valid string.".to_owned()]);
        want.add(
            "bio",
            ["File uploads are not accepted here; send text.".to_owned()],
        );
        assert_eq!(errors, want);
    }

    #[test]
    fn a_field_is_debugged_without_its_value() {
        let body = sample(r#"{"email": "hunter2-secret"}"#);
        let shown = format!("{body:?}");
        assert!(
            shown.contains("email") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
