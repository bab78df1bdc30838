//! Passkeys (WebAuthn, through webauthn-rs): adding one (password, then a code where TOTP is on,
//! then the authenticator's attestation) and logging in with one (a discoverable credential, no
//! email, user verification required). Each ceremony is two requests; its state lives in
//! `webauthn_ceremonies` under the SHA-256 of a random ticket, for 5 minutes, taken once, so
//! any process finishes what another began (docs/decisions/0021).

use std::net::IpAddr;

use chrono::TimeDelta;
use serde_json::Value;
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{
    CredentialID, DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Uuid,
};

use super::login::check_verified_email;
use super::{Account, LoggedIn, LoginKeys, PlainToken, issue_token};
use crate::audit::{Event, Kind};
use crate::db::{self, NewCeremony, PasskeyRow, UserRow};
use crate::domain::Email;
use crate::error::ApiError;
use crate::state::AppState;

/// How long a ceremony may take between its two requests.
pub const CEREMONY_LIFETIME: TimeDelta = TimeDelta::minutes(5);

/// The one answer to every refused passkey login: nothing tells which part was wrong.
pub const PASSKEY_LOGIN_FAILED: &str = "Unable to log in with provided credentials.";
pub const BAD_TICKET: &str = "Invalid or expired ticket.";
pub const BAD_CREDENTIAL: &str = "The passkey could not be verified.";
pub const KNOWN_CREDENTIAL: &str = "This passkey is already registered.";

const REGISTER: &str = "register";
const LOGIN: &str = "login";
const STEP_UP: &str = "step_up";

