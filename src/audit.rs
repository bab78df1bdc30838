//! The security event log: logins, logouts, revocations, password changes and resets, account
//! deletions and staff actions — who, when, from where — in the database (staff read it at
//! `GET /security-events/`) and as structured `tracing` events (target `security`). Never a
//! secret: no password, token, code or digest is ever an argument here.
//!
//! Recording is best effort: a failure to write the row is logged and does not fail the
//! request, since the action itself has already happened.

use std::net::IpAddr;

use crate::app::AppState;
use crate::db::{self, NewEvent};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    LoginSucceeded,
    LoginFailed,
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
    let ip = ip.map(|ip| ip.to_string());
    tracing::info!(
        target: "security",
        kind = kind.as_str(),
        user_id,
        actor_id,
        ip = ip.as_deref(),
        detail,
        "security event"
    );
    let event = NewEvent {
        at: state.clock.now(),
        kind: kind.as_str(),
        user_id,
        actor_id,
        ip,
        detail,
    };
    if let Err(e) = db::insert_event(&state.db, &event).await {
        tracing::warn!(error = %e, kind = kind.as_str(), "could not store a security event");
    }
}
