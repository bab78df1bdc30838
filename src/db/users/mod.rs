//! Queries on `users`. Rows here are what the table holds; what clients see is built from them
//! in `routes`, so a new column can never leak into a response by accident.

mod addresses;
mod guarded;

pub use addresses::{AddressRow, ImportedUser};
pub use addresses::{
    find_address_by_email_key, find_address_by_id, insert_imported_user, list_addresses_after,
    restart_imported_ids, set_email_key,
};
pub use guarded::{Deletion, FlagChanges, StaffWrite, delete_user, may_act_on, set_user_flags};
pub(super) use guarded::{may_manage, refusal};

use chrono::{DateTime, NaiveDate, Utc};

use super::{Db, Tx, on, on_db, on_tx};
use crate::domain::{Bio, DateOfBirth, Email, Name, PhoneNumber, PictureUrl, search_key};

/// The columns of [`UserRow`], in one place for every query that returns a user.
macro_rules! user_columns {
    () => {
        "id, email, name, date_of_birth, bio, profile_picture, phone_number, \
         is_superuser, is_staff, is_active, email_verified, date_joined, picture_key"
    };
}
pub(in crate::db) use user_columns;

macro_rules! insert_user_sql {
    () => {
        concat!(
            "INSERT INTO users (email, email_key, password_hash, date_joined) \
             VALUES ($1, $2, $3, $4) RETURNING ",
            user_columns!()
        )
    };
}
pub(in crate::db) use insert_user_sql;

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
    /// The name of an uploaded picture in the picture store (then `profile_picture` is null).
    pub picture_key: Option<String>,
}

/// What a login needs to decide, and nothing else.
#[derive(sqlx::FromRow)]
pub struct Credentials {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
    pub is_active: bool,
    /// Staff or superuser: may use the staff console.
    pub is_staff: bool,
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

/// Where a code mail goes, and whether the address is already proven.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MailTarget {
    pub id: i64,
    pub email: String,
    pub email_verified: bool,
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

/// A change of the profile picture: any of them replaces an uploaded picture.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PictureChange {
    #[default]
    Keep,
    Clear,
    /// A link the client sent.
    Url(PictureUrl),
    /// The name of a picture just put in the picture store.
    Stored(String),
}

impl PictureChange {
    fn touches(&self) -> bool {
        !matches!(self, PictureChange::Keep)
    }
}

impl From<Change<PictureUrl>> for PictureChange {
    fn from(change: Change<PictureUrl>) -> Self {
        match change {
            Change::Keep => PictureChange::Keep,
            Change::Set(None) => PictureChange::Clear,
            Change::Set(Some(url)) => PictureChange::Url(url),
        }
    }
}

/// The writable profile fields of a PUT/PATCH; everything else is not representable here.
#[derive(Debug, Clone, Default)]
pub struct ProfileChanges {
    pub name: Change<Name>,
    pub date_of_birth: Change<DateOfBirth>,
    pub bio: Change<Bio>,
    pub profile_picture: PictureChange,
    pub phone_number: Change<PhoneNumber>,
}

impl ProfileChanges {
    pub fn profile_picture_touched(&self) -> bool {
        self.profile_picture.touches()
    }

    pub fn is_empty(&self) -> bool {
        !(self.name.touches()
            || self.date_of_birth.touches()
            || self.bio.touches()
            || self.profile_picture.touches()
            || self.phone_number.touches())
    }
}

/// Inserts a new user; an address already taken fails on `users_email_key_unique`.
pub(in crate::db) async fn insert_user(
    tx: &mut Tx,
    user: &NewUser<'_>,
) -> Result<UserRow, sqlx::Error> {
    on_tx!(tx, conn => sqlx::query_as(insert_user_sql!())
        .bind(user.email.as_str())
        .bind(user.email.key())
        .bind(user.password_hash)
        .bind(user.date_joined)
        .fetch_one(conn)
        .await)
}

pub async fn find_user_by_id(db: &Db, id: i64) -> Result<Option<UserRow>, sqlx::Error> {
    const SQL: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
    on_db!(db, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await)
}

pub async fn find_mail_target_by_id(
    db: &Db,
    user_id: i64,
) -> Result<Option<MailTarget>, sqlx::Error> {
    const SQL: &str = "SELECT id, email, email_verified FROM users WHERE id = $1";
    on_db!(db, pool => sqlx::query_as(SQL).bind(user_id).fetch_optional(pool).await)
}

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

/// A profile after an update, and the stored picture it no longer shows (to remove).
#[derive(Debug)]
pub struct Updated {
    pub user: UserRow,
    pub replaced_picture: Option<String>,
}

/// Applies only the fields sent, in one statement, so concurrent edits of other fields survive.
/// A picture change reads the stored picture's name in the same transaction (its row locked),
/// so of concurrent changes each learns the one name it replaced and nothing is orphaned.
pub async fn update_profile(
    db: &Db,
    user_id: i64,
    changes: &ProfileChanges,
) -> Result<Option<Updated>, sqlx::Error> {
    if !changes.profile_picture.touches() {
        let user = update_profile_on(db, user_id, changes).await?;
        return Ok(user.map(|user| Updated {
            user,
            replaced_picture: None,
        }));
    }
    let mut tx = Tx::begin(db).await?;
    let done = async {
        let replaced = find_picture_key_for_update(&mut tx, user_id).await?;
        let user = update_profile_on(&mut tx, user_id, changes).await?;
        Ok(user.map(|user| Updated {
            user,
            replaced_picture: replaced,
        }))
    }
    .await;
    tx.finish(done).await
}

