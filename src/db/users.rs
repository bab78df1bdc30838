//! Queries on `users`. Rows here are what the table holds; what clients see is built from them
//! in `routes`, so a new column can never leak into a response by accident.

use chrono::{DateTime, NaiveDate, Utc};

use super::{Db, on_db};
use crate::domain::{Bio, DateOfBirth, Email, Name, PhoneNumber, PictureUrl};

/// The columns of [`UserRow`], in one place for every query that returns a user.
macro_rules! user_columns {
    () => {
        "id, email, name, date_of_birth, bio, profile_picture, phone_number, \
         is_superuser, is_staff, is_active, email_verified, date_joined"
    };
}
pub(super) use user_columns;

/// A user as stored, without the password hash.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub bio: Option<String>,
    pub profile_picture: Option<String>,
    pub phone_number: Option<String>,
    pub is_superuser: bool,
    pub is_staff: bool,
    pub is_active: bool,
    pub email_verified: bool,
    pub date_joined: DateTime<Utc>,
}

/// What a login needs to decide, and nothing else.
#[derive(sqlx::FromRow)]
pub struct Credentials {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
    pub is_active: bool,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("id", &self.id)
            .field("is_active", &self.is_active)
            .finish_non_exhaustive()
    }
}

/// A registration that passed validation and hashing.
pub struct NewUser<'a> {
    pub email: &'a Email,
    pub password_hash: &'a str,
    pub date_joined: DateTime<Utc>,
}

/// One field of a partial update: left alone, cleared, or set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Change<T> {
    #[default]
    Keep,
    Set(Option<T>),
}

impl<T> Change<T> {
    fn touches(&self) -> bool {
        matches!(self, Change::Set(_))
    }

    fn value<U>(&self, f: impl FnOnce(&T) -> U) -> Option<U> {
        match self {
            Change::Set(Some(v)) => Some(f(v)),
            _ => None,
        }
    }
}

/// The writable profile fields of a PUT/PATCH; everything else is not representable here.
#[derive(Debug, Clone, Default)]
pub struct ProfileChanges {
    pub name: Change<Name>,
    pub date_of_birth: Change<DateOfBirth>,
    pub bio: Change<Bio>,
    pub profile_picture: Change<PictureUrl>,
    pub phone_number: Change<PhoneNumber>,
}

impl ProfileChanges {
    pub fn is_empty(&self) -> bool {
        !(self.name.touches()
            || self.date_of_birth.touches()
            || self.bio.touches()
            || self.profile_picture.touches()
            || self.phone_number.touches())
    }
}

/// Creates a user and their first token, together: on PostgreSQL in one statement (the token's
/// INSERT in a `WITH` clause: one round trip instead of four), on SQLite in one transaction.
/// An address already taken fails the user's INSERT, and with it the whole, on both engines.
pub async fn insert_user_with_token(
    db: &Db,
    user: &NewUser<'_>,
    token: &super::NewToken<'_>,
) -> Result<UserRow, sqlx::Error> {
    macro_rules! insert_user {
        () => {
            concat!(
                "INSERT INTO users (email, email_key, password_hash, date_joined) \
                 VALUES ($1, $2, $3, $4) RETURNING ",
                user_columns!()
            )
        };
    }
    const USER_AND_TOKEN: &str = concat!(
        "WITH u AS (",
        insert_user!(),
        "), t AS (INSERT INTO tokens (user_id, digest, created_at, user_agent) \
         SELECT id, $5, $6, $7 FROM u) SELECT * FROM u"
    );
    match db {
        Db::Postgres(pool) => {
            sqlx::query_as(USER_AND_TOKEN)
                .bind(user.email.as_str())
                .bind(user.email.key())
                .bind(user.password_hash)
                .bind(user.date_joined)
                .bind(token.digest)
                .bind(token.created_at)
                .bind(token.user_agent)
                .fetch_one(pool)
                .await
        }
        Db::Sqlite(_) => on_db!(write db, pool => {
            let mut tx = pool.begin().await?;
            let row: UserRow = sqlx::query_as(insert_user!())
                .bind(user.email.as_str())
                .bind(user.email.key())
                .bind(user.password_hash)
                .bind(user.date_joined)
                .fetch_one(&mut *tx)
                .await?;
            super::tokens::insert_token_query(row.id, token)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(row)
        }),
    }
}

/// Applies only the fields the client sent, in one statement, so two concurrent edits of
/// different fields both survive. Returns `None` if the user no longer exists.
pub async fn update_profile(
    db: &Db,
    user_id: i64,
    changes: &ProfileChanges,
) -> Result<Option<UserRow>, sqlx::Error> {
    const SQL: &str = concat!(
        "UPDATE users SET \
         name = CASE WHEN $1 THEN $2 ELSE name END, \
         date_of_birth = CASE WHEN $3 THEN $4 ELSE date_of_birth END, \
         bio = CASE WHEN $5 THEN $6 ELSE bio END, \
         profile_picture = CASE WHEN $7 THEN $8 ELSE profile_picture END, \
         phone_number = CASE WHEN $9 THEN $10 ELSE phone_number END \
         WHERE id = $11 RETURNING ",
        user_columns!()
    );
    let c = changes;
    on_db!(write db, pool => sqlx::query_as(SQL)
        .bind(c.name.touches())
        .bind(c.name.value(|v| v.as_str().to_owned()))
        .bind(c.date_of_birth.touches())
        .bind(c.date_of_birth.value(|v| v.date()))
        .bind(c.bio.touches())
        .bind(c.bio.value(|v| v.as_str().to_owned()))
        .bind(c.profile_picture.touches())
        .bind(c.profile_picture.value(|v| v.as_str().to_owned()))
        .bind(c.phone_number.touches())
        .bind(c.phone_number.value(|v| v.as_str().to_owned()))
        .bind(user_id)
        .fetch_optional(pool)
        .await)
}

/// Replaces a password hash that just verified by a stronger one (an imported Django hash, or
/// Argon2 with old parameters), only if it is still `old_hash`: a password changed meanwhile by
/// another request wins. Returns whether the row was updated.
pub async fn update_password_hash(
    db: &Db,
    user_id: i64,
    old_hash: &str,
    new_hash: &str,
) -> Result<bool, sqlx::Error> {
    const SQL: &str = "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2";
    on_db!(write db, pool => sqlx::query(SQL)
        .bind(user_id)
        .bind(old_hash)
        .bind(new_hash)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0))
}
