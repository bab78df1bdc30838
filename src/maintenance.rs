//! The periodic purge of what nothing will read again (expired tokens, heard session changes,
//! old counters, security events and devices not seen within their retention). Deletes are idempotent, so processes may purge at once,
//! and go in chunks, so a backlog never holds the SQLite writer for long.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::config::Config;
use crate::db::{self, Db};
use crate::state::AppState;

pub const PURGE_CHUNK: i64 = 1000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub throttle_rows: u64,
    pub security_events: u64,
    /// Known devices not seen within the security events' retention (they hold client networks
    /// too).
    pub known_devices: u64,
    /// Halfway logins (`mfa_token`s) past their 5 minutes.
    pub mfa_challenges: u64,
    /// Passkey ceremonies past their 5 minutes.
    pub ceremonies: u64,
    /// Staff console sessions past their idle or absolute timeout.
    pub console_sessions: u64,
}

pub async fn purge_periodically(state: AppState) {
    // Not at start: it would race with tests that set the clock, and adds nothing.
    let period = Duration::from_secs(600);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tick.tick().await;
        purge_expired_tokens(&state).await;
        match purge_old_records(&state.db, &state.config, state.clock.now()).await {
            Ok(purged) if purged == Purged::default() => {}
            Ok(purged) => tracing::info!(
                throttle_rows = purged.throttle_rows,
                security_events = purged.security_events,
                known_devices = purged.known_devices,
                mfa_challenges = purged.mfa_challenges,
                ceremonies = purged.ceremonies,
                console_sessions = purged.console_sessions,
                "old throttle counters, security events, devices and expired challenges purged"
            ),
            Err(e) => tracing::warn!(error = %e, "could not purge old records"),
        }
    }
}

async fn purge_expired_tokens(state: &AppState) {
    let now = state.clock.now();
    let before = |secs: u64| {
        if secs == 0 {
            DateTime::<Utc>::MIN_UTC
        } else {
            now - TimeDelta::seconds(i64::try_from(secs).unwrap_or(i64::MAX))
        }
    };
    // Last uses still in memory first, or a token in use could look idle.
    if let Err(e) = state.touches.flush(&state.db).await {
        tracing::warn!(error = %e, "could not record tokens' last use; token purge skipped");
        return;
    }
    {
        // Every process reads them within a second; an hour is ample.
        let before = Utc::now() - TimeDelta::hours(1);
        if let Err(e) = db::purge_session_changes(&state.db, before).await {
            tracing::warn!(error = %e, "could not purge recorded session changes");
        }
    }
    let config = &state.config;
    match db::purge_expired_tokens(
        &state.db,
        before(config.token_lifetime_secs),
        before(config.token_idle_timeout_secs),
    )
    .await
    {
        Ok(0) => {}
        Ok(n) => tracing::info!(purged = n, "expired tokens purged"),
        Err(e) => tracing::warn!(error = %e, "could not purge expired tokens"),
    }
}

pub async fn purge_old_records(
    db: &Db,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<Purged, sqlx::Error> {
    let counters_before = now
        .timestamp()
        .saturating_sub(throttle_horizon_secs(config));
    let throttle_rows =
        in_chunks(|| db::purge_throttle_rows(db, counters_before, PURGE_CHUNK)).await?;
    let (security_events, known_devices) =
        match event_retention(config).and_then(|kept| now.checked_sub_signed(kept)) {
            Some(before) => (
                in_chunks(|| db::purge_events(db, before, PURGE_CHUNK)).await?,
                in_chunks(|| db::purge_devices(db, before, PURGE_CHUNK)).await?,
            ),
            None => (0, 0),
        };
    let mfa_challenges = in_chunks(|| db::purge_mfa_challenges(db, now, PURGE_CHUNK)).await?;
    let ceremonies = db::purge_ceremonies(db, now).await?;
    let minutes = |n: u64| TimeDelta::try_minutes(i64::try_from(n).unwrap_or(i64::MAX));
    let idle = minutes(config.console_idle_minutes).and_then(|d| now.checked_sub_signed(d));
    let begun = minutes(config.console_session_hours.saturating_mul(60))
        .and_then(|d| now.checked_sub_signed(d));
    let console_sessions = match (idle, begun) {
        (Some(idle), Some(begun)) => db::purge_console_sessions(db, idle, begun).await?,
        _ => 0,
    };
    Ok(Purged {
        throttle_rows,
        security_events,
        known_devices,
        mfa_challenges,
        ceremonies,
        console_sessions,
    })
}

/// One hour beyond the longest window, so a process whose clock runs behind keeps its counters.
fn throttle_horizon_secs(config: &Config) -> i64 {
    let longest = config
        .login_forget_after_secs
        .max(config.rate_window_secs)
        .max(config.registration_window_secs);
    i64::try_from(longest)
        .unwrap_or(i64::MAX)
        .saturating_add(3600)
}

fn event_retention(config: &Config) -> Option<TimeDelta> {
    match config.security_event_retention_days {
        0 => None,
        days => TimeDelta::try_days(i64::from(days)),
    }
}

async fn in_chunks<F, Fut>(mut chunk: F) -> Result<u64, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, sqlx::Error>>,
{
    let mut total = 0;
    loop {
        let deleted = chunk().await?;
        total += deleted;
        if deleted < PURGE_CHUNK as u64 {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}
