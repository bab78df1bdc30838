//! `POST /users/verify/` and `POST /users/verify/resend-code/`: proving the address with the
//! code mailed at registration. Both are public (any `Authorization` header is ignored): the
//! app knows the user id from the registration answer.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::{code_field, invalid_code, take_valid_code, user_id_field, validated};
use crate::auth::{ClientIp, CodePurpose, Recipient, SessionChange, send_code_mail};
use crate::body::Fields;
use crate::db::{self, CodeOwner, CodeUse};
use crate::error::{ApiError, FieldErrors};
use crate::routes::schemas::{Detail, ValidationErrors};
use crate::state::AppState;

/// The code from the verification mail.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyEmailBody {
    #[schema(schema_with = crate::routes::schemas::integer_or_digits)]
    pub user_id: i64,
    /// Six digits.
    #[schema(example = "123456", min_length = 6, max_length = 6)]
    pub code: String,
}

/// Whose verification code to send again.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResendCodeBody {
    #[schema(schema_with = crate::routes::schemas::integer_or_digits)]
    pub user_id: i64,
}

/// Confirm the email address with the code mailed at registration (or by resend-code).
/// The code is good for 15 minutes and 5 tries, once.
#[utoipa::path(
    post, path = "/users/verify/", tag = "account",
    request_body(content(
        (VerifyEmailBody = "application/json"),
        (VerifyEmailBody = "application/x-www-form-urlencoded"),
        (VerifyEmailBody = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "`{\"detail\": \"Email verified.\"}`; the profile now shows `email_verified: true`", body = Detail),
        (status = 400, description = "Missing fields, or `code: [\"Invalid or expired code.\"]` for a wrong, expired, used or exhausted code (or an unknown user)", body = ValidationErrors),
        (status = 413, body = Detail), (status = 415, body = Detail), (status = 503, body = Detail),
    )
)]
pub async fn verify_email(
    State(state): State<AppState>,
    fields: Fields,
) -> Result<(SessionChange, Json<Detail>), ApiError> {
    let mut errors = FieldErrors::new();
    let user_id = user_id_field(&fields, &mut errors);
    let code = code_field(&fields, &mut errors);
    let (user_id, code) = validated(errors, user_id.zip(code))?;
    let purpose = CodePurpose::VerifyEmail;
    let valid = take_valid_code(&state, purpose, CodeOwner::Id(user_id), &code).await?;
    if !db::use_code(&state.db, &valid, state.clock.now(), CodeUse::VerifyEmail).await? {
        return Err(invalid_code());
    }
    tracing::info!(user_id, "email verified");
    let verified = Json(Detail {
        detail: "Email verified.".to_owned(),
    });
    Ok((SessionChange::User(valid.user_id), verified))
}

/// Mail a new verification code (the previous one stops working). The answer is the same
/// whether or not the account exists or is already verified.
#[utoipa::path(
    post, path = "/users/verify/resend-code/", tag = "account",
    request_body(content(
        (ResendCodeBody = "application/json"),
        (ResendCodeBody = "application/x-www-form-urlencoded"),
        (ResendCodeBody = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "A new code is on its way if the account exists and is not verified yet", body = Detail),
        (status = 400, description = "Missing or non-integer `user_id`", body = ValidationErrors),
        (status = 413, body = Detail), (status = 415, body = Detail),
        (status = 503, description = "The mail queue is full; try again later", body = Detail),
    )
)]
pub async fn resend_verification_code(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    fields: Fields,
) -> Result<(SessionChange, Json<Detail>), ApiError> {
    let mut errors = FieldErrors::new();
    let user_id = user_id_field(&fields, &mut errors);
    let user_id = validated(errors, user_id)?;
    let to = Recipient::UserId(user_id);
    send_code_mail(&state, client, CodePurpose::VerifyEmail, to).await?;
    let sent = Json(Detail {
        detail: "If this account's address is not verified yet, a new code is on its way."
            .to_owned(),
    });
    Ok((SessionChange::Nothing, sent))
}

/// With `KITCHEN_API_REQUIRE_VERIFIED_EMAIL` on, refuses a login whose password was right
/// but whose address is not verified yet. Only called after the password matched, so it
/// tells nothing to someone who does not know the password.
pub async fn check_login_allowed(state: &AppState, user_id: i64) -> Result<(), ApiError> {
    if !state.config.require_verified_email {
        return Ok(());
    }
    let verified = db::find_mail_target_by_id(&state.db, user_id)
        .await?
        .is_some_and(|t| t.email_verified);
    if verified {
        Ok(())
    } else {
        Err(ApiError::field(
            "non_field_errors",
            "E-mail is not verified.",
        ))
    }
}
