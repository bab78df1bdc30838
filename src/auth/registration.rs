//! Registration: a new account, logged in at once, and the mail with its verification code.

use std::net::IpAddr;

use super::code_mail::code_mail_job;
use super::{CodePurpose, Device, PlainToken, Recipient};
use crate::db::{self, MailTarget, NewToken, NewUser};
use crate::domain::{Email, Password};
use crate::error::ApiError;
use crate::state::AppState;

/// A new account and its first token.
#[derive(Debug)]
pub struct Registered {
    pub token: PlainToken,
    pub user_id: i64,
    pub email: String,
}

/// Creates the account (the password already passed the policy) and queues its mail.
pub async fn register(
    state: &AppState,
    email: &Email,
    password: Password,
    client: IpAddr,
    user_agent: Option<&str>,
) -> Result<Registered, ApiError> {
    // When the mail queue is full, nothing is created.
    let slot = state.mailer.reserve()?;
    // Each registration costs a hash: bound them per client address.
    let limit = state.config.registration_limit();
    let key = format!("register-ip:{client}");
    limit.hit(&state.db, &key, state.clock.now()).await?;
    let password_hash = state.hashing.hash(password).await?;
    let token = PlainToken::generate();
    let now = state.clock.now();
    let user = NewUser {
        email,
        password_hash: &password_hash,
        date_joined: now,
    };
    let digest = token.digest();
    let new_token = NewToken {
        digest: digest.as_bytes(),
        created_at: now,
        user_agent,
    };
    // The device the account is made on is known from the start, in the same commit: a login
    // that follows at once is no new device.
    let device = Device::new(client, user_agent);
    let (family, network) = (device.family(), device.network());
    let device = db::DeviceKey {
        family: &family,
        network: &network,
    };
    let user = db::insert_user_with_token(&state.db, &user, &new_token, device).await?;
    tracing::info!(user_id = user.id, "user registered");
    let to = Recipient::Known(MailTarget {
        id: user.id,
        email: user.email.clone(),
        email_verified: user.email_verified,
    });
    slot.prepare(code_mail_job(state, CodePurpose::VerifyEmail, to));
    Ok(Registered {
        token,
        user_id: user.id,
        email: user.email,
    })
}
