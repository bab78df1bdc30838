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
        let digest = Sha256::digest(email_key.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Self {
            account: format!("login-account:{hex}"),
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
