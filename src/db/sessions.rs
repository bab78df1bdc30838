//! The caller's own tokens seen as sessions: list them, revoke one, revoke all. Every query
//! is scoped by `user_id`, so one user can never see or end another's session.

use chrono::{DateTime, Utc};

use super::{Db, on_db};

/// A token as the sessions list shows it: never its digest.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionInfo {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub user_agent: Option<String>,
}

/// Every live token of the user, newest first.
pub async fn list_sessions(db: &Db, user_id: i64) -> Result<Vec<SessionInfo>, sqlx::Error> {
    const SQL: &str = "SELECT id, created_at, last_used_at, user_agent FROM tokens \
                       WHERE user_id = $1 ORDER BY id DESC";
    on_db!(db, pool => sqlx::query_as(SQL).bind(user_id).fetch_all(pool).await)
}

/// Revokes one token of the user. `false` if the user has no token with that id.
pub async fn delete_session(db: &Db, user_id: i64, token_id: i64) -> Result<bool, sqlx::Error> {
    const SQL: &str = "DELETE FROM tokens WHERE id = $1 AND user_id = $2";
    on_db!(write db, pool => sqlx::query(SQL)
        .bind(token_id)
        .bind(user_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0))
}

/// Revokes every token of the user; returns how many there were.
pub async fn delete_all_sessions(db: &Db, user_id: i64) -> Result<u64, sqlx::Error> {
    const SQL: &str = "DELETE FROM tokens WHERE user_id = $1";
    on_db!(write db, pool => sqlx::query(SQL)
        .bind(user_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
}
