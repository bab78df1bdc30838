//! Password-guess throttling per account and per client address, with a delay that doubles
//! per failure, and sliding-window limits on actions that cost a hash or a mail. Counters live
//! in the database, shared by every process. A guess counts as a failure before the password
//! is checked, atomically, so simultaneous guesses never slip past the delay; the delay is
//! capped, so a stranger cannot lock someone else's account for good.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::db::{self, Db, ThrottleRow};
use crate::error::ApiError;

/// How failures turn into delays for one kind of key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DelayPolicy {
    pub free_failures: u32,
    pub base_delay_secs: u64,
    pub max_delay_secs: u64,
}

impl DelayPolicy {
    /// Seconds to wait after `failures` consecutive failures, counted from the last one.
    pub fn delay_secs(&self, failures: u32) -> u64 {
        if failures < self.free_failures {
            return 0;
        }
        let doublings = (failures - self.free_failures).min(63);
        self.base_delay_secs
            .saturating_mul(1u64 << doublings)
            .min(self.max_delay_secs)
    }

    /// The policy in the guess statement's terms, every figure far from overflowing.
    fn rule(self, key: &str) -> db::GuessRule<'_> {
        // About 31,700 years: longer is the same as forever.
        const LONGEST: u64 = 1 << 40;
        let max_delay = self.max_delay_secs.min(LONGEST);
        let base = self.base_delay_secs.min(max_delay);
        let doublings_to_max = if base == 0 {
            0
        } else {
            (0..63).find(|&d| base << d >= max_delay).unwrap_or(63)
        };
        db::GuessRule {
            key,
            free_failures: i32::try_from(self.free_failures).unwrap_or(i32::MAX),
            base_delay: base as i64,
            doublings_to_max,
            max_delay: if base == 0 { 0 } else { max_delay as i64 },
        }
    }
}

/// The login throttle: one policy for accounts, one for client addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginThrottle {
    pub account: DelayPolicy,
    pub address: DelayPolicy,
    pub forget_after_secs: u64,
}

/// A password guess, counted as a failure until [`Guess::succeeded`] takes it back.
#[derive(Debug)]
#[must_use = "a right guess must be taken back with `succeeded`"]
pub struct Guess<'a> {
    keys: &'a LoginKeys,
}

impl Guess<'_> {
    /// The guess was right: the account's counter goes, the address's loses this guess.
    pub async fn succeeded(self, db: &Db) -> Result<(), ApiError> {
        db::settle_guess(db, &self.keys.address, &self.keys.account).await?;
        Ok(())
    }
}

/// The keys one login attempt is counted under.
#[derive(Debug)]
pub struct LoginKeys {
    account: String,
    address: String,
}

impl LoginKeys {
    /// The account key is a digest, so the table holds no addresses.
    pub fn new(email_key: &str, client: IpAddr) -> Self {
        Self {
            account: account_key("login-account", email_key),
            address: format!("login-ip:{client}"),
        }
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn address(&self) -> &str {
        &self.address
    }
}

impl LoginThrottle {
    /// `Err(Throttled)` while either key is delayed, on counters read beforehand (no write).
    pub fn check(
        &self,
        account: Option<ThrottleRow>,
        address: Option<ThrottleRow>,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let wait = self.wait_secs([(account, self.account), (address, self.address)], now);
        if wait > 0 {
            tracing::info!(wait_secs = wait, "password guess throttled");
            return Err(ApiError::Throttled {
                retry_after_secs: wait,
            });
        }
        Ok(())
    }

    fn wait_secs(
        &self,
        counters: impl IntoIterator<Item = (Option<ThrottleRow>, DelayPolicy)>,
        now: DateTime<Utc>,
    ) -> u64 {
        let now = now.timestamp();
        let mut wait = 0u64;
        for (row, policy) in counters {
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
            let delay =
                i64::try_from(policy.delay_secs(failures.max(0) as u32)).unwrap_or(i64::MAX);
            let until = last_failure.saturating_add(delay);
            wait = wait.max(until.saturating_sub(now).max(0) as u64);
        }
        wait
    }

