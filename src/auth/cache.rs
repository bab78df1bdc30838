//! A short-lived, in-process cache of authenticated sessions, so the cheap path (`GET
//! /users/me/` and every other authenticated read) usually costs no database round trip.
//!
//! Correctness comes before hits:
//! - Every successful request that may change a session or a user (logout, profile edit,
//!   password change, deactivation, ...) invalidates, after it commits, the sessions of the
//!   user it changed ([`AuthCache::invalidate_user`]); the rare bulk change invalidates
//!   everything ([`AuthCache::invalidate_all`]). A write by one user costs nobody else a hit.
//! - Every invalidation takes a number from one counter, and every database read takes a
//!   [`Ticket`] (the counter's value) before it starts: a read that a change overtook is never
//!   stored, so a lookup racing with a logout cannot put the revoked session back.
//! - On PostgreSQL invalidations are broadcast with `NOTIFY`, and every server process
//!   `LISTEN`s, so a token revoked on one process stops working on the others within
//!   milliseconds.
//! - The TTL bounds staleness where no broadcast reaches (several processes on one SQLite file,
//!   or a write made outside the service): an entry is trusted at most the TTL after it was
//!   read from the database, however often it is used meanwhile. A TTL of 0 turns the cache
//!   off.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};

use crate::db::SessionRow;

/// The invalidation counter's value when a database read began (see [`AuthCache::ticket`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(u64);

struct Entry {
    session: Arc<SessionRow>,
    ticket: Ticket,
    fetched_at: DateTime<Utc>,
}

/// The session cache. Cheap to clone (shared).
#[derive(Clone)]
pub struct AuthCache {
    inner: Arc<Inner>,
}

struct Inner {
    ttl: TimeDelta,
    /// The most entries kept (a flood of distinct tokens cannot grow memory beyond it), and
    /// the most changed users remembered. When entries reach it, the expired and invalidated
    /// ones go first; if that frees less than a sixteenth, random ones go until a sixteenth is
    /// free, so the pruning scan runs at most once per `max_entries / 16` inserts.
    max_entries: usize,
    /// Numbers the invalidations; only ever incremented while `state` is locked.
    changes: AtomicU64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<[u8; 32], Entry>,
    /// Users whose sessions changed within the last TTL: the change's number and time. An
    /// entry read before its user's last change is stale; older changes can be forgotten, as
    /// every entry read before them has expired.
    changed: HashMap<i64, (Ticket, DateTime<Utc>)>,
    /// The number of the last [`AuthCache::invalidate_all`]: nothing read before it is stored.
    cleared: Ticket,
}

/// Whether a read of `user_id`'s session that began at `read` was overtaken by a change.
fn overtaken(
    changed: &HashMap<i64, (Ticket, DateTime<Utc>)>,
    cleared: Ticket,
    user_id: i64,
    read: Ticket,
) -> bool {
    read < cleared
        || changed
            .get(&user_id)
            .is_some_and(|&(change, _)| change > read)
}

impl State {
    fn is_stale(&self, user_id: i64, read: Ticket) -> bool {
        overtaken(&self.changed, self.cleared, user_id, read)
    }

    fn clear(&mut self, change: Ticket) {
        self.cleared = change;
        // Old entries are unusable now; dropping them returns the memory.
        self.entries.clear();
        self.changed.clear();
    }
}

