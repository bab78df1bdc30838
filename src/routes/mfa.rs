//! Second factors: TOTP enrolment (`/users/me/mfa/totp/`, `/users/me/mfa/totp/confirm/`),
//! turning it off, recovery codes (`/users/me/mfa/recovery-codes/`), the summary
//! (`/users/me/mfa/`), and the login's second step (`/token/mfa/`). The work is in
//! [`crate::auth::mfa`]; a handler parses and answers. Wherever a `code` is asked for, a current
//! TOTP code or an unused recovery code will do: `400 {"code": ["Invalid code."]}` otherwise.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::schemas::{Detail, StepUpPasskey, ValidationErrors};
use super::tokens::ObtainedToken;
use super::validated;
use crate::auth::step_up::{CodeField, Proof};
use crate::auth::{self, AuthUser, ClientIp, Device, SessionChange};
use crate::body::{Body, Field};
use crate::db;
use crate::domain::Password;
use crate::error::{ApiError, FieldErrors};
use crate::state::AppState;

/// The current password.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MfaPasswordBody {
    #[schema(value_type = String)]
    pub password: Field,
}

/// A 6-digit code from the authenticator app.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MfaCodeBody {
    #[schema(value_type = String, example = "123456")]
    pub code: Field,
}

/// The current password and a TOTP or recovery code; or a passkey step-up instead of both.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MfaPasswordCodeBody {
    /// Required unless `passkey` is sent.
    #[schema(value_type = Option<String>)]
    pub password: Field,
    /// A current TOTP code, or an unused recovery code (case, dashes and spaces do not matter).
    /// Required unless `passkey` is sent.
    #[schema(value_type = Option<String>, example = "123456")]
    pub code: Field,
    #[schema(value_type = Option<StepUpPasskey>)]
    pub passkey: Field,
}

/// The `mfa_token` `POST /token/` answered and a TOTP or recovery code.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MfaLoginBody {
    #[schema(value_type = String)]
    pub mfa_token: Field,
    #[schema(value_type = String, example = "123456")]
    pub code: Field,
}

/// A pending TOTP secret, for the authenticator app (as text or as a QR code of the URL).
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrolment {
    /// Base32, unpadded.
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    pub secret: String,
    #[schema(
        example = "otpauth://totp/Rayvers%20Kitchen:cook%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Rayvers%20Kitchen"
    )]
    pub otpauth_url: String,
}

/// Ten single-use recovery codes, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    #[schema(example = json!(["abcd-efgh-ijkl-mnop"]))]
    pub recovery_codes: Vec<String>,
}

/// Which second factors the caller has.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaStatus {
    pub totp: bool,
    pub recovery_codes_left: i64,
    pub passkeys: i64,
}

fn password(field: &Field, errors: &mut FieldErrors) -> Option<Password> {
    field.text(errors).map(Password::new)
}

/// Start TOTP: a new pending secret (replacing an earlier pending one). TOTP is on only once
/// a code from it is confirmed.
#[utoipa::path(
    post, path = "/users/me/mfa/totp/", tag = "mfa",
    security(("token" = [])),
    request_body(content(
        (MfaPasswordBody = "application/json"),
        (MfaPasswordBody = "application/x-www-form-urlencoded"),
        (MfaPasswordBody = "multipart/form-data"),
    )),
    responses(
        (status = 200, body = TotpEnrolment),
        (status = 400, description = "Missing `password`, `password: [\"Wrong password.\"]`, or `non_field_errors: [\"Two-factor authentication is already on.\"]`", body = ValidationErrors),
        (status = 401, body = Detail), (status = 413, body = Detail), (status = 415, body = Detail),
        (status = 429, description = "Too many wrong passwords or codes for this account or address (shared with login); see `Retry-After`", body = Detail),
        (status = 503, body = Detail),
    )
)]
pub async fn enrol_totp(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    auth: AuthUser,
    Body(body): Body<MfaPasswordBody>,
) -> Result<(SessionChange, Json<TotpEnrolment>), ApiError> {
    let mut errors = FieldErrors::new();
    let password = password(&body.password, &mut errors);
    let password = validated(errors, password)?;
    let enrolment = auth::mfa::begin_totp(&state, auth.user(), client, password).await?;
    Ok((
        SessionChange::Nothing,
        Json(TotpEnrolment {
            secret: enrolment.secret,
            otpauth_url: enrolment.otpauth_url,
        }),
    ))
}

/// Turn TOTP on with a code from the pending secret; answers ten recovery codes.
#[utoipa::path(
    post, path = "/users/me/mfa/totp/confirm/", tag = "mfa",
    security(("token" = [])),
    request_body(content(
        (MfaCodeBody = "application/json"),
        (MfaCodeBody = "application/x-www-form-urlencoded"),
        (MfaCodeBody = "multipart/form-data"),
    )),
    responses(
        (status = 200, body = RecoveryCodes),
        (status = 400, description = "Missing `code`, `code: [\"Invalid code.\"]`, or `non_field_errors` when no secret is pending or TOTP is already on", body = ValidationErrors),
        (status = 401, body = Detail), (status = 413, body = Detail), (status = 415, body = Detail),
        (status = 429, description = "Too many wrong passwords or codes (shared with login); see `Retry-After`", body = Detail),
        (status = 503, body = Detail),
    )
)]
pub async fn confirm_totp(
    State(state): State<AppState>,
    device: Device,
    auth: AuthUser,
    Body(body): Body<MfaCodeBody>,
) -> Result<(SessionChange, Json<RecoveryCodes>), ApiError> {
    let mut errors = FieldErrors::new();
    let code = body.code.text(&mut errors);
    let code = validated(errors, code)?;
    let recovery_codes = auth::mfa::confirm_totp(&state, auth.user().id, &device, &code).await?;
    Ok((
        SessionChange::Nothing,
        Json(RecoveryCodes { recovery_codes }),
    ))
}

