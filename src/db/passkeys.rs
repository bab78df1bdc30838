//! Queries on `passkeys` (a user's WebAuthn credentials) and `webauthn_ceremonies` (a ceremony
//! begun by one request, finished by another, maybe in another process). Every query on
//! `passkeys` that a user's request drives names the owner.

use chrono::{DateTime, Utc};

use super::{Db, on_db};

/// A passkey as its owner sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PasskeyRow {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A passkey as a ceremony needs it: webauthn-rs's serialised credential.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredPasskey {
    pub id: i64,
    pub credential_id: Vec<u8>,
    pub passkey: String,
}

/// A ceremony taken out of the table (it is gone once read).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CeremonyRow {
    pub purpose: String,
    pub user_id: Option<i64>,
    pub state: String,
    pub expires_at: DateTime<Utc>,
}

/// A ceremony to store under the digest of its ticket.
#[derive(Debug, Clone, Copy)]
pub struct NewCeremony<'a> {
    pub digest: &'a [u8],
    pub purpose: &'a str,
    pub user_id: Option<i64>,
    pub state: &'a str,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_ceremony(db: &Db, new: &NewCeremony<'_>) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO webauthn_ceremonies (digest, purpose, user_id, state, expires_at) \
         VALUES ($1, $2, $3, $4, $5)";
    on_db!(write db, pool => sqlx::query(SQL)
        .bind(new.digest)
        .bind(new.purpose)
        .bind(new.user_id)
        .bind(new.state)
        .bind(new.expires_at)
        .execute(pool)
        .await
        .map(drop))
}

/// Takes the ceremony once: of two requests with one ticket, only one gets it. A register
/// ceremony is only taken by its own user (another user's ticket leaves it in place).
pub async fn take_ceremony(
    db: &Db,
    digest: &[u8],
    purpose: &str,
    user_id: Option<i64>,
) -> Result<Option<CeremonyRow>, sqlx::Error> {
    const SQL: &str = "DELETE FROM webauthn_ceremonies \
         WHERE digest = $1 AND purpose = $2 AND ($3 IS NULL OR user_id = $3) \
         RETURNING purpose, user_id, state, expires_at";
    on_db!(write db, pool => sqlx::query_as(SQL)
        .bind(digest)
        .bind(purpose)
        .bind(user_id)
        .fetch_optional(pool)
        .await)
}

/// The passkey with this credential id, whoever's it is, with its owner.
pub async fn find_passkey_by_credential_id(
    db: &Db,
    credential_id: &[u8],
) -> Result<Option<(i64, StoredPasskey)>, sqlx::Error> {
    const SQL: &str = "SELECT user_id, id, credential_id, passkey FROM passkeys \
         WHERE credential_id = $1";
    let row: Option<OwnedPasskey> = on_db!(db, pool => sqlx::query_as(SQL)
        .bind(credential_id)
        .fetch_optional(pool)
        .await)?;
    Ok(row.map(|r| {
        (
            r.user_id,
            StoredPasskey {
                id: r.id,
                credential_id: r.credential_id,
                passkey: r.passkey,
            },
        )
    }))
}

/// Who a passkey login would log in: the account, whether it is active, its token count.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PasskeyAccount {
    pub email: String,
    pub is_active: bool,
    /// Staff or superuser.
    pub is_staff: bool,
    pub tokens: i64,
}

pub async fn find_passkey_account(
    db: &Db,
    user_id: i64,
) -> Result<Option<PasskeyAccount>, sqlx::Error> {
    const SQL: &str = "SELECT u.email, u.is_active, (u.is_staff OR u.is_superuser) AS is_staff, \
         (SELECT count(*) FROM tokens WHERE tokens.user_id = u.id) AS tokens \
         FROM users u WHERE u.id = $1";
    on_db!(db, pool => sqlx::query_as(SQL).bind(user_id).fetch_optional(pool).await)
}

#[derive(sqlx::FromRow)]
struct OwnedPasskey {
    user_id: i64,
    id: i64,
    credential_id: Vec<u8>,
    passkey: String,
}

/// Ceremonies nobody finished, expired before `before`.
pub async fn purge_ceremonies(db: &Db, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    const SQL: &str = "DELETE FROM webauthn_ceremonies WHERE expires_at < $1";
    on_db!(write db, pool => sqlx::query(SQL)
        .bind(before)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
}

/// The user's passkeys, oldest first.
pub async fn list_passkeys_of_user(db: &Db, user_id: i64) -> Result<Vec<PasskeyRow>, sqlx::Error> {
    const SQL: &str = "SELECT id, name, created_at, last_used_at FROM passkeys \
         WHERE user_id = $1 ORDER BY id";
    on_db!(db, pool => sqlx::query_as(SQL).bind(user_id).fetch_all(pool).await)
}

/// The user's credentials, for a ceremony.
pub async fn find_passkeys_of_user(
    db: &Db,
    user_id: i64,
) -> Result<Vec<StoredPasskey>, sqlx::Error> {
    const SQL: &str = "SELECT id, credential_id, passkey FROM passkeys \
         WHERE user_id = $1 ORDER BY id";
    on_db!(db, pool => sqlx::query_as(SQL).bind(user_id).fetch_all(pool).await)
}

/// A new passkey of a user who still exists (`None` otherwise). A credential id registered
/// before, by anyone, is a unique violation of `passkeys_credential_id_unique`.
pub async fn insert_passkey(
    db: &Db,
    user_id: i64,
    credential_id: &[u8],
    passkey: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Option<PasskeyRow>, sqlx::Error> {
    const SQL: &str = "INSERT INTO passkeys (user_id, credential_id, passkey, name, created_at) \
         SELECT id, $2, $3, $4, $5 FROM users WHERE id = $1 \
         RETURNING id, name, created_at, last_used_at";
    on_db!(write db, pool => sqlx::query_as(SQL)
        .bind(user_id)
        .bind(credential_id)
        .bind(passkey)
        .bind(name)
        .bind(now)
        .fetch_optional(pool)
        .await)
}

/// Deletes the user's passkey `id`; `false` if the user has none with that id.
pub async fn delete_passkey_of_user(db: &Db, user_id: i64, id: i64) -> Result<bool, sqlx::Error> {
    const SQL: &str = "DELETE FROM passkeys WHERE id = $1 AND user_id = $2";
    on_db!(write db, pool => sqlx::query(SQL)
        .bind(id)
        .bind(user_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0))
}

/// Records a login with passkey `id`: its credential as updated (the counter), and when.
/// `false` if it was deleted meanwhile.
pub async fn record_passkey_use(
    db: &Db,
    user_id: i64,
    id: i64,
    passkey: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    const SQL: &str =
        "UPDATE passkeys SET passkey = $3, last_used_at = $4 WHERE id = $1 AND user_id = $2";
    on_db!(write db, pool => sqlx::query(SQL)
        .bind(id)
        .bind(user_id)
        .bind(passkey)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0))
}
