//! `POST /users/me/email/` and `POST /users/me/email/confirm/`: moving an account to another
//! address. The request needs the step-up (the password, a code where TOTP is on, or a
//! passkey) and mails a code to the new address; the code proves the caller receives mail
//! there, so the switch also verifies it. The old address is told, and is free at once.
//! Saying an address is taken tells no more than registration does, and only to someone who
//! knows the password.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{code_field, invalid_code, take_valid_code};
use crate::audit::{Event, Kind};
use crate::auth::step_up::CodeField;
use crate::auth::{
    AuthUser, CodePurpose, Device, Recipient, SessionChange, send_code_mail, step_up,
};
use crate::body::{Body, Field};
use crate::db::{self, CodeOwner};
use crate::domain::Email;
use crate::error::{self, ApiError, EMAIL_TAKEN, FieldErrors};
use crate::mail::{NoticeKind, masked_address};
use crate::notices::{self, NoticeTo};
use crate::routes::schemas::{Detail, StepUpPasskey, ValidationErrors};
use crate::routes::users::Profile;
use crate::routes::validated;
use crate::state::AppState;

pub const ALREADY_YOURS: &str = "This is already your email address.";
const CODE_SENT: &str = "A code is on its way to the new address.";

/// The new address, and the current password (with a current code where TOTP is on), or a
/// passkey step-up instead of both.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EmailChangeBody {
    #[schema(value_type = String, example = "chef@example.org", max_length = 254)]
    pub new_email: Field,
    /// Required unless `passkey` is sent.
    #[schema(value_type = Option<String>)]
    pub password: Field,
    /// A current TOTP code or an unused recovery code; needed where TOTP is on.
    #[schema(value_type = Option<String>, example = "123456")]
    pub code: Field,
    #[schema(value_type = Option<StepUpPasskey>)]
    pub passkey: Field,
}

/// The code mailed to the new address.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ConfirmEmailChangeBody {
    /// Six digits.
    #[schema(value_type = String, example = "123456", min_length = 6, max_length = 6)]
    pub code: Field,
}

/// Ask to move the account to `new_email`: a code good for 15 minutes and 5 tries, once, goes
/// to that address (asking again replaces it). Nothing changes until it is confirmed.
#[utoipa::path(
    post, path = "/users/me/email/", tag = "account",
    security(("token" = [])),
    request_body(content(
        (EmailChangeBody = "application/json"),
        (EmailChangeBody = "application/x-www-form-urlencoded"),
        (EmailChangeBody = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "`{\"detail\": \"A code is on its way to the new address.\"}`", body = Detail),
        (status = 400, description = "Missing fields, a malformed `new_email`, `password: [\"Wrong password.\"]`, a missing or wrong `code` where TOTP is on, `passkey: [\"The passkey could not be verified.\"]`, `new_email: [\"This is already your email address.\"]`, or `new_email: [\"User with email already exists.\"]`", body = ValidationErrors),
        (status = 401, body = Detail), (status = 413, body = Detail), (status = 415, body = Detail),
        (status = 429, description = "Too many wrong passwords for this account or address (shared with login), or too many code mails; see `Retry-After`", body = Detail),
        (status = 503, description = "The mail queue is full; try again later", body = Detail),
    )
)]
pub async fn request_email_change(
    State(state): State<AppState>,
    device: Device,
    auth: AuthUser,
    Body(body): Body<EmailChangeBody>,
) -> Result<(SessionChange, Json<Detail>), ApiError> {
    let mut errors = FieldErrors::new();
    let new_email = body.new_email.parse(&mut errors, Email::parse);
    let (password, code, passkey) = (&body.password, &body.code, &body.passkey);
    let proof = step_up::proof(
        password,
        code,
        passkey,
        CodeField::WhereTotpIsOn,
        &mut errors,
    );
    let (new_email, proof) = validated(errors, new_email.zip(proof))?;
    step_up::confirm(&state, auth.user(), &device, proof, "change_email").await?;
    let user_id = auth.user().id;
    // A courtesy to the user: the unique index decides at the confirmation.
    match db::find_mail_target_by_email_key(&state.db, new_email.key()).await? {
        Some(holder) if holder.id == user_id => {
            return Err(ApiError::field("new_email", ALREADY_YOURS));
        }
        Some(_) => return Err(ApiError::field("new_email", EMAIL_TAKEN)),
        None => {}
    }
    let to = Recipient::NewAddress {
        user_id,
        email: new_email,
    };
    send_code_mail(&state, device.ip, CodePurpose::ChangeEmail, to).await?;
    let sent = Json(Detail {
        detail: CODE_SENT.to_owned(),
    });
    Ok((SessionChange::Nothing, sent))
}

/// Switch the account to the address the code was mailed to, which counts as verified, and
/// answer the profile. Sessions stay; the old address is told and can register again.
#[utoipa::path(
    post, path = "/users/me/email/confirm/", tag = "account",
    security(("token" = [])),
    request_body(content(
        (ConfirmEmailChangeBody = "application/json"),
        (ConfirmEmailChangeBody = "application/x-www-form-urlencoded"),
        (ConfirmEmailChangeBody = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "The profile, with the new `email` and `email_verified: true`", body = Profile),
        (status = 400, description = "A missing or malformed `code`, `code: [\"Invalid or expired code.\"]` for a wrong, expired, used or exhausted code (or none asked for), or `new_email: [\"User with email already exists.\"]` when another account took the address meanwhile", body = ValidationErrors),
        (status = 401, body = Detail), (status = 413, body = Detail), (status = 415, body = Detail),
        (status = 503, body = Detail),
    )
)]
pub async fn confirm_email_change(
    State(state): State<AppState>,
    device: Device,
    auth: AuthUser,
    Body(body): Body<ConfirmEmailChangeBody>,
) -> Result<(SessionChange, Response), ApiError> {
    let mut errors = FieldErrors::new();
    let code = code_field(&body.code, &mut errors);
    let code = validated(errors, code)?;
    let user = auth.user();
    let purpose = CodePurpose::ChangeEmail;
    let valid = take_valid_code(&state, purpose, CodeOwner::Id(user.id), &code).await?;
    let new_email = valid
        .new_email
        .as_deref()
        .and_then(|stored| Email::parse_existing(stored).ok())
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("change_email code without address")))?;
    let now = state.clock.now();
    let (old_email, changed) = match db::change_email(&state.db, &valid, &new_email, now).await {
        Ok(Some(changed)) => changed,
        Ok(None) => return Err(invalid_code()),
        Err(e) if error::is_email_taken(&e) => {
            return Err(ApiError::field("new_email", EMAIL_TAKEN));
        }
        Err(e) => return Err(e.into()),
    };
    Event::new(Kind::EmailChanged)
        .user(user.id)
        .ip(device.ip)
        .record(&state)
        .await;
    let to = NoticeTo::Address(old_email);
    let masked = Some(masked_address(changed.email.as_str()));
    notices::send(&state, to, NoticeKind::EmailChanged, &device, masked);
    let profile = Json(Profile::of(&changed, &state.pictures)).into_response();
    Ok((SessionChange::User(user.id), profile))
}
