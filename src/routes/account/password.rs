//! Passwords after registration: a reset by mailed code for those who forgot it
//! (`/users/reset/password/`, `/users/reset/password/code/`), and a change for those who know
//! it (`/users/change/password/`). New passwords follow the registration policy.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{WRONG_PASSWORD, code_field, invalid_code, take_valid_code};
use crate::audit::{Event, Kind};
use crate::auth::{
    AuthUser, ClientIp, CodePurpose, Device, OneTimeCode, Recipient, SessionChange,
    confirm_password, send_code_mail,
};
use crate::body::{Body, Field};
use crate::db::{self, CodeOwner, CodeUse};
use crate::domain::{Email, Password, PasswordPolicy};
use crate::error::{ApiError, FieldErrors};
use crate::mail::NoticeKind;
use crate::notices::{self, NoticeTo};
use crate::routes::schemas::{Detail, ValidationErrors};
use crate::routes::{new_password, validated};
use crate::state::AppState;

/// The address to mail a reset code to.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetRequestBody {
    #[schema(value_type = String, example = "new.hero@example.com", max_length = 254)]
    pub email: Field,
}

/// The reset code and the new password, twice.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetPasswordBody {
    #[schema(value_type = String, example = "new.hero@example.com", max_length = 254)]
    pub email: Field,
    #[schema(value_type = String, example = "123456", min_length = 6, max_length = 6)]
    pub code: Field,
    #[schema(value_type = String, min_length = 8, max_length = 1024)]
    pub password: Field,
    #[schema(value_type = String, min_length = 8, max_length = 1024)]
    pub re_password: Field,
}

/// The current password and the new one, twice.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePasswordBody {
    #[schema(value_type = String)]
    pub old_password: Field,
    #[schema(value_type = String, min_length = 8, max_length = 1024)]
    pub new_password: Field,
    #[schema(value_type = String, min_length = 8, max_length = 1024)]
    pub confirm_new_password: Field,
}

fn detail(text: &str) -> Json<Detail> {
    Json(Detail {
        detail: text.to_owned(),
    })
}

impl ResetRequestBody {
    fn email(&self) -> Result<Email, ApiError> {
        let mut errors = FieldErrors::new();
        let email = self.email.parse(&mut errors, Email::parse);
        validated(errors, email)
    }
}

impl ResetPasswordBody {
    /// The address, the code, and a new password the policy accepts, typed twice alike.
    fn parse(&self, policy: &PasswordPolicy) -> Result<(Email, OneTimeCode, Password), ApiError> {
        let mut errors = FieldErrors::new();
        let email = self.email.parse(&mut errors, Email::parse);
        let code = code_field(&self.code, &mut errors);
        let fields = (&self.password, Some(&self.re_password));
        let password = new_password(fields, policy, email.as_ref(), &mut errors);
        let ((email, code), password) = validated(errors, email.zip(code).zip(password))?;
        Ok((email, code, password))
    }
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
    Body(body): Body<ResetRequestBody>,
) -> Result<(SessionChange, Json<Detail>), ApiError> {
    let email = body.email()?;
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
    device: Device,
    Body(body): Body<ResetPasswordBody>,
) -> Result<(SessionChange, Json<Detail>), ApiError> {
    let (email, code, password) = body.parse(&state.policy)?;
    let purpose = CodePurpose::ResetPassword;
    let valid = take_valid_code(&state, purpose, CodeOwner::EmailKey(email.key()), &code).await?;
    let hash = state.hashing.hash(password).await?;
    let reset = CodeUse::ResetPassword {
        password_hash: &hash,
    };
    if !db::use_code(&state.db, &valid, state.clock.now(), reset).await? {
        return Err(invalid_code());
    }
    let event = Event::new(Kind::PasswordReset)
        .user(valid.user_id)
        .ip(device.ip);
    event.record(&state).await;
    let to = NoticeTo::User(valid.user_id);
    notices::send(&state, to, NoticeKind::PasswordReset, &device, None);
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
    device: Device,
    auth: AuthUser,
    Body(body): Body<ChangePasswordBody>,
) -> Result<(SessionChange, Json<Detail>), ApiError> {
    let mut errors = FieldErrors::new();
    let old = body.old_password.text(&mut errors).map(Password::new);
    let email = Email::parse(&auth.user().email).ok();
    let fields = (&body.new_password, Some(&body.confirm_new_password));
    let new = new_password(fields, &state.policy, email.as_ref(), &mut errors);
    if let Some(old) = old {
        let action = "change_password";
        if !confirm_password(&state, auth.user(), device.ip, old, action).await? {
            body.old_password
                .reject(&mut errors, [WRONG_PASSWORD.to_owned()]);
        }
    }
    let new = validated(errors, new)?;
    let hash = state.hashing.hash(new).await?;
    db::change_password(&state.db, auth.user().id, &hash, auth.token_id()).await?;
    let event = Event::new(Kind::PasswordChanged)
        .user(auth.user().id)
        .ip(device.ip);
    event.record(&state).await;
    let to = NoticeTo::User(auth.user().id);
    notices::send(&state, to, NoticeKind::PasswordChanged, &device, None);
    let change = SessionChange::User(auth.user().id);
    Ok((change, detail("Password changed.")))
}
