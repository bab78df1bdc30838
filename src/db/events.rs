//! Queries on `security_events`.

use chrono::{DateTime, Utc};

use super::{Db, on_db};

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

pub async fn insert_event(db: &Db, e: &NewEvent<'_>) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO security_events (at, kind, user_id, actor_id, ip, detail) \
                       VALUES ($1, $2, $3, $4, $5, $6)";
    on_db!(db, pool => sqlx::query(SQL)
        .bind(e.at)
        .bind(e.kind)
        .bind(e.user_id)
        .bind(e.actor_id)
        .bind(e.ip.as_deref())
        .bind(e.detail)
        .execute(pool)
        .await
        .map(drop))
}

/// Newest first; only events about `user_id` when given. Returns (total, page).
pub async fn list_events(
    db: &Db,
    user_id: Option<i64>,
    limit: i64,
    offset: i64,
) -> Result<(i64, Vec<EventRow>), sqlx::Error> {
    const COUNT: &str = "SELECT COUNT(*) FROM security_events WHERE ($1 IS NULL OR user_id = $1)";
    const PAGE: &str = "SELECT id, at, kind, user_id, actor_id, ip, detail FROM security_events \
                        WHERE ($1 IS NULL OR user_id = $1) ORDER BY id DESC LIMIT $2 OFFSET $3";
    on_db!(db, pool => {
        let count: i64 = sqlx::query_scalar(COUNT).bind(user_id).fetch_one(pool).await?;
        let rows = sqlx::query_as(PAGE).bind(user_id).bind(limit).bind(offset).fetch_all(pool).await?;
        Ok((count, rows))
    })
}
