//! Passwords after registration: a reset by mailed code for those who forgot it
//! (`/users/reset/password/`, `/users/reset/password/code/`), and a change for those who know
//! it (`/users/change/password/`). New passwords follow the registration policy.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    WRONG_PASSWORD, code_field, invalid_code, is_current_password, take_valid_code, validated,
};
use crate::audit;
use crate::auth::{AuthUser, ClientIp, CodePurpose, Recipient, SessionChange, send_code_mail};
use crate::body::Fields;
use crate::db::{self, CodeOwner, CodeUse};
use crate::domain::{Email, Invalid, Password};
use crate::error::{ApiError, FieldErrors};
use crate::routes::schemas::{Detail, ValidationErrors};
use crate::state::AppState;

const MISMATCH: &str = "Passwords do not match.";

/// The address to mail a reset code to.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetRequestBody {
    #[schema(example = "new.hero@example.com", max_length = 254)]
    pub email: String,
}

/// The reset code and the new password, twice.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetPasswordBody {
    #[schema(example = "new.hero@example.com", max_length = 254)]
    pub email: String,
    #[schema(example = "123456", min_length = 6, max_length = 6)]
    pub code: String,
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
    #[schema(min_length = 8, max_length = 1024)]
    pub re_password: String,
}

/// The current password and the new one, twice.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangePasswordBody {
    pub old_password: String,
    #[schema(min_length = 8, max_length = 1024)]
    pub new_password: String,
    #[schema(min_length = 8, max_length = 1024)]
    pub confirm_new_password: String,
}

fn detail(text: &str) -> Json<Detail> {
    Json(Detail {
        detail: text.to_owned(),
    })
}

/// A required, well-formed address.
fn email_field(fields: &Fields, errors: &mut FieldErrors) -> Option<Email> {
    let raw = fields.required_text("email", errors)?;
    Email::parse(&raw)
        .map_err(|Invalid(messages)| errors.add("email", messages))
        .ok()
}

/// A new password and its confirmation: the registration policy under `field`, a mismatch
/// under `confirm_field`.
fn new_password_fields(
    state: &AppState,
    fields: &Fields,
    (field, confirm_field): (&str, &str),
    email: Option<&Email>,
    errors: &mut FieldErrors,
) -> Option<Password> {
    let password = fields.required_text(field, errors).map(Password::new);
    let confirm = fields.required_text(confirm_field, errors);
    if let Some(password) = &password {
        if let Err(Invalid(messages)) = state.policy.check(password, email) {
            errors.add(field, messages);
        }
        if confirm.is_some_and(|c| c != password.expose()) {
            errors.add(confirm_field, [MISMATCH.to_owned()]);
        }
    }
    password
}

/// Mail a password reset code. Always the same answer, in the same time, whether or not an
/// account uses the address: the request only queues the work.
#[utoipa::path(
    post, path = "/users/reset/password/", tag = "account",
    request_body(content(
        (ResetRequestBody = "application/json"),
        (ResetRequestBody = "application/x-www-form-urlencoded"),
        (ResetRequestBody = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "A code is on its way if an account uses the address", body = Detail),
        (status = 400, description = "Missing or malformed `email`", body = ValidationErrors),
        (status = 413, body = Detail), (status = 415, body = Detail),
        (status = 503, description = "The mail queue is full; try again later", body = Detail),
    )
)]
pub async fn request_password_reset(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    fields: Fields,
) -> Result<(SessionChange, Json<Detail>), ApiError> {
    let mut errors = FieldErrors::new();
    let email = email_field(&fields, &mut errors);
    let email = validated(errors, email)?;
    // Counted whether or not the address has an account, so the limit reveals nothing.
    let to = Recipient::EmailKey(email.key().to_owned());
    send_code_mail(&state, client, CodePurpose::ResetPassword, to).await?;
    let sent = detail("If an account uses this address, a password reset code is on its way.");
    Ok((SessionChange::Nothing, sent))
}