    /// Counts a guess as a failure under both keys, or refuses it while either is delayed.
    pub async fn guess<'k>(
        &self,
        db: &Db,
        keys: &'k LoginKeys,
        now: DateTime<Utc>,
    ) -> Result<Guess<'k>, ApiError> {
        // The address first, then the account: the order `Guess::succeeded` settles them in.
        let rules = [
            self.address.rule(&keys.address),
            self.account.rule(&keys.account),
        ];
        let forget_before = now.timestamp() - self.forget_after_secs as i64;
        let Some(refused) = db::count_guess(db, &rules, now.timestamp(), forget_before).await?
        else {
            return Ok(Guess { keys });
        };
        let (key, policy) = match refused {
            0 => (&keys.address, self.address),
            _ => (&keys.account, self.account),
        };
        let row = db::find_throttle(db, key).await?;
        // At least a second: the statement saw a delay, whatever the clock says now.
        let wait = self.wait_secs([(row, policy)], now).max(1);
        tracing::info!(wait_secs = wait, "password guess throttled");
        Err(ApiError::Throttled {
            retry_after_secs: wait,
        })
    }
}

/// A login that names no account (a passkey's), counted under the client address alone until
/// [`AddressGuess::succeeded`] takes it back.
#[derive(Debug)]
#[must_use = "a right guess must be taken back with `succeeded`"]
pub struct AddressGuess {
    key: String,
}

impl AddressGuess {
    pub async fn succeeded(self, db: &Db) -> Result<(), ApiError> {
        db::uncount_guess(db, &self.key).await?;
        Ok(())
    }
}

impl LoginThrottle {
    /// Counts a guess as a failure under the client address, or refuses it while delayed.
    pub async fn guess_from_address(
        &self,
        db: &Db,
        client: IpAddr,
        now: DateTime<Utc>,
    ) -> Result<AddressGuess, ApiError> {
        let key = LoginKeys::new("", client).address;
        let forget_before = now.timestamp() - self.forget_after_secs as i64;
        let rules = [self.address.rule(&key)];
        if db::count_guess(db, &rules, now.timestamp(), forget_before)
            .await?
            .is_none()
        {
            return Ok(AddressGuess { key });
        }
        let row = db::find_throttle(db, &key).await?;
        let wait = self.wait_secs([(row, self.address)], now).max(1);
        tracing::info!(wait_secs = wait, "passkey login throttled");
        Err(ApiError::Throttled {
            retry_after_secs: wait,
        })
    }
}

/// At most `max` events per key in any `window_secs`; `max = 0`: no limit. Refusals don't count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub window_secs: u64,
    /// The environment variable that sets `max`, named in the log when the limit refuses.
    pub setting: &'static str,
}

impl RateLimit {
    pub async fn hit(&self, db: &Db, key: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
        hit_all(db, &[(*self, key)], now).await
    }

    fn window(&self) -> i64 {
        i64::try_from(self.window_secs).unwrap_or(i64::MAX)
    }
}

/// Counts one event under each key, all or nothing, so a request refused by one limit never
/// uses up another.
pub async fn hit_all(
    db: &Db,
    limits: &[(RateLimit, &str)],
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let now = now.timestamp();
    let active: Vec<(RateLimit, db::WindowLimit<'_>)> = limits
        .iter()
        .filter(|(limit, _)| limit.max > 0)
        .map(|&(limit, key)| {
            let window_start = now.saturating_sub(limit.window());
            let max = i64::from(limit.max);
            (
                limit,
                db::WindowLimit {
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
    let keys: Vec<db::WindowLimit<'_>> = active.iter().map(|(_, key)| *key).collect();
    let counts = db::count_events_in_window(db, &keys, now).await?;
    // A full window frees its first place when its oldest event leaves it.
    let refused = active
        .iter()
        .zip(&counts)
        .filter(|((_, key), count)| count.events >= key.max)
        .map(|((limit, key), count)| {
            let frees_at = count.oldest.unwrap_or(now).saturating_add(limit.window());
            let wait = u64::try_from(frees_at.saturating_sub(now))
                .unwrap_or(0)
                .max(1);
            (wait, limit.setting, key.max)
        })
        .max();
    if let Some((retry_after_secs, setting, max)) = refused {
        tracing::info!(
            retry_after_secs,
            setting,
            "rate limit reached ({max} per window); {setting} raises it, 0 turns it off"
        );
        return Err(ApiError::Throttled { retry_after_secs });
    }
    Ok(())
}

/// A throttle key naming an account by a digest, so the table holds no addresses.
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
    }
}
