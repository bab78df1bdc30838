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

/// What [`LoginThrottle::check`] found, for [`LoginThrottle::succeeded`].
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct LoginCheck {
    account_counted: bool,
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

    /// The key counting failures against the account.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The key counting failures from the client address.
    pub fn address(&self) -> &str {
        &self.address
    }
}

impl LoginThrottle {
    /// `Err(Throttled)` while either key is delayed, judged on the counters the login read
    /// under [`LoginKeys::account`] and [`LoginKeys::address`].
    pub fn check(
        &self,
        account: Option<ThrottleRow>,
        address: Option<ThrottleRow>,
        now: DateTime<Utc>,
    ) -> Result<LoginCheck, ApiError> {
        let now = now.timestamp();
        let mut wait = 0u64;
        for (row, policy) in [(account, self.account), (address, self.address)] {
            let Some(ThrottleRow {
                failures,
                last_failure,
            }) = row
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
        Ok(LoginCheck {
            account_counted: account.is_some(),
        })
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
    /// reset an attacker's count against everyone else). Only when `check` saw one: most
    /// logins have no counter, and are spared the statement. A failure counted by a concurrent
    /// attempt after the check stays counted.
    pub async fn succeeded(
        &self,
        db: &Db,
        keys: &LoginKeys,
        checked: LoginCheck,
    ) -> Result<(), ApiError> {
        if checked.account_counted {
            db::clear_throttle(db, &keys.account).await?;
        }
        Ok(())
    }
}

/// At most `max` events per key, counted in the database (shared by every process), for actions
/// that cost us a hash or a mail whether or not they succeed. A key's count starts over once
/// `window_secs` pass without an event. `max = 0` means no limit.
///
/// The check and the count are one atomic step, so simultaneous requests never pass the limit
/// together. A refused request is not counted and does not extend the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub window_secs: u64,
}

impl RateLimit {
    /// Counts one event under `key`, or refuses with 429 if the key is at its limit.
    pub async fn hit(&self, db: &Db, key: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
        hit_all(db, &[(*self, key)], now).await
    }

    fn window(&self) -> i64 {
        i64::try_from(self.window_secs).unwrap_or(i64::MAX)
    }

    /// The limit as the statement takes it: one below `i32::MAX`, so its `max + 1` fits the
    /// column.
    fn stored_max(&self) -> i32 {
        i32::try_from(self.max)
            .unwrap_or(i32::MAX)
            .min(i32::MAX - 1)
    }
}

/// Counts one event under each key against its own limit, all or nothing: when any key is at
/// its limit the answer is 429 (waiting for the longest of the keys that refused) and no key
/// counts the request, so a request refused by one limit never uses up another. Atomic like
/// [`RateLimit::hit`].
pub async fn hit_all(
    db: &Db,
    limits: &[(RateLimit, &str)],
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let now = now.timestamp();
    let active: Vec<(RateLimit, db::EventLimit<'_>)> = limits
        .iter()
        .filter(|(limit, _)| limit.max > 0)
        .map(|&(limit, key)| {
            let window_start = now.saturating_sub(limit.window());
            let max = limit.stored_max();
            (
                limit,
                db::EventLimit {
                    key,
                    window_start,
                    max,
                },
            )
        })
        .collect();
    if active.is_empty() {
        return Ok(());
    }
    let keys: Vec<db::EventLimit<'_>> = active.iter().map(|(_, key)| *key).collect();
    let rows = db::count_events_within(db, &keys, now).await?;
    let wait = active
        .iter()
        .zip(&rows)
        .filter(|((_, key), row)| row.failures > key.max)
        .map(|((limit, _), row)| {
            let age = now - row.last_failure;
            u64::try_from(limit.window().saturating_sub(age).max(1)).unwrap_or(1)
        })
        .max();
    if let Some(retry_after_secs) = wait {
        tracing::info!(retry_after_secs, "rate limit reached");
        return Err(ApiError::Throttled { retry_after_secs });
    }
    Ok(())
}

/// A throttle key naming an account by a digest of its normalized address or id, so the table
/// holds no addresses.
pub fn account_key(kind: &str, account: &str) -> String {
    let digest = Sha256::digest(account.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{kind}:{hex}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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

    #[test]
    fn a_login_waits_for_the_longer_of_its_two_delays_and_forgotten_counters_do_not_count() {
        let throttle = LoginThrottle {
            account: DelayPolicy {
                free_failures: 3,
                base_delay_secs: 10,
                max_delay_secs: 60,
            },
            address: DelayPolicy {
                free_failures: 6,
                base_delay_secs: 10,
                max_delay_secs: 60,
            },
            forget_after_secs: 3600,
        };
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap();
        let at = |failures, secs_ago: i64| ThrottleRow {
            failures,
            last_failure: now.timestamp() - secs_ago,
        };
        let wait = |account, address| match throttle.check(account, address, now) {
            Ok(_) => 0,
            Err(ApiError::Throttled { retry_after_secs }) => retry_after_secs,
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(wait(None, None), 0);
        assert_eq!(wait(Some(at(2, 0)), Some(at(5, 0))), 0, "all free failures");
        assert_eq!(
            wait(Some(at(4, 5)), None),
            15,
            "20 s after the last failure"
        );
        assert_eq!(
            wait(Some(at(4, 5)), Some(at(9, 1))),
            59,
            "the address's 60 s is longer"
        );
        assert_eq!(wait(Some(at(9, 3601)), None), 0, "forgotten");
        assert!(
            throttle
                .check(Some(at(1, 0)), None, now)
                .unwrap()
                .account_counted
        );
        assert!(
            !throttle
                .check(None, Some(at(1, 0)), now)
                .unwrap()
                .account_counted
        );
    }
}
