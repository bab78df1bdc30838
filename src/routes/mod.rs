//! Thin HTTP handlers, grouped by resource. Each file holds its handlers with their request and
//! response types; the route table itself is in [`crate::app`].

pub mod account;
pub mod addresses;
pub mod audit;
pub mod docs;
pub mod mfa;
pub mod ops;
pub mod pages;
pub mod passkeys;
pub mod pictures;
pub mod schemas;
pub mod sessions;
pub mod staff;
pub mod tokens;
pub mod users;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::auth::step_up::{self, CodeField, Proof};
use crate::body::Field;
use crate::domain::{Email, Invalid, Password, PasswordPolicy};
use crate::error::{ApiError, FieldErrors};

pub(crate) use crate::auth::device::user_agent;

/// The `{id}` of a path, as Django's `<int:pk>` matches it: ASCII digits that fit an `i64`.
/// Anything else (a word, a sign, a number too large, bytes that are not UTF-8) is a 404, like
/// an id that does not exist, never a 400 or a 500.
#[derive(Debug, Clone, Copy)]
pub struct PathId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::NotFound)?;
        parse_id(&raw).map(PathId).ok_or(ApiError::NotFound)
    }
}

fn parse_id(raw: &str) -> Option<i64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

/// The parsed fields once no field failed; a `None` then could only be a bug.
pub(crate) fn validated<T>(errors: FieldErrors, parsed: Option<T>) -> Result<T, ApiError> {
    errors.into_result()?;
    parsed.ok_or_else(|| ApiError::internal(anyhow::anyhow!("validated fields missing")))
}

/// The step-up of a body with no other field to read: `400` with every missing part.
pub(crate) fn step_up_proof(
    password: &Field,
    code: &Field,
    passkey: &Field,
    code_field: CodeField,
) -> Result<Proof, ApiError> {
    let mut errors = FieldErrors::new();
    let proof = step_up::proof(password, code, passkey, code_field, &mut errors);
    validated(errors, proof)
}

/// A required new password under the policy (like Django's, run even when `email` is invalid),
/// and a mismatch on `confirm`.
pub(crate) fn new_password(
    (field, confirm): (&Field, Option<&Field>),
    policy: &PasswordPolicy,
    email: Option<&Email>,
    errors: &mut FieldErrors,
) -> Option<Password> {
    let password = field.text(errors).map(Password::new);
    let again = confirm.map(|c| (c, c.text(errors)));
    let password = password?;
    if let Err(Invalid(messages)) = policy.check(&password, email) {
        field.reject(errors, messages);
    }
    if let Some((confirm, Some(again))) = again {
        if again != password.expose() {
            confirm.reject(errors, ["Passwords do not match.".to_owned()]);
        }
    }
    Some(password)
}

#[cfg(test)]
mod tests {
    use super::parse_id;

    #[test]
    fn path_ids_are_digits_that_fit() {
        assert_eq!(parse_id("42"), Some(42));
        assert_eq!(parse_id("007"), Some(7));
        assert_eq!(parse_id("9223372036854775807"), Some(i64::MAX));
        for raw in [
            "",
            "abc",
            "-1",
            "+1",
            " 1",
            "1.0",
            "9223372036854775808",
            "٣",
        ] {
            assert_eq!(parse_id(raw), None, "{raw:?}");
        }
    }
}
