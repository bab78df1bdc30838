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

/// What became of a staff member's write to an account.
#[derive(Debug)]
pub enum StaffWrite<T> {
    Done(T),
    NotFound,
    /// The account is a staff member's or a superuser's, and the actor is not an active
    /// superuser.
    Forbidden,
    /// The change would leave no active superuser.
    LastSuperuser,
}

/// SQL true when the `users` row in scope may be written by the user `$2`: an ordinary account
/// by any staff member, a staff member's or a superuser's only by an active superuser. Part of
/// each guarded statement, so a promotion or demotion committed a moment before is respected.
macro_rules! may_manage {
    () => {
        "(NOT (users.is_staff OR users.is_superuser) \
          OR EXISTS (SELECT 1 FROM users actor \
                     WHERE actor.id = $2 AND actor.is_superuser AND actor.is_active))"
    };
}

/// SQL true when some active superuser other than the user `$1` exists.
macro_rules! another_active_superuser {
    () => {
        "EXISTS (SELECT 1 FROM users other \
                 WHERE other.id <> $1 AND other.is_superuser AND other.is_active)"
    };
}
pub(super) use another_active_superuser;

/// On PostgreSQL, locks the active superusers' rows for the rest of `tx`. A statement guarded by
/// [`another_active_superuser!`] that runs after it sees every concurrent change to them, so two
/// superusers stepping down (or deleting themselves) at the same moment cannot both succeed.
/// SQLite needs nothing: one statement writes at a time.
pub(super) async fn lock_active_superusers(tx: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    const SQL: &str = "SELECT id FROM users WHERE is_superuser AND is_active FOR UPDATE";
    sqlx::query(SQL).execute(tx).await.map(|_| ())
}

/// Why a guarded write to user `id` by `actor_id` changed nothing: no such user, or not the
/// actor's to write, or (for `otherwise`) the rule of that write.
async fn refusal<T>(
    db: &Db,
    id: i64,
    actor_id: i64,
    otherwise: StaffWrite<T>,
) -> Result<StaffWrite<T>, sqlx::Error> {
    const SQL: &str = concat!("SELECT ", may_manage!(), " FROM users WHERE id = $1");
    let allowed: Option<bool> = on_db!(db, pool => sqlx::query_scalar(SQL)
        .bind(id)
        .bind(actor_id)
        .fetch_optional(pool)
        .await)?;
    Ok(match allowed {
        None => StaffWrite::NotFound,
        Some(false) => StaffWrite::Forbidden,
        Some(true) => otherwise,
    })
}

/// Applies `changes` by `actor_id` unless the account is not theirs to change ([`may_manage!`])
/// or the change would leave no active superuser. Both guards are part of the UPDATE itself.
pub async fn set_user_flags(
    db: &Db,
    id: i64,
    actor_id: i64,
    changes: FlagChanges,
) -> Result<StaffWrite<UserRow>, sqlx::Error> {
    const SQL: &str = concat!(
        "UPDATE users SET \
         is_active = COALESCE($3, is_active), \
         is_staff = COALESCE($4, is_staff), \
         is_superuser = COALESCE($5, is_superuser) \
         WHERE id = $1 AND ",
        may_manage!(),
        " AND (NOT (is_superuser AND is_active) \
              OR (COALESCE($5, TRUE) AND COALESCE($3, TRUE)) OR ",
        another_active_superuser!(),
        ") RETURNING ",
        user_columns!()
    );
    // One statement, bound the same way for either engine's query type.
    macro_rules! query {
        () => {
            sqlx::query_as(SQL)
                .bind(id)
                .bind(actor_id)
                .bind(changes.is_active)
                .bind(changes.is_staff)
                .bind(changes.is_superuser)
        };
    }
    let updated: Option<UserRow> = match db {
        Db::Sqlite(_) => on_db!(write db, pool => query!().fetch_optional(pool).await)?,
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            lock_active_superusers(&mut tx).await?;
            let row = query!().fetch_optional(&mut *tx).await?;
            tx.commit().await?;
            row
        }
    };
    match updated {
        Some(row) => Ok(StaffWrite::Done(row)),
        None => refusal(db, id, actor_id, StaffWrite::LastSuperuser).await,
    }
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

/// Revokes every token of user `id` for `actor_id`, if the account is theirs to act on
/// ([`may_manage!`], checked by the DELETE itself). `Done` holds how many there were.
pub async fn delete_user_tokens(
    db: &Db,
    id: i64,
    actor_id: i64,
) -> Result<StaffWrite<u64>, sqlx::Error> {
    const SQL: &str = concat!(
        "DELETE FROM tokens WHERE user_id = $1 \
         AND EXISTS (SELECT 1 FROM users WHERE users.id = $1 AND ",
        may_manage!(),
        ")"
    );
    let revoked = on_db!(write db, pool => sqlx::query(SQL)
        .bind(id)
        .bind(actor_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    if revoked > 0 {
        return Ok(StaffWrite::Done(revoked));
    }
    refusal(db, id, actor_id, StaffWrite::Done(0)).await
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn like_wildcards_in_a_search_are_literal() {
        assert_eq!(contains_pattern("A_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
