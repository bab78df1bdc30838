//! Passkeys: `/users/me/passkeys/…` to add, list and delete one's own, `/token/passkey/…` to
//! log in with one, and the native apps' association files under `/.well-known/`. The flows
//! are in [`crate::auth::passkeys`].

use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use super::schemas::{Detail, StepUpPasskey, ValidationErrors};
use super::tokens::ObtainedToken;
use super::{PathId, step_up_proof, validated};
use crate::auth::passkeys::{self as flow, BAD_TICKET, RegistrationRefused};
use crate::auth::step_up::{self, CodeField};
use crate::auth::{AuthUser, ClientIp, Device, SessionChange};
use crate::body::{Body, Field};
use crate::db::PasskeyRow;
use crate::error::{ApiError, FieldErrors};
use crate::state::AppState;

/// The longest passkey name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
const INVALID_CREDENTIAL: &str = "Not a valid WebAuthn credential.";
const NO_PASSKEY: &str = "You have no passkey.";

/// The current password, and a current code where TOTP is on; or a passkey step-up instead.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasskeyOptionsBody {
    /// Required unless `passkey` is sent.
    #[schema(value_type = Option<String>)]
    pub password: Field,
    /// A current TOTP code or an unused recovery code; needed where TOTP is on.
    #[schema(value_type = Option<String>, example = "123456")]
    pub code: Field,
    #[schema(value_type = Option<StepUpPasskey>)]
    pub passkey: Field,
}

/// A ceremony begun: finish it with `ticket` within 5 minutes, once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CeremonyOptions {
    pub ticket: String,
    /// The WebAuthn options for `navigator.credentials.create()` (adding) or `.get()` (login),
    /// as the `publicKey` member.
    #[serde(rename = "publicKey")]
    #[schema(value_type = Object)]
    pub public_key: Value,
}

/// The ticket, the browser's credential and a name for the passkey.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AddPasskeyBody {
    #[schema(value_type = String)]
    pub ticket: Field,
    /// The WebAuthn JSON of `navigator.credentials.create()`'s result.
    #[schema(value_type = Object)]
    pub credential: Field,
    /// Shown in the list; required, at most 64 characters, trimmed.
    #[schema(value_type = String, example = "iPhone", max_length = 64)]
    pub name: Field,
}

/// The ticket and the browser's assertion.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasskeyLoginBody {
    #[schema(value_type = String)]
    pub ticket: Field,
    /// The WebAuthn JSON of `navigator.credentials.get()`'s result.
    #[schema(value_type = Object)]
    pub credential: Field,
}

/// One of the caller's passkeys.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyInfo {
    pub id: i64,
    pub name: String,
    pub created: DateTime<Utc>,
    /// The last login with it; `null` before the first.
    pub last_used: Option<DateTime<Utc>>,
}

impl From<PasskeyRow> for PasskeyInfo {
    fn from(row: PasskeyRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            created: row.created_at,
            last_used: row.last_used_at,
        }
    }
}

fn options(begun: flow::Begun) -> Json<CeremonyOptions> {
    Json(CeremonyOptions {
        ticket: begun.ticket.expose().to_owned(),
        public_key: begun.public_key,
    })
}

/// Begin adding a passkey: the password (and a code where TOTP is on), then options for
/// `navigator.credentials.create()`.
#[utoipa::path(
    post, path = "/users/me/passkeys/options/", tag = "passkeys",
    security(("token" = [])),
    request_body(content(
        (PasskeyOptionsBody = "application/json"),
        (PasskeyOptionsBody = "application/x-www-form-urlencoded"),
        (PasskeyOptionsBody = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "The ticket and the creation options", body = CeremonyOptions),
        (status = 400, description = "Missing fields, `password: [\"Wrong password.\"]`, a missing or wrong `code` where TOTP is on, or `passkey: [\"The passkey could not be verified.\"]`", body = ValidationErrors),
        (status = 401, body = Detail), (status = 413, body = Detail), (status = 415, body = Detail),
        (status = 429, description = "Too many wrong passwords or codes (shared with login); see `Retry-After`", body = Detail),
        (status = 503, body = Detail),
    )
)]
pub async fn begin_passkey_registration(
    State(state): State<AppState>,
    device: Device,
    auth: AuthUser,
    Body(body): Body<PasskeyOptionsBody>,
) -> Result<(SessionChange, Json<CeremonyOptions>), ApiError> {
    let (password, code, passkey) = (&body.password, &body.code, &body.passkey);
    let proof = step_up_proof(password, code, passkey, CodeField::WhereTotpIsOn)?;
    let user = auth.user();
    step_up::confirm(&state, user, &device, proof, "add_passkey").await?;
    let begun = flow::begin_registration(&state, user.id, &user.email).await?;
    Ok((SessionChange::Nothing, options(begun)))
}

