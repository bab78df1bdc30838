//! Queries on the second-factor tables: `user_totp`, `recovery_codes`, `mfa_challenges`, and
//! counts of `passkeys`. Every use of a code or a challenge is a conditional write, so two
//! requests racing with one code or one challenge let exactly one through.

use chrono::{DateTime, Utc};

use super::users::{StaffWrite, may_manage, refusal};
use super::{Db, Tx, on_db, on_tx};

/// A user's address and TOTP state, read together for a code check.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TotpRead {
    pub email: String,
    pub is_active: bool,
    pub sealed: Option<Vec<u8>>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub last_step: Option<i64>,
    /// The tokens the user holds (for the per-user cap of a login).
    pub held_tokens: i64,
}

impl TotpRead {
    /// Whether TOTP is on (confirmed), not merely pending.
    pub fn enabled(&self) -> bool {
        self.sealed.is_some() && self.confirmed_at.is_some()
    }
}

pub async fn find_totp(db: &Db, user_id: i64) -> Result<Option<TotpRead>, sqlx::Error> {
    const SQL: &str = "SELECT u.email, u.is_active, t.sealed, t.confirmed_at, t.last_step, \
         (SELECT count(*) FROM tokens WHERE tokens.user_id = u.id) AS held_tokens \
         FROM users u LEFT JOIN user_totp t ON t.user_id = u.id WHERE u.id = $1";
    on_db!(db, pool => sqlx::query_as(SQL).bind(user_id).fetch_optional(pool).await)
}

/// Stores a pending secret, replacing an earlier pending one; `false` while TOTP is on.
pub async fn replace_pending_totp(
    db: &Db,
    user_id: i64,
    sealed: &[u8],
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    const SQL: &str = "INSERT INTO user_totp (user_id, sealed, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET sealed = excluded.sealed, \
         created_at = excluded.created_at, last_step = -1 \
         WHERE user_totp.confirmed_at IS NULL";
    on_db!(write db, pool => sqlx::query(SQL)
        .bind(user_id)
        .bind(sealed)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0))
}

/// Takes `step` for the enabled secret `sealed`: `false` if a step as late was taken before
/// (a replay) or the secret changed meanwhile.
pub async fn take_totp_step(
    db: &Db,
    user_id: i64,
    sealed: &[u8],
    step: i64,
) -> Result<bool, sqlx::Error> {
    const SQL: &str = "UPDATE user_totp SET last_step = $3 WHERE user_id = $1 AND sealed = $2 \
         AND last_step < $3 AND confirmed_at IS NOT NULL";
    on_db!(write db, pool => sqlx::query(SQL)
        .bind(user_id)
        .bind(sealed)
        .bind(step)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0))
}

