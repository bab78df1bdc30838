//! Queries on `session_changes`: changes to sessions, for the server processes that poll for
//! them (every one on SQLite; on PostgreSQL, those that cannot `LISTEN`).

use super::{Db, on_db};
use chrono::{DateTime, Utc};

/// Records changes to these users' sessions (`None`: everyone's), in order, in one statement.
pub async fn record_session_changes(
    db: &Db,
    user_ids: &[Option<i64>],
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let ids = serde_json::to_string(user_ids).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    match db {
        Db::Sqlite(pools) => sqlx::query(
            "INSERT INTO session_changes (user_id, at) \
                 SELECT value, $2 FROM json_each($1) ORDER BY key",
        )
        .bind(ids)
        .bind(at)
        .execute(pools.write())
        .await
        .map(drop),
        Db::Postgres(pool) => sqlx::query(
            "INSERT INTO session_changes (user_id, at) \
                 SELECT CAST(value AS BIGINT), $2 \
                 FROM json_array_elements_text(CAST($1 AS JSON)) WITH ORDINALITY AS t(value, n) \
                 ORDER BY n",
        )
        .bind(ids)
        .bind(at)
        .execute(pool)
        .await
        .map(drop),
    }
}

/// Forgets the changes recorded before `before` (servers read them within a second).
pub async fn purge_session_changes(db: &Db, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    const SQL: &str = "DELETE FROM session_changes WHERE at < $1";
    on_db!(write db, pool => sqlx::query(SQL)
        .bind(before)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
}

/// The id of the latest change recorded, 0 if none: where a server starts following.
pub async fn last_session_change(db: &Db) -> Result<i64, sqlx::Error> {
    const SQL: &str = "SELECT CAST(coalesce(max(id), 0) AS BIGINT) FROM session_changes";
    on_db!(db, pool => sqlx::query_scalar(SQL).fetch_one(pool).await)
}

/// The changes recorded after id `after` or at `since` and later, oldest first:
/// `(id, user_id)`. On PostgreSQL ids are taken in one order and committed in another, so a
/// poller looks a few seconds back as well as forward.
pub async fn session_changes_after(
    db: &Db,
    after: i64,
    since: DateTime<Utc>,
) -> Result<Vec<(i64, Option<i64>)>, sqlx::Error> {
    const SQL: &str =
        "SELECT id, user_id FROM session_changes WHERE id > $1 OR at >= $2 ORDER BY id";
    on_db!(db, pool => sqlx::query_as(SQL).bind(after).bind(since).fetch_all(pool).await)
}
