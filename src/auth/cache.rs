//! An in-process cache of authenticated sessions, so authenticated reads usually cost no
//! database round trip (docs/decisions/0007). Correctness before hits:
//! - a successful write invalidates the sessions of the user it changed, after it commits,
//!   here and (`cache_sync`) in the other processes;
//! - every read takes a [`Ticket`] before it starts, and a read that a change overtook is never
//!   stored, so a lookup racing a logout cannot put the revoked session back;
//! - an entry is trusted at most the TTL after its read, however often it is used: that bounds
//!   only changes no announcement carries (SQL written directly into the database).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};

use crate::db::SessionRow;

/// The invalidation counter's value when a database read began.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(u64);

struct Entry {
    session: Arc<SessionRow>,
    ticket: Ticket,
    fetched_at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct AuthCache {
    inner: Arc<Inner>,
}

struct Inner {
    ttl: TimeDelta,
    /// Bounds the entries and the changed users remembered, so a flood of distinct tokens
    /// cannot grow memory. Pruning frees a sixteenth at once: one scan per `max / 16` inserts.
    max_entries: usize,
    /// Only ever incremented while `state` is locked.
    changes: AtomicU64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<[u8; 32], Entry>,
    /// Users whose sessions changed within the last TTL; older changes can be forgotten, as
    /// every entry read before them has expired.
    changed: HashMap<i64, (Ticket, DateTime<Utc>)>,
    cleared: Ticket,
}

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
        self.entries.clear();
        self.changed.clear();
    }
}

impl AuthCache {
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

    /// To be taken BEFORE the lookup whose result may be stored: a change after it spoils it.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.inner.changes.load(Ordering::Acquire))
    }

    fn next_change(&self) -> Ticket {
        Ticket(self.inner.changes.fetch_add(1, Ordering::AcqRel) + 1)
    }

    fn expired(&self, entry: &Entry, now: DateTime<Utc>) -> bool {
        now.signed_duration_since(entry.fetched_at) >= self.inner.ttl
    }

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
            // Still full: a random sixteenth goes, so a working set near the cap keeps its hits.
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

    /// A newer last use, keeping the entry's read time: a use must not extend its trust.
    pub fn replace(&self, digest: &[u8; 32], session: Arc<SessionRow>) {
        if let Ok(mut state) = self.inner.state.lock() {
            if let Some(entry) = state.entries.get_mut(digest) {
                entry.session = session;
            }
        }
    }

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
                state.clear(change);
            }
        }
    }

    /// After a bulk change, or when announcements may have been missed.
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
                picture_key: None,
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
