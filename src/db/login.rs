//! The one read a login makes (the account, how many tokens it holds, and the failure counters
//! of both throttle keys, in one query: one round trip to PostgreSQL instead of four), and its
//! one write (the new token and its security event, committed together).

use super::events::{NewEvent, bind_event, insert_event_sql};
use super::throttle::ThrottleRow;
use super::tokens::{NewToken, insert_token_query};
use super::users::Credentials;
use super::{Db, on_db};

/// Everything a login decides on, read together.
#[derive(Debug)]
pub struct LoginRead {
    /// The account with the address, if there is one.
    pub account: Option<Credentials>,
    /// Tokens the account holds now (0 without an account).
    pub tokens: i64,
    /// The failure counter under the account key, if there is one.
    pub account_throttle: Option<ThrottleRow>,
    /// The failure counter under the client address key, if there is one.
    pub address_throttle: Option<ThrottleRow>,
}

/// The row as the query returns it: every column may be NULL (the joins are outer).
#[derive(sqlx::FromRow)]
struct Row {
    id: Option<i64>,
    email: Option<String>,
    password_hash: Option<String>,
    is_active: Option<bool>,
    tokens: i64,
    account_failures: Option<i32>,
    account_last_failure: Option<i64>,
    address_failures: Option<i32>,
    address_last_failure: Option<i64>,
}

/// Reads the account with the normalized address `email_key` and the throttle counters under
/// `account_key` and `address_key`. Always one row: the outer joins hang off a constant.
pub async fn read_login(
    db: &Db,
    email_key: &str,
    account_key: &str,
    address_key: &str,
) -> Result<LoginRead, sqlx::Error> {
    const SQL: &str = "SELECT u.id, u.email, u.password_hash, u.is_active, \
         (SELECT count(*) FROM tokens WHERE tokens.user_id = u.id) AS tokens, \
         a.failures AS account_failures, a.last_failure AS account_last_failure, \
         b.failures AS address_failures, b.last_failure AS address_last_failure \
         FROM (SELECT 1 AS one) AS anchor \
         LEFT JOIN users u ON u.email_key = $1 \
         LEFT JOIN throttle a ON a.key = $2 \
         LEFT JOIN throttle b ON b.key = $3";
    let row: Row = on_db!(db, pool => sqlx::query_as(SQL)
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
        }),
        _ => None,
    };
    Ok(LoginRead {
        account,
        tokens: row.tokens,
        account_throttle: counter(row.account_failures, row.account_last_failure),
        address_throttle: counter(row.address_failures, row.address_last_failure),
    })
}

/// Stores a new token for `user_id`, who held `held` tokens when the login read them, with the
/// login's security event, and revokes the user's oldest tokens beyond the newest `keep`.
/// Returns how many were revoked.
///
/// All in one transaction: a commit is the dearest part of a write on PostgreSQL (its WAL
/// flush), so the event does not get one of its own. While the new token keeps the user within
/// `keep`, PostgreSQL gets a single statement (the token's INSERT in a `WITH` clause of the
/// event's); only a user at the cap pays for the trim. So simultaneous logins that all read the
/// same count can leave a user up to one extra token each, until their next login at the cap
/// trims them all.
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
    const TRIM: &str = "DELETE FROM tokens WHERE user_id = $1 AND id NOT IN \
         (SELECT id FROM tokens WHERE user_id = $1 ORDER BY id DESC LIMIT $2)";
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
    on_db!(write db, pool => {
        let mut tx = pool.begin().await?;
        insert_token_query(user_id, token).execute(&mut *tx).await?;
        let revoked = if within_cap {
            0
        } else {
            let trim = sqlx::query(TRIM).bind(user_id).bind(keep).execute(&mut *tx).await?;
            trim.rows_affected()
        };
        bind_event(sqlx::query(insert_event_sql!()), event)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(revoked)
    })
}
