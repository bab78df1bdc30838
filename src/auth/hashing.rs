//! Password hashing: Argon2id, run on tokio's blocking pool behind a semaphore. The semaphore
//! bounds memory (each hash holds `m` KiB) and CPU, so a login storm queues for hashing while
//! cheap requests keep flowing on the async workers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::domain::Password;
use crate::error::ApiError;

/// The hashing algorithm, behind a trait so tests can count calls or use cheaper parameters.
pub trait PasswordHasher: Send + Sync + 'static {
    /// A PHC string (`$argon2id$v=19$m=...`) for `password` with a fresh random salt.
    fn hash(&self, password: &Password) -> anyhow::Result<String>;
    /// Whether `password` matches `phc`, using the parameters recorded in `phc`.
    fn verify(&self, password: &Password, phc: &str) -> anyhow::Result<bool>;
    /// Whether a hash that just verified should be replaced by a fresh [`Self::hash`]: by
    /// default, any hash that is not Argon2id (such as one imported from Django).
    fn needs_rehash(&self, phc: &str) -> bool {
        !phc.starts_with("$argon2id$")
    }
}

/// Argon2id with configurable parameters (OWASP's minimum by default).
#[derive(Debug, Clone)]
pub struct Argon2Hasher {
    params: Params,
}

impl Argon2Hasher {
    pub fn new(params: Params) -> Self {
        Self { params }
    }
}

impl PasswordHasher for Argon2Hasher {
    fn hash(&self, password: &Password) -> anyhow::Result<String> {
        let salt = SaltString::generate(&mut OsRng);
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone());
        let phc = argon
            .hash_password(password.expose().as_bytes(), &salt)
            .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))?;
        Ok(phc.to_string())
    }

    fn verify(&self, password: &Password, phc: &str) -> anyhow::Result<bool> {
        // Hashes imported from the Django service, until their owner's next login.
        if super::django_hash::is_django_hash(phc) {
            return super::django_hash::verify(password.expose(), phc);
        }
        let parsed =
            PasswordHash::new(phc).map_err(|e| anyhow::anyhow!("stored hash unreadable: {e}"))?;
        match Argon2::default().verify_password(password.expose().as_bytes(), &parsed) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::Password) => Ok(false),
            Err(e) => Err(anyhow::anyhow!("argon2 verification failed: {e}")),
        }
    }

    /// Also true for an Argon2id hash made with other parameters than the configured ones,
    /// so raising the settings upgrades every account at its next login.
    fn needs_rehash(&self, phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return true;
        };
        parsed.algorithm != Algorithm::Argon2id.ident()
            || Params::try_from(&parsed).map_or(true, |p| {
                (p.m_cost(), p.t_cost(), p.p_cost())
                    != (
                        self.params.m_cost(),
                        self.params.t_cost(),
                        self.params.p_cost(),
                    )
            })
    }
}

/// The hashing service handlers use. Cheap to clone.
#[derive(Clone)]
pub struct Hashing {
    hasher: Arc<dyn PasswordHasher>,
    permits: Arc<Semaphore>,
    /// How many permits there are, to tell running hashes from free slots.
    capacity: usize,
    /// Hashes waiting for a permit: the queue depth `/metrics` reports.
    waiting: Arc<AtomicUsize>,
    /// A hash of a random password, verified against when the account does not exist, so an
    /// unknown address costs exactly what a wrong password costs.
    dummy: Arc<str>,
}

impl Hashing {
    /// Builds the service; computes the dummy hash once (one hash of start-up time).
    pub fn new(hasher: Arc<dyn PasswordHasher>, concurrency: usize) -> anyhow::Result<Self> {
        let random = crate::auth::PlainToken::generate();
        let dummy = hasher
            .hash(&Password::new(random.expose().to_owned()))
            .context("cannot compute the dummy password hash")?;
        Ok(Self {
            hasher,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            capacity: concurrency.max(1),
            waiting: Arc::new(AtomicUsize::new(0)),
            dummy: dummy.into(),
        })
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: Password) -> Result<String, ApiError> {
        let hasher = Arc::clone(&self.hasher);
        self.run(move || hasher.hash(&password)).await
    }

    /// Checks `password` against `phc`, or against the dummy hash when there is no account
    /// (and then answers `false`). Either way exactly one hash is computed.
    pub async fn verify(&self, password: Password, phc: Option<String>) -> Result<bool, ApiError> {
        let hasher = Arc::clone(&self.hasher);
        let real = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.dummy.to_string());
        let matched = self.run(move || hasher.verify(&password, &phc)).await?;
        Ok(real && matched)
    }

    /// Whether a hash that just verified should be upgraded (see [`PasswordHasher::needs_rehash`]).
    pub fn needs_rehash(&self, phc: &str) -> bool {
        self.hasher.needs_rehash(phc)
    }

    /// Hashes waiting for or holding a permit right now.
    pub fn available_permits(&self) -> usize {
        self.permits.available_permits()
    }

    /// Hashes waiting for a permit right now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Hashes holding a permit (running) right now.
    pub fn running(&self) -> usize {
        self.capacity
            .saturating_sub(self.permits.available_permits())
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let queued = Queued::enter(&self.waiting);
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(ApiError::internal)?;
        drop(queued);
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job()
        })
        .await
        .map_err(ApiError::internal)?;
        result.map_err(ApiError::Internal)
    }
}

/// One hash in the waiting count; leaves it when dropped, so a request cancelled while queued
/// (client gone) is not counted forever.
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn enter(waiting: &'a AtomicUsize) -> Self {
        waiting.fetch_add(1, Ordering::Relaxed);
        Self(waiting)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
