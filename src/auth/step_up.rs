//! Step-up for the sensitive actions (turning TOTP off, new recovery codes, adding a passkey,
//! deleting the account, changing the email): the password, and where TOTP is on a current
//! code as well; or instead of both, an assertion by one of the user's passkeys
//! (`POST /users/me/step-up/passkey/` begins one). Every failure is a guess counted by the login
//! throttle under the account and the client address.

use serde::Deserialize;
use webauthn_rs::prelude::PublicKeyCredential;

use super::login::{confirm_password_before_code, settle_password_guess};
use super::{Device, confirm_password, mfa, passkeys};
use crate::body::Field;
use crate::db::{self, TotpRead, UserRow};
use crate::domain::Password;
use crate::error::{ApiError, FieldErrors};
use crate::state::AppState;

pub const WRONG_PASSWORD: &str = "Wrong password.";
pub const PASSKEY_REFUSED: &str = "The passkey could not be verified.";
const NOT_A_PASSKEY: &str =
    "Expected {\"ticket\": …, \"credential\": …} from POST /users/me/step-up/passkey/.";

/// What a caller offers to show it is the account's owner.
pub enum Proof {
    Password {
        password: Password,
        /// Needed where TOTP is on: a current TOTP code or an unused recovery code.
        code: Option<String>,
    },
    Passkey {
        ticket: String,
        credential: Box<PublicKeyCredential>,
    },
}

impl std::fmt::Debug for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Proof::Password { .. } => "Proof::Password(<redacted>)",
            Proof::Passkey { .. } => "Proof::Passkey(<redacted>)",
        })
    }
}

#[derive(Deserialize)]
struct PasskeyProof {
    ticket: String,
    credential: PublicKeyCredential,
}

/// How a body's `code` is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeField {
    /// Asked for only where TOTP turns out to be on.
    WhereTotpIsOn,
    /// The action needs TOTP on (turning it off, new recovery codes): a missing code is a
    /// field error with the others.
    Required,
}

/// Reads a sensitive action's proof from its body: `passkey` (`{"ticket", "credential"}`) where
/// sent, otherwise `password` (required) and `code`.
pub fn proof(
    password: &Field,
    code: &Field,
    passkey: &Field,
    code_field: CodeField,
    errors: &mut FieldErrors,
) -> Option<Proof> {
    if !passkey.is_absent() {
        let read: PasskeyProof = passkey.json(errors, NOT_A_PASSKEY)?;
        return Some(Proof::Passkey {
            ticket: read.ticket,
            credential: Box::new(read.credential),
        });
    }
    let password = password.text(errors).map(Password::new);
    let code = match code_field {
        CodeField::WhereTotpIsOn => code.optional_text(errors).flatten(),
        CodeField::Required => Some(code.text(errors)?),
    };
    password.map(|password| Proof::Password { password, code })
}

/// Whether `proof` shows `user` is here: `Ok` or the 400 that says which part was wrong
/// (`password`, `code` or `passkey`). `action` names a failure's security event.
pub async fn confirm(
    state: &AppState,
    user: &UserRow,
    device: &Device,
    proof: Proof,
    action: &str,
) -> Result<(), ApiError> {
    let totp = match &proof {
        Proof::Password { .. } => db::find_totp(&state.db, user.id)
            .await?
            .filter(TotpRead::enabled),
        Proof::Passkey { .. } => None,
    };
    confirm_with(state, user, device, proof, totp.as_ref(), action).await
}

/// [`confirm`] for a caller that read the user's TOTP row already (`totp`: where it is on).
pub(crate) async fn confirm_with(
    state: &AppState,
    user: &UserRow,
    device: &Device,
    proof: Proof,
    totp: Option<&TotpRead>,
    action: &str,
) -> Result<(), ApiError> {
    match (proof, totp) {
        (Proof::Passkey { ticket, credential }, _) => {
            match passkeys::confirm_step_up(state, user, device.ip, &ticket, &credential, action)
                .await?
            {
                true => Ok(()),
                false => Err(ApiError::field("passkey", PASSKEY_REFUSED)),
            }
        }
        (Proof::Password { password, .. }, None) => {
            match confirm_password(state, user, device.ip, password, action).await? {
                true => Ok(()),
                false => Err(ApiError::field("password", WRONG_PASSWORD)),
            }
        }
        (Proof::Password { password, code }, Some(row)) => {
            // The password first (a wrong one spends no code), and it stays counted as a guess
            // until the code is right too: a right password cannot wipe the count of wrong codes.
            if !confirm_password_before_code(state, user, device.ip, password, action).await? {
                return Err(ApiError::field("password", WRONG_PASSWORD));
            }
            mfa::check_required_code(state, user.id, row, device, code.as_deref(), action).await?;
            settle_password_guess(state, &user.email, device.ip).await
        }
    }
}
