//! Queries behind the account lifecycle that are about the user row itself: who gets a code
//! mail, the stored password hash, changing it, and deleting the account.

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

/// Deletes a user; its tokens and codes go with it (`ON DELETE CASCADE`). Returns whether it
/// existed.
pub async fn delete_user(db: &Db, user_id: i64) -> Result<bool, sqlx::Error> {
    const SQL: &str = "DELETE FROM users WHERE id = $1";
    on_db!(write db, pool => sqlx::query(SQL)
        .bind(user_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0))
}
