//! Queries on `throttle`: failure counters keyed by what is being protected.

use super::{Db, on_db};

/// A counter as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct ThrottleRow {
    pub failures: i32,
    /// Unix seconds.
    pub last_failure: i64,
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
    on_db!(write db, pool => sqlx::query(SQL)
        .bind(key)
        .bind(now)
        .bind(forget_before)
        .execute(pool)
        .await
        .map(drop))
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
    on_db!(write db, pool => sqlx::query_as(COUNT_EVENT)
        .bind(key)
        .bind(now)
        .bind(window_start)
        .bind(max)
        .fetch_one(pool)
        .await)
}

/// [`count_event_within`]'s statement: `$1` key, `$2` now, `$3` window start, `$4` max.
const COUNT_EVENT: &str = "INSERT INTO throttle (key, failures, last_failure) VALUES ($1, 1, $2) \
     ON CONFLICT (key) DO UPDATE SET \
     failures = CASE WHEN throttle.last_failure <= $3 THEN 1 \
         WHEN throttle.failures >= $4 THEN $4 + 1 \
         ELSE throttle.failures + 1 END, \
     last_failure = CASE WHEN throttle.last_failure > $3 AND throttle.failures >= $4 \
         THEN throttle.last_failure ELSE $2 END \
     RETURNING failures, last_failure";

/// One key of [`count_events_within`] and its limit, as [`count_event_within`] takes them.
#[derive(Debug, Clone, Copy)]
pub struct EventLimit<'a> {
    pub key: &'a str,
    pub window_start: i64,
    pub max: i32,
}

/// Counts one event at `now` under every key of `limits`, or under none: if any key is at its
/// limit, nothing is counted anywhere (a request refused for one reason must not use up
/// another limit). Returns each key's counter, in the order given, read as
/// [`count_event_within`] returns it; `failures > max` marks a key that refused.
///
/// All keys are counted in one transaction, so the rows stay locked until it ends and
/// concurrent requests can never pass a limit together; keys are taken in sorted order, so two
/// requests sharing keys cannot deadlock on PostgreSQL. One key needs no transaction.
pub async fn count_events_within(
    db: &Db,
    limits: &[EventLimit<'_>],
    now: i64,
) -> Result<Vec<ThrottleRow>, sqlx::Error> {
    if let [one] = limits {
        let row = count_event_within(db, one.key, now, one.window_start, one.max).await?;
        return Ok(vec![row]);
    }
    let mut order: Vec<usize> = (0..limits.len()).collect();
    order.sort_by_key(|&i| limits[i].key);
    on_db!(write db, pool => {
        let mut tx = pool.begin().await?;
        let mut rows = vec![ThrottleRow { failures: 0, last_failure: now }; limits.len()];
        for i in order {
            let limit = &limits[i];
            rows[i] = sqlx::query_as(COUNT_EVENT)
                .bind(limit.key)
                .bind(now)
                .bind(limit.window_start)
                .bind(limit.max)
                .fetch_one(&mut *tx)
                .await?;
        }
        let refused = limits.iter().zip(&rows).any(|(l, row)| row.failures > l.max);
        if refused {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(rows)
    })
}

/// Forgets the counter for `key` (after a success).
pub async fn clear_throttle(db: &Db, key: &str) -> Result<(), sqlx::Error> {
    const SQL: &str = "DELETE FROM throttle WHERE key = $1";
    on_db!(write db, pool => sqlx::query(SQL).bind(key).execute(pool).await.map(drop))
}

/// Deletes at most `limit` counters whose last event is before `before` (Unix seconds).
/// Returns how many.
pub async fn purge_throttle_rows(db: &Db, before: i64, limit: i64) -> Result<u64, sqlx::Error> {
    const SQL: &str = "DELETE FROM throttle WHERE key IN \
         (SELECT key FROM throttle WHERE last_failure < $1 LIMIT $2)";
    super::delete_chunk(db, SQL, before, limit).await
}
