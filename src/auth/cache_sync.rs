//! Keeps every process's [`AuthCache`] honest: a layer that invalidates it after each
//! successful write, and, on PostgreSQL, the `NOTIFY`/`LISTEN` pair that carries the
//! invalidation to the other processes on the same database.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use sqlx::postgres::{PgListener, PgPool};

use super::AuthCache;
use crate::app::AppState;
use crate::db::Db;

/// The PostgreSQL channel of session invalidations.
const CHANNEL: &str = "kitchen_api_sessions";

/// Requests that can only create (a user, a token) and never change what a cached session says.
fn only_creates(method: &Method, path: &str) -> bool {
    *method == Method::POST && matches!(path, "/users" | "/token")
}

/// Layer: after any successful request that may have changed a token or a user, invalidate the
/// cache here and announce it to the other processes, before the client gets the answer — so a
/// client that logged out on one process is refused on the next request wherever it lands.
pub async fn invalidate_after_writes(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let writes = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS)
        && !only_creates(&method, request.uri().path());
    let response = next.run(request).await;
    if writes && response.status().is_success() {
        announce_session_change(&state).await;
    }
    response
}

/// Invalidates this process's session cache and, on PostgreSQL, every other process's.
pub async fn announce_session_change(state: &AppState) {
    if !state.auth_cache.enabled() {
        return;
    }
    state.auth_cache.invalidate_all();
    if let Db::Postgres(pool) = &state.db {
        if let Err(e) = sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(pool)
            .await
        {
            tracing::warn!(error = %e, "could not announce a session change; other processes rely on the cache TTL");
        }
    }
}

/// Runs for the life of the process: every ten minutes, deletes the tokens that expired.
pub async fn purge_expired_tokens(state: AppState) {
    // The first purge comes one period after start, not at once: a start-up purge would race
    // with whatever sets the clock (tests) and adds nothing a running service needs.
    let period = Duration::from_secs(600);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tick.tick().await;
        let now = state.clock.now();
        let before = |secs: u64| {
            if secs == 0 {
                chrono::DateTime::<chrono::Utc>::MIN_UTC
            } else {
                now - chrono::TimeDelta::seconds(i64::try_from(secs).unwrap_or(i64::MAX))
            }
        };
        // Last uses still in memory first, or a token in use could look idle.
        if let Err(e) = state.touches.flush(&state.db).await {
            tracing::warn!(error = %e, "could not record tokens' last use; purge skipped");
            continue;
        }
        let config = &state.config;
        match crate::db::purge_expired_tokens(
            &state.db,
            before(config.token_lifetime_secs),
            before(config.token_idle_timeout_secs),
        )
        .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "expired tokens purged"),
            Err(e) => tracing::warn!(error = %e, "could not purge expired tokens"),
        }
    }
}

/// Runs for the life of the process on PostgreSQL: every announcement, and every reconnection
/// (announcements may have been missed meanwhile), invalidates this process's cache.
pub async fn listen_for_changes(pool: PgPool, cache: AuthCache) {
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => {
                    cache.invalidate_all();
                    loop {
                        match listener.try_recv().await {
                            Ok(_) => cache.invalidate_all(),
                            Err(e) => {
                                tracing::warn!(error = %e, "session-change listener lost its connection");
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot LISTEN for session changes"),
            },
            Err(e) => tracing::debug!(error = %e, "session-change listener cannot connect yet"),
        }
        cache.invalidate_all();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
