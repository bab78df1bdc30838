//! A fixed pool of threads for CPU-heavy work (password hashing, picture decoding), which
//! bounds its memory and CPU: a storm of such requests queues here while cheap requests keep
//! flowing, and never starts more threads. The threads are niced and take a core only when the
//! async workers leave one free ([`CoreShare`], docs/decisions/0006).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::oneshot;

use crate::auth::core_share::CoreShare;

/// The pool; its threads end when the last clone is dropped.
#[derive(Clone)]
pub struct Workers {
    jobs: flume::Sender<Job>,
    counts: Arc<Counts>,
}

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Counts {
    waiting: AtomicUsize,
    running: AtomicUsize,
}

/// What a pool's thread does when it has waited `after` for work (gives memory back).
#[derive(Clone, Copy)]
pub struct OnIdle {
    pub after: Duration,
    pub run: fn(),
}

/// A job that did not answer: it panicked, or the pool is gone.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Lost(&'static str);

impl Workers {
    /// Starts `threads` (at least one) threads named `{name}-{n}`.
    pub fn start(name: &str, threads: usize, idle: Option<OnIdle>) -> anyhow::Result<Self> {
        let (jobs, queue) = flume::unbounded::<Job>();
        let share = Arc::new(CoreShare::new(
            threads,
            tokio::runtime::Handle::try_current().ok(),
        ));
        for n in 0..threads.max(1) {
            let queue = queue.clone();
            let share = Arc::clone(&share);
            std::thread::Builder::new()
                .name(format!("{name}-{n}"))
                .spawn(move || work(&queue, &share, idle))
                .with_context(|| format!("cannot start a {name} thread"))?;
        }
        Ok(Self {
            jobs,
            counts: Arc::default(),
        })
    }

    /// Jobs queued and not yet started.
    pub fn waiting(&self) -> usize {
        self.counts.waiting.load(Ordering::Relaxed)
    }

    pub fn running(&self) -> usize {
        self.counts.running.load(Ordering::Relaxed)
    }

    /// Queues `job` and waits for its answer; a request gone while its job is queued costs none.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Lost> {
        let (answer, answered) = oneshot::channel();
        let counts = Arc::clone(&self.counts);
        counts.waiting.fetch_add(1, Ordering::Relaxed);
        let task: Job = Box::new(move || {
            counts.waiting.fetch_sub(1, Ordering::Relaxed);
            if answer.is_closed() {
                return;
            }
            counts.running.fetch_add(1, Ordering::Relaxed);
            let result = std::panic::catch_unwind(AssertUnwindSafe(job))
                .map_err(|_| Lost("a pool job panicked"));
            counts.running.fetch_sub(1, Ordering::Relaxed);
            answer.send(result).ok();
        });
        if self.jobs.send(task).is_err() {
            self.counts.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(Lost("the pool's threads are gone"));
        }
        answered.await.map_err(|_| Lost("a pool job was dropped"))?
    }
}

fn work(queue: &flume::Receiver<Job>, share: &CoreShare, idle: Option<OnIdle>) {
    yield_to_cheap_requests();
    let wait = idle.map_or(Duration::from_secs(3600), |i| i.after);
    loop {
        match queue.recv_timeout(wait) {
            Ok(job) => {
                let _slot = share.enter();
                job();
            }
            Err(flume::RecvTimeoutError::Timeout) => {
                if let Some(idle) = idle {
                    (idle.run)();
                }
            }
            Err(flume::RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Niced, a pool thread yields the CPU at once to a cheap request, yet gets all idle CPU.
fn yield_to_cheap_requests() {
    if !crate::sys::lower_this_threads_priority() {
        tracing::debug!("could not lower the priority of a pool thread");
    }
}
