//! [`AuthUser`]: a handler that takes it cannot run for an unauthenticated caller.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::parse_authorization;
use crate::state::AppState;
use std::sync::Arc;

use crate::db::{self, SessionRow, UserRow};
use crate::error::{ApiError, AuthFailure};

/// The caller, by a live token of an active user; shares the cached session, copying nothing.
#[derive(Debug, Clone)]
pub struct AuthUser {
    session: Arc<SessionRow>,
}

impl AuthUser {
    pub fn user(&self) -> &UserRow {
        &self.session.user
    }

    /// The token this request presented (logout revokes exactly this one).
    pub fn token_id(&self) -> i64 {
        self.session.token_id
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parse_authorization(parts.headers.get(AUTHORIZATION))
            .map_err(ApiError::Unauthenticated)?
            .ok_or(ApiError::Unauthenticated(AuthFailure::NotProvided))?;
        let digest = token.digest().to_array();
        let now = state.clock.now();
        let cache = &state.auth_cache;
        // Before the cache is read: a change to this user from here on spoils what we store.
        let ticket = cache.ticket();
        let session = match cache.get(&digest, now) {
            Some(session) => session,
            None => {
                let mut session = state
                    .sessions
                    .find(&digest)
                    .await?
                    .ok_or(ApiError::Unauthenticated(AuthFailure::InvalidToken))?;
                session.last_used_at = state.touches.latest(session.token_id, session.last_used_at);
                let session = Arc::new(session);
                cache.put(digest, Arc::clone(&session), ticket, now);
                session
            }
        };
        if state
            .config
            .token_expired(session.token_created_at, session.last_used_at, now)
        {
            // A failed purge changes no answer: the periodic purge catches it later.
            if let Err(e) =
                db::delete_token_of_user(&state.db, session.user.id, session.token_id).await
            {
                tracing::warn!(error = %e, "could not purge an expired token");
            }
            return Err(ApiError::Unauthenticated(AuthFailure::InvalidToken));
        }
        if !session.user.is_active {
            return Err(ApiError::Unauthenticated(AuthFailure::Inactive));
        }
        // Noted, not written: the batch flush (`auth::touches`) never holds up or fails a request.
        let stale = session
            .last_used_at
            .is_none_or(|t| now.signed_duration_since(t) >= state.config.last_used_granularity());
        if stale {
            state.touches.record(session.token_id, now);
            let mut touched = SessionRow::clone(&session);
            touched.last_used_at = Some(now);
            cache.replace(&digest, Arc::new(touched));
        }
        Ok(AuthUser { session })
    }
}