async fn find_picture_key_for_update(
    tx: &mut Tx,
    user_id: i64,
) -> Result<Option<String>, sqlx::Error> {
    let sql = if tx.is_postgres() {
        "SELECT picture_key FROM users WHERE id = $1 FOR UPDATE"
    } else {
        // The transaction is on SQLite's one writer: nothing else writes meanwhile.
        "SELECT picture_key FROM users WHERE id = $1"
    };
    let key: Option<Option<String>> =
        on_tx!(tx, conn => sqlx::query_scalar(sql).bind(user_id).fetch_optional(conn).await)?;
    Ok(key.flatten())
}

async fn update_profile_on(
    on: impl Into<super::On<'_>>,
    user_id: i64,
    changes: &ProfileChanges,
) -> Result<Option<UserRow>, sqlx::Error> {
    const SQL: &str = concat!(
        "UPDATE users SET \
         name = CASE WHEN $1 THEN $2 ELSE name END, \
         name_key = CASE WHEN $1 THEN $13 ELSE name_key END, \
         date_of_birth = CASE WHEN $3 THEN $4 ELSE date_of_birth END, \
         bio = CASE WHEN $5 THEN $6 ELSE bio END, \
         profile_picture = CASE WHEN $7 THEN $8 ELSE profile_picture END, \
         picture_key = CASE WHEN $7 THEN $9 ELSE picture_key END, \
         phone_number = CASE WHEN $10 THEN $11 ELSE phone_number END \
         WHERE id = $12 RETURNING ",
        user_columns!()
    );
    let c = changes;
    let (url, key) = match &c.profile_picture {
        PictureChange::Url(url) => (Some(url.as_str().to_owned()), None),
        PictureChange::Stored(key) => (None, Some(key.clone())),
        PictureChange::Keep | PictureChange::Clear => (None, None),
    };
    on!(write on, conn => sqlx::query_as(SQL)
        .bind(c.name.touches())
        .bind(c.name.value(|v| v.as_str().to_owned()))
        .bind(c.date_of_birth.touches())
        .bind(c.date_of_birth.value(|v| v.date()))
        .bind(c.bio.touches())
        .bind(c.bio.value(|v| v.as_str().to_owned()))
        .bind(c.profile_picture.touches())
        .bind(url)
        .bind(key.clone())
        .bind(c.phone_number.touches())
        .bind(c.phone_number.value(|v| v.as_str().to_owned()))
        .bind(user_id)
        .bind(c.name.value(Name::search_key))
        .fetch_optional(conn)
        .await)
}

/// Upgrades a hash that just verified, only if still `old_hash`: a concurrent change wins.
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

pub(in crate::db) async fn set_password_hash(
    tx: &mut Tx,
    user_id: i64,
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "UPDATE users SET password_hash = $2 WHERE id = $1";
    on_tx!(tx, conn => sqlx::query(SQL)
        .bind(user_id)
        .bind(password_hash)
        .execute(conn)
        .await
        .map(drop))
}

pub(in crate::db) async fn mark_email_verified(
    tx: &mut Tx,
    user_id: i64,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "UPDATE users SET email_verified = TRUE WHERE id = $1";
    on_tx!(tx, conn => sqlx::query(SQL).bind(user_id).execute(conn).await.map(drop))
}

/// Moves the user to `email`, now verified, and returns the row; an address another account
/// took meanwhile fails on `users_email_key_unique`.
/// Moves the user to `email` (verified); answers the address it replaced and the row after.
pub(in crate::db) async fn set_email(
    tx: &mut Tx,
    user_id: i64,
    email: &Email,
) -> Result<(String, UserRow), sqlx::Error> {
    const OLD: &str = "SELECT email FROM users WHERE id = $1";
    let old: String = on_tx!(tx, conn => sqlx::query_scalar(OLD)
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await)?;
    const SQL: &str = concat!(
        "UPDATE users SET email = $2, email_key = $3, email_verified = TRUE WHERE id = $1 \
         RETURNING ",
        user_columns!()
    );
    on_tx!(tx, conn => sqlx::query_as(SQL)
        .bind(user_id)
        .bind(email.as_str())
        .bind(email.key())
        .fetch_one(conn)
        .await)
    .map(|row| (old, row))
}

/// The search term as a `LIKE` pattern, its wildcards taken literally.
fn contains_pattern(term: &str) -> String {
    let mut pattern = String::with_capacity(term.len() + 2);
    pattern.push('%');
    for c in search_key(term).chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// One page of users whose address or name contains `search`, oldest first, and the count.
pub async fn list_users(
    db: &Db,
    search: &str,
    limit: i64,
    offset: i64,
) -> Result<(i64, Vec<UserRow>), sqlx::Error> {
    const FILTER: &str =
        "WHERE (email_key LIKE $1 ESCAPE '\\' OR COALESCE(name_key, '') LIKE $1 ESCAPE '\\')";
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

/// Creates a superuser (also staff, address verified) from the command line.
pub async fn insert_superuser(db: &Db, user: &NewUser<'_>) -> Result<UserRow, sqlx::Error> {
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

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn like_wildcards_in_a_search_are_literal() {
        assert_eq!(contains_pattern("A_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
