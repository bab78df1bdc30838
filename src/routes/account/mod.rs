//! The account beyond registration and login: verifying the address, resetting and changing the
//! password, changing the address, deleting the account, and the user id and code fields they
//! share. Every unusable code gets the same answer, which tells an attacker nothing about why.

pub mod deletion;
pub mod email;
pub mod password;
pub mod verification;

use crate::auth::{CodePurpose, NO_USER, OneTimeCode};
use crate::body::Field;
use crate::db::{self, CodeOwner, CodeTry};
use crate::domain::Invalid;
use crate::error::{ApiError, FieldErrors};
use crate::state::AppState;

pub const INVALID_CODE: &str = "Invalid or expired code.";
/// A code that is not six digits cannot be one we sent; it does not count as a try.
pub const MALFORMED_CODE: &str = "Enter the 6-digit code from the email.";
pub use crate::auth::step_up::WRONG_PASSWORD;
fn user_id_field(field: &Field, errors: &mut FieldErrors) -> Option<i64> {
    field.parse(errors, |raw| {
        raw.trim()
            .parse::<i64>()
            .map_err(|_| Invalid(vec!["A valid integer is required.".to_owned()]))
    })
}

fn code_field(field: &Field, errors: &mut FieldErrors) -> Option<OneTimeCode> {
    field.parse(errors, |raw| {
        OneTimeCode::parse(raw).ok_or_else(|| Invalid(vec![MALFORMED_CODE.to_owned()]))
    })
}

fn invalid_code() -> ApiError {
    ApiError::field("code", INVALID_CODE)
}

/// Counts a try against the owner's live code and returns it if `code` matches in time. A
/// digest is computed even without a code, so every answer costs the same.
async fn take_valid_code(
    state: &AppState,
    purpose: CodePurpose,
    owner: CodeOwner<'_>,
    code: &OneTimeCode,
) -> Result<CodeTry, ApiError> {
    let found = db::take_code_try(&state.db, purpose, owner).await?;
    let valid = match &found {
        Some(row) => {
            code.matches(purpose, row.user_id, &row.salt, &row.digest)
                && row.expires_at > state.clock.now()
        }
        None => {
            // black_box keeps the optimizer from dropping a comparison whose result is unused.
            std::hint::black_box(code.matches(purpose, NO_USER, &[0; 16], &[0; 32]));
            false
        }
    };
    match found {
        Some(row) if valid => Ok(row),
        _ => Err(invalid_code()),
    }
}
