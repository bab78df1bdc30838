//! Password hashing on a fixed pool of threads ([`Workers`]), which bounds its memory and CPU:
//! a login storm queues here while cheap requests keep flowing, and never starts more threads.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::domain::Password;
use crate::error::ApiError;
use crate::workers::{OnIdle, Workers};

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
    workers: Workers,
    /// Checked when there is no account: an unknown address costs what a wrong password does.
    dummy: Arc<str>,
}

impl Hashing {
    /// Starts `concurrency` hashing threads and computes the dummy hash.
    pub fn new(hasher: Arc<dyn PasswordHasher>, concurrency: usize) -> anyhow::Result<Self> {
        let random = crate::auth::PlainToken::generate();
        let dummy = hasher
            .hash(&Password::new(random.expose().to_owned()))
            .context("cannot compute the dummy password hash")?;
        super::argon::release_scratch();
        let idle = OnIdle {
            after: IDLE_RELEASE,
            run: super::argon::release_scratch,
        };
        let workers = Workers::start("kitchen-hash", concurrency, Some(idle))?;
        Ok(Self {
            hasher,
            workers,
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
        self.workers.waiting()
    }

    pub fn running(&self) -> usize {
        self.workers.running()
    }

    /// Runs `job` on the hashing threads.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.workers
            .run(job)
            .await
            .map_err(|lost| ApiError::internal(anyhow::anyhow!("password hashing: {lost}")))?
            .map_err(ApiError::Internal)
    }
}
