//! `POST /users/verify/` and `POST /users/verify/resend-code/`: proving the address with the
//! code mailed at registration. Both are public (any `Authorization` header is ignored): the
//! app knows the user id from the registration answer.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{code_field, invalid_code, take_valid_code, user_id_field};
use crate::auth::{ClientIp, CodePurpose, OneTimeCode, Recipient, SessionChange, send_code_mail};
use crate::body::{Body, Field};
use crate::db::{self, CodeOwner, CodeUse};
use crate::error::{ApiError, FieldErrors};
use crate::routes::schemas::{Detail, ValidationErrors};
use crate::routes::validated;
use crate::state::AppState;

/// The code from the verification mail.
#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyEmailBody {
    #[schema(schema_with = crate::routes::schemas::integer_or_digits)]
    pub user_id: Field,
    /// Six digits.
    #[schema(value_type = String, example = "123456", min_length = 6, max_length = 6)]
    pub code: Field,
}

/// Whose verification code to send again.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ResendCodeBody {
    #[schema(schema_with = crate::routes::schemas::integer_or_digits)]
    pub user_id: Field,
}

impl VerifyEmailBody {
    fn parse(&self) -> Result<(i64, OneTimeCode), ApiError> {
        let mut errors = FieldErrors::new();
        let user_id = user_id_field(&self.user_id, &mut errors);
        let code = code_field(&self.code, &mut errors);
        validated(errors, user_id.zip(code))
    }
}

impl ResendCodeBody {
    fn user_id(&self) -> Result<i64, ApiError> {
        let mut errors = FieldErrors::new();
        let user_id = user_id_field(&self.user_id, &mut errors);
        validated(errors, user_id)
    }
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
    Body(body): Body<VerifyEmailBody>,
) -> Result<(SessionChange, Json<Detail>), ApiError> {
    let (user_id, code) = body.parse()?;
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
    Body(body): Body<ResendCodeBody>,
) -> Result<(SessionChange, Json<Detail>), ApiError> {
    let user_id = body.user_id()?;
    let to = Recipient::UserId(user_id);
    send_code_mail(&state, client, CodePurpose::VerifyEmail, to).await?;
    let sent = Json(Detail {
        detail: "If this account's address is not verified yet, a new code is on its way."
            .to_owned(),
    });
    Ok((SessionChange::Nothing, sent))
}
