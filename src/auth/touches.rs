//! `tokens.last_used_at`, written in paced batches off the request path: a write per request
//! would queue every authenticated read for SQLite's writer (docs/decisions/0008). The database
//! lags by up to [`FLUSH_EVERY`] plus a flush's length; this process overlays what is pending
//! ([`Touches::latest`]), and idle timeouts counted in days absorb the lag elsewhere.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::db::{self, Db};

pub const FLUSH_EVERY: Duration = Duration::from_secs(2);

#[derive(Clone, Default)]
pub struct Touches {
    pending: Arc<Mutex<HashMap<i64, DateTime<Utc>>>>,
}

impl Touches {
    pub fn record(&self, token_id: i64, at: DateTime<Utc>) {
        if let Ok(mut pending) = self.pending.lock() {
            let latest = pending.entry(token_id).or_insert(at);
            *latest = (*latest).max(at);
        }
    }

    pub fn latest(&self, token_id: i64, stored: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        let pending = self
            .pending
            .lock()
            .ok()
            .and_then(|p| p.get(&token_id).copied());
        stored.max(pending)
    }

    /// Writes every pending last use; what fails stays pending for the next try.
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
