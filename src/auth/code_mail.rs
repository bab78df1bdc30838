//! Mailing a one-time code: the step every endpoint that sends one goes through, so none can
//! get its order wrong. A place in the mail queue comes first, then the code-mail limits, then
//! the code: a full queue (`503`) or a limit (`429`) refuses the request before it has used up
//! any quota or voided the code the user already holds.
//!
//! The look-up of the recipient, the new code and its storage run in the mail queue, not in
//! the request, so a request does the same work whether or not the recipient exists (or, for
//! verification, is already verified).

use std::net::IpAddr;

use super::{CODE_LIFETIME, CodePurpose, OneTimeCode, account_key, hit_all};
use crate::db::{self, MailTarget};
use crate::error::ApiError;
use crate::mail::{Mail, MailSlot};
use crate::state::AppState;

/// No user has id 0 (ids start at 1), so a code issued to it is stored nowhere.
pub const NO_USER: i64 = 0;

/// Who a code mail is for, as the request names them.
#[derive(Debug, Clone)]
pub enum Recipient {
    UserId(i64),
    EmailKey(String),
    /// A user the request has just read or written: no need to look them up again.
    Known(MailTarget),
}

impl Recipient {
    /// The key of the per-account code-mail limit: a digest, so the table holds no address.
    fn limit_key(&self) -> String {
        match self {
            Self::UserId(id) => account_key("code-mail-user", &id.to_string()),
            Self::Known(target) => account_key("code-mail-user", &target.id.to_string()),
            Self::EmailKey(key) => account_key("code-mail-email", key),
        }
    }
}

/// Mails a new code of `purpose` to `to` (voiding the previous one), within the code-mail
/// limits per client address and per account (each new code brings new tries, so this also
/// bounds code guessing). A full queue answers 503 and a limit 429, either having changed
/// nothing: no limit counts the request and no code is issued.
pub async fn send_code_mail(
    state: &AppState,
    client: IpAddr,
    purpose: CodePurpose,
    to: Recipient,
) -> Result<(), ApiError> {
    // The place first: once the limits have counted the request, nothing can refuse it.
    let slot = state.mailer.reserve()?;
    let config = &state.config;
    let address = format!("code-mail-ip:{client}");
    let account = to.limit_key();
    let limits = [
        (config.code_mails_per_address_limit(), address.as_str()),
        (config.code_mails_per_account_limit(), account.as_str()),
    ];
    hit_all(&state.db, &limits, state.clock.now()).await?;
    queue_code_mail(state, slot, purpose, to);
    Ok(())
}

/// Queues a code mail in `slot` without the code-mail limits: for a request bounded by a limit
/// of its own (registration), which reserved `slot` before changing anything.
pub fn queue_code_mail(state: &AppState, slot: MailSlot, purpose: CodePurpose, to: Recipient) {
    let state = state.clone();
    slot.prepare(async move {
        let target = match to {
            Recipient::UserId(id) => db::find_mail_target_by_id(&state.db, id).await?,
            Recipient::EmailKey(key) => db::find_mail_target_by_email_key(&state.db, &key).await?,
            Recipient::Known(target) => Some(target),
        };
        let target = target.filter(|t| !(purpose == CodePurpose::VerifyEmail && t.email_verified));
        issue_code(&state, purpose, target.as_ref()).await
    });
}

/// Issues a new code (voiding the previous one of that purpose) and returns its mail, or
/// `None` after the same work when there is nobody to send it to.
async fn issue_code(
    state: &AppState,
    purpose: CodePurpose,
    target: Option<&MailTarget>,
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
    )
    .await?;
    let mail = Mail::with_code(target.map_or("", |t| t.email.as_str()), purpose, &code);
    Ok(stored.then_some(mail))
}
