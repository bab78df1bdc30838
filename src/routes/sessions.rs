//! The caller's sessions (one per login token): list them, end one, end them all. Only ever
//! the caller's own: another user's session id is "not found", exactly like an id that does
//! not exist, so ids of other users' sessions cannot be probed.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::PathId;
use super::schemas::Detail;
use crate::audit::{Event, Kind};
use crate::auth::{AuthUser, ClientIp, SessionChange};
use crate::db::{self, SessionInfo};
use crate::error::ApiError;
use crate::state::AppState;

/// One login of the caller. The token itself (or its digest) is never shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    /// Use it with `DELETE /users/me/sessions/{id}/`.
    #[schema(example = 7)]
    pub id: i64,
    /// RFC 3339, UTC: when the token was issued.
    #[schema(format = DateTime, example = "2026-11-24T21:31:35.123456Z")]
    pub created: String,
    /// RFC 3339, UTC: when the token was last used, if recorded.
    #[schema(format = DateTime)]
    pub last_used: Option<String>,
    /// The `User-Agent` of the login that issued the token.
    #[schema(example = "RayversKitchen/2.3 (iPhone; iOS 17.1)")]
    pub user_agent: Option<String>,
    /// Whether this is the token making the request.
    pub current: bool,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl Session {
    fn new(row: SessionInfo, current_token: i64) -> Self {
        Session {
            id: row.id,
            created: rfc3339(row.created_at),
            last_used: row.last_used_at.map(rfc3339),
            user_agent: row.user_agent,
            current: row.id == current_token,
        }
    }
}

/// Log out everywhere: revoke every token of the caller, this one included.
#[utoipa::path(
    post, path = "/logout/all/", tag = "auth",
    security(("token" = [])),
    responses(
        (status = 200, description = "`{\"detail\": \"Logged out of all sessions.\"}`", body = Detail),
        (status = 401, body = Detail), (status = 503, body = Detail),
    )
)]
pub async fn logout_all(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    auth: AuthUser,
) -> Result<(SessionChange, Json<Detail>), ApiError> {
    let revoked = db::delete_tokens_of_user(&state.db, auth.user().id).await?;
    let detail = format!("logout_all: {revoked} tokens");
    let event = Event::new(Kind::TokensRevoked)
        .user(auth.user().id)
        .ip(client);
    event.detail(&detail).record(&state).await;
    tracing::info!(
        user_id = auth.user().id,
        revoked,
        "logged out of all sessions"
    );
    Ok((
        SessionChange::User(auth.user().id),
        Json(Detail {
            detail: "Logged out of all sessions.".to_owned(),
        }),
    ))
}

/// The caller's sessions, newest first.
#[utoipa::path(
    get, path = "/users/me/sessions/", tag = "auth",
    security(("token" = [])),
    responses(
        (status = 200, body = Vec<Session>),
        (status = 401, body = Detail), (status = 503, body = Detail),
    )
)]
pub async fn list_sessions(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<Vec<Session>>, ApiError> {
    let rows = db::list_tokens_of_user(&state.db, auth.user().id).await?;
    Ok(Json(
        rows.into_iter()
            .map(|mut row| {
                row.last_used_at = state.touches.latest(row.id, row.last_used_at);
                Session::new(row, auth.token_id())
            })
            .collect(),
    ))
}

/// End one of the caller's sessions (its token stops working). Ending the current one is
/// a logout.
#[utoipa::path(
    delete, path = "/users/me/sessions/{id}/", tag = "auth",
    security(("token" = [])),
    params(("id" = i64, Path, description = "A session id from the list")),
    responses(
        (status = 204, description = "Ended; no body"),
        (status = 401, body = Detail),
        (status = 404, description = "No session of the caller has this id", body = Detail),
        (status = 503, body = Detail),
    )
)]
pub async fn delete_session(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    auth: AuthUser,
    PathId(id): PathId,
) -> Result<(SessionChange, StatusCode), ApiError> {
    if !db::delete_token_of_user(&state.db, auth.user().id, id).await? {
        return Err(ApiError::NotFound);
    }
    let detail = format!("session {id}");
    let event = Event::new(Kind::TokensRevoked)
        .user(auth.user().id)
        .ip(client);
    event.detail(&detail).record(&state).await;
    Ok((SessionChange::User(auth.user().id), StatusCode::NO_CONTENT))
}
