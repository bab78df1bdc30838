//! Password hashing: Argon2id, run on tokio's blocking pool behind a semaphore. The semaphore
//! bounds memory (each hash holds `m` KiB) and CPU, so a login storm queues for hashing while
//! cheap requests keep flowing on the async workers.

use std::sync::Arc;

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
        let parsed =
            PasswordHash::new(phc).map_err(|e| anyhow::anyhow!("stored hash unreadable: {e}"))?;
        match Argon2::default().verify_password(password.expose().as_bytes(), &parsed) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::Password) => Ok(false),
            Err(e) => Err(anyhow::anyhow!("argon2 verification failed: {e}")),
        }
    }
}

/// The hashing service handlers use. Cheap to clone.
#[derive(Clone)]
pub struct Hashing {
    hasher: Arc<dyn PasswordHasher>,
    permits: Arc<Semaphore>,
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

    /// Hashes waiting for or holding a permit right now.
    pub fn available_permits(&self) -> usize {
        self.permits.available_permits()
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(ApiError::internal)?;
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job()
        })
        .await
        .map_err(ApiError::internal)?;
        result.map_err(ApiError::Internal)
    }
}
