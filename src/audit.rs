//! The security event log: who did what, when, from where, in the database (staff read it at
//! `GET /security-events/`) and as `tracing` events (target `security`). Never a secret: no
//! password, token, code or digest is ever given here. Recording is best effort, as the action
//! has already happened; only a login stores its event with its token, in one transaction.

use std::net::IpAddr;

use crate::db::{self, NewEvent};
use crate::state::AppState;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    LoginSucceeded,
    LoginFailed,
    /// A wrong current password re-entered by a signed-in caller.
    PasswordCheckFailed,
    LoggedOut,
    TokensRevoked,
    PasswordChanged,
    PasswordReset,
    /// The address moved to a new one (which of them is not recorded: personal data).
    EmailChanged,
    AccountDeleted,
    StaffUpdatedUser,
    /// Reads of personal data are staff actions too.
    StaffListedUsers,
    StaffViewedUser,
    PasskeyAdded,
    PasskeyRemoved,
    /// A passkey login refused (the success is a `login_succeeded` with detail `passkey`).
    PasskeyLoginFailed,
    TotpEnabled,
    TotpDisabled,
    RecoveryCodesRegenerated,
    RecoveryCodeUsed,
    /// A wrong TOTP or recovery code (the detail names the action).
    SecondFactorFailed,
    /// A right TOTP code (a login's is also its `login_succeeded` event, detail `totp`).
    SecondFactorSucceeded,
    StaffRemovedSecondFactors,
}

impl Kind {
    /// Every kind, for filters.
    pub const ALL: [Kind; 22] = [
        Kind::LoginSucceeded,
        Kind::LoginFailed,
        Kind::PasswordCheckFailed,
        Kind::LoggedOut,
        Kind::TokensRevoked,
        Kind::PasswordChanged,
        Kind::PasswordReset,
        Kind::EmailChanged,
        Kind::AccountDeleted,
        Kind::StaffUpdatedUser,
        Kind::StaffListedUsers,
        Kind::StaffViewedUser,
        Kind::PasskeyAdded,
        Kind::PasskeyRemoved,
        Kind::PasskeyLoginFailed,
        Kind::TotpEnabled,
        Kind::TotpDisabled,
        Kind::RecoveryCodesRegenerated,
        Kind::RecoveryCodeUsed,
        Kind::SecondFactorFailed,
        Kind::SecondFactorSucceeded,
        Kind::StaffRemovedSecondFactors,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::LoginSucceeded => "login_succeeded",
            Kind::LoginFailed => "login_failed",
            Kind::PasswordCheckFailed => "password_check_failed",
            Kind::LoggedOut => "logged_out",
            Kind::TokensRevoked => "tokens_revoked",
            Kind::PasswordChanged => "password_changed",
            Kind::PasswordReset => "password_reset",
            Kind::EmailChanged => "email_changed",
            Kind::AccountDeleted => "account_deleted",
            Kind::StaffUpdatedUser => "staff_updated_user",
            Kind::StaffListedUsers => "staff_listed_users",
            Kind::StaffViewedUser => "staff_viewed_user",
            Kind::PasskeyAdded => "passkey_added",
            Kind::PasskeyRemoved => "passkey_removed",
            Kind::PasskeyLoginFailed => "passkey_login_failed",
            Kind::TotpEnabled => "totp_enabled",
            Kind::TotpDisabled => "totp_disabled",
            Kind::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            Kind::RecoveryCodeUsed => "recovery_code_used",
            Kind::SecondFactorFailed => "second_factor_failed",
            Kind::SecondFactorSucceeded => "second_factor_succeeded",
            Kind::StaffRemovedSecondFactors => "staff_removed_second_factors",
        }
    }
}

/// One security event: `Event::new(Kind::LoggedOut).user(id).ip(client).record(&state).await`.
#[derive(Debug, Clone, Copy)]
#[must_use = "an event is only stored by `record`"]
pub struct Event<'a> {
    kind: Kind,
    user_id: Option<i64>,
    actor_id: Option<i64>,
    ip: Option<IpAddr>,
    detail: Option<&'a str>,
}

impl<'a> Event<'a> {
    pub fn new(kind: Kind) -> Self {
        Event {
            kind,
            user_id: None,
            actor_id: None,
            ip: None,
            detail: None,
        }
    }

    pub fn user(self, user_id: i64) -> Self {
        self.maybe_user(Some(user_id))
    }

    /// The account, if the request named one that exists.
    pub fn maybe_user(self, user_id: Option<i64>) -> Self {
        Event { user_id, ..self }
    }

    /// The staff member who acted.
    pub fn by(self, actor_id: i64) -> Self {
        Event {
            actor_id: Some(actor_id),
            ..self
        }
    }

    pub fn ip(self, ip: IpAddr) -> Self {
        Event {
            ip: Some(ip),
            ..self
        }
    }

    /// A short note; never a secret.
    pub fn detail(self, detail: &'a str) -> Self {
        Event {
            detail: Some(detail),
            ..self
        }
    }

    pub async fn record(self, state: &AppState) {
        let row = self.row(state);
        log(&row);
        if let Err(e) = db::insert_event(&state.db, &row).await {
            tracing::warn!(error = %e, kind = row.kind, "could not store a security event");
        }
    }

    /// The row, for a caller that stores it with the action in one transaction, then [`log`]s it.
    pub fn row(self, state: &AppState) -> NewEvent<'a> {
        NewEvent {
            at: state.clock.now(),
            kind: self.kind.as_str(),
            user_id: self.user_id,
            actor_id: self.actor_id,
            ip: self.ip.map(|ip| ip.to_string()),
            detail: self.detail,
        }
    }
}

/// Writes `event` to the log (target `security`).
pub fn log(event: &NewEvent<'_>) {
    tracing::info!(
        target: "security",
        kind = event.kind,
        user_id = event.user_id,
        actor_id = event.actor_id,
        ip = event.ip.as_deref(),
        detail = event.detail,
        "security event"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_names_only_what_the_builder_was_given() {
        let ip: IpAddr = [192, 0, 2, 7].into();
        let event = Event::new(Kind::StaffViewedUser).user(5).by(1).ip(ip);
        assert_eq!(event.user_id, Some(5));
        assert_eq!(event.actor_id, Some(1));
        assert_eq!(event.ip, Some(ip));
        assert_eq!(event.detail, None);
        let bare = Event::new(Kind::LoginFailed).maybe_user(None).detail("why");
        assert_eq!((bare.user_id, bare.actor_id, bare.ip), (None, None, None));
        assert_eq!(bare.detail, Some("why"));
    }
}
