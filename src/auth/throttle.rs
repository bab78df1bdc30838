//! Throttling of failed logins, per account and per client address, with a delay that grows
//! with each consecutive failure. Counters live in the database, so every server process on it
//! sees the same ones.
//!
//! The delay is capped (never a permanent lock a stranger could impose on someone else's
//! account) and a counter is forgotten a while after its last failure. While a key is delayed,
//! even the right password is refused, so guessing cannot continue "through" the lock.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::db::{self, Db, ThrottleRow};
use crate::error::ApiError;

/// How failures turn into delays for one kind of key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DelayPolicy {
    /// Failures allowed before any delay.
    pub free_failures: u32,
    /// The first delay, doubled for each further failure.
    pub base_delay_secs: u64,
    /// The longest delay.
    pub max_delay_secs: u64,
}

impl DelayPolicy {
    /// Seconds to wait after `failures` consecutive failures, counted from the last one.
    pub fn delay_secs(&self, failures: u32) -> u64 {
        if failures < self.free_failures {
            return 0;
        }
        let doublings = (failures - self.free_failures).min(32);
        self.base_delay_secs
            .saturating_mul(1u64 << doublings)
            .min(self.max_delay_secs)
    }
}

/// The login throttle: one policy for accounts, one for client addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginThrottle {
    pub account: DelayPolicy,
    pub address: DelayPolicy,
    /// A counter whose last failure is older than this starts again from zero.
    pub forget_after_secs: u64,
}

/// The keys one login attempt is counted under.
pub struct LoginKeys {
    account: String,
    address: String,
}

impl LoginKeys {
    /// The account key is a digest of the normalized address, so the table holds no addresses
    /// (including ones that have no account).
    pub fn new(email_key: &str, client: IpAddr) -> Self {
        Self {
            account: account_key("login-account", email_key),
            address: format!("login-ip:{client}"),
        }
    }
}

impl LoginThrottle {
    /// `Err(Throttled)` while either key is delayed.
    pub async fn check(
        &self,
        db: &Db,
        keys: &LoginKeys,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let now = now.timestamp();
        let mut wait = 0u64;
        for (key, policy) in [(&keys.account, self.account), (&keys.address, self.address)] {
            let Some(ThrottleRow {
                failures,
                last_failure,
            }) = db::find_throttle(db, key).await?
            else {
                continue;
            };
            if now - last_failure > self.forget_after_secs as i64 {
                continue;
            }
            let until = last_failure + policy.delay_secs(failures.max(0) as u32) as i64;
            wait = wait.max(until.saturating_sub(now).max(0) as u64);
        }
        if wait > 0 {
            tracing::info!(wait_secs = wait, "login throttled");
            return Err(ApiError::Throttled {
                retry_after_secs: wait,
            });
        }
        Ok(())
    }

    /// Counts a failed attempt under both keys.
    pub async fn failed(
        &self,
        db: &Db,
        keys: &LoginKeys,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let now = now.timestamp();
        let forget_before = now - self.forget_after_secs as i64;
        db::record_failure(db, &keys.account, now, forget_before).await?;
        db::record_failure(db, &keys.address, now, forget_before).await?;
        Ok(())
    }

    /// A success clears the account's counter (not the address's: one good login must not
    /// reset an attacker's count against everyone else).
    pub async fn succeeded(&self, db: &Db, keys: &LoginKeys) -> Result<(), ApiError> {
        db::clear_throttle(db, &keys.account).await?;
        Ok(())
    }
}

/// At most `max` events per key, counted in the database (shared by every process), for actions
/// that cost us a hash or a mail whether or not they succeed. A key's count starts over once
/// `window_secs` pass without an event. `max = 0` means no limit.
///
/// The check and the count are two statements, so a burst of simultaneous requests can pass
/// the limit by a few; the limit bounds cost, it is not an exact quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub window_secs: u64,
}

impl RateLimit {
    /// Counts one event under each key, or refuses with 429 if any key is at its limit.
    pub async fn hit(&self, db: &Db, keys: &[&str], now: DateTime<Utc>) -> Result<(), ApiError> {
        if self.max == 0 {
            return Ok(());
        }
        let now = now.timestamp();
        let window = i64::try_from(self.window_secs).unwrap_or(i64::MAX);
        for key in keys {
            if let Some(row) = db::find_throttle(db, key).await? {
                let age = now - row.last_failure;
                if age < window && u32::try_from(row.failures).unwrap_or(0) >= self.max {
                    let retry_after_secs = u64::try_from((window - age).max(1)).unwrap_or(1);
                    tracing::info!(retry_after_secs, "rate limit reached");
                    return Err(ApiError::Throttled { retry_after_secs });
                }
            }
        }
        for key in keys {
            db::record_failure(db, key, now, now.saturating_sub(window)).await?;
        }
        Ok(())
    }
}

/// A throttle key naming an account by a digest of its normalized address or id, so the table
/// holds no addresses.
pub fn account_key(kind: &str, account: &str) -> String {
    let digest = Sha256::digest(account.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{kind}:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_grows_by_doubling_after_the_free_failures_and_is_capped() {
        let p = DelayPolicy {
            free_failures: 5,
            base_delay_secs: 1,
            max_delay_secs: 300,
        };
        let delays: Vec<u64> = (0..12).map(|f| p.delay_secs(f)).collect();
        assert_eq!(delays, [0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64]);
        assert_eq!(p.delay_secs(100), 300);
        assert_eq!(p.delay_secs(u32::MAX), 300);
    }
}
