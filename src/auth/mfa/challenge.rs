//! A login in two steps: the right password with TOTP on leaves a challenge (its `mfa_token`
//! is 256 random bits, stored as a SHA-256 digest, for 5 minutes and 5 tries, once); the second
//! step brings it back with a code and gets the token. The challenge lives in its own table,
//! so an `mfa_token` can never authenticate a route.

use std::net::IpAddr;

use chrono::TimeDelta;
use sha2::{Digest, Sha256};

use super::{INVALID_CODE, Method, check_code};
use crate::audit::{Event, Kind};
use crate::auth::login::{
    Account, LoggedIn, check_verified_email, issue_token, settle_password_guess,
};
use crate::auth::{Device, PlainToken};
use crate::db::{self, NewChallenge, TotpRead};
use crate::error::ApiError;
use crate::state::AppState;

/// The one answer for an unknown, used, expired or exhausted `mfa_token`.
pub const INVALID_MFA_TOKEN: &str = "Invalid or expired.";
pub const CHALLENGE_LIFETIME: TimeDelta = TimeDelta::minutes(5);
pub const CHALLENGE_TRIES: i32 = 5;

fn invalid_token() -> ApiError {
    ApiError::field("mfa_token", INVALID_MFA_TOKEN)
}

/// Stores a challenge for `user_id`, whose password was right; returns its `mfa_token`.
pub async fn start_challenge(
    state: &AppState,
    user_id: i64,
    user_agent: Option<&str>,
) -> Result<PlainToken, ApiError> {
    let token = PlainToken::generate();
    let digest = token.digest();
    let now = state.clock.now();
    let challenge = NewChallenge {
        digest: digest.as_bytes(),
        user_id,
        user_agent,
        tries: CHALLENGE_TRIES,
        expires_at: now + CHALLENGE_LIFETIME,
    };
    db::insert_mfa_challenge(&state.db, &challenge, now).await?;
    Ok(token)
}

/// The second step: one try of `mfa_token`, then `code` (a throttled guess); the challenge is
/// ended by the one request that gets the token.
pub async fn finish_login(
    state: &AppState,
    mfa_token: &str,
    code: &str,
    client: IpAddr,
    user_agent: Option<&str>,
) -> Result<LoggedIn, ApiError> {
    let device = Device::new(client, user_agent);
    let (account, method) = pass_challenge(state, mfa_token, code, &device).await?;
    issue_token(state, account, &device, Some(method.as_str())).await
}

/// The second step up to the account it proves, and how the code was given: for a caller that
/// ends the login its own way (the staff console opens a session instead of a token).
pub async fn pass_challenge(
    state: &AppState,
    mfa_token: &str,
    code: &str,
    device: &Device,
) -> Result<(Account, Method), ApiError> {
    let client = device.ip;
    let digest: [u8; 32] = Sha256::digest(mfa_token.trim().as_bytes()).into();
    let now = state.clock.now();
    let user_id = db::take_mfa_challenge_try(&state.db, &digest, now)
        .await?
        .ok_or_else(invalid_token)?;
    let row = db::find_totp(&state.db, user_id)
        .await?
        .filter(TotpRead::enabled);
    let row = match row {
        Some(row) if row.is_active => row,
        // Deactivated (or TOTP turned off) since the password: this login is over.
        other => {
            db::delete_mfa_challenge(&state.db, &digest).await?;
            let why = match other {
                Some(row) if !row.is_active => "account inactive",
                _ => "second factor removed before the login finished",
            };
            let event = Event::new(Kind::LoginFailed).user(user_id).ip(client);
            event.detail(why).record(state).await;
            return Err(invalid_token());
        }
    };
    let Some(method) = check_code(state, user_id, &row, device, code, "login").await? else {
        return Err(ApiError::field("code", INVALID_CODE));
    };
    if !db::delete_mfa_challenge(&state.db, &digest).await? {
        // Another request finished this login first.
        return Err(invalid_token());
    }
    // The login's right password stayed counted until now (see `log_in`).
    settle_password_guess(state, &row.email, client).await?;
    check_verified_email(state, user_id).await?;
    let account = Account {
        id: user_id,
        email: row.email,
        held_tokens: row.held_tokens,
    };
    Ok((account, method))
}