/// Set a new password with the mailed reset code. Every token of the account is revoked
/// (log in again); the address counts as verified, since the code arrived there.
#[utoipa::path(
    post, path = "/users/reset/password/code/", tag = "account",
    request_body(content(
        (ResetPasswordBody = "application/json"),
        (ResetPasswordBody = "application/x-www-form-urlencoded"),
        (ResetPasswordBody = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "`{\"detail\": \"Password has been reset.\"}`", body = Detail),
        (status = 400, description = "Missing fields, a password the policy refuses, `re_password: [\"Passwords do not match.\"]`, or `code: [\"Invalid or expired code.\"]`", body = ValidationErrors),
        (status = 413, body = Detail), (status = 415, body = Detail), (status = 503, body = Detail),
    )
)]
pub async fn reset_password(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    fields: Fields,
) -> Result<(SessionChange, Json<Detail>), ApiError> {
    let mut errors = FieldErrors::new();
    let email = email_field(&fields, &mut errors);
    let code = code_field(&fields, &mut errors);
    let password = new_password_fields(
        &state,
        &fields,
        ("password", "re_password"),
        email.as_ref(),
        &mut errors,
    );
    let ((email, code), password) = validated(errors, email.zip(code).zip(password))?;
    let purpose = CodePurpose::ResetPassword;
    let valid = take_valid_code(&state, purpose, CodeOwner::EmailKey(email.key()), &code).await?;
    let hash = state.hashing.hash(password).await?;
    let reset = CodeUse::ResetPassword {
        password_hash: &hash,
    };
    if !db::use_code(&state.db, &valid, state.clock.now(), reset).await? {
        return Err(invalid_code());
    }
    let (user, ip) = (Some(valid.user_id), Some(client));
    audit::record(&state, audit::Kind::PasswordReset, user, None, ip, None).await;
    let change = SessionChange::User(valid.user_id);
    Ok((change, detail("Password has been reset.")))
}

/// Change the password, knowing the current one. Every other token of the account is
/// revoked; the one making this request stays valid.
#[utoipa::path(
    post, path = "/users/change/password/", tag = "account",
    security(("token" = [])),
    request_body(content(
        (ChangePasswordBody = "application/json"),
        (ChangePasswordBody = "application/x-www-form-urlencoded"),
        (ChangePasswordBody = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "`{\"detail\": \"Password changed.\"}`", body = Detail),
        (status = 400, description = "Missing fields, `old_password: [\"Wrong password.\"]`, a new password the policy refuses, or `confirm_new_password: [\"Passwords do not match.\"]`", body = ValidationErrors),
        (status = 401, body = Detail), (status = 413, body = Detail), (status = 415, body = Detail),
        (status = 429, description = "Too many wrong passwords for this account or address (shared with login); see `Retry-After`", body = Detail),
        (status = 503, body = Detail),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    auth: AuthUser,
    fields: Fields,
) -> Result<(SessionChange, Json<Detail>), ApiError> {
    let mut errors = FieldErrors::new();
    let old = fields.required_text("old_password", &mut errors);
    let email = Email::parse(&auth.user().email).ok();
    let new = new_password_fields(
        &state,
        &fields,
        ("new_password", "confirm_new_password"),
        email.as_ref(),
        &mut errors,
    );
    if let Some(old) = old {
        if !is_current_password(&state, &auth, client, old, "change_password").await? {
            errors.add("old_password", [WRONG_PASSWORD.to_owned()]);
        }
    }
    let new = validated(errors, new)?;
    let hash = state.hashing.hash(new).await?;
    db::change_password(&state.db, auth.user().id, &hash, auth.token_id()).await?;
    let (user, ip) = (Some(auth.user().id), Some(client));
    audit::record(&state, audit::Kind::PasswordChanged, user, None, ip, None).await;
    let change = SessionChange::User(auth.user().id);
    Ok((change, detail("Password changed.")))
}