/// The WebAuthn user handle of `user_id`: stable, derived (nothing stored), and no database
/// id in clear on the authenticator. A login maps it back through the credential's owner.
pub fn user_handle(user_id: i64) -> Uuid {
    let digest = Sha256::new()
        .chain_update(b"rayvers-kitchen/webauthn-user-handle/v1\0")
        .chain_update(user_id.to_be_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid_v8(bytes)
}

/// RFC 9562's custom UUID (version 8, variant 10).
fn uuid_v8(mut bytes: [u8; 16]) -> Uuid {
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid::from_bytes(bytes)
}

fn digest(ticket: &str) -> [u8; 32] {
    Sha256::digest(ticket.as_bytes()).into()
}

/// A ceremony begun: the ticket to finish it with, and the options for the browser.
#[derive(Debug)]
pub struct Begun {
    pub ticket: PlainToken,
    pub public_key: Value,
}

async fn store_ceremony(
    state: &AppState,
    purpose: &str,
    user_id: Option<i64>,
    ceremony_state: &impl serde::Serialize,
    public_key: Value,
) -> Result<Begun, ApiError> {
    let ticket = PlainToken::generate();
    let serialised = serde_json::to_string(ceremony_state).map_err(ApiError::internal)?;
    let digest = digest(ticket.expose());
    let new = NewCeremony {
        digest: &digest,
        purpose,
        user_id,
        state: &serialised,
        expires_at: state.clock.now() + CEREMONY_LIFETIME,
    };
    db::insert_ceremony(&state.db, &new).await?;
    Ok(Begun { ticket, public_key })
}

/// Takes the ceremony `ticket` names, if it is of `purpose` (and `user_id`'s) and alive.
async fn take_ceremony<T: serde::de::DeserializeOwned>(
    state: &AppState,
    ticket: &str,
    purpose: &str,
    user_id: Option<i64>,
) -> Result<Option<T>, ApiError> {
    let row = db::take_ceremony(&state.db, &digest(ticket), purpose, user_id).await?;
    let Some(row) = row.filter(|r| r.expires_at > state.clock.now()) else {
        return Ok(None);
    };
    serde_json::from_str(&row.state)
        .map(Some)
        .map_err(ApiError::internal)
}

/// Begins adding a passkey for `user_id` (whose password, and code, the caller checked): a
/// discoverable credential with user verification, none of the user's own again.
pub async fn begin_registration(
    state: &AppState,
    user_id: i64,
    email: &str,
) -> Result<Begun, ApiError> {
    let existing = db::find_passkeys_of_user(&state.db, user_id).await?;
    let exclude: Vec<CredentialID> = existing
        .into_iter()
        .map(|p| CredentialID::from(p.credential_id))
        .collect();
    let (options, registration) = state
        .passkeys
        .webauthn
        .start_passkey_registration(user_handle(user_id), email, email, Some(exclude))
        .map_err(ApiError::internal)?;
    let mut public_key = serde_json::to_value(&options.public_key).map_err(ApiError::internal)?;
    // webauthn-rs asks for a server-side credential; login here names no user, so the
    // authenticator must keep the credential (a passkey proper).
    if let Some(selection) = public_key
        .get_mut("authenticatorSelection")
        .and_then(Value::as_object_mut)
    {
        selection.insert("residentKey".into(), "required".into());
        selection.insert("requireResidentKey".into(), true.into());
    }
    store_ceremony(state, REGISTER, Some(user_id), &registration, public_key).await
}

/// Why adding a passkey was refused, by field.
#[derive(Debug)]
pub enum RegistrationRefused {
    Ticket,
    Credential(&'static str),
}

/// Finishes adding a passkey named `name` with the ceremony `ticket` (once, the caller's own).
pub async fn finish_registration(
    state: &AppState,
    user_id: i64,
    device: &super::Device,
    ticket: &str,
    credential: &RegisterPublicKeyCredential,
    name: &str,
) -> Result<Result<PasskeyRow, RegistrationRefused>, ApiError> {
    let Some(registration) =
        take_ceremony::<PasskeyRegistration>(state, ticket, REGISTER, Some(user_id)).await?
    else {
        return Ok(Err(RegistrationRefused::Ticket));
    };
    let passkey = match state
        .passkeys
        .webauthn
        .finish_passkey_registration(credential, &registration)
    {
        Ok(passkey) => passkey,
        Err(e) => {
            tracing::info!(error = %e, "passkey registration refused");
            return Ok(Err(RegistrationRefused::Credential(BAD_CREDENTIAL)));
        }
    };
    let serialised = serde_json::to_string(&passkey).map_err(ApiError::internal)?;
    let credential_id: &[u8] = passkey.cred_id().as_ref();
    let now = state.clock.now();
    let inserted =
        db::insert_passkey(&state.db, user_id, credential_id, &serialised, name, now).await;
    let row = match inserted {
        Ok(Some(row)) => row,
        Ok(None) => return Err(ApiError::NotFound),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Ok(Err(RegistrationRefused::Credential(KNOWN_CREDENTIAL)));
        }
        Err(e) => return Err(e.into()),
    };
    let event = Event::new(Kind::PasskeyAdded).user(user_id).ip(device.ip);
    event.record(state).await;
    let to = crate::notices::NoticeTo::User(user_id);
    let kind = crate::mail::NoticeKind::PasskeyAdded;
    crate::notices::send(state, to, kind, device, Some(row.name.clone()));
    Ok(Ok(row))
}

/// Begins a login with any discoverable credential of this relying party. Each stores a
/// ceremony, so they are bounded per client address.
pub async fn begin_login(state: &AppState, client: IpAddr) -> Result<Begun, ApiError> {
    let key = format!("passkey-login-ip:{client}");
    let limit = state.config.passkey_login_limit();
    limit.hit(&state.db, &key, state.clock.now()).await?;
    let (options, authentication) = state
        .passkeys
        .webauthn
        .start_discoverable_authentication()
        .map_err(ApiError::internal)?;
    let public_key = serde_json::to_value(&options.public_key).map_err(ApiError::internal)?;
    store_ceremony(state, LOGIN, None, &authentication, public_key).await
}

/// Logs in with a passkey assertion: counted under the client address like a password guess
/// (before anything is checked), then the ceremony (once), the credential's owner, its
/// signature, user verification and counter, the account; a token as any login ends.
pub async fn log_in_with_passkey(
    state: &AppState,
    ticket: &str,
    credential: &PublicKeyCredential,
    client: IpAddr,
    user_agent: Option<&str>,
) -> Result<LoggedIn, ApiError> {
    let proved = pass_passkey(state, ticket, credential, client).await?;
    let device = super::Device::new(client, user_agent);
    issue_token(state, proved.account, &device, Some("passkey")).await
}

/// Who a passkey assertion proves.
#[derive(Debug)]
pub struct PasskeyProved {
    pub account: Account,
    /// Staff or superuser (the staff console admits only them).
    pub is_staff: bool,
}

/// A passkey login up to the account it proves: for a caller that ends the login its own way
/// (the staff console opens a session instead of a token).
pub async fn pass_passkey(
    state: &AppState,
    ticket: &str,
    credential: &PublicKeyCredential,
    client: IpAddr,
) -> Result<PasskeyProved, ApiError> {
    let throttle = state.config.login_throttle();
    let guess = throttle
        .guess_from_address(&state.db, client, state.clock.now())
        .await?;
    let (user_id, outcome) = verify_assertion(state, ticket, credential).await?;
    let account = match outcome {
        Ok(account) => account,
        Err(why) => {
            tracing::info!(why, "passkey login failed");
            crate::metrics::record_login(false);
            let event = Event::new(Kind::PasskeyLoginFailed).maybe_user(user_id);
            event.ip(client).detail(why).record(state).await;
            return Err(ApiError::field("non_field_errors", PASSKEY_LOGIN_FAILED));
        }
    };
    guess.succeeded(&state.db).await?;
    check_verified_email(state, account.account.id).await?;
    Ok(account)
}

/// The account a valid assertion proves, or why not (for the event; never for the client),
/// with the user it named where there was one.
async fn verify_assertion(
    state: &AppState,
    ticket: &str,
    credential: &PublicKeyCredential,
) -> Result<(Option<i64>, Result<PasskeyProved, &'static str>), ApiError> {
    let Some(authentication) =
        take_ceremony::<DiscoverableAuthentication>(state, ticket, LOGIN, None).await?
    else {
        return Ok((None, Err("unknown, used or expired ticket")));
    };
    let webauthn = &state.passkeys.webauthn;
    let Ok((handle, credential_id)) = webauthn.identify_discoverable_authentication(credential)
    else {
        return Ok((None, Err("no user handle")));
    };
    let Some((user_id, stored)) =
        db::find_passkey_by_credential_id(&state.db, credential_id).await?
    else {
        return Ok((None, Err("unknown or deleted passkey")));
    };
    if user_handle(user_id) != handle {
        return Ok((Some(user_id), Err("passkey of another user handle")));
    }
    let mut passkey: Passkey = serde_json::from_str(&stored.passkey).map_err(ApiError::internal)?;
    let keys = [DiscoverableKey::from(&passkey)];
    let result =
        match webauthn.finish_discoverable_authentication(credential, authentication, &keys) {
            Ok(result) => result,
            Err(e) => {
                tracing::info!(error = %e, "passkey assertion refused");
                return Ok((Some(user_id), Err("assertion refused")));
            }
        };
    if !result.user_verified() {
        return Ok((Some(user_id), Err("no user verification")));
    }
    passkey.update_credential(&result);
    let serialised = serde_json::to_string(&passkey).map_err(ApiError::internal)?;
    let now = state.clock.now();
    if !db::record_passkey_use(&state.db, user_id, stored.id, &serialised, now).await? {
        return Ok((Some(user_id), Err("passkey deleted meanwhile")));
    }
    match db::find_passkey_account(&state.db, user_id).await? {
        Some(a) if a.is_active => Ok((
            Some(user_id),
            Ok(PasskeyProved {
                account: Account {
                    id: user_id,
                    email: a.email,
                    held_tokens: a.tokens,
                },
                is_staff: a.is_staff,
            }),
        )),
        _ => Ok((Some(user_id), Err("inactive or deleted account"))),
    }
}

/// Begins a step-up: an assertion by one of `user_id`'s own passkeys, with user verification,
/// to stand in for the password (and code) of one sensitive action. `None` without a passkey.
pub async fn begin_step_up(state: &AppState, user_id: i64) -> Result<Option<Begun>, ApiError> {
    let stored = db::find_passkeys_of_user(&state.db, user_id).await?;
    if stored.is_empty() {
        return Ok(None);
    }
    let passkeys = stored
        .iter()
        .map(|p| serde_json::from_str::<Passkey>(&p.passkey))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::internal)?;
    let (options, authentication) = state
        .passkeys
        .webauthn
        .start_passkey_authentication(&passkeys)
        .map_err(ApiError::internal)?;
    let public_key = serde_json::to_value(&options.public_key).map_err(ApiError::internal)?;
    let begun = store_ceremony(state, STEP_UP, Some(user_id), &authentication, public_key).await?;
    Ok(Some(begun))
}

