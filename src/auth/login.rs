//! Logging in, and re-entering the password for a sensitive action: both are guesses counted by
//! one throttle under the same account and address keys, before the password is checked.

use std::net::IpAddr;

use super::{Device, LoginKeys, PlainToken, SessionChange, announce_session_change};
use crate::audit::{self, Event, Kind};
use crate::db::{self, NewToken, UserRow};
use crate::domain::{Email, Password};
use crate::error::ApiError;
use crate::state::AppState;

/// The same answer for an unknown address, a wrong password and a deactivated account.
const BAD_CREDENTIALS: &str = "Unable to log in with provided credentials.";

/// What a right password leads to: a token, or, with TOTP on, a second step.
#[derive(Debug)]
pub enum LoginOutcome {
    LoggedIn(LoggedIn),
    /// The `mfa_token` to bring to `POST /token/mfa/` with a code.
    SecondFactorDue(PlainToken),
}

#[derive(Debug)]
pub struct LoggedIn {
    pub token: PlainToken,
    pub user_id: i64,
    pub email: String,
}

/// Who a login is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// An API token, for any active account.
    Api,
    /// A staff console session: staff and superusers only. A plain account's right password is
    /// refused exactly as a wrong one (and counted as one).
    Console,
}

/// A right password of an account the audience admits.
#[derive(Debug)]
pub struct Verified {
    pub account: Account,
    /// TOTP is on: a code is due, and the password stays counted until it is right.
    pub totp: bool,
}

/// Logs in with `email` as typed: throttle, verify, rehash, verified-email policy, event, token.
pub async fn log_in(
    state: &AppState,
    email: &str,
    password: Password,
    client: IpAddr,
    user_agent: Option<&str>,
) -> Result<LoginOutcome, ApiError> {
    let Verified { account, totp } =
        verify_login(state, email, password, client, Audience::Api).await?;
    if totp {
        let token = super::mfa::start_challenge(state, account.id, user_agent).await?;
        return Ok(LoginOutcome::SecondFactorDue(token));
    }
    let logged_in = issue_token(state, account, &Device::new(client, user_agent), None).await?;
    Ok(LoginOutcome::LoggedIn(logged_in))
}

/// The first half of every password login: throttle, verify, rehash, the verified-email
/// policy; a failure is the one answer for every cause, with its security event.
pub async fn verify_login(
    state: &AppState,
    email: &str,
    password: Password,
    client: IpAddr,
    audience: Audience,
) -> Result<Verified, ApiError> {
    // A malformed address is just an unknown one, and costs the same.
    let key = Email::lookup_key(email);
    let keys = LoginKeys::new(&key, client);
    let db::LoginRead {
        account,
        tokens: held_tokens,
        account_throttle,
        address_throttle,
        totp,
    } = db::read_login(&state.db, &key, keys.account(), keys.address()).await?;
    // While delayed, even the right password is refused, mostly without a write.
    let throttle = state.config.login_throttle();
    throttle.check(account_throttle, address_throttle, state.clock.now())?;
    let admitted = |a: &db::Credentials| match audience {
        Audience::Api => true,
        Audience::Console => a.is_staff,
    };
    let active = account.as_ref().is_some_and(|a| a.is_active && admitted(a));
    let hash = account.as_ref().map(|a| a.password_hash.clone());
    // With TOTP on, a right password stays counted until the code is right too
    // (`settle_password_guess`): otherwise each login would wipe the count of wrong codes.
    let settle = |m| m && active && !totp;
    let matched = guess_password(state, &keys, hash, password.clone(), settle).await?;
    let account = match account {
        Some(a) if matched && active => a,
        _ => {
            tracing::info!("login failed");
            crate::metrics::record_login(false);
            // Written for known and unknown addresses alike: the same work either way.
            let why = match &account {
                Some(a) if matched && a.is_active => "not staff (console)".to_owned(),
                _ => failure_reason(account.as_ref().map(|a| a.is_active), matched, email),
            };
            let known = account.as_ref().map(|a| a.id);
            let event = Event::new(Kind::LoginFailed).maybe_user(known);
            event.ip(client).detail(&why).record(state).await;
            return Err(ApiError::field("non_field_errors", BAD_CREDENTIALS));
        }
    };
    // Only now, after the right password: the extra hash says nothing to someone without it.
    upgrade_password_hash(state, &account, password).await;
    check_verified_email(state, account.id).await?;
    let account = Account {
        id: account.id,
        email: account.email,
        held_tokens,
    };
    Ok(Verified { account, totp })
}

/// An account whose login is decided: who, and how many tokens it held when read.
#[derive(Debug)]
pub struct Account {
    pub id: i64,
    pub email: String,
    /// The tokens the account held when the login read it (for the per-user cap).
    pub held_tokens: i64,
}

