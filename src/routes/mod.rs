//! Thin HTTP handlers, grouped by resource. Each file holds its handlers with their request and
//! response types; the route table itself is in [`crate::app`].

pub mod account;
pub mod audit;
pub mod docs;
pub mod ops;
pub mod pages;
pub mod pictures;
pub mod schemas;
pub mod sessions;
pub mod staff;
pub mod tokens;
pub mod users;

use axum::http::HeaderMap;
use axum::http::header::USER_AGENT;

use crate::body::Field;
use crate::domain::{Email, Invalid, Password, PasswordPolicy};
use crate::error::{ApiError, FieldErrors};

/// The caller's `User-Agent`, cut to a sane length, for the sessions list.
pub(crate) fn user_agent(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get(USER_AGENT)?;
    let text = String::from_utf8_lossy(raw.as_bytes());
    let text: String = text.chars().filter(|c| !c.is_control()).take(256).collect();
    (!text.is_empty()).then_some(text)
}

/// The parsed fields once no field failed; a `None` then could only be a bug.
pub(crate) fn validated<T>(errors: FieldErrors, parsed: Option<T>) -> Result<T, ApiError> {
    errors.into_result()?;
    parsed.ok_or_else(|| ApiError::internal(anyhow::anyhow!("validated fields missing")))
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
