//! How many password hashes may run at once right now: the configured `hash_concurrency`,
//! less the cores the async workers are busy on. A hash holds a core for tens of milliseconds
//! and cannot be interrupted, and the scheduler shares a core between processes (the
//! database, a proxy) evenly, whatever nice value the hashing threads have. So while the cheap
//! path (authenticated reads, served by the async workers) keeps cores busy, hashing stays
//! off those cores; when it does not, hashing takes every core it is allowed.
//!
//! The workers' busy time comes from tokio's own counters, sampled at most every
//! [`WINDOW`] by whichever hashing thread is about to start a hash. At least one hash may
//! always run, so logins are never starved, only slowed, and a hash that has started always
//! finishes.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;

/// How long a measurement of the workers' busy time spans, at least.
const WINDOW: Duration = Duration::from_millis(50);

/// The cores reserved for the async workers, as a function of how many of them they used on
/// average: a core from a quarter of one on (below that they are handling the hashes' own
/// requests: a login costs them well under a millisecond), another from one and a quarter.
fn reserved_cores(busy_cores: f64) -> usize {
    if busy_cores.is_finite() && busy_cores > 0.0 {
        // Saturating float-to-integer conversion: the value is finite and positive here.
        (busy_cores + 0.75).floor() as usize
    } else {
        0
    }
}

/// Hashes allowed to run at once when the workers used `busy_cores` cores on average.
pub(super) fn allowed(concurrency: usize, busy_cores: f64) -> usize {
    concurrency
        .saturating_sub(reserved_cores(busy_cores))
        .max(1)
}

/// The gate every hashing thread passes before it starts a hash.
pub(super) struct CoreShare {
    concurrency: usize,
    /// The runtime whose workers are measured (none outside one: then nothing is reserved).
    runtime: Option<Handle>,
    state: Mutex<State>,
    freed: Condvar,
}

struct State {
    running: usize,
    allowed: usize,
    sampled_at: Instant,
    busy_total: Duration,
}

/// A running hash's place; dropping it lets the next one start.
pub(super) struct Slot<'a>(&'a CoreShare);

impl CoreShare {
    pub(super) fn new(concurrency: usize, runtime: Option<Handle>) -> Self {
        let busy_total = runtime.as_ref().map(busy_total).unwrap_or_default();
        Self {
            concurrency: concurrency.max(1),
            runtime,
            state: Mutex::new(State {
                running: 0,
                allowed: concurrency.max(1),
                sampled_at: Instant::now(),
                busy_total,
            }),
            freed: Condvar::new(),
        }
    }

    /// Waits until one more hash may run, then holds its place until the [`Slot`] drops.
    pub(super) fn enter(&self) -> Slot<'_> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            self.sample(&mut state);
            if state.running < state.allowed {
                state.running += 1;
                return Slot(self);
            }
            // Woken when a hash ends, or after a window to look at the workers again.
            state = self
                .freed
                .wait_timeout(state, WINDOW)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Updates the allowance once a window has passed since the last measurement.
    fn sample(&self, state: &mut State) {
        let Some(runtime) = &self.runtime else {
            return;
        };
        let now = Instant::now();
        let elapsed = now.duration_since(state.sampled_at);
        if elapsed < WINDOW {
            return;
        }
        let total = busy_total(runtime);
        let busy = total.saturating_sub(state.busy_total);
        state.allowed = allowed(self.concurrency, busy.as_secs_f64() / elapsed.as_secs_f64());
        state.sampled_at = now;
        state.busy_total = total;
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.running = state.running.saturating_sub(1);
        drop(state);
        self.0.freed.notify_one();
    }
}

/// The time every async worker has spent busy since the runtime started.
fn busy_total(runtime: &Handle) -> Duration {
    let metrics = runtime.metrics();
    (0..metrics.num_workers())
        .map(|worker| metrics.worker_total_busy_duration(worker))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_or_lightly_used_workers_leave_hashing_every_core() {
        assert_eq!(allowed(2, 0.0), 2);
        assert_eq!(allowed(2, 0.2), 2);
        assert_eq!(allowed(8, 0.24), 8);
    }

    #[test]
    fn busy_workers_keep_the_cores_they_use() {
        assert_eq!(allowed(2, 0.25), 1);
        assert_eq!(allowed(2, 0.9), 1);
        assert_eq!(allowed(8, 1.3), 6);
        assert_eq!(allowed(8, 3.0), 5);
    }

    #[test]
    fn one_hash_may_always_run() {
        assert_eq!(allowed(1, 0.0), 1);
        assert_eq!(allowed(1, 5.0), 1);
        assert_eq!(allowed(2, 2.0), 1);
        assert_eq!(allowed(2, f64::NAN), 2);
    }

    #[test]
    fn at_most_the_allowed_hashes_hold_a_slot_and_a_freed_slot_lets_the_next_in() {
        let share = std::sync::Arc::new(CoreShare::new(2, None));
        let first = share.enter();
        let second = share.enter();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiting = std::sync::Arc::clone(&share);
        let third = std::thread::spawn(move || {
            let _slot = waiting.enter();
            tx.send(()).ok();
        });
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        drop(first);
        assert!(rx.recv_timeout(Duration::from_secs(5)).is_ok());
        drop(second);
        third.join().ok();
    }
}
