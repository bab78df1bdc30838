//! Queries on `rate_events`: the events of the sliding-window limits, one row each.

use super::{Db, on_db};

#[derive(Debug, Clone, Copy)]
pub struct WindowLimit<'a> {
    pub key: &'a str,
    /// Events at or before this (Unix seconds) are out of the window.
    pub window_start: i64,
    pub max: i64,
}

/// A key's events in its window before this one, and the oldest of them (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct WindowCount {
    pub events: i64,
    pub oldest: Option<i64>,
}

/// Counts one event at `now` under every key, or under none when any is full; returns the
/// counts before it. Each key's `throttle` row is locked first, in sorted order, so concurrent
/// requests are counted one after the other and cannot deadlock.
pub async fn count_events_in_window(
    db: &Db,
    limits: &[WindowLimit<'_>],
    now: i64,
) -> Result<Vec<WindowCount>, sqlx::Error> {
    const LOCK: &str = "INSERT INTO throttle (key, failures, last_failure) VALUES ($1, 0, $2) \
         ON CONFLICT (key) DO UPDATE SET last_failure = excluded.last_failure";
    const FORGET: &str = "DELETE FROM rate_events WHERE key = $1 AND at <= $2";
    const COUNT: &str =
        "SELECT count(*) AS events, min(at) AS oldest FROM rate_events WHERE key = $1";
    const COUNT_ONE: &str = "INSERT INTO rate_events (key, at) VALUES ($1, $2)";
    let mut order: Vec<usize> = (0..limits.len()).collect();
    order.sort_by_key(|&i| limits[i].key);
    on_db!(write db, pool => {
        let mut tx = pool.begin().await?;
        let mut counts = vec![WindowCount { events: 0, oldest: None }; limits.len()];
        for &i in &order {
            let limit = &limits[i];
            sqlx::query(LOCK).bind(limit.key).bind(now).execute(&mut *tx).await?;
            sqlx::query(FORGET).bind(limit.key).bind(limit.window_start).execute(&mut *tx).await?;
            counts[i] = sqlx::query_as(COUNT).bind(limit.key).fetch_one(&mut *tx).await?;
        }
        if limits.iter().zip(&counts).any(|(l, c)| c.events >= l.max) {
            tx.rollback().await?;
            return Ok(counts);
        }
        for &i in &order {
            sqlx::query(COUNT_ONE).bind(limits[i].key).bind(now).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(counts)
    })
}
