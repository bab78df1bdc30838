//! Work over several tables that commits as one, composed of the tables' own queries in a
//! [`Tx`]. On PostgreSQL, registration and login send one statement (a `WITH` clause per extra
//! table) instead, as a round trip and a commit are the dearest part of a write there.

use chrono::{DateTime, Utc};

use super::codes::{CodeTry, mark_code_used};
use super::devices::{DeviceKey, insert_device};
use super::events::{NewEvent, bind_event, insert_event, insert_event_sql};
use super::throttle::ThrottleRow;
use super::tokens::{
    NewToken, delete_other_tokens_of_user, delete_tokens_beyond_newest, delete_tokens_of_user,
    insert_token,
};
use super::users::{
    Credentials, NewUser, UserRow, insert_user, insert_user_sql, mark_email_verified, set_email,
    set_password_hash, user_columns,
};
use super::{Db, Tx, on_db};
use crate::domain::Email;

/// Creates a user, their first token and the device they made the account on (known from the
/// start, so signing in from it is never a new device); an address already taken fails the whole.
pub async fn insert_user_with_token(
    db: &Db,
    user: &NewUser<'_>,
    token: &NewToken<'_>,
    device: DeviceKey<'_>,
) -> Result<UserRow, sqlx::Error> {
    const USER_AND_TOKEN: &str = concat!(
        "WITH u AS (",
        insert_user_sql!(),
        "), t AS (INSERT INTO tokens (user_id, digest, created_at, user_agent) \
         SELECT id, $5, $6, $7 FROM u), \
         d AS (INSERT INTO known_devices (user_id, family, network, first_seen, last_seen) \
         SELECT id, $8, $9, $6, $6 FROM u) SELECT * FROM u"
    );
    if let Db::Postgres(pool) = db {
        return sqlx::query_as(USER_AND_TOKEN)
            .bind(user.email.as_str())
            .bind(user.email.key())
            .bind(user.password_hash)
            .bind(user.date_joined)
            .bind(token.digest)
            .bind(token.created_at)
            .bind(token.user_agent)
            .bind(device.family)
            .bind(device.network)
            .fetch_one(pool)
            .await;
    }
    let mut tx = Tx::begin(db).await?;
    let done = async {
        let row = insert_user(&mut tx, user).await?;
        insert_token(&mut tx, row.id, token).await?;
        insert_device(&mut tx, row.id, device, token.created_at).await?;
        Ok(row)
    }
    .await;
    tx.finish(done).await
}

/// Everything a login decides on, read together.
#[derive(Debug)]
pub struct LoginRead {
    pub account: Option<Credentials>,
    pub tokens: i64,
    pub account_throttle: Option<ThrottleRow>,
    pub address_throttle: Option<ThrottleRow>,
    /// Whether the account has TOTP on (a second step is due after the password).
    pub totp: bool,
}

#[derive(sqlx::FromRow)]
struct LoginRow {
    id: Option<i64>,
    email: Option<String>,
    password_hash: Option<String>,
    is_active: Option<bool>,
    is_staff: Option<bool>,
    tokens: i64,
    account_failures: Option<i32>,
    account_last_failure: Option<i64>,
    address_failures: Option<i32>,
    address_last_failure: Option<i64>,
    totp: bool,
}

/// Reads the account with `email_key`, its token count and both throttle counters, in one
/// query: one round trip instead of four.
pub async fn read_login(
    db: &Db,
    email_key: &str,
    account_key: &str,
    address_key: &str,
) -> Result<LoginRead, sqlx::Error> {
    const SQL: &str = "SELECT u.id, u.email, u.password_hash, u.is_active, \
         (u.is_staff OR u.is_superuser) AS is_staff, \
         (SELECT count(*) FROM tokens WHERE tokens.user_id = u.id) AS tokens, \
         a.failures AS account_failures, a.last_failure AS account_last_failure, \
         b.failures AS address_failures, b.last_failure AS address_last_failure, \
         EXISTS (SELECT 1 FROM user_totp WHERE user_totp.user_id = u.id \
                 AND user_totp.confirmed_at IS NOT NULL) AS totp \
         FROM (SELECT 1 AS one) AS anchor \
         LEFT JOIN users u ON u.email_key = $1 \
         LEFT JOIN throttle a ON a.key = $2 \
         LEFT JOIN throttle b ON b.key = $3";
    let row: LoginRow = on_db!(db, pool => sqlx::query_as(SQL)
        .bind(email_key)
        .bind(account_key)
        .bind(address_key)
        .fetch_one(pool)
        .await)?;
    let counter = |failures, last_failure| match (failures, last_failure) {
        (Some(failures), Some(last_failure)) => Some(ThrottleRow {
            failures,
            last_failure,
        }),
        _ => None,
    };
    let account = match (row.id, row.email, row.password_hash, row.is_active) {
        (Some(id), Some(email), Some(password_hash), Some(is_active)) => Some(Credentials {
            id,
            email,
            password_hash,
            is_active,
            is_staff: row.is_staff.unwrap_or(false),
        }),
        _ => None,
    };
    Ok(LoginRead {
        account,
        tokens: row.tokens,
        account_throttle: counter(row.account_failures, row.account_last_failure),
        address_throttle: counter(row.address_failures, row.address_last_failure),
        totp: row.totp,
    })
}

