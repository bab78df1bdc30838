//! Password hashing on a fixed pool of threads, which bounds its memory and CPU: a login storm
//! queues here while cheap requests keep flowing, and never starts more threads.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::oneshot;

use super::core_share::CoreShare;
use crate::domain::Password;
use crate::error::ApiError;

/// How long a hashing thread waits for work before it gives its Argon2 memory back.
const IDLE_RELEASE: Duration = Duration::from_secs(30);

/// The hashing algorithm, behind a trait so tests can count calls or use cheaper parameters.
pub trait PasswordHasher: Send + Sync + 'static {
    /// A PHC string for `password` with a fresh random salt.
    fn hash(&self, password: &Password) -> anyhow::Result<String>;
    fn verify(&self, password: &Password, phc: &str) -> anyhow::Result<bool>;
    /// Whether a hash that just verified should be replaced: by default, any but Argon2id.
    fn needs_rehash(&self, phc: &str) -> bool {
        !phc.starts_with("$argon2id$")
    }
}

/// The hashing service; its threads end when the last clone is dropped.
#[derive(Clone)]
pub struct Hashing {
    hasher: Arc<dyn PasswordHasher>,
    jobs: flume::Sender<Job>,
    counts: Arc<Counts>,
    /// Checked when there is no account: an unknown address costs what a wrong password does.
    dummy: Arc<str>,
}

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Counts {
    waiting: AtomicUsize,
    running: AtomicUsize,
}

impl Hashing {
    /// Starts `concurrency` hashing threads and computes the dummy hash.
    pub fn new(hasher: Arc<dyn PasswordHasher>, concurrency: usize) -> anyhow::Result<Self> {
        let random = crate::auth::PlainToken::generate();
        let dummy = hasher
            .hash(&Password::new(random.expose().to_owned()))
            .context("cannot compute the dummy password hash")?;
        super::argon::release_scratch();
        let (jobs, queue) = flume::unbounded::<Job>();
        let share = Arc::new(CoreShare::new(
            concurrency,
            tokio::runtime::Handle::try_current().ok(),
        ));
        for n in 0..concurrency.max(1) {
            let queue = queue.clone();
            let share = Arc::clone(&share);
            std::thread::Builder::new()
                .name(format!("kitchen-hash-{n}"))
                .spawn(move || work(&queue, &share))
                .context("cannot start a password hashing thread")?;
        }
        Ok(Self {
            hasher,
            jobs,
            counts: Arc::default(),
            dummy: dummy.into(),
        })
    }

    pub async fn hash(&self, password: Password) -> Result<String, ApiError> {
        let hasher = Arc::clone(&self.hasher);
        self.run(move || hasher.hash(&password)).await
    }

    /// Checks `password` against `phc`, or against the dummy hash (answering `false`) if `None`.
    pub async fn verify(&self, password: Password, phc: Option<String>) -> Result<bool, ApiError> {
        let hasher = Arc::clone(&self.hasher);
        let real = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.dummy.to_string());
        let matched = self.run(move || hasher.verify(&password, &phc)).await?;
        Ok(real && matched)
    }

    pub fn needs_rehash(&self, phc: &str) -> bool {
        self.hasher.needs_rehash(phc)
    }

    pub fn waiting(&self) -> usize {
        self.counts.waiting.load(Ordering::Relaxed)
    }

    pub fn running(&self) -> usize {
        self.counts.running.load(Ordering::Relaxed)
    }

    /// Queues `job` and waits for its answer; a request gone while its hash is queued costs none.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
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
                .unwrap_or_else(|_| Err(anyhow::anyhow!("password hashing panicked")));
            counts.running.fetch_sub(1, Ordering::Relaxed);
            answer.send(result).ok();
        });
        if self.jobs.send(task).is_err() {
            self.counts.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(ApiError::internal(anyhow::anyhow!(
                "the hashing threads are gone"
            )));
        }
        answered
            .await
            .map_err(|_| ApiError::internal(anyhow::anyhow!("a hashing job was dropped")))?
            .map_err(ApiError::Internal)
    }
}

fn work(queue: &flume::Receiver<Job>, share: &CoreShare) {
    yield_to_cheap_requests();
    loop {
        match queue.recv_timeout(IDLE_RELEASE) {
            Ok(job) => {
                let _slot = share.enter();
                job();
            }
            Err(flume::RecvTimeoutError::Timeout) => super::argon::release_scratch(),
            Err(flume::RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Niced, a hashing thread yields the CPU at once to a cheap request, yet gets all idle CPU.
fn yield_to_cheap_requests() {
    if !crate::sys::lower_this_threads_priority() {
        tracing::debug!("could not lower the priority of a hashing thread");
    }
}