impl AuthCache {
    /// A cache of at most `max_entries` sessions, each kept `ttl` at most; a zero TTL caches
    /// nothing.
    pub fn new(ttl: TimeDelta, max_entries: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                ttl,
                max_entries,
                changes: AtomicU64::new(0),
                state: Mutex::new(State::default()),
            }),
        }
    }

    pub fn enabled(&self) -> bool {
        self.inner.ttl > TimeDelta::zero() && self.inner.max_entries > 0
    }

    /// To be taken BEFORE the cache or database lookup whose result may then be stored: a
    /// change to that user after this point makes the result stale on arrival.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.inner.changes.load(Ordering::Acquire))
    }

    fn next_change(&self) -> Ticket {
        Ticket(self.inner.changes.fetch_add(1, Ordering::AcqRel) + 1)
    }

    fn expired(&self, entry: &Entry, now: DateTime<Utc>) -> bool {
        now.signed_duration_since(entry.fetched_at) >= self.inner.ttl
    }

    /// The cached session for `digest`, unless it expired or its user changed since.
    pub fn get(&self, digest: &[u8; 32], now: DateTime<Utc>) -> Option<Arc<SessionRow>> {
        if !self.enabled() {
            return None;
        }
        let mut state = self.inner.state.lock().ok()?;
        let entry = state.entries.get(digest)?;
        if self.expired(entry, now) || state.is_stale(entry.session.user.id, entry.ticket) {
            state.entries.remove(digest);
            return None;
        }
        Some(Arc::clone(&entry.session))
    }

    /// Stores a session whose read began at `ticket` (see [`AuthCache::ticket`]), unless its
    /// user changed since.
    pub fn put(
        &self,
        digest: [u8; 32],
        session: Arc<SessionRow>,
        ticket: Ticket,
        now: DateTime<Utc>,
    ) {
        if !self.enabled() {
            return;
        }
        let Ok(mut state) = self.inner.state.lock() else {
            return;
        };
        if state.is_stale(session.user.id, ticket) {
            return;
        }
        let max = self.inner.max_entries;
        if state.entries.len() >= max {
            let State {
                entries,
                changed,
                cleared,
            } = &mut *state;
            entries.retain(|_, e| {
                !self.expired(e, now) && !overtaken(changed, *cleared, e.session.user.id, e.ticket)
            });
            // Still full of live sessions: drop a sixteenth, chosen at random (the map's order
            // of digests), not everything, so a working set near the cap keeps most of its hits.
            let mut excess = entries.len().saturating_sub(max - max / 16);
            entries.retain(|_, _| {
                let keep = excess == 0;
                excess = excess.saturating_sub(1);
                keep
            });
        }
        state.entries.insert(
            digest,
            Entry {
                session,
                ticket,
                fetched_at: now,
            },
        );
    }

    /// Replaces the session cached for `digest` (with a newer last use), keeping when and
    /// under which ticket it was read from the database: a use is not a read, and must not
    /// extend how long the entry is trusted. Nothing happens if the entry has gone.
    pub fn replace(&self, digest: &[u8; 32], session: Arc<SessionRow>) {
        if let Ok(mut state) = self.inner.state.lock() {
            if let Some(entry) = state.entries.get_mut(digest) {
                entry.session = session;
            }
        }
    }

    /// Invalidates the sessions of one user (after a write that may affect them).
    pub fn invalidate_user(&self, user_id: i64, now: DateTime<Utc>) {
        let Ok(mut state) = self.inner.state.lock() else {
            return;
        };
        let change = self.next_change();
        state.changed.insert(user_id, (change, now));
        if state.changed.len() > self.inner.max_entries {
            let ttl = self.inner.ttl;
            state
                .changed
                .retain(|_, &mut (_, at)| now.signed_duration_since(at) < ttl);
            if state.changed.len() > self.inner.max_entries {
                // More users changed within a TTL than there are entries: cheaper to start over.
                state.clear(change);
            }
        }
    }

    /// Invalidates every entry (after a bulk change, or when changes may have been missed).
    pub fn invalidate_all(&self) {
        if let Ok(mut state) = self.inner.state.lock() {
            let change = self.next_change();
            state.clear(change);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::UserRow;

    fn session(user_id: i64, token_id: i64) -> Arc<SessionRow> {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        Arc::new(SessionRow {
            token_id,
            token_created_at: at,
            last_used_at: None,
            user: UserRow {
                id: user_id,
                email: format!("u{user_id}@example.com"),
                name: None,
                date_of_birth: None,
                bio: None,
                profile_picture: None,
                phone_number: None,
                is_superuser: false,
                is_staff: false,
                is_active: true,
                email_verified: false,
                date_joined: at,
            },
        })
    }

    fn cache() -> (AuthCache, DateTime<Utc>) {
        (
            AuthCache::new(TimeDelta::seconds(60), 100),
            DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(1),
        )
    }

    #[test]
    fn a_change_to_one_user_leaves_the_others_cached() {
        let (cache, now) = cache();
        let t = cache.ticket();
        cache.put([1; 32], session(1, 10), t, now);
        cache.put([2; 32], session(2, 20), t, now);
        cache.put([3; 32], session(1, 11), t, now);
        cache.invalidate_user(1, now);
        assert!(cache.get(&[1; 32], now).is_none());
        assert!(cache.get(&[3; 32], now).is_none());
        assert_eq!(cache.get(&[2; 32], now).map(|s| s.token_id), Some(20));
        // Read again after the change: cached again.
        let t = cache.ticket();
        cache.put([1; 32], session(1, 10), t, now);
        assert_eq!(cache.get(&[1; 32], now).map(|s| s.token_id), Some(10));
    }

    #[test]
    fn a_read_overtaken_by_its_users_change_is_not_stored() {
        let (cache, now) = cache();
        let before = cache.ticket();
        cache.invalidate_user(1, now);
        cache.put([1; 32], session(1, 10), before, now);
        assert!(cache.get(&[1; 32], now).is_none());
        // Another user's change does not spoil a read of this one.
        let before = cache.ticket();
        cache.invalidate_user(2, now);
        cache.put([1; 32], session(1, 10), before, now);
        assert!(cache.get(&[1; 32], now).is_some());
    }

    #[test]
    fn invalidating_everything_refuses_older_reads_too() {
        let (cache, now) = cache();
        let before = cache.ticket();
        cache.put([1; 32], session(1, 10), before, now);
        cache.invalidate_all();
        assert!(cache.get(&[1; 32], now).is_none());
        cache.put([2; 32], session(2, 20), before, now);
        assert!(cache.get(&[2; 32], now).is_none());
    }

    #[test]
    fn a_replaced_entry_expires_the_ttl_after_its_read_not_after_its_replacement() {
        let (cache, now) = cache();
        let t = cache.ticket();
        cache.put([1; 32], session(1, 10), t, now);
        let later = now + TimeDelta::seconds(59);
        cache.replace(&[1; 32], session(1, 11));
        assert_eq!(cache.get(&[1; 32], later).map(|s| s.token_id), Some(11));
        assert!(cache.get(&[1; 32], now + TimeDelta::seconds(60)).is_none());
        // Nothing to replace: nothing stored.
        cache.replace(&[2; 32], session(2, 20));
        assert!(cache.get(&[2; 32], now).is_none());
    }

    #[test]
    fn a_full_cache_of_live_sessions_makes_room_by_dropping_a_sixteenth() {
        let (cache, now) = cache();
        let t = cache.ticket();
        for i in 0..=100u8 {
            cache.put([i; 32], session(i64::from(i), i64::from(i)), t, now);
        }
        let state = cache.inner.state.lock().unwrap();
        // 100 - 100 / 16 = 94 kept, then the new one.
        assert_eq!(state.entries.len(), 95);
        assert!(state.entries.contains_key(&[100; 32]));
    }

    #[test]
    fn entries_expire_and_memory_stays_bounded() {
        let (cache, now) = cache();
        let t = cache.ticket();
        cache.put([1; 32], session(1, 10), t, now);
        assert!(cache.get(&[1; 32], now + TimeDelta::seconds(60)).is_none());
        for i in 0..1_000u16 {
            let mut digest = [0; 32];
            digest[..2].copy_from_slice(&i.to_le_bytes());
            cache.put(digest, session(i64::from(i), i64::from(i)), t, now);
            cache.invalidate_user(100_000 + i64::from(i), now);
        }
        let state = cache.inner.state.lock().unwrap();
        assert!(
            state.entries.len() <= 100,
            "{} entries",
            state.entries.len()
        );
        assert!(
            state.changed.len() <= 100,
            "{} changes",
            state.changed.len()
        );
    }
}
