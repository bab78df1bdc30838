//! Bodies shared by many endpoints: errors, and the credentials pair. They exist for the
//! OpenAPI document; the wire format is produced by [`crate::error::ApiError`].

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

/// Field errors: each key is a field name (or `non_field_errors`), each value its messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldMessages(pub BTreeMap<String, Vec<String>>);

/// An email address and a password (JSON, urlencoded form or multipart form).
#[derive(Debug, Serialize, ToSchema)]
pub struct CredentialsBody {
    #[schema(example = "new.hero@example.com", max_length = 254)]
    pub email: String,
    #[schema(
        example = "correct horse battery staple",
        min_length = 8,
        max_length = 1024
    )]
    pub password: String,
}
