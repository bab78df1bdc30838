//! Queries on `known_devices`: the user agent families and client networks an account has
//! signed in from, so a sign-in from another is told to the user.

use chrono::{DateTime, TimeDelta, Utc};

use super::{Db, Tx, on_db, on_tx};

/// A device as an account is judged by: its user agent family and client network.
#[derive(Debug, Clone, Copy)]
pub struct DeviceKey<'a> {
    pub family: &'a str,
    pub network: &'a str,
}

/// Records `device` as known to `user_id` from `now`, in the transaction that made the account.
pub async fn insert_device(
    tx: &mut Tx,
    user_id: i64,
    device: DeviceKey<'_>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO known_devices (user_id, family, network, first_seen, \
         last_seen) VALUES ($1, $2, $3, $4, $4)";
    on_tx!(tx, conn => sqlx::query(SQL)
        .bind(user_id)
        .bind(device.family)
        .bind(device.network)
        .bind(now)
        .execute(conn)
        .await
        .map(drop))
}

/// A known device's last sign-in is written at most this often.
const LAST_SEEN_EVERY: TimeDelta = TimeDelta::days(1);

/// Notes that `user_id` signed in from `device` at `now`; `true` when that is a new device to
/// tell the user of: the account knew other devices, not this one (of two concurrent first
/// sign-ins from it, exactly one). An account that knows no device yet (made before devices
/// were kept, imported, or unused for the retention) learns this one without a notice; a
/// deleted account is no new device. A known device costs one read, and a write once a day at
/// most.
pub async fn remember_device(
    db: &Db,
    user_id: i64,
    device: DeviceKey<'_>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    const SEEN: &str = "SELECT (SELECT last_seen FROM known_devices \
         WHERE user_id = $1 AND family = $2 AND network = $3), \
         EXISTS (SELECT 1 FROM known_devices WHERE user_id = $1)";
    const INSERT: &str = "INSERT INTO known_devices (user_id, family, network, first_seen, \
         last_seen) SELECT $1, $2, $3, $4, $4 WHERE EXISTS (SELECT 1 FROM users WHERE id = $1) \
         ON CONFLICT (user_id, family, network) DO NOTHING";
    const TOUCH: &str = "UPDATE known_devices SET last_seen = $4 \
         WHERE user_id = $1 AND family = $2 AND network = $3 AND last_seen < $4";
    let DeviceKey { family, network } = device;
    let seen: (Option<DateTime<Utc>>, bool) = on_db!(db, pool => sqlx::query_as(SEEN)
        .bind(user_id)
        .bind(family)
        .bind(network)
        .fetch_one(pool)
        .await)?;
    let (last_seen, knows_others) = seen;
    match last_seen {
        None => on_db!(write db, pool => sqlx::query(INSERT)
            .bind(user_id)
            .bind(family)
            .bind(network)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected() == 1 && knows_others)),
        Some(seen) if now - seen >= LAST_SEEN_EVERY => on_db!(write db, pool => sqlx::query(TOUCH)
            .bind(user_id)
            .bind(family)
            .bind(network)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| false)),
        Some(_) => Ok(false),
    }
}

/// Forgets at most `limit` devices last seen before `before` (signing in from one again is a
/// new device). Returns how many.
pub async fn purge_devices(db: &Db, before: DateTime<Utc>, limit: i64) -> Result<u64, sqlx::Error> {
    const SQL: &str = "DELETE FROM known_devices WHERE (user_id, family, network) IN \
         (SELECT user_id, family, network FROM known_devices WHERE last_seen < $1 LIMIT $2)";
    super::delete_chunk(db, SQL, before, limit).await
}
