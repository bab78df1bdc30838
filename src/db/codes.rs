//! Queries on `codes`, the one-time codes. A try is counted by the statement that reads the
//! code, and a use is a conditional update, so parallel requests cannot beat the limits.

use chrono::{DateTime, Utc};

use super::{Db, Tx, on_db, on_tx};
use crate::auth::{CodePurpose, MAX_CODE_ATTEMPTS, SealedCode};
use crate::domain::Email;

/// Whose code: a user by id, or by normalized address (the reset form knows only that).
#[derive(Debug, Clone, Copy)]
pub enum CodeOwner<'a> {
    Id(i64),
    EmailKey(&'a str),
}

/// A live code after one more try was counted against it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CodeTry {
    pub id: i64,
    pub user_id: i64,
    pub salt: Vec<u8>,
    pub digest: Vec<u8>,
    pub expires_at: DateTime<Utc>,
    /// The address an email change code switches to (`None` for the other purposes).
    pub new_email: Option<String>,
}

/// Stores a new code for `user_id`, voiding any earlier one; `false` with no such user (the
/// unknown-address path of a reset runs it too, so both cost the same). `new_email` is the
/// address an email change code switches to, and only that purpose has one (a CHECK holds it).
pub async fn replace_code(
    db: &Db,
    user_id: i64,
    purpose: CodePurpose,
    sealed: &SealedCode,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    new_email: Option<&Email>,
) -> Result<bool, sqlx::Error> {
    const SQL: &str = "INSERT INTO codes \
         (user_id, purpose, salt, digest, created_at, expires_at, new_email, new_email_key) \
         SELECT id, $2, $3, $4, $5, $6, $7, $8 FROM users WHERE id = $1 \
         ON CONFLICT (user_id, purpose) DO UPDATE SET salt = excluded.salt, \
         digest = excluded.digest, created_at = excluded.created_at, \
         expires_at = excluded.expires_at, attempts = 0, used_at = NULL, \
         new_email = excluded.new_email, new_email_key = excluded.new_email_key";
    on_db!(write db, pool => sqlx::query(SQL)
        .bind(user_id)
        .bind(purpose.as_str())
        .bind(sealed.salt.as_slice())
        .bind(sealed.digest.as_slice())
        .bind(created_at)
        .bind(expires_at)
        .bind(new_email.map(Email::as_str))
        .bind(new_email.map(Email::key))
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0))
}

/// Counts one try against the owner's live code of `purpose` and returns it to be compared.
pub async fn take_code_try(
    db: &Db,
    purpose: CodePurpose,
    owner: CodeOwner<'_>,
) -> Result<Option<CodeTry>, sqlx::Error> {
    macro_rules! sql {
        ($owner:literal) => {
            concat!(
                "UPDATE codes SET attempts = attempts + 1 WHERE purpose = $1 AND user_id = ",
                $owner,
                " AND used_at IS NULL AND attempts < $3 \
                 RETURNING id, user_id, salt, digest, expires_at, new_email"
            )
        };
    }
    let purpose = purpose.as_str();
    on_db!(write db, pool => match owner {
        CodeOwner::Id(id) => sqlx::query_as(sql!("$2"))
            .bind(purpose)
            .bind(id)
            .bind(MAX_CODE_ATTEMPTS)
            .fetch_optional(pool)
            .await,
        CodeOwner::EmailKey(key) => sqlx::query_as(sql!("(SELECT id FROM users WHERE email_key = $2)"))
            .bind(purpose)
            .bind(key)
            .bind(MAX_CODE_ATTEMPTS)
            .fetch_optional(pool)
            .await,
    })
}

/// Marks the code used. `false` if another request used it first.
pub(super) async fn mark_code_used(
    tx: &mut Tx,
    code_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    const SQL: &str = "UPDATE codes SET used_at = $2 WHERE id = $1 AND used_at IS NULL";
    on_tx!(tx, conn => sqlx::query(SQL)
        .bind(code_id)
        .bind(now)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() > 0))
}