/// Stores a login's token and security event, and revokes the user's tokens beyond the newest
/// `keep` (given the `held` the login read); returns how many. Concurrent logins may leave one
/// extra token each, until the next login at the cap trims them.
pub async fn store_login(
    db: &Db,
    user_id: i64,
    token: &NewToken<'_>,
    held: i64,
    keep: i64,
    event: &NewEvent<'_>,
) -> Result<u64, sqlx::Error> {
    const TOKEN_AND_EVENT: &str = concat!(
        "WITH token AS (INSERT INTO tokens (user_id, digest, created_at, user_agent) \
         VALUES ($7, $8, $9, $10)) ",
        insert_event_sql!()
    );
    let within_cap = held < keep;
    if let (Db::Postgres(pool), true) = (db, within_cap) {
        bind_event(sqlx::query(TOKEN_AND_EVENT), event)
            .bind(user_id)
            .bind(token.digest)
            .bind(token.created_at)
            .bind(token.user_agent)
            .execute(pool)
            .await?;
        return Ok(0);
    }
    let mut tx = Tx::begin(db).await?;
    let done = async {
        insert_token(&mut tx, user_id, token).await?;
        let revoked = if within_cap {
            0
        } else {
            delete_tokens_beyond_newest(&mut tx, user_id, keep).await?
        };
        insert_event(&mut tx, event).await?;
        Ok(revoked)
    }
    .await;
    tx.finish(done).await
}

/// Sets a new password hash and revokes every token of the user but `keep_token_id`.
pub async fn change_password(
    db: &Db,
    user_id: i64,
    password_hash: &str,
    keep_token_id: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = Tx::begin(db).await?;
    let done = async {
        set_password_hash(&mut tx, user_id, password_hash).await?;
        delete_other_tokens_of_user(&mut tx, user_id, keep_token_id).await
    }
    .await;
    tx.finish(done).await
}

/// What a valid code is used for: each verifies the address.
#[derive(Debug, Clone, Copy)]
pub enum CodeUse<'a> {
    VerifyEmail,
    /// Also sets this hash and revokes every token: the code came by mail, so the address is
    /// verified too.
    ResetPassword {
        password_hash: &'a str,
    },
}

/// Marks the code used and applies `what`; `false` if another request used it first.
pub async fn use_code(
    db: &Db,
    code: &CodeTry,
    now: DateTime<Utc>,
    what: CodeUse<'_>,
) -> Result<bool, sqlx::Error> {
    let mut tx = Tx::begin(db).await?;
    let done = async {
        if !mark_code_used(&mut tx, code.id, now).await? {
            return Ok(false);
        }
        if let CodeUse::ResetPassword { password_hash } = what {
            set_password_hash(&mut tx, code.user_id, password_hash).await?;
            delete_tokens_of_user(&mut tx, code.user_id).await?;
        }
        mark_email_verified(&mut tx, code.user_id).await?;
        Ok(true)
    }
    .await;
    tx.finish(done).await
}

/// Marks an email change code used and moves its user to `email` (verified: the code arrived
/// there), as one; the old address and the row after, or `None` if another request used the
/// code first. An address another account
/// took since the code was sent fails on `users_email_key_unique`, and nothing changes.
pub async fn change_email(
    db: &Db,
    code: &CodeTry,
    email: &Email,
    now: DateTime<Utc>,
) -> Result<Option<(String, UserRow)>, sqlx::Error> {
    let mut tx = Tx::begin(db).await?;
    let done = async {
        if !mark_code_used(&mut tx, code.id, now).await? {
            return Ok(None);
        }
        set_email(&mut tx, code.user_id, email).await.map(Some)
    }
    .await;
    tx.finish(done).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    use super::*;
    use crate::db::SqlitePools;
    use crate::db::pools::is_storage_failure;
    use crate::domain::Email;

    async fn register(db: &Db, n: usize) -> Result<UserRow, sqlx::Error> {
        let email = Email::parse(&format!("cook{n}@example.com")).unwrap();
        let digest = [n as u8; 32];
        let user = NewUser {
            email: &email,
            password_hash: "!",
            date_joined: Utc::now(),
        };
        let token = NewToken {
            digest: &digest,
            created_at: Utc::now(),
            user_agent: None,
        };
        let device = DeviceKey {
            family: "Unknown device",
            network: "127.0.0.0/24",
        };
        insert_user_with_token(db, &user, &token, device).await
    }

    #[tokio::test]
    async fn a_transaction_that_runs_out_of_storage_makes_writes_fail_until_one_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("db.sqlite3"))
            .create_if_missing(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .unwrap();
        let db = Db::Sqlite(SqlitePools::single(pool.clone()));
        db.migrate().await.unwrap();
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&pool)
            .await
            .unwrap();
        sqlx::query(&format!("PRAGMA max_page_count = {}", pages + 2))
            .execute(&pool)
            .await
            .unwrap();

        let mut full = None;
        for n in 0..250 {
            if let Err(e) = register(&db, n).await {
                full = Some(e);
                break;
            }
        }
        let full = full.unwrap();
        assert!(is_storage_failure(&full), "{full}");
        assert!(!db.writes_work().await);

        sqlx::query("PRAGMA max_page_count = 1000000")
            .execute(&pool)
            .await
            .unwrap();
        register(&db, 251).await.unwrap();
        assert!(db.writes_work().await);
    }
}
