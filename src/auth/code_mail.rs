//! Mailing a one-time code: a queue place, then the limits, then the code, so a refusal uses no
//! quota and voids no code. The recipient's look-up runs in the mail queue, so a request does
//! the same work whether or not the recipient exists (no enumeration). An email change code
//! goes to the address it switches to, not to the account's.

use std::net::IpAddr;

use super::{CODE_LIFETIME, CodePurpose, OneTimeCode, account_key, hit_all};
use crate::db::{self, MailTarget};
use crate::domain::Email;
use crate::error::ApiError;
use crate::mail::Mail;
use crate::state::AppState;

/// No user has id 0, so a code issued to it is stored nowhere.
pub const NO_USER: i64 = 0;

#[derive(Debug, Clone)]
pub enum Recipient {
    UserId(i64),
    EmailKey(String),
    Known(MailTarget),
    /// An email change: the code is the user's, the mail goes to (and the code row holds) the
    /// new address.
    NewAddress {
        user_id: i64,
        email: Email,
    },
}

impl Recipient {
    /// A digest, so the limits table holds no address.
    fn limit_key(&self) -> String {
        match self {
            Self::UserId(id) | Self::NewAddress { user_id: id, .. } => {
                account_key("code-mail-user", &id.to_string())
            }
            Self::Known(target) => account_key("code-mail-user", &target.id.to_string()),
            Self::EmailKey(key) => account_key("code-mail-email", key),
        }
    }
}

/// Mails a new code of `purpose` within the code-mail limits (which also bound code guessing).
pub async fn send_code_mail(
    state: &AppState,
    client: IpAddr,
    purpose: CodePurpose,
    to: Recipient,
) -> Result<(), ApiError> {
    let slot = state.mailer.reserve()?;
    let config = &state.config;
    let address = format!("code-mail-ip:{client}");
    let account = to.limit_key();
    let limits = [
        (config.code_mails_per_address_limit(), address.as_str()),
        (config.code_mails_per_account_limit(), account.as_str()),
    ];
    hit_all(&state.db, &limits, state.clock.now()).await?;
    slot.prepare(code_mail_job(state, purpose, to));
    Ok(())
}

/// The queue's work for one code mail: the recipient's look-up, the code, the mail.
pub fn code_mail_job(
    state: &AppState,
    purpose: CodePurpose,
    to: Recipient,
) -> impl std::future::Future<Output = anyhow::Result<Option<Mail>>> + Send + 'static {
    let state = state.clone();
    async move {
        let mut new_email = None;
        let target = match to {
            Recipient::UserId(id) => db::find_mail_target_by_id(&state.db, id).await?,
            Recipient::EmailKey(key) => db::find_mail_target_by_email_key(&state.db, &key).await?,
            Recipient::Known(target) => Some(target),
            Recipient::NewAddress { user_id, email } => {
                let target = MailTarget {
                    id: user_id,
                    email: email.as_str().to_owned(),
                    email_verified: false,
                };
                new_email = Some(email);
                Some(target)
            }
        };
        let target = target.filter(|t| !(purpose == CodePurpose::VerifyEmail && t.email_verified));
        issue_code(&state, purpose, target.as_ref(), new_email.as_ref()).await
    }
}

async fn issue_code(
    state: &AppState,
    purpose: CodePurpose,
    target: Option<&MailTarget>,
    new_email: Option<&Email>,
) -> anyhow::Result<Option<Mail>> {
    let code = OneTimeCode::generate();
    let user_id = target.map_or(NO_USER, |t| t.id);
    let sealed = code.seal(purpose, user_id);
    let now = state.clock.now();
    let stored = db::replace_code(
        &state.db,
        user_id,
        purpose,
        &sealed,
        now,
        now + CODE_LIFETIME,
        new_email,
    )
    .await?;
    let service = &state.config.mail.service_name;
    let mail = Mail::with_code(
        service,
        target.map_or("", |t| t.email.as_str()),
        purpose,
        &code,
    )?;
    Ok(stored.then_some(mail))
}
