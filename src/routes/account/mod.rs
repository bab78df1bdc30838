//! The account lifecycle beyond registration and login: verifying the address, resetting and
//! changing the password, deleting the account. What the handlers share lives here: reading
//! a user id or a code from a body, checking a code, and checking the current password.
//! Mailing a code is [`crate::auth::send_code_mail`].
//!
//! Every wrong, expired, used or exhausted code gets the same answer, so the answer tells an
//! attacker nothing about which it was.

pub mod deletion;
pub mod password;
pub mod verification;

use std::net::IpAddr;

use crate::audit;
use crate::auth::{AuthUser, CodePurpose, LoginKeys, NO_USER, OneTimeCode};
use crate::body::Fields;
use crate::db::{self, CodeOwner, CodeTry};
use crate::domain::{Email, Password};
use crate::error::{ApiError, FieldErrors};
use crate::state::AppState;

/// The one answer for every code that cannot be used.
pub const INVALID_CODE: &str = "Invalid or expired code.";
/// A code that is not six digits cannot be one we sent; it does not count as a try.
pub const MALFORMED_CODE: &str = "Enter the 6-digit code from the email.";
/// The current password, when an action needs it, was not right.
pub const WRONG_PASSWORD: &str = "Wrong password.";
/// A required integer user id (DRF's `IntegerField` message otherwise).
fn user_id_field(fields: &Fields, errors: &mut FieldErrors) -> Option<i64> {
    let raw = fields.required_text("user_id", errors)?;
    match raw.trim().parse::<i64>() {
        Ok(id) => Some(id),
        Err(_) => {
            errors.add("user_id", ["A valid integer is required.".to_owned()]);
            None
        }
    }
}

/// A required six-digit code.
fn code_field(fields: &Fields, errors: &mut FieldErrors) -> Option<OneTimeCode> {
    let raw = fields.required_text("code", errors)?;
    let code = OneTimeCode::parse(&raw);
    if code.is_none() {
        errors.add("code", [MALFORMED_CODE.to_owned()]);
    }
    code
}

/// The parsed fields, once validation found nothing wrong. Every field that failed added its
/// message to `errors`, so a `None` here could only be a bug.
fn validated<T>(errors: FieldErrors, parsed: Option<T>) -> Result<T, ApiError> {
    errors.into_result()?;
    parsed.ok_or_else(|| ApiError::internal(anyhow::anyhow!("validated fields missing")))
}

fn invalid_code() -> ApiError {
    ApiError::field("code", INVALID_CODE)
}

/// Counts a try against the owner's live code of `purpose` and returns the code if `code`
/// is it and it has not expired. A digest is computed even when there is no code, so every
/// answer costs the same.
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
            // The same digest as a real check; black_box keeps the optimizer from dropping
            // a comparison whose result is not used.
            std::hint::black_box(code.matches(purpose, NO_USER, &[0; 16], &[0; 32]));
            false
        }
    };
    match found {
        Some(row) if valid => Ok(row),
        _ => Err(invalid_code()),
    }
}

/// Whether `password` is the caller's current password (one Argon2 verification), for the
/// action named `action` (the security event's detail). A guess like a login's, throttled under
/// the same account and address counters (one budget, however the password is guessed); a
/// wrong one is a security event.
async fn is_current_password(
    state: &AppState,
    auth: &AuthUser,
    client: IpAddr,
    password: String,
    action: &str,
) -> Result<bool, ApiError> {
    let user = auth.user();
    // The key a login for this address counts under.
    let keys = LoginKeys::new(&Email::lookup_key(&user.email), client);
    let throttle = state.config.login_throttle();
    let guess = throttle.guess(&state.db, &keys, state.clock.now()).await?;
    let hash = db::find_password_hash(&state.db, user.id).await?;
    let matched = state.hashing.verify(Password::new(password), hash).await?;
    if matched {
        guess.succeeded(&state.db).await?;
    } else {
        let kind = audit::Kind::PasswordCheckFailed;
        audit::record(state, kind, Some(user.id), None, Some(client), Some(action)).await;
    }
    Ok(matched)
}