/// Turns the pending secret `sealed` on with its first code's `step`, and stores a fresh set of
/// recovery codes; `false` if it is no longer the pending secret (or the step was taken).
pub async fn enable_totp(
    db: &Db,
    user_id: i64,
    sealed: &[u8],
    step: i64,
    now: DateTime<Utc>,
    recovery_digests: &[[u8; 32]],
) -> Result<bool, sqlx::Error> {
    const SQL: &str = "UPDATE user_totp SET last_step = $3, confirmed_at = $4 \
         WHERE user_id = $1 AND sealed = $2 AND last_step < $3 AND confirmed_at IS NULL";
    let mut tx = Tx::begin(db).await?;
    let done = async {
        let enabled = on_tx!(tx, conn => sqlx::query(SQL)
            .bind(user_id)
            .bind(sealed)
            .bind(step)
            .bind(now)
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?
            > 0;
        if enabled {
            insert_recovery_codes(&mut tx, user_id, recovery_digests).await?;
        }
        Ok(enabled)
    }
    .await;
    tx.finish(done).await
}

/// Voids the user's recovery codes and stores `digests` instead.
async fn insert_recovery_codes(
    tx: &mut Tx,
    user_id: i64,
    digests: &[[u8; 32]],
) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    for digest in digests {
        on_tx!(tx, conn => sqlx::query(
            "INSERT INTO recovery_codes (user_id, digest) VALUES ($1, $2)")
            .bind(user_id)
            .bind(digest.as_slice())
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// A new set of recovery codes for a user whose TOTP is on; `false` if it is not.
pub async fn replace_recovery_codes(
    db: &Db,
    user_id: i64,
    digests: &[[u8; 32]],
) -> Result<bool, sqlx::Error> {
    const ON: &str = "SELECT count(*) FROM user_totp WHERE user_id = $1 \
         AND confirmed_at IS NOT NULL";
    let mut tx = Tx::begin(db).await?;
    let done = async {
        let on: i64 = on_tx!(tx, conn => sqlx::query_scalar(ON)
            .bind(user_id)
            .fetch_one(conn)
            .await)?;
        if on > 0 {
            insert_recovery_codes(&mut tx, user_id, digests).await?;
        }
        Ok(on > 0)
    }
    .await;
    tx.finish(done).await
}

/// Uses the unused recovery code with `digest`; `false` if there is none (or it went first).
pub async fn use_recovery_code(
    db: &Db,
    user_id: i64,
    digest: &[u8],
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    const SQL: &str = "UPDATE recovery_codes SET used_at = $3 \
         WHERE user_id = $1 AND digest = $2 AND used_at IS NULL";
    on_db!(write db, pool => sqlx::query(SQL)
        .bind(user_id)
        .bind(digest)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0))
}

/// Removes TOTP and the recovery codes; returns whether TOTP was there.
pub async fn delete_totp(db: &Db, user_id: i64) -> Result<bool, sqlx::Error> {
    let mut tx = Tx::begin(db).await?;
    let done = async {
        on_tx!(tx, conn => sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?;
        let gone = on_tx!(tx, conn => sqlx::query("DELETE FROM user_totp WHERE user_id = $1")
            .bind(user_id)
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(gone > 0)
    }
    .await;
    tx.finish(done).await
}

/// What `GET /users/me/mfa/` and the staff view show.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct MfaSummary {
    pub totp: bool,
    pub recovery_codes_left: i64,
    pub passkeys: i64,
}

pub async fn mfa_summary(db: &Db, user_id: i64) -> Result<MfaSummary, sqlx::Error> {
    const SQL: &str = "SELECT \
         EXISTS (SELECT 1 FROM user_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL) AS totp, \
         (SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL) \
           AS recovery_codes_left, \
         (SELECT count(*) FROM passkeys WHERE user_id = $1) AS passkeys";
    on_db!(db, pool => sqlx::query_as(SQL).bind(user_id).fetch_one(pool).await)
}

/// Removes a user's TOTP, recovery codes and passkeys for staff member `actor_id`, guarded
/// like every staff write; returns how many rows went.
pub async fn delete_second_factors_by_staff(
    db: &Db,
    id: i64,
    actor_id: i64,
) -> Result<StaffWrite<u64>, sqlx::Error> {
    macro_rules! guarded {
        ($table:literal) => {
            concat!(
                "DELETE FROM ",
                $table,
                " WHERE user_id = $1 AND EXISTS (SELECT 1 FROM users WHERE users.id = $1 AND ",
                may_manage!(),
                ")"
            )
        };
    }
    const SQL: [&str; 3] = [
        guarded!("recovery_codes"),
        guarded!("user_totp"),
        guarded!("passkeys"),
    ];
    let mut tx = Tx::begin(db).await?;
    let done = async {
        let mut removed = 0;
        for sql in SQL {
            removed += on_tx!(tx, conn => sqlx::query(sql)
                .bind(id)
                .bind(actor_id)
                .execute(conn)
                .await
                .map(|r| r.rows_affected()))?;
        }
        Ok(removed)
    }
    .await;
    let removed = tx.finish(done).await?;
    if removed > 0 {
        return Ok(StaffWrite::Done(removed));
    }
    refusal(db, id, actor_id, StaffWrite::Done(0)).await
}

/// A login halfway, as `POST /token/` leaves it.
#[derive(Debug)]
pub struct NewChallenge<'a> {
    pub digest: &'a [u8],
    pub user_id: i64,
    pub user_agent: Option<&'a str>,
    pub tries: i32,
    pub expires_at: DateTime<Utc>,
}

/// Stores a challenge, and drops the user's expired ones.
pub async fn insert_mfa_challenge(
    db: &Db,
    challenge: &NewChallenge<'_>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO mfa_challenges (digest, user_id, user_agent, tries_left, \
         expires_at) VALUES ($1, $2, $3, $4, $5)";
    const EXPIRED: &str = "DELETE FROM mfa_challenges WHERE user_id = $1 AND expires_at <= $2";
    let mut tx = Tx::begin(db).await?;
    let done = async {
        on_tx!(tx, conn => sqlx::query(EXPIRED)
            .bind(challenge.user_id)
            .bind(now)
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?;
        on_tx!(tx, conn => sqlx::query(SQL)
            .bind(challenge.digest)
            .bind(challenge.user_id)
            .bind(challenge.user_agent)
            .bind(challenge.tries)
            .bind(challenge.expires_at)
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }
    .await;
    tx.finish(done).await
}

/// Counts one try against the live challenge with `digest`; its user, or `None` when it is
/// unknown, used, expired or out of tries.
pub async fn take_mfa_challenge_try(
    db: &Db,
    digest: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    const SQL: &str = "UPDATE mfa_challenges SET tries_left = tries_left - 1 \
         WHERE digest = $1 AND tries_left > 0 AND expires_at > $2 RETURNING user_id";
    on_db!(write db, pool => sqlx::query_scalar(SQL)
        .bind(digest)
        .bind(now)
        .fetch_optional(pool)
        .await)
}

/// Ends the challenge; `false` if another request ended it first.
pub async fn delete_mfa_challenge(db: &Db, digest: &[u8]) -> Result<bool, sqlx::Error> {
    on_db!(write db, pool => sqlx::query("DELETE FROM mfa_challenges WHERE digest = $1")
        .bind(digest)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0))
}

/// Deletes up to `limit` challenges expired before `before` (maintenance).
pub async fn purge_mfa_challenges(
    db: &Db,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<u64, sqlx::Error> {
    const SQL: &str = "DELETE FROM mfa_challenges WHERE digest IN \
         (SELECT digest FROM mfa_challenges WHERE expires_at < $1 LIMIT $2)";
    super::delete_chunk(db, SQL, before, limit).await
}
