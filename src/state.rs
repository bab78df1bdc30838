//! What every handler can reach: the database, hashing, the session cache, mail, settings.

use std::sync::Arc;

use crate::auth::{AuthCache, ChangeRecorder, Clock, Hashing, PasswordHasher, Touches};
use crate::config::Config;
use crate::db::{Db, SessionLookup};
use crate::domain::PasswordPolicy;
use crate::mail::{MailTransport, Mailer};
use crate::public_url::PublicUrl;

/// One pointer: every middleware and extractor clones the state, so a clone must cost one
/// reference count, not one per field (docs/decisions/0012).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub db: Db,
    pub sessions: SessionLookup,
    pub hashing: Hashing,
    pub clock: Arc<dyn Clock>,
    pub policy: PasswordPolicy,
    pub config: Arc<Config>,
    pub mailer: Mailer,
    pub auth_cache: AuthCache,
    pub touches: Touches,
    pub change_recorder: Option<ChangeRecorder>,
    pub public_url: PublicUrl,
    pub pictures: crate::pictures::Pictures,
    /// The WebAuthn relying party and the native apps' association files.
    pub passkeys: crate::webauthn::Passkeys,
    /// Seals TOTP secrets at rest; loaded once at start.
    pub mfa_key: crate::auth::mfa::MfaKey,
}

/// Replacements for real dependencies, for tests and benchmarks.
#[derive(Default)]
pub struct Overrides {
    pub hasher: Option<Arc<dyn PasswordHasher>>,
    pub clock: Option<Arc<dyn Clock>>,
    pub mail_transport: Option<Arc<dyn MailTransport>>,
}
