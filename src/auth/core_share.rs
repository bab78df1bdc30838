//! How many password hashes may run at once: `hash_concurrency` less the cores the async
//! workers are busy on (tokio's counters). A hash holds a core for tens of milliseconds, and
//! nice values do not rank threads against other processes, so this keeps hashing off the
//! cores that cheap reads need (docs/decisions/0006). One hash may always run: logins slow
//! down, never starve.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;

const WINDOW: Duration = Duration::from_millis(50);

/// A core from a quarter of one on: below that the workers serve little but the logins
/// themselves, which cost them well under a millisecond each.
fn reserved_cores(busy_cores: f64) -> usize {
    if busy_cores.is_finite() && busy_cores > 0.0 {
        // Saturating float-to-integer conversion: the value is finite and positive here.
        (busy_cores + 0.75).floor() as usize
    } else {
        0
    }
}

pub(super) fn allowed(concurrency: usize, busy_cores: f64) -> usize {
    concurrency
        .saturating_sub(reserved_cores(busy_cores))
        .max(1)
}

pub(crate) struct CoreShare {
    concurrency: usize,
    /// None outside a runtime: then nothing is reserved.
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
pub(crate) struct Slot<'a>(&'a CoreShare);

impl CoreShare {
    pub(crate) fn new(concurrency: usize, runtime: Option<Handle>) -> Self {
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

    pub(crate) fn enter(&self) -> Slot<'_> {
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
