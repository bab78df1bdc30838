//! Queries on `throttle`: failure counters keyed by what is being protected.

use super::{Db, on_db};

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct ThrottleRow {
    pub failures: i32,
    /// Unix seconds.
    pub last_failure: i64,
}

/// After `free_failures` failures, a guess waits `base_delay << (failures - free_failures)`
/// seconds after the last, or `max_delay` from `doublings_to_max` doublings on.
#[derive(Debug, Clone, Copy)]
pub struct GuessRule<'a> {
    pub key: &'a str,
    pub free_failures: i32,
    pub base_delay: i64,
    pub doublings_to_max: i32,
    pub max_delay: i64,
}

/// Counts one guess under every rule's key before the secret is checked, unless a key is
/// delayed: then nothing is counted and that rule's index is returned. Check and count are one
/// statement per key, so guesses arriving together cannot slip through each other's delay.
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

/// Takes back a right guess: `uncount` (the address's key) loses one failure, so one good guess
/// does not reset an attacker's count, and `forget` (the account's) goes; in [`count_guess`]'s
/// order, so the two cannot deadlock.
pub async fn settle_guess(db: &Db, uncount: &str, forget: &str) -> Result<(), sqlx::Error> {
    on_db!(write db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query("UPDATE throttle SET failures = failures - 1 WHERE key = $1 AND failures > 0")
            .bind(uncount)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM throttle WHERE key = $1")
            .bind(forget)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    })
}

/// Takes back one right guess counted under `key` alone.
pub async fn uncount_guess(db: &Db, key: &str) -> Result<(), sqlx::Error> {
    const SQL: &str = "UPDATE throttle SET failures = failures - 1 WHERE key = $1 AND failures > 0";
    on_db!(write db, pool => sqlx::query(SQL).bind(key).execute(pool).await.map(drop))
}

pub async fn find_throttle(db: &Db, key: &str) -> Result<Option<ThrottleRow>, sqlx::Error> {
    const SQL: &str = "SELECT failures, last_failure FROM throttle WHERE key = $1";
    on_db!(db, pool => sqlx::query_as(SQL).bind(key).fetch_optional(pool).await)
}

/// Deletes at most `limit` counters idle since `before`; returns how many.
pub async fn purge_throttle_rows(db: &Db, before: i64, limit: i64) -> Result<u64, sqlx::Error> {
    const SQL: &str = "DELETE FROM throttle WHERE key IN \
         (SELECT key FROM throttle WHERE last_failure < $1 LIMIT $2)";
    super::delete_chunk(db, SQL, before, limit).await
}