/// Ends every login that succeeded (password, password and second factor, passkey): a new
/// token, its security event (`how` is its detail, e.g. `"passkey"`) in the same commit, and the
/// oldest tokens beyond the cap revoked.
pub async fn issue_token(
    state: &AppState,
    account: Account,
    device: &Device,
    how: Option<&str>,
) -> Result<LoggedIn, ApiError> {
    let token = PlainToken::generate();
    let event = Event::new(Kind::LoginSucceeded)
        .user(account.id)
        .ip(device.ip);
    let event = match how {
        Some(how) => event.detail(how),
        None => event,
    };
    let event = event.row(state);
    let digest = token.digest();
    let new_token = NewToken {
        digest: digest.as_bytes(),
        created_at: state.clock.now(),
        user_agent: device.user_agent.as_deref(),
    };
    let keep = i64::from(state.config.max_tokens_per_user);
    let held = account.held_tokens;
    let revoked = db::store_login(&state.db, account.id, &new_token, held, keep, &event).await?;
    if revoked > 0 {
        // Pushing out the oldest tokens changed sessions other processes may cache.
        announce_session_change(state, SessionChange::User(account.id)).await;
    }
    audit::log(&event);
    crate::metrics::record_login(true);
    crate::notices::signed_in(state, account.id, &account.email, device);
    Ok(LoggedIn {
        token,
        user_id: account.id,
        email: account.email,
    })
}

/// Whether `password` is `user`'s current one; `action` names a wrong one's security event.
pub async fn confirm_password(
    state: &AppState,
    user: &UserRow,
    client: IpAddr,
    password: Password,
    action: &str,
) -> Result<bool, ApiError> {
    check_password(state, user, client, password, action, true).await
}

/// Like [`confirm_password`], but a right password stays counted as a guess until
/// [`settle_password_guess`]: for an action that needs a second factor as well, so a right
/// password cannot wipe the count of wrong codes.
pub(crate) async fn confirm_password_before_code(
    state: &AppState,
    user: &UserRow,
    client: IpAddr,
    password: Password,
    action: &str,
) -> Result<bool, ApiError> {
    check_password(state, user, client, password, action, false).await
}

/// Takes back the password guess a right second factor completed.
pub(crate) async fn settle_password_guess(
    state: &AppState,
    email: &str,
    client: IpAddr,
) -> Result<(), ApiError> {
    let keys = LoginKeys::new(&Email::lookup_key(email), client);
    db::settle_guess(&state.db, keys.address(), keys.account()).await?;
    Ok(())
}

async fn check_password(
    state: &AppState,
    user: &UserRow,
    client: IpAddr,
    password: Password,
    action: &str,
    settle: bool,
) -> Result<bool, ApiError> {
    let keys = LoginKeys::new(&Email::lookup_key(&user.email), client);
    let hash = db::find_password_hash(&state.db, user.id).await?;
    let matched = guess_password(state, &keys, hash, password, |m| m && settle).await?;
    if !matched {
        let event = Event::new(Kind::PasswordCheckFailed)
            .user(user.id)
            .ip(client);
        event.detail(action).record(state).await;
    }
    Ok(matched)
}

/// Counts a guess, verifies it (also without a hash, so an unknown account costs the same) and
/// takes the count back if `accepted(matched)`. Returns whether the password matched.
async fn guess_password(
    state: &AppState,
    keys: &LoginKeys,
    hash: Option<String>,
    password: Password,
    accepted: impl FnOnce(bool) -> bool,
) -> Result<bool, ApiError> {
    let throttle = state.config.login_throttle();
    let guess = throttle.guess(&state.db, keys, state.clock.now()).await?;
    let matched = state.hashing.verify(password, hash).await?;
    if accepted(matched) {
        guess.succeeded(&state.db).await?;
    }
    Ok(matched)
}

/// Rehashes a Django or outdated Argon2 hash; a failure costs the upgrade, never the login.
async fn upgrade_password_hash(state: &AppState, account: &db::Credentials, password: Password) {
    if !state.hashing.needs_rehash(&account.password_hash) {
        return;
    }
    let upgraded = match state.hashing.hash(password).await {
        Ok(new_hash) => {
            db::update_password_hash(&state.db, account.id, &account.password_hash, &new_hash)
                .await
                .map_err(|e| anyhow::anyhow!(e))
        }
        Err(e) => Err(anyhow::anyhow!("{e}")),
    };
    match upgraded {
        Ok(true) => tracing::info!(user_id = account.id, "password hash upgraded"),
        Ok(false) => tracing::info!(
            user_id = account.id,
            "password changed meanwhile; hash kept"
        ),
        Err(e) => tracing::warn!(user_id = account.id, error = %e, "password hash upgrade failed"),
    }
}

/// Only called after the password matched, so it tells nothing to someone without it.
pub(crate) async fn check_verified_email(state: &AppState, user_id: i64) -> Result<(), ApiError> {
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

/// Why a login failed, for staff. Names only a well-formed address: people type passwords into
/// the email field, and the log never holds a secret.
fn failure_reason(active: Option<bool>, matched: bool, email: &str) -> String {
    match active {
        Some(_) if !matched => "wrong password".to_owned(),
        Some(_) => "account inactive".to_owned(),
        None => match Email::parse(email.trim()) {
            Ok(address) => format!("no such account: {}", address.as_str()),
            Err(_) => "no such account (not an email address; not recorded)".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::failure_reason;

    #[test]
    fn a_failure_reason_never_records_what_is_not_an_address() {
        assert_eq!(
            failure_reason(Some(true), false, "a@b.co"),
            "wrong password"
        );
        assert_eq!(
            failure_reason(Some(false), true, "a@b.co"),
            "account inactive"
        );
        let unknown = failure_reason(None, false, " cook@example.com ");
        assert_eq!(unknown, "no such account: cook@example.com");
        let secret = failure_reason(None, false, "hunter2 hunter2");
        assert!(!secret.contains("hunter2"), "{secret}");
    }
}
