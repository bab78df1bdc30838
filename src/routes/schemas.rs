//! Error bodies and the user-id schema, for the OpenAPI document; the wire format of errors is
//! [`crate::error::ApiError`]'s.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

/// `{"detail": "..."}`: every error that is not about a particular field.
#[derive(Debug, Serialize, ToSchema)]
pub struct Detail {
    #[schema(example = "Authentication credentials were not provided.")]
    pub detail: String,
}

/// A 400: field errors, or `{"detail": "..."}` when the body itself could not be parsed (not
/// JSON, a repeated key, a broken form).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[schema(example = json!({"email": ["This field is required."], "password": ["This password is too common."]}))]
pub enum ValidationErrors {
    Fields(FieldMessages),
    Malformed(Detail),
}

/// A passkey assertion standing in for the password (and code) of a sensitive action: the
/// `ticket` of `POST /users/me/step-up/passkey/` and the WebAuthn JSON of
/// `navigator.credentials.get()`'s result. Good for one action, within 5 minutes.
#[derive(Debug, ToSchema)]
pub struct StepUpPasskey {
    pub ticket: String,
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// Field errors: each key is a field name (or `non_field_errors`), each value its messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldMessages(pub BTreeMap<String, Vec<String>>);

/// A user id: a JSON integer, or its digits as text, as DRF's `IntegerField` accepts.
pub fn integer_or_digits() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{
        KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
    };
    let integer = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)));
    let digits = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(r"^\s*[+-]?[0-9]+\s*$"));
    Schema::OneOf(
        OneOfBuilder::new()
            .item(integer)
            .item(digits)
            .examples([serde_json::json!(42)])
            .build(),
    )
}
