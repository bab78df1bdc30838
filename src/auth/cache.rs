//! A short-lived, in-process cache of authenticated sessions, so the cheap path (`GET
//! /users/me/` and every other authenticated read) usually costs no database round trip.
//!
//! Correctness comes before hits:
//! - Every entry carries the **epoch** it was read in. Any successful request that may change a
//!   session or a user (logout, profile edit, password change, deactivation, ...) bumps the
//!   epoch after it commits, which invalidates every entry at once (an O(1) atomic increment;
//!   writes are rare next to reads).
//! - On PostgreSQL the bump is broadcast with `NOTIFY`, and every server process `LISTEN`s, so a
//!   token revoked on one process stops working on the others within milliseconds.
//! - The TTL bounds staleness where no broadcast reaches (several processes on one SQLite file,
//!   or a write made outside the service). A TTL of 0 turns the cache off.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};

use crate::db::SessionRow;

struct Entry {
    session: Arc<SessionRow>,
    epoch: u64,
    fetched_at: DateTime<Utc>,
}

/// The session cache. Cheap to clone (shared).
#[derive(Clone)]
pub struct AuthCache {
    inner: Arc<Inner>,
}

struct Inner {
    ttl: TimeDelta,
    /// The most entries kept (a flood of distinct tokens cannot grow memory beyond it). When
    /// it is reached, entries past their TTL or from an old epoch go first; if that frees less
    /// than a quarter, everything goes, so the pruning scan runs at most once per quarter of
    /// inserts.
    max_entries: usize,
    epoch: AtomicU64,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

impl AuthCache {
    /// A cache of at most `max_entries` sessions, each kept `ttl` at most; a zero TTL caches
    /// nothing.
    pub fn new(ttl: TimeDelta, max_entries: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                ttl,
                max_entries,
                epoch: AtomicU64::new(0),
                entries: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn enabled(&self) -> bool {
        self.inner.ttl > TimeDelta::zero() && self.inner.max_entries > 0
    }

    /// The current epoch, to be read BEFORE the database lookup whose result is then stored:
    /// a bump that happens during the lookup makes that result stale on arrival.
    pub fn epoch(&self) -> u64 {
        self.inner.epoch.load(Ordering::Acquire)
    }

    /// The cached session for `digest`, if it is from this epoch and younger than the TTL.
    pub fn get(&self, digest: &[u8; 32], now: DateTime<Utc>) -> Option<Arc<SessionRow>> {
        if !self.enabled() {
            return None;
        }
        let epoch = self.epoch();
        let entries = self.inner.entries.lock().ok()?;
        let entry = entries.get(digest)?;
        (entry.epoch == epoch && now.signed_duration_since(entry.fetched_at) < self.inner.ttl)
            .then(|| Arc::clone(&entry.session))
    }

    /// Stores a session read from the database in `epoch` (see [`AuthCache::epoch`]).
    pub fn put(&self, digest: [u8; 32], session: Arc<SessionRow>, epoch: u64, now: DateTime<Utc>) {
        if !self.enabled() || epoch != self.epoch() {
            return;
        }
        if let Ok(mut entries) = self.inner.entries.lock() {
            let max = self.inner.max_entries;
            if entries.len() >= max {
                let ttl = self.inner.ttl;
                entries.retain(|_, e| {
                    e.epoch == epoch && now.signed_duration_since(e.fetched_at) < ttl
                });
                if entries.len() > max / 4 * 3 {
                    entries.clear();
                }
            }
            entries.insert(
                digest,
                Entry {
                    session,
                    epoch,
                    fetched_at: now,
                },
            );
        }
    }

    /// Invalidates every entry (after a write that may affect sessions or users).
    pub fn invalidate_all(&self) {
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut entries) = self.inner.entries.lock() {
            // Old entries are already unusable; dropping them just returns the memory.
            entries.clear();
        }
    }
}
