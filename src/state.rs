//! What every handler can reach: the database, the hashing pool, the session cache, the mail
//! queue and the configuration, behind one pointer.

use std::sync::Arc;

use crate::auth::{AuthCache, ChangeRecorder, Clock, Hashing, PasswordHasher, Touches};
use crate::config::Config;
use crate::db::{Db, SessionLookup};
use crate::domain::PasswordPolicy;
use crate::mail::{MailTransport, Mailer};
use crate::public_url::PublicUrl;

/// What every handler can reach: one pointer to [`Shared`], so the several clones a request
/// makes (each middleware and extractor takes its own) cost one reference count, not one per
/// field (a profile showed cloning and dropping a field-by-field state at 16 % of the cheap
/// path's CPU).
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

/// The state itself.
pub struct Shared {
    pub db: Db,
    /// The token lookup of the authentication path (see `db::SessionLookup`).
    pub sessions: SessionLookup,
    pub hashing: Hashing,
    pub clock: Arc<dyn Clock>,
    pub policy: PasswordPolicy,
    pub config: Arc<Config>,
    /// The queue of outgoing code mails.
    pub mailer: Mailer,
    /// Recently authenticated sessions (see `auth::AuthCache` for why this stays correct).
    pub auth_cache: AuthCache,
    /// Tokens' last uses, waiting to be written (see `auth::Touches`).
    pub touches: Touches,
    /// On SQLite, where session changes are recorded for the other processes on the file.
    pub change_recorder: Option<ChangeRecorder>,
    /// Where clients reach the API: `KITCHEN_API_PUBLIC_URL`, or the address listened on.
    pub public_url: PublicUrl,
}

/// Replacements for real dependencies, for tests and benchmarks.
#[derive(Default)]
pub struct Overrides {
    pub hasher: Option<Arc<dyn PasswordHasher>>,
    pub clock: Option<Arc<dyn Clock>>,
    /// Where mails go instead of the configured backend.
    pub mail_transport: Option<Arc<dyn MailTransport>>,
}
