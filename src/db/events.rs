//! Queries on `security_events`.

use chrono::{DateTime, Utc};

use super::{Db, On, on, on_db};

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EventRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub user_id: Option<i64>,
    pub actor_id: Option<i64>,
    pub ip: Option<String>,
    pub detail: Option<String>,
}

/// An event about to be stored.
pub struct NewEvent<'a> {
    pub at: DateTime<Utc>,
    pub kind: &'a str,
    pub user_id: Option<i64>,
    pub actor_id: Option<i64>,
    pub ip: Option<String>,
    pub detail: Option<&'a str>,
}

macro_rules! insert_event_sql {
    () => {
        "INSERT INTO security_events (at, kind, user_id, actor_id, ip, detail) \
         VALUES ($1, $2, $3, $4, $5, $6)"
    };
}
pub(super) use insert_event_sql;

/// Stores one event, on its own or inside a transaction.
pub async fn insert_event<'a>(on: impl Into<On<'a>>, e: &NewEvent<'_>) -> Result<(), sqlx::Error> {
    on!(write on, conn => bind_event(sqlx::query(insert_event_sql!()), e)
        .execute(conn)
        .await
        .map(drop))
}

/// Binds an event's values to `$1`..`$6` of a statement built on [`insert_event_sql`].
pub(super) fn bind_event<'q, DB>(
    query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    e: &'q NewEvent<'q>,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    DateTime<Utc>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query
        .bind(e.at)
        .bind(e.kind)
        .bind(e.user_id)
        .bind(e.actor_id)
        .bind(e.ip.as_deref())
        .bind(e.detail)
}

/// Deletes at most `limit` events recorded before `before`, oldest first. Returns how many.
pub async fn purge_events(db: &Db, before: DateTime<Utc>, limit: i64) -> Result<u64, sqlx::Error> {
    const SQL: &str = "DELETE FROM security_events WHERE id IN \
         (SELECT id FROM security_events WHERE at < $1 ORDER BY id LIMIT $2)";
    super::delete_chunk(db, SQL, before, limit).await
}

/// Newest first; only events about `user_id` when given. Returns (total, page).
pub async fn list_events(
    db: &Db,
    user_id: Option<i64>,
    limit: i64,
    offset: i64,
) -> Result<(i64, Vec<EventRow>), sqlx::Error> {
    const COUNT: &str = "SELECT COUNT(*) FROM security_events WHERE ($1 IS NULL OR user_id = $1)";
    let rows = find_events(db, user_id, None, limit, offset).await?;
    let count: i64 =
        on_db!(db, pool => sqlx::query_scalar(COUNT).bind(user_id).fetch_one(pool).await)?;
    Ok((count, rows))
}

/// Newest first, about `user_id` and of `kind` where given; no total (a count of a large log
/// is a scan).
pub async fn find_events(
    db: &Db,
    user_id: Option<i64>,
    kind: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<EventRow>, sqlx::Error> {
    const PAGE: &str = "SELECT id, at, kind, user_id, actor_id, ip, detail FROM security_events \
                        WHERE ($1 IS NULL OR user_id = $1) AND ($4 IS NULL OR kind = $4) \
                        ORDER BY id DESC LIMIT $2 OFFSET $3";
    on_db!(db, pool => sqlx::query_as(PAGE)
        .bind(user_id)
        .bind(limit)
        .bind(offset)
        .bind(kind)
        .fetch_all(pool)
        .await)
}
