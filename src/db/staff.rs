//! Queries for staff: listing and searching users, changing their flags, revoking their tokens.

use super::users::{UserRow, user_columns};
use super::{Db, on_db};

/// The search term as a `LIKE` pattern matching anywhere, with `%`, `_` and `\` taken literally.
fn contains_pattern(term: &str) -> String {
    let mut pattern = String::with_capacity(term.len() + 2);
    pattern.push('%');
    for c in term.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// One page of users whose address or name contains `search` (any case), oldest first, and the
/// number of all matches.
pub async fn list_users(
    db: &Db,
    search: &str,
    limit: i64,
    offset: i64,
) -> Result<(i64, Vec<UserRow>), sqlx::Error> {
    const FILTER: &str =
        "WHERE (email_key LIKE $1 ESCAPE '\\' OR LOWER(COALESCE(name, '')) LIKE $1 ESCAPE '\\')";
    let count_sql = format!("SELECT COUNT(*) FROM users {FILTER}");
    let page_sql = format!(
        "SELECT {} FROM users {FILTER} ORDER BY id LIMIT $2 OFFSET $3",
        user_columns!()
    );
    let pattern = contains_pattern(search);
    on_db!(db, pool => {
        let count: i64 = sqlx::query_scalar(&count_sql).bind(&pattern).fetch_one(pool).await?;
        let rows: Vec<UserRow> = sqlx::query_as(&page_sql)
            .bind(&pattern)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?;
        Ok((count, rows))
    })
}

/// One user by id.
pub async fn find_user(db: &Db, id: i64) -> Result<Option<UserRow>, sqlx::Error> {
    const SQL: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
    on_db!(db, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await)
}

/// New values for a user's flags; `None` leaves one as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlagChanges {
    pub is_active: Option<bool>,
    pub is_staff: Option<bool>,
    pub is_superuser: Option<bool>,
}

/// What became of a flag change.
#[derive(Debug)]
pub enum FlagOutcome {
    Updated(UserRow),
    NotFound,
    /// The change would leave no active superuser.
    LastSuperuser,
}

/// Applies `changes` unless they would leave no active superuser. The guard is part of the
/// UPDATE itself. SQLite runs one writer at a time, so that is exact there; on PostgreSQL the
/// active superusers are first locked (`FOR UPDATE`) in the same transaction, so two staff
/// members demoting "each other" at the same moment cannot both succeed.
pub async fn set_user_flags(
    db: &Db,
    id: i64,
    changes: FlagChanges,
) -> Result<FlagOutcome, sqlx::Error> {
    const SQL: &str = concat!(
        "UPDATE users SET \
         is_active = COALESCE($2, is_active), \
         is_staff = COALESCE($3, is_staff), \
         is_superuser = COALESCE($4, is_superuser) \
         WHERE id = $1 AND ( \
           NOT (is_superuser AND is_active) \
           OR (COALESCE($4, TRUE) AND COALESCE($2, TRUE)) \
           OR EXISTS (SELECT 1 FROM users other \
                      WHERE other.id <> $1 AND other.is_superuser AND other.is_active) \
         ) RETURNING ",
        user_columns!()
    );
    const LOCK_SUPERUSERS: &str =
        "SELECT id FROM users WHERE is_superuser AND is_active FOR UPDATE";
    let c = changes;
    let updated: Option<UserRow> = match db {
        Db::Sqlite(pools) => {
            sqlx::query_as(SQL)
                .bind(id)
                .bind(c.is_active)
                .bind(c.is_staff)
                .bind(c.is_superuser)
                .fetch_optional(pools.write())
                .await?
        }
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            sqlx::query(LOCK_SUPERUSERS).execute(&mut *tx).await?;
            let row = sqlx::query_as(SQL)
                .bind(id)
                .bind(c.is_active)
                .bind(c.is_staff)
                .bind(c.is_superuser)
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            row
        }
    };
    Ok(match updated {
        Some(row) => FlagOutcome::Updated(row),
        None if find_user(db, id).await?.is_some() => FlagOutcome::LastSuperuser,
        None => FlagOutcome::NotFound,
    })
}

/// Creates a superuser (also staff, address verified) from the command line.
pub async fn insert_superuser(db: &Db, user: &super::NewUser<'_>) -> Result<UserRow, sqlx::Error> {
    const SQL: &str = concat!(
        "INSERT INTO users (email, email_key, password_hash, date_joined, \
         is_superuser, is_staff, email_verified) \
         VALUES ($1, $2, $3, $4, TRUE, TRUE, TRUE) RETURNING ",
        user_columns!()
    );
    on_db!(write db, pool => sqlx::query_as(SQL)
        .bind(user.email.as_str())
        .bind(user.email.key())
        .bind(user.password_hash)
        .bind(user.date_joined)
        .fetch_one(pool)
        .await)
}

/// Deactivates the account with this normalized address. Returns whether it existed.
pub async fn deactivate_user_by_email_key(
    db: &Db,
    email_key: &str,
) -> Result<Option<i64>, sqlx::Error> {
    const SQL: &str = "UPDATE users SET is_active = FALSE WHERE email_key = $1 RETURNING id";
    on_db!(write db, pool => sqlx::query_scalar(SQL)
        .bind(email_key)
        .fetch_optional(pool)
        .await)
}

/// Revokes every token of a user. Returns how many there were.
pub async fn delete_user_tokens(db: &Db, user_id: i64) -> Result<u64, sqlx::Error> {
    const SQL: &str = "DELETE FROM tokens WHERE user_id = $1";
    on_db!(write db, pool => sqlx::query(SQL)
        .bind(user_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn like_wildcards_in_a_search_are_literal() {
        assert_eq!(contains_pattern("A_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
