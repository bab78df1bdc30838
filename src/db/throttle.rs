//! Queries on `throttle`: failure counters keyed by what is being protected.

use super::{Db, on_db};

/// A counter as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct ThrottleRow {
    pub failures: i32,
    /// Unix seconds.
    pub last_failure: i64,
}

/// The counter for `key`, if there is one.
pub async fn find_throttle(db: &Db, key: &str) -> Result<Option<ThrottleRow>, sqlx::Error> {
    const SQL: &str = "SELECT failures, last_failure FROM throttle WHERE key = $1";
    on_db!(db, pool => sqlx::query_as(SQL).bind(key).fetch_optional(pool).await)
}

/// Counts one more failure for `key` at `now` (Unix seconds); a counter whose last failure is
/// older than `forget_before` starts again at 1. Atomic: concurrent failures are all counted.
pub async fn record_failure(
    db: &Db,
    key: &str,
    now: i64,
    forget_before: i64,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO throttle (key, failures, last_failure) VALUES ($1, 1, $2) \
         ON CONFLICT (key) DO UPDATE SET \
         failures = CASE WHEN throttle.last_failure < $3 THEN 1 ELSE throttle.failures + 1 END, \
         last_failure = $2";
    on_db!(db, pool => sqlx::query(SQL)
        .bind(key)
        .bind(now)
        .bind(forget_before)
        .execute(pool)
        .await
        .map(drop))
}

/// Forgets the counter for `key` (after a success).
pub async fn clear_throttle(db: &Db, key: &str) -> Result<(), sqlx::Error> {
    const SQL: &str = "DELETE FROM throttle WHERE key = $1";
    on_db!(db, pool => sqlx::query(SQL).bind(key).execute(pool).await.map(drop))
}
