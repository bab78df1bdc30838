//! `DELETE /users/me/`: the account and everything of it (tokens, codes) go, for good. The
//! current password is required (and a code where TOTP is on, or a passkey instead of both:
//! [`step_up`]), so a token left on a shared device cannot do it alone. The
//! last active superuser cannot go: nobody would be left to manage the staff. The uploaded
//! profile picture goes from the picture store too.

use axum::extract::State;
use axum::http::StatusCode;

use crate::audit::{Event, Kind};
use crate::auth::step_up::{self, CodeField};
use crate::auth::{AuthUser, Device, SessionChange};
use crate::body::{Body, Field};
use crate::db;
use crate::error::ApiError;
use crate::routes::schemas::{Detail, StepUpPasskey, ValidationErrors};
use crate::routes::step_up_proof;
use crate::state::AppState;

const LAST_SUPERUSER: &str =
    "The last active superuser cannot delete their account; make another superuser first.";

/// The current password (and a current code where TOTP is on) to confirm; or a passkey
/// step-up instead.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct DeleteAccountBody {
    /// Required unless `passkey` is sent.
    #[schema(value_type = Option<String>)]
    pub password: Field,
    /// A current TOTP code or an unused recovery code; needed where TOTP is on.
    #[schema(value_type = Option<String>, example = "123456")]
    pub code: Field,
    #[schema(value_type = Option<StepUpPasskey>)]
    pub passkey: Field,
}

/// Delete the caller's account, profile and tokens. The address can register again.
#[utoipa::path(
    delete, path = "/users/me/", tag = "users",
    security(("token" = [])),
    request_body(content(
        (DeleteAccountBody = "application/json"),
        (DeleteAccountBody = "application/x-www-form-urlencoded"),
        (DeleteAccountBody = "multipart/form-data"),
    )),
    responses(
        (status = 204, description = "Deleted; no body"),
        (status = 400, description = "Missing `password`, `password: [\"Wrong password.\"]`, a missing or wrong `code` where TOTP is on, `passkey: [\"The passkey could not be verified.\"]`, or `non_field_errors` when the caller is the last active superuser", body = ValidationErrors),
        (status = 401, body = Detail), (status = 413, body = Detail), (status = 415, body = Detail),
        (status = 429, description = "Too many wrong passwords for this account or address (shared with login); see `Retry-After`", body = Detail),
        (status = 503, body = Detail),
    )
)]
pub async fn delete_me(
    State(state): State<AppState>,
    device: Device,
    auth: AuthUser,
    Body(body): Body<DeleteAccountBody>,
) -> Result<(SessionChange, StatusCode), ApiError> {
    let (password, code, passkey) = (&body.password, &body.code, &body.passkey);
    let proof = step_up_proof(password, code, passkey, CodeField::WhereTotpIsOn)?;
    step_up::confirm(&state, auth.user(), &device, proof, "delete_account").await?;
    match db::delete_user(&state.db, auth.user().id).await? {
        // NotFound: deleted a moment ago by another request of the same user; the same answer.
        db::Deletion::Deleted { picture_key } => {
            // Spawned: the file goes even if the client hangs up now.
            let pictures = state.pictures.clone();
            let removal =
                tokio::spawn(async move { pictures.discard_any(picture_key.as_deref()).await });
            removal.await.ok();
        }
        db::Deletion::NotFound => {}
        db::Deletion::LastSuperuser => {
            return Err(ApiError::field("non_field_errors", LAST_SUPERUSER));
        }
    }
    let event = Event::new(Kind::AccountDeleted)
        .user(auth.user().id)
        .ip(device.ip);
    event.record(&state).await;
    Ok((SessionChange::User(auth.user().id), StatusCode::NO_CONTENT))
}