/// Begin a passkey step-up: options for `navigator.credentials.get()` with the caller's own
/// passkeys. A sensitive action's `passkey` field then carries the ticket and the assertion in
/// place of the password and code (TOTP off, new recovery codes, adding a passkey, deleting the
/// account, changing the email). The body, `{}` or none, is not read.
#[utoipa::path(
    post, path = "/users/me/step-up/passkey/", tag = "passkeys",
    security(("token" = [])),
    responses(
        (status = 200, description = "The ticket and the request options", body = CeremonyOptions),
        (status = 400, description = "`non_field_errors: [\"You have no passkey.\"]`", body = ValidationErrors),
        (status = 401, body = Detail),
        (status = 429, description = "Too many step-ups begun for this account; see `Retry-After`", body = Detail),
        (status = 503, body = Detail),
    )
)]
pub async fn begin_step_up(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<(SessionChange, Json<CeremonyOptions>), ApiError> {
    let user_id = auth.user().id;
    // Each stores a ceremony: bounded per account like passkey logins per address.
    let key = format!("passkey-step-up-user:{user_id}");
    let limit = state.config.passkey_login_limit();
    limit.hit(&state.db, &key, state.clock.now()).await?;
    match flow::begin_step_up(&state, user_id).await? {
        Some(begun) => Ok((SessionChange::Nothing, options(begun))),
        None => Err(ApiError::field("non_field_errors", NO_PASSKEY)),
    }
}

/// Finish adding a passkey with the ticket and the browser's credential.
#[utoipa::path(
    post, path = "/users/me/passkeys/", tag = "passkeys",
    security(("token" = [])),
    request_body(content((AddPasskeyBody = "application/json"))),
    responses(
        (status = 201, description = "The passkey, added", body = PasskeyInfo),
        (status = 400, description = "Missing fields, a name over 64 characters, `ticket: [\"Invalid or expired ticket.\"]` (unknown, used, expired or another user's), `credential: [\"The passkey could not be verified.\"]` or `credential: [\"This passkey is already registered.\"]`", body = ValidationErrors),
        (status = 401, body = Detail), (status = 413, body = Detail), (status = 415, body = Detail),
        (status = 503, body = Detail),
    )
)]
pub async fn add_passkey(
    State(state): State<AppState>,
    device: Device,
    auth: AuthUser,
    Body(body): Body<AddPasskeyBody>,
) -> Result<(SessionChange, (StatusCode, Json<PasskeyInfo>)), ApiError> {
    let mut errors = FieldErrors::new();
    let ticket = body.ticket.text(&mut errors);
    let credential: Option<RegisterPublicKeyCredential> =
        body.credential.json(&mut errors, INVALID_CREDENTIAL);
    let name = body.name.text(&mut errors).and_then(|name| {
        let name = name.trim().to_owned();
        if name.chars().count() > MAX_NAME_CHARS {
            let message =
                format!("Ensure this field has no more than {MAX_NAME_CHARS} characters.");
            body.name.reject(&mut errors, [message]);
            return None;
        }
        Some(name)
    });
    let ((ticket, credential), name) = validated(errors, ticket.zip(credential).zip(name))?;
    let user_id = auth.user().id;
    let added =
        flow::finish_registration(&state, user_id, &device, &ticket, &credential, &name).await?;
    match added {
        Ok(row) => Ok((
            SessionChange::Nothing,
            (StatusCode::CREATED, Json(row.into())),
        )),
        Err(RegistrationRefused::Ticket) => Err(body.ticket.error(BAD_TICKET)),
        Err(RegistrationRefused::Credential(message)) => Err(body.credential.error(message)),
    }
}

/// The caller's passkeys, oldest first.
#[utoipa::path(
    get, path = "/users/me/passkeys/", tag = "passkeys",
    security(("token" = [])),
    responses(
        (status = 200, body = [PasskeyInfo]),
        (status = 401, body = Detail), (status = 503, body = Detail),
    )
)]
pub async fn list_passkeys(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<(SessionChange, Json<Vec<PasskeyInfo>>), ApiError> {
    let rows = crate::db::list_passkeys_of_user(&state.db, auth.user().id).await?;
    let list = rows.into_iter().map(PasskeyInfo::from).collect();
    Ok((SessionChange::Nothing, Json(list)))
}

/// Delete one of the caller's passkeys (it can no longer log in).
#[utoipa::path(
    delete, path = "/users/me/passkeys/{id}/", tag = "passkeys",
    security(("token" = [])),
    params(("id" = i64, Path, description = "A passkey id from the list")),
    responses(
        (status = 204, description = "Deleted; no body"),
        (status = 401, body = Detail),
        (status = 404, description = "No passkey of the caller has this id", body = Detail),
        (status = 503, body = Detail),
    )
)]
pub async fn delete_passkey(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    auth: AuthUser,
    PathId(id): PathId,
) -> Result<(SessionChange, StatusCode), ApiError> {
    if !flow::remove_passkey(&state, auth.user().id, id, client).await? {
        return Err(ApiError::NotFound);
    }
    Ok((SessionChange::Nothing, StatusCode::NO_CONTENT))
}

