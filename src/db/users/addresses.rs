//! The queries on `users` of the work that runs inside one long [`Tx`]: the Django import and
//! the data migration that re-keys stored addresses.

use chrono::{DateTime, NaiveDate, Utc};

use crate::db::{Tx, on_tx};
use crate::domain::{Email, search_key};

/// A user's address, its key and when it joined.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AddressRow {
    pub id: i64,
    pub email: String,
    pub email_key: String,
    pub date_joined: DateTime<Utc>,
}

/// A user brought over from another service, with its id there.
#[derive(Debug, Clone)]
pub struct ImportedUser {
    pub id: i64,
    pub email: Email,
    pub password_hash: String,
    pub is_superuser: bool,
    pub is_staff: bool,
    pub is_active: bool,
    pub date_joined: DateTime<Utc>,
    pub name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub profile_picture: Option<String>,
    pub bio: Option<String>,
    pub phone_number: Option<String>,
}

macro_rules! select_addresses {
    ($rest:literal) => {
        concat!(
            "SELECT id, email, email_key, date_joined FROM users ",
            $rest
        )
    };
}

/// Inserts the user with its own id, unless that id or address is taken. Returns whether it did.
pub async fn insert_imported_user(tx: &mut Tx, u: &ImportedUser) -> Result<bool, sqlx::Error> {
    const SQL: &str = "INSERT INTO users (id, email, email_key, password_hash, name, \
         date_of_birth, bio, profile_picture, phone_number, is_superuser, is_staff, \
         is_active, email_verified, date_joined, name_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, FALSE, $13, $14) \
         ON CONFLICT DO NOTHING";
    on_tx!(tx, conn => sqlx::query(SQL)
        .bind(u.id)
        .bind(u.email.as_str())
        .bind(u.email.key())
        .bind(&u.password_hash)
        .bind(&u.name)
        .bind(u.date_of_birth)
        .bind(&u.bio)
        .bind(&u.profile_picture)
        .bind(&u.phone_number)
        .bind(u.is_superuser)
        .bind(u.is_staff)
        .bind(u.is_active)
        .bind(u.date_joined)
        .bind(u.name.as_deref().map(search_key))
        .execute(conn)
        .await
        .map(|r| r.rows_affected() > 0))
}

pub async fn find_address_by_id(tx: &mut Tx, id: i64) -> Result<Option<AddressRow>, sqlx::Error> {
    const SQL: &str = select_addresses!("WHERE id = $1");
    on_tx!(tx, conn => sqlx::query_as(SQL).bind(id).fetch_optional(conn).await)
}

pub async fn find_address_by_email_key(
    tx: &mut Tx,
    key: &str,
) -> Result<Option<AddressRow>, sqlx::Error> {
    const SQL: &str = select_addresses!("WHERE email_key = $1");
    on_tx!(tx, conn => sqlx::query_as(SQL).bind(key).fetch_optional(conn).await)
}

pub async fn list_addresses_after(
    tx: &mut Tx,
    after: i64,
    limit: i64,
) -> Result<Vec<AddressRow>, sqlx::Error> {
    const SQL: &str = select_addresses!("WHERE id > $1 ORDER BY id LIMIT $2");
    on_tx!(tx, conn => sqlx::query_as(SQL).bind(after).bind(limit).fetch_all(conn).await)
}

/// Gives user `id` the key `key`, and the stored address `email` unless `None`.
pub async fn set_email_key(
    tx: &mut Tx,
    id: i64,
    key: &str,
    email: Option<&str>,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "UPDATE users SET email_key = $2, email = COALESCE($3, email) WHERE id = $1";
    on_tx!(tx, conn => sqlx::query(SQL)
        .bind(id)
        .bind(key)
        .bind(email)
        .execute(conn)
        .await
        .map(drop))
}

/// Moves PostgreSQL's id generators of the tables an import writes with their own ids (users,
/// delivery addresses) past the largest id; SQLite's need nothing. `setval` is not
/// transactional: call it only on a transaction about to commit.
pub async fn restart_imported_ids(tx: &mut Tx) -> Result<(), sqlx::Error> {
    const SQL: [&str; 2] = [
        "SELECT setval(pg_get_serial_sequence('users', 'id'), \
         COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM users",
        "SELECT setval(pg_get_serial_sequence('user_addresses', 'id'), \
         COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM user_addresses",
    ];
    if !tx.is_postgres() {
        return Ok(());
    }
    for sql in SQL {
        on_tx!(tx, conn => sqlx::query(sql).execute(conn).await.map(drop))?;
    }
    Ok(())
}
