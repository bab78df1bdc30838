//! The security event log: logins, logouts, revocations, password changes and resets, account
//! deletions and staff actions — who, when, from where — in the database (staff read it at
//! `GET /security-events/`) and as structured `tracing` events (target `security`). Never a
//! secret: no password, token, code or digest is ever an argument here.
//!
//! Recording is best effort: a failure to write the row is logged and does not fail the
//! request, since the action itself has already happened. The one exception is a successful
//! login, whose event is written with its token in one transaction (`db::store_login`): either
//! both are stored or neither, and the login fails.

use std::net::IpAddr;

use crate::db::{self, NewEvent};
use crate::state::AppState;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    LoginSucceeded,
    LoginFailed,
    /// A wrong current password re-entered by a signed-in caller (the detail names the
    /// action).
    PasswordCheckFailed,
    LoggedOut,
    TokensRevoked,
    PasswordChanged,
    PasswordReset,
    AccountDeleted,
    StaffUpdatedUser,
    /// A staff member listed or searched the users (reads of personal data are staff actions
    /// too).
    StaffListedUsers,
    StaffViewedUser,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::LoginSucceeded => "login_succeeded",
            Kind::LoginFailed => "login_failed",
            Kind::PasswordCheckFailed => "password_check_failed",
            Kind::LoggedOut => "logged_out",
            Kind::TokensRevoked => "tokens_revoked",
            Kind::PasswordChanged => "password_changed",
            Kind::PasswordReset => "password_reset",
            Kind::AccountDeleted => "account_deleted",
            Kind::StaffUpdatedUser => "staff_updated_user",
            Kind::StaffListedUsers => "staff_listed_users",
            Kind::StaffViewedUser => "staff_viewed_user",
        }
    }
}

/// Records one event about `user_id` (if known), done by `actor_id` (staff; `None` when the
/// user acted), from `ip`, with a short non-secret `detail`.
pub async fn record(
    state: &AppState,
    kind: Kind,
    user_id: Option<i64>,
    actor_id: Option<i64>,
    ip: Option<IpAddr>,
    detail: Option<&str>,
) {
    let event = event(state, kind, user_id, actor_id, ip, detail);
    log(&event);
    if let Err(e) = db::insert_event(&state.db, &event).await {
        tracing::warn!(error = %e, kind = event.kind, "could not store a security event");
    }
}

/// The row of one event, for a caller that stores it in the same transaction as the action
/// itself (a login's token and its event: one commit instead of two, and never a token without
/// its event); it calls [`log`] once that is committed. [`record`] does all three.
pub fn event<'a>(
    state: &AppState,
    kind: Kind,
    user_id: Option<i64>,
    actor_id: Option<i64>,
    ip: Option<IpAddr>,
    detail: Option<&'a str>,
) -> NewEvent<'a> {
    NewEvent {
        at: state.clock.now(),
        kind: kind.as_str(),
        user_id,
        actor_id,
        ip: ip.map(|ip| ip.to_string()),
        detail,
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