/// Begin a passkey login: options for `navigator.credentials.get()` with any discoverable
/// credential of this site (no email asked). The body, `{}` or none, is not read.
#[utoipa::path(
    post, path = "/token/passkey/options/", tag = "auth",
    responses(
        (status = 200, description = "The ticket and the request options", body = CeremonyOptions),
        (status = 429, description = "Too many passkey logins begun from this address; see `Retry-After`", body = Detail),
        (status = 503, body = Detail),
    )
)]
pub async fn begin_passkey_login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
) -> Result<(SessionChange, Json<CeremonyOptions>), ApiError> {
    let begun = flow::begin_login(&state, client).await?;
    Ok((SessionChange::Nothing, options(begun)))
}

/// Log in with a passkey: the ticket and the browser's assertion, for a new token. A passkey
/// (with user verification) is a second factor of its own: no TOTP code is asked.
#[utoipa::path(
    post, path = "/token/passkey/", tag = "auth",
    request_body(content((PasskeyLoginBody = "application/json"))),
    responses(
        (status = 200, description = "A new token", body = ObtainedToken),
        (status = 400, description = "Missing fields, or `non_field_errors: [\"Unable to log in with provided credentials.\"]` for any refused assertion, ticket or account", body = ValidationErrors),
        (status = 413, body = Detail), (status = 415, body = Detail),
        (status = 429, description = "Too many failed logins from this address; see `Retry-After`", body = Detail),
        (status = 503, body = Detail),
    )
)]
pub async fn log_in_with_passkey(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Body(body): Body<PasskeyLoginBody>,
) -> Result<(SessionChange, Json<ObtainedToken>), ApiError> {
    let mut errors = FieldErrors::new();
    let ticket = body.ticket.text(&mut errors);
    let credential: Option<PublicKeyCredential> =
        body.credential.json(&mut errors, INVALID_CREDENTIAL);
    let (ticket, credential) = validated(errors, ticket.zip(credential))?;
    let user_agent = super::user_agent(&headers);
    let login = crate::auth::passkeys::log_in_with_passkey(
        &state,
        &ticket,
        &credential,
        client,
        user_agent.as_deref(),
    )
    .await?;
    Ok((SessionChange::Nothing, Json(login.into())))
}

fn json_file(file: Option<&String>) -> Result<Response, ApiError> {
    let file = file.ok_or(ApiError::NotFound)?;
    Ok(([(CONTENT_TYPE, "application/json")], file.clone()).into_response())
}

/// The iOS apps that may use this site's passkeys (`KITCHEN_API_APPLE_APP_IDS`).
#[utoipa::path(
    get, path = "/.well-known/apple-app-site-association", tag = "native apps",
    responses(
        (status = 200, description = "`{\"webcredentials\": {\"apps\": [\"TEAMID.bundle.id\"]}}`", content_type = "application/json", body = Object),
        (status = 404, description = "No iOS app is set", body = Detail),
    )
)]
pub async fn apple_app_site_association(
    State(state): State<AppState>,
) -> Result<(SessionChange, Response), ApiError> {
    let file = json_file(state.passkeys.apple_app_site_association.as_ref())?;
    Ok((SessionChange::Nothing, file))
}

/// The Android apps that may use this site's passkeys (`KITCHEN_API_ANDROID_APPS`), as
/// Digital Asset Links statements with `delegate_permission/common.get_login_creds`.
#[utoipa::path(
    get, path = "/.well-known/assetlinks.json", tag = "native apps",
    responses(
        (status = 200, description = "One statement per app", content_type = "application/json", body = [Object]),
        (status = 404, description = "No Android app is set", body = Detail),
    )
)]
pub async fn asset_links(
    State(state): State<AppState>,
) -> Result<(SessionChange, Response), ApiError> {
    let file = json_file(state.passkeys.asset_links.as_ref())?;
    Ok((SessionChange::Nothing, file))
}
