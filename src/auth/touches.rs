//! `tokens.last_used_at`, kept without a database write on the request path.
//!
//! A token's last use is recorded at most once a minute (`Config::last_used_granularity`),
//! but with many distinct tokens that is still one `UPDATE` for most requests of the first
//! minute, and on SQLite every one of them queues for the single writer (the benchmark's cheap
//! path ran at a fifth of its speed, and its p99 reached seconds during a login storm). Instead
//! requests note the time here, and a background task writes what has gathered every
//! [`FLUSH_EVERY`], a chunk per statement or transaction.
//!
//! What the database says may therefore lag by up to [`FLUSH_EVERY`] plus the time a flush
//! takes (its chunks are paused between, see `db::touch_tokens`: about 5 s for 100,000 uses),
//! plus the granularity. This process hardly sees the lag: [`Touches::latest`] overlays what is
//! pending on every row it reads (sessions, the sessions list), and the token purge flushes
//! first. Only the uses a flush is writing at that moment are neither pending nor stored yet,
//! so for those seconds the sessions list can show a token's use before. Another process on
//! the same database sees the lag in full, nothing next to idle timeouts that count in days. A
//! crash loses at most that much bookkeeping, never a token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::db::{self, Db};

/// How often pending last uses are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(2);

/// Pending last uses, by token id. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Touches {
    pending: Arc<Mutex<HashMap<i64, DateTime<Utc>>>>,
}

impl Touches {
    /// Notes that `token_id` was used at `at`.
    pub fn record(&self, token_id: i64, at: DateTime<Utc>) {
        if let Ok(mut pending) = self.pending.lock() {
            let latest = pending.entry(token_id).or_insert(at);
            *latest = (*latest).max(at);
        }
    }

    /// The later of `stored` (as read from the database) and a use still waiting to be written.
    pub fn latest(&self, token_id: i64, stored: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        let pending = self
            .pending
            .lock()
            .ok()
            .and_then(|p| p.get(&token_id).copied());
        stored.max(pending)
    }

    /// Writes every pending last use. What cannot be written stays pending for the next try.
    pub async fn flush(&self, db: &Db) -> Result<usize, sqlx::Error> {
        let batch: Vec<(i64, DateTime<Utc>)> = match self.pending.lock() {
            Ok(mut pending) => pending.drain().collect(),
            Err(_) => return Ok(0),
        };
        if batch.is_empty() {
            return Ok(0);
        }
        match db::touch_tokens(db, &batch).await {
            Ok(()) => Ok(batch.len()),
            Err(e) => {
                for (token_id, at) in batch {
                    self.record(token_id, at);
                }
                Err(e)
            }
        }
    }
}

/// Runs for the life of the process: flushes every [`FLUSH_EVERY`].
pub async fn flush_touches_periodically(touches: Touches, db: Db) {
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = touches.flush(&db).await {
            tracing::warn!(error = %e, "could not record tokens' last use; will retry");
        }
    }
}