/// Whether `credential` answers `user`'s step-up ceremony `ticket` (taken once): one of their
/// passkeys, the user verified, its counter moving on. Counted by the login throttle under the
/// account and the address like a password, before anything is checked.
pub async fn confirm_step_up(
    state: &AppState,
    user: &UserRow,
    client: IpAddr,
    ticket: &str,
    credential: &PublicKeyCredential,
    action: &str,
) -> Result<bool, ApiError> {
    let keys = LoginKeys::new(&Email::lookup_key(&user.email), client);
    let throttle = state.config.login_throttle();
    let guess = throttle.guess(&state.db, &keys, state.clock.now()).await?;
    match verify_step_up(state, user.id, ticket, credential).await? {
        Ok(()) => {
            guess.succeeded(&state.db).await?;
            Ok(true)
        }
        Err(why) => {
            tracing::info!(why, action, "passkey step-up refused");
            let event = Event::new(Kind::SecondFactorFailed)
                .user(user.id)
                .ip(client);
            event.detail(action).record(state).await;
            Ok(false)
        }
    }
}

async fn verify_step_up(
    state: &AppState,
    user_id: i64,
    ticket: &str,
    credential: &PublicKeyCredential,
) -> Result<Result<(), &'static str>, ApiError> {
    let Some(authentication) =
        take_ceremony::<PasskeyAuthentication>(state, ticket, STEP_UP, Some(user_id)).await?
    else {
        return Ok(Err("unknown, used, expired or another user's ticket"));
    };
    let webauthn = &state.passkeys.webauthn;
    let result = match webauthn.finish_passkey_authentication(credential, &authentication) {
        Ok(result) => result,
        Err(e) => {
            tracing::info!(error = %e, "passkey step-up assertion refused");
            return Ok(Err("assertion refused"));
        }
    };
    if !result.user_verified() {
        return Ok(Err("no user verification"));
    }
    let stored = db::find_passkeys_of_user(&state.db, user_id).await?;
    for row in stored {
        let mut passkey: Passkey =
            serde_json::from_str(&row.passkey).map_err(ApiError::internal)?;
        if passkey.cred_id() != result.cred_id() {
            continue;
        }
        passkey.update_credential(&result);
        let serialised = serde_json::to_string(&passkey).map_err(ApiError::internal)?;
        let now = state.clock.now();
        return match db::record_passkey_use(&state.db, user_id, row.id, &serialised, now).await? {
            true => Ok(Ok(())),
            false => Ok(Err("passkey deleted meanwhile")),
        };
    }
    Ok(Err("passkey deleted meanwhile"))
}

/// Removes the user's passkey `id`; `false` if the user has none with that id.
pub async fn remove_passkey(
    state: &AppState,
    user_id: i64,
    id: i64,
    client: IpAddr,
) -> Result<bool, ApiError> {
    if !db::delete_passkey_of_user(&state.db, user_id, id).await? {
        return Ok(false);
    }
    let event = Event::new(Kind::PasskeyRemoved).user(user_id).ip(client);
    event.record(state).await;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_handle_is_stable_distinct_and_a_version_8_uuid() {
        assert_eq!(user_handle(7), user_handle(7));
        assert_ne!(user_handle(7), user_handle(8));
        assert_eq!(user_handle(7).get_version_num(), 8);
    }
}
