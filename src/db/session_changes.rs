//! Queries on `session_changes` (SQLite only): changes to sessions, for every server process on
//! the same file to hear of.

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqlitePool;

/// Records changes to these users' sessions (`None`: everyone's), in order, in one statement.
pub async fn record_session_changes(
    pool: &SqlitePool,
    user_ids: &[Option<i64>],
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let ids = serde_json::to_string(user_ids).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "INSERT INTO session_changes (user_id, at) \
         SELECT value, $2 FROM json_each($1) ORDER BY key",
    )
    .bind(ids)
    .bind(at)
    .execute(pool)
    .await
    .map(drop)
}

/// Forgets the changes recorded before `before` (servers read them within a second).
pub async fn purge_session_changes(
    pool: &SqlitePool,
    before: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    sqlx::query("DELETE FROM session_changes WHERE at < $1")
        .bind(before)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
}

/// The id of the latest change recorded, 0 if none: where a server starts following.
pub async fn last_session_change(pool: &SqlitePool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT coalesce(max(id), 0) FROM session_changes")
        .fetch_one(pool)
        .await
}

/// The changes after `after`, oldest first; ids grow in commit order, so none is skipped.
pub async fn session_changes_after(
    pool: &SqlitePool,
    after: i64,
) -> Result<Vec<(i64, Option<i64>)>, sqlx::Error> {
    sqlx::query_as("SELECT id, user_id FROM session_changes WHERE id > $1 ORDER BY id")
        .bind(after)
        .fetch_all(pool)
        .await
}
