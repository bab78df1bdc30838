//! What staff do to accounts, for the staff API (`routes::staff`) and the console alike: one
//! function per action, each guarded in its own SQL (a staff member acts on ordinary accounts
//! only; a staff member's or superuser's account is a superuser's; the last active superuser
//! stays) and recorded as a security event naming the actor.

use std::net::IpAddr;

use crate::audit::{Event, Kind};
use crate::auth::{CodePurpose, Recipient, send_code_mail};
use crate::db::{self, FlagChanges, StaffWrite, UserRow};
use crate::error::ApiError;
use crate::state::AppState;

pub const LAST_SUPERUSER: &str = "The last active superuser cannot be demoted or deactivated.";

/// A guarded write's outcome as the API answers it.
pub fn refused<T>(outcome: StaffWrite<T>) -> Result<T, ApiError> {
    match outcome {
        StaffWrite::Done(done) => Ok(done),
        StaffWrite::NotFound => Err(ApiError::NotFound),
        StaffWrite::Forbidden => Err(ApiError::Forbidden),
        StaffWrite::LastSuperuser => Err(ApiError::field("non_field_errors", LAST_SUPERUSER)),
    }
}

/// Sets a user's flags: `is_active` (staff, on ordinary accounts), `is_staff` and
/// `is_superuser` (superusers only). The user after.
pub async fn set_flags(
    state: &AppState,
    actor: &UserRow,
    client: IpAddr,
    id: i64,
    changes: FlagChanges,
) -> Result<UserRow, ApiError> {
    if (changes.is_staff.is_some() || changes.is_superuser.is_some()) && !actor.is_superuser {
        return Err(ApiError::Forbidden);
    }
    // Read only for the log's "before" values: the update itself enforces who may change what.
    let before = db::find_user_by_id(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let user = refused(db::set_user_flags(&state.db, id, actor.id, changes).await?)?;
    let detail = flag_changes_detail(&before, &user);
    let event = Event::new(Kind::StaffUpdatedUser).user(id).by(actor.id);
    event.ip(client).detail(&detail).record(state).await;
    Ok(user)
}

/// Signs a user out everywhere (every API token); how many sessions ended.
pub async fn revoke_sessions(
    state: &AppState,
    actor: &UserRow,
    client: IpAddr,
    id: i64,
) -> Result<u64, ApiError> {
    let revoked =
        refused(db::delete_tokens_of_user_by_staff(&state.db, id, None, actor.id).await?)?;
    let detail = format!("staff revoked {revoked} tokens");
    let event = Event::new(Kind::TokensRevoked).user(id).by(actor.id);
    event.ip(client).detail(&detail).record(state).await;
    Ok(revoked)
}

/// Signs a user out of one session (API token `token_id`); `NotFound` if it is not theirs.
pub async fn revoke_session(
    state: &AppState,
    actor: &UserRow,
    client: IpAddr,
    id: i64,
    token_id: i64,
) -> Result<(), ApiError> {
    let write = db::delete_tokens_of_user_by_staff(&state.db, id, Some(token_id), actor.id).await?;
    if refused(write)? == 0 {
        return Err(ApiError::NotFound);
    }
    let event = Event::new(Kind::TokensRevoked).user(id).by(actor.id);
    event
        .ip(client)
        .detail("staff revoked 1 token")
        .record(state)
        .await;
    Ok(())
}

/// Removes a user's TOTP, recovery codes and passkeys; how many rows went.
pub async fn remove_second_factors(
    state: &AppState,
    actor: &UserRow,
    client: IpAddr,
    id: i64,
) -> Result<u64, ApiError> {
    let write = db::delete_second_factors_by_staff(&state.db, id, actor.id).await?;
    let removed = refused(write)?;
    let detail = format!("staff removed {removed} second-factor rows");
    let event = Event::new(Kind::StaffRemovedSecondFactors)
        .user(id)
        .by(actor.id);
    event.ip(client).detail(&detail).record(state).await;
    Ok(removed)
}

/// Mails a user a new verification code (within the code-mail limits); nothing for an address
/// already verified.
pub async fn resend_verification(
    state: &AppState,
    actor: &UserRow,
    client: IpAddr,
    id: i64,
) -> Result<(), ApiError> {
    refused(db::may_act_on(&state.db, id, actor.id).await?)?;
    send_code_mail(
        state,
        client,
        CodePurpose::VerifyEmail,
        Recipient::UserId(id),
    )
    .await?;
    let event = Event::new(Kind::StaffUpdatedUser).user(id).by(actor.id);
    event
        .ip(client)
        .detail("staff resent the verification code")
        .record(state)
        .await;
    Ok(())
}

/// `is_active: true -> false, ...`, for the log.
fn flag_changes_detail(before: &UserRow, after: &UserRow) -> String {
    let flags = [
        ("is_active", before.is_active, after.is_active),
        ("is_staff", before.is_staff, after.is_staff),
        ("is_superuser", before.is_superuser, after.is_superuser),
    ];
    let changed: Vec<String> = flags
        .iter()
        .filter(|(_, was, is)| was != is)
        .map(|(name, was, is)| format!("{name}: {was} -> {is}"))
        .collect();
    if changed.is_empty() {
        "no change".to_owned()
    } else {
        changed.join(", ")
    }
}
