//! Queries on `throttle`: failure counters keyed by what is being protected.

use super::{Db, on_db};

/// A counter as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct ThrottleRow {
    pub failures: i32,
    /// Unix seconds.
    pub last_failure: i64,
}

/// How one key's failures turn into a delay, in the terms the guess statement computes it in:
/// after `free_failures` failures, a guess waits `base_delay << (failures - free_failures)`
/// seconds after the last one, or `max_delay` from `doublings_to_max` doublings on.
#[derive(Debug, Clone, Copy)]
pub struct GuessRule<'a> {
    pub key: &'a str,
    pub free_failures: i32,
    pub base_delay: i64,
    pub doublings_to_max: i32,
    pub max_delay: i64,
}

/// Counts one guess at a secret under every rule's key, as a failure, before the secret is
/// checked, unless a key is delayed: then nothing is counted and the delayed rule's index is
/// returned. One transaction, and the check and the count of each key are one statement, so
/// guesses that arrive together are counted one after the other and none slips through the
/// delay its predecessors earned. A counter whose last failure is before `forget_before` starts
/// again at 1.
pub async fn count_guess(
    db: &Db,
    rules: &[GuessRule<'_>],
    now: i64,
    forget_before: i64,
) -> Result<Option<usize>, sqlx::Error> {
    const SQL: &str = "INSERT INTO throttle (key, failures, last_failure) VALUES ($1, 1, $2) \
         ON CONFLICT (key) DO UPDATE SET \
         failures = CASE WHEN throttle.last_failure < $3 THEN 1 ELSE throttle.failures + 1 END, \
         last_failure = $2 \
         WHERE throttle.last_failure < $3 OR throttle.failures < $4 \
         OR $2 >= throttle.last_failure + CASE WHEN throttle.failures - $4 >= $5 THEN $6 \
             ELSE $7 * (CAST(1 AS BIGINT) << (throttle.failures - $4)) END \
         RETURNING failures";
    on_db!(write db, pool => {
        let mut tx = pool.begin().await?;
        for (i, rule) in rules.iter().enumerate() {
            let counted: Option<i32> = sqlx::query_scalar(SQL)
                .bind(rule.key)
                .bind(now)
                .bind(forget_before)
                .bind(rule.free_failures)
                .bind(rule.doublings_to_max)
                .bind(rule.max_delay)
                .bind(rule.base_delay)
                .fetch_optional(&mut *tx)
                .await?;
            if counted.is_none() {
                tx.rollback().await?;
                return Ok(Some(i));
            }
        }
        tx.commit().await?;
        Ok(None)
    })
}

/// Takes back a guess [`count_guess`] counted, once it proved right: the counter of `forget`
/// goes (the account's: its owner is back), and `uncount` loses the one failure (the client
/// address's: one good guess must not reset an attacker's count against everyone else).
pub async fn settle_guess(db: &Db, forget: &str, uncount: &str) -> Result<(), sqlx::Error> {
    on_db!(write db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query("DELETE FROM throttle WHERE key = $1")
            .bind(forget)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE throttle SET failures = failures - 1 WHERE key = $1 AND failures > 0")
            .bind(uncount)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    })
}

/// The counter under `key`, if there is one.
pub async fn find_throttle(db: &Db, key: &str) -> Result<Option<ThrottleRow>, sqlx::Error> {
    const SQL: &str = "SELECT failures, last_failure FROM throttle WHERE key = $1";
    on_db!(db, pool => sqlx::query_as(SQL).bind(key).fetch_optional(pool).await)
}

/// Counts one event for `key` at `now` (Unix seconds) unless the key already has `max` events
/// since `window_start`, in one atomic statement, so concurrent requests can never pass the
/// limit together. Returns the counter: `failures > max` means refused, and then
/// `last_failure` is the event that opened the window (a refusal neither counts as an event
/// nor moves the window). A counter whose last event is at or before `window_start` starts
/// again at 1.
pub async fn count_event_within(
    db: &Db,
    key: &str,
    now: i64,
    window_start: i64,
    max: i32,
) -> Result<ThrottleRow, sqlx::Error> {
    const SQL: &str = "INSERT INTO throttle (key, failures, last_failure) VALUES ($1, 1, $2) \
         ON CONFLICT (key) DO UPDATE SET \
         failures = CASE WHEN throttle.last_failure <= $3 THEN 1 \
             WHEN throttle.failures >= $4 THEN $4 + 1 \
             ELSE throttle.failures + 1 END, \
         last_failure = CASE WHEN throttle.last_failure > $3 AND throttle.failures >= $4 \
             THEN throttle.last_failure ELSE $2 END \
         RETURNING failures, last_failure";
    on_db!(write db, pool => sqlx::query_as(SQL)
        .bind(key)
        .bind(now)
        .bind(window_start)
        .bind(max)
        .fetch_one(pool)
        .await)
}
