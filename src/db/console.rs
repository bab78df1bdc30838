//! Queries on `console_sessions` (the staff console's own sessions) and the console's user
//! search, which finds users by the start of their address or name through indexes.

use chrono::{DateTime, Utc};

use super::users::{UserRow, user_columns};
use super::{Db, on_db};

/// A console session as stored: whose, and when it began and was last used.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConsoleSessionRow {
    pub user_id: i64,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

pub async fn insert_console_session(
    db: &Db,
    digest: &[u8],
    user_id: i64,
    now: DateTime<Utc>,
    user_agent: Option<&str>,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO console_sessions \
         (digest, user_id, created_at, last_seen_at, user_agent) VALUES ($1, $2, $3, $3, $4)";
    on_db!(write db, pool => sqlx::query(SQL)
        .bind(digest)
        .bind(user_id)
        .bind(now)
        .bind(user_agent)
        .execute(pool)
        .await
        .map(|_| ()))
}

pub async fn find_console_session(
    db: &Db,
    digest: &[u8],
) -> Result<Option<ConsoleSessionRow>, sqlx::Error> {
    const SQL: &str =
        "SELECT user_id, created_at, last_seen_at FROM console_sessions WHERE digest = $1";
    on_db!(db, pool => sqlx::query_as(SQL).bind(digest).fetch_optional(pool).await)
}

pub async fn touch_console_session(
    db: &Db,
    digest: &[u8],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "UPDATE console_sessions SET last_seen_at = $2 WHERE digest = $1";
    on_db!(write db, pool => sqlx::query(SQL)
        .bind(digest)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))
}

pub async fn delete_console_session(db: &Db, digest: &[u8]) -> Result<(), sqlx::Error> {
    const SQL: &str = "DELETE FROM console_sessions WHERE digest = $1";
    on_db!(write db, pool => sqlx::query(SQL).bind(digest).execute(pool).await.map(|_| ()))
}

/// Deletes the sessions idle since `idle_before` or begun before `begun_before`.
pub async fn purge_console_sessions(
    db: &Db,
    idle_before: DateTime<Utc>,
    begun_before: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    const SQL: &str = "DELETE FROM console_sessions WHERE last_seen_at < $1 OR created_at < $2";
    on_db!(write db, pool => sqlx::query(SQL)
        .bind(idle_before)
        .bind(begun_before)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
}

/// The console's search: users whose address key or name key starts with `$1` (`$2` is `$1`
/// followed by the highest character, so each is one index range), newest first. In byte
/// order on both engines ("C" on PostgreSQL, SQLite's BINARY).
pub const SEARCH_SQLITE: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE (email_key >= $1 AND email_key < $2) \
     OR (name_key >= $1 AND name_key < $2) ORDER BY id DESC LIMIT $3 OFFSET $4"
);
pub const SEARCH_POSTGRES: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE (email_key COLLATE \"C\" >= $1 AND email_key COLLATE \"C\" < $2) \
     OR (name_key COLLATE \"C\" >= $1 AND name_key COLLATE \"C\" < $2) \
     ORDER BY id DESC LIMIT $3 OFFSET $4"
);

/// Up to `limit` users from `offset` whose address or name starts with `prefix` (already a
/// [`crate::domain::search_key`]), newest first; every user, newest first, for an empty
/// prefix.
pub async fn search_users(
    db: &Db,
    prefix: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<UserRow>, sqlx::Error> {
    const ALL: &str = concat!(
        "SELECT ",
        user_columns!(),
        " FROM users ORDER BY id DESC LIMIT $1 OFFSET $2"
    );
    if prefix.is_empty() {
        return on_db!(db, pool => sqlx::query_as(ALL)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await);
    }
    let upper = format!("{prefix}{}", char::MAX);
    let sql = match db {
        Db::Sqlite(_) => SEARCH_SQLITE,
        Db::Postgres(_) => SEARCH_POSTGRES,
    };
    on_db!(db, pool => sqlx::query_as(sql)
        .bind(prefix)
        .bind(&upper)
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await)
}