fn required_proof(body: &MfaPasswordCodeBody) -> Result<Proof, ApiError> {
    let (password, code, passkey) = (&body.password, &body.code, &body.passkey);
    super::step_up_proof(password, code, passkey, CodeField::Required)
}

/// Turn TOTP off (its secret and recovery codes are deleted).
#[utoipa::path(
    delete, path = "/users/me/mfa/totp/", tag = "mfa",
    security(("token" = [])),
    request_body(content(
        (MfaPasswordCodeBody = "application/json"),
        (MfaPasswordCodeBody = "application/x-www-form-urlencoded"),
        (MfaPasswordCodeBody = "multipart/form-data"),
    )),
    responses(
        (status = 204, description = "TOTP is off; no body"),
        (status = 400, description = "Missing fields, `password: [\"Wrong password.\"]`, `code: [\"Invalid code.\"]`, `passkey: [\"The passkey could not be verified.\"]`, or `non_field_errors: [\"Two-factor authentication is not on.\"]`", body = ValidationErrors),
        (status = 401, body = Detail), (status = 413, body = Detail), (status = 415, body = Detail),
        (status = 429, description = "Too many wrong passwords or codes (shared with login); see `Retry-After`", body = Detail),
        (status = 503, body = Detail),
    )
)]
pub async fn disable_totp(
    State(state): State<AppState>,
    device: Device,
    auth: AuthUser,
    Body(body): Body<MfaPasswordCodeBody>,
) -> Result<(SessionChange, axum::http::StatusCode), ApiError> {
    let proof = required_proof(&body)?;
    auth::mfa::disable_totp(&state, auth.user(), &device, proof).await?;
    Ok((SessionChange::Nothing, axum::http::StatusCode::NO_CONTENT))
}

/// A new set of ten recovery codes; the old set is void.
#[utoipa::path(
    post, path = "/users/me/mfa/recovery-codes/", tag = "mfa",
    security(("token" = [])),
    request_body(content(
        (MfaPasswordCodeBody = "application/json"),
        (MfaPasswordCodeBody = "application/x-www-form-urlencoded"),
        (MfaPasswordCodeBody = "multipart/form-data"),
    )),
    responses(
        (status = 200, body = RecoveryCodes),
        (status = 400, description = "Missing fields, `password: [\"Wrong password.\"]`, `code: [\"Invalid code.\"]`, `passkey: [\"The passkey could not be verified.\"]`, or `non_field_errors: [\"Two-factor authentication is not on.\"]`", body = ValidationErrors),
        (status = 401, body = Detail), (status = 413, body = Detail), (status = 415, body = Detail),
        (status = 429, description = "Too many wrong passwords or codes (shared with login); see `Retry-After`", body = Detail),
        (status = 503, body = Detail),
    )
)]
pub async fn renew_recovery_codes(
    State(state): State<AppState>,
    device: Device,
    auth: AuthUser,
    Body(body): Body<MfaPasswordCodeBody>,
) -> Result<(SessionChange, Json<RecoveryCodes>), ApiError> {
    let proof = required_proof(&body)?;
    let recovery_codes =
        auth::mfa::renew_recovery_codes(&state, auth.user(), &device, proof).await?;
    Ok((
        SessionChange::Nothing,
        Json(RecoveryCodes { recovery_codes }),
    ))
}

/// Which second factors the caller has: TOTP on or off, unused recovery codes, passkeys.
#[utoipa::path(
    get, path = "/users/me/mfa/", tag = "mfa",
    security(("token" = [])),
    responses((status = 200, body = MfaStatus), (status = 401, body = Detail), (status = 503, body = Detail))
)]
pub async fn get_mfa_status(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<MfaStatus>, ApiError> {
    let summary = db::mfa_summary(&state.db, auth.user().id).await?;
    Ok(Json(MfaStatus {
        totp: summary.totp,
        recovery_codes_left: summary.recovery_codes_left,
        passkeys: summary.passkeys,
    }))
}

/// Log in, second step: the `mfa_token` from `POST /token/` and a TOTP or recovery code. An
/// `mfa_token` lives 5 minutes, for 5 tries, once; wrong codes count towards login throttling.
#[utoipa::path(
    post, path = "/token/mfa/", tag = "auth",
    request_body(content(
        (MfaLoginBody = "application/json"),
        (MfaLoginBody = "application/x-www-form-urlencoded"),
        (MfaLoginBody = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "A new token", body = ObtainedToken),
        (status = 400, description = "Missing fields, `mfa_token: [\"Invalid or expired.\"]` (unknown, used, expired or out of tries), or `code: [\"Invalid code.\"]`", body = ValidationErrors),
        (status = 413, body = Detail), (status = 415, body = Detail),
        (status = 429, description = "Too many failed logins for this account or address; see `Retry-After`", body = Detail),
        (status = 503, body = Detail),
    )
)]
pub async fn obtain_token_mfa(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Body(body): Body<MfaLoginBody>,
) -> Result<(SessionChange, Json<ObtainedToken>), ApiError> {
    let mut errors = FieldErrors::new();
    let mfa_token = body.mfa_token.text(&mut errors);
    let code = body.code.text(&mut errors);
    let (mfa_token, code) = validated(errors, mfa_token.zip(code))?;
    let user_agent = super::user_agent(&headers);
    let login =
        auth::mfa::finish_login(&state, &mfa_token, &code, client, user_agent.as_deref()).await?;
    Ok((SessionChange::Nothing, Json(login.into())))
}
