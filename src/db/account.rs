//! Queries behind the account lifecycle that are about the user row itself: who gets a code
//! mail, the stored password hash, changing it, and deleting the account.

use super::staff::{another_active_superuser, lock_active_superusers};
use super::{Db, on_db};

/// Where a code mail goes, and whether the address is already proven.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MailTarget {
    pub id: i64,
    pub email: String,
    pub email_verified: bool,
}

/// The mail target of the user with this id, if any.
pub async fn find_mail_target_by_id(
    db: &Db,
    user_id: i64,
) -> Result<Option<MailTarget>, sqlx::Error> {
    const SQL: &str = "SELECT id, email, email_verified FROM users WHERE id = $1";
    on_db!(db, pool => sqlx::query_as(SQL).bind(user_id).fetch_optional(pool).await)
}

/// The mail target of the user with this normalized address, if any.
pub async fn find_mail_target_by_email_key(
    db: &Db,
    email_key: &str,
) -> Result<Option<MailTarget>, sqlx::Error> {
    const SQL: &str = "SELECT id, email, email_verified FROM users WHERE email_key = $1";
    on_db!(db, pool => sqlx::query_as(SQL).bind(email_key).fetch_optional(pool).await)
}

/// The stored password hash (PHC string) of a user, if the user exists.
pub async fn find_password_hash(db: &Db, user_id: i64) -> Result<Option<String>, sqlx::Error> {
    const SQL: &str = "SELECT password_hash FROM users WHERE id = $1";
    on_db!(db, pool => sqlx::query_scalar(SQL).bind(user_id).fetch_optional(pool).await)
}

/// Sets a new password hash and revokes every token of the user but `keep_token_id`, in one
/// transaction.
pub async fn change_password(
    db: &Db,
    user_id: i64,
    password_hash: &str,
    keep_token_id: i64,
) -> Result<(), sqlx::Error> {
    on_db!(write db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(user_id)
            .bind(password_hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM tokens WHERE user_id = $1 AND id <> $2")
            .bind(user_id)
            .bind(keep_token_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    })
}

/// What became of an account deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    Deleted,
    NotFound,
    /// The user is the last active superuser, and stays.
    LastSuperuser,
}

/// Deletes a user; its tokens and codes go with it (`ON DELETE CASCADE`). The last active
/// superuser is never deleted: the guard is part of the DELETE, and on PostgreSQL the active
/// superusers are locked first, so two superusers deleting themselves at once leave one.
pub async fn delete_user(db: &Db, user_id: i64) -> Result<Deletion, sqlx::Error> {
    const SQL: &str = concat!(
        "DELETE FROM users WHERE id = $1 AND (NOT (is_superuser AND is_active) OR ",
        another_active_superuser!(),
        ")"
    );
    let deleted = match db {
        Db::Sqlite(_) => on_db!(write db, pool => sqlx::query(SQL)
            .bind(user_id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?,
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            lock_active_superusers(&mut tx).await?;
            let done = sqlx::query(SQL).bind(user_id).execute(&mut *tx).await?;
            tx.commit().await?;
            done.rows_affected()
        }
    };
    if deleted > 0 {
        return Ok(Deletion::Deleted);
    }
    let exists = super::staff::find_user(db, user_id).await?.is_some();
    Ok(if exists {
        Deletion::LastSuperuser
    } else {
        Deletion::NotFound
    })
}
