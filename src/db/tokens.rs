//! Queries on `tokens`. Only SHA-256 digests are stored: the lookup is by digest, through the
//! `tokens_digest_unique` index, so a stolen table logs nobody in.

use chrono::{DateTime, Utc};

use std::sync::Arc;

use super::inline_reads::InlineReads;
use super::users::{StaffWrite, UserRow, may_manage, refusal, user_columns};
use super::{Db, On, Tx, on, on_db, on_tx};

/// A token about to be stored.
pub struct NewToken<'a> {
    /// SHA-256 of the token the client receives.
    pub digest: &'a [u8],
    pub created_at: DateTime<Utc>,
    pub user_agent: Option<&'a str>,
}

/// A live token and the user it belongs to, as the authentication extractor needs them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub token_id: i64,
    pub token_created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    #[sqlx(flatten)]
    pub user: UserRow,
}

/// Stores a new token for `user_id`.
pub async fn insert_token(
    tx: &mut Tx,
    user_id: i64,
    token: &NewToken<'_>,
) -> Result<(), sqlx::Error> {
    const SQL: &str =
        "INSERT INTO tokens (user_id, digest, created_at, user_agent) VALUES ($1, $2, $3, $4)";
    on_tx!(tx, conn => sqlx::query(SQL)
        .bind(user_id)
        .bind(token.digest)
        .bind(token.created_at)
        .bind(token.user_agent)
        .execute(conn)
        .await
        .map(drop))
}

/// A token as the sessions list shows it: never its digest.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionInfo {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub user_agent: Option<String>,
}

/// Every live token of the user, newest first.
pub async fn list_tokens_of_user(db: &Db, user_id: i64) -> Result<Vec<SessionInfo>, sqlx::Error> {
    const SQL: &str = "SELECT id, created_at, last_used_at, user_agent FROM tokens \
                       WHERE user_id = $1 ORDER BY id DESC";
    on_db!(db, pool => sqlx::query_as(SQL).bind(user_id).fetch_all(pool).await)
}

/// Revokes one token of the user. `false` if the user has no token with that id. Scoped by
/// `user_id`, so one user can never end another's session.
pub async fn delete_token_of_user(
    db: &Db,
    user_id: i64,
    token_id: i64,
) -> Result<bool, sqlx::Error> {
    const SQL: &str = "DELETE FROM tokens WHERE id = $1 AND user_id = $2";
    on_db!(write db, pool => sqlx::query(SQL)
        .bind(token_id)
        .bind(user_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0))
}

/// Revokes every token of the user; returns how many there were.
pub async fn delete_tokens_of_user<'a>(
    on: impl Into<On<'a>>,
    user_id: i64,
) -> Result<u64, sqlx::Error> {
    const SQL: &str = "DELETE FROM tokens WHERE user_id = $1";
    on!(write on, conn => sqlx::query(SQL)
        .bind(user_id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))
}

/// Revokes every token of the user but `keep_token_id`.
pub(super) async fn delete_other_tokens_of_user(
    tx: &mut Tx,
    user_id: i64,
    keep_token_id: i64,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "DELETE FROM tokens WHERE user_id = $1 AND id <> $2";
    on_tx!(tx, conn => sqlx::query(SQL)
        .bind(user_id)
        .bind(keep_token_id)
        .execute(conn)
        .await
        .map(drop))
}

/// Revokes the user's tokens beyond the newest `keep`; returns how many there were.
pub(super) async fn delete_tokens_beyond_newest(
    tx: &mut Tx,
    user_id: i64,
    keep: i64,
) -> Result<u64, sqlx::Error> {
    const SQL: &str = "DELETE FROM tokens WHERE user_id = $1 AND id NOT IN \
         (SELECT id FROM tokens WHERE user_id = $1 ORDER BY id DESC LIMIT $2)";
    on_tx!(tx, conn => sqlx::query(SQL)
        .bind(user_id)
        .bind(keep)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))
}

/// Deletes every token past its lifetime (created before `created_before`) or idle since before
/// `idle_before`. Returns how many.
pub async fn purge_expired_tokens(
    db: &Db,
    created_before: DateTime<Utc>,
    idle_before: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    const SQL: &str =
        "DELETE FROM tokens WHERE created_at < $1 OR COALESCE(last_used_at, created_at) < $2";
    on_db!(write db, pool => sqlx::query(SQL)
        .bind(created_before)
        .bind(idle_before)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
}

/// The token lookup of the authentication path. The subquery names no `id`, so the bare column
/// names are the user's; [`super::inline_reads`] reads the columns in this order.
const SESSION_BY_DIGEST: &str = concat!(
    "SELECT t.token_id, t.token_created_at, t.last_used_at, ",
    user_columns!(),
    " FROM (SELECT id AS token_id, user_id, created_at AS token_created_at, last_used_at \
       FROM tokens WHERE digest = $1) t \
     JOIN users ON users.id = t.user_id"
);

/// The token with this digest and its user, if the token exists (through the pool).
async fn find_session_by_digest(db: &Db, digest: &[u8]) -> Result<Option<SessionRow>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as(SESSION_BY_DIGEST).bind(digest).fetch_optional(pool).await)
}

/// How the authentication path finds a session: on a SQLite file, on the calling thread
/// ([`super::inline_reads`], unless turned off); otherwise, or when that cannot answer, through
/// the pool. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SessionLookup {
    db: Db,
    inline: Option<Arc<InlineReads>>,
}

impl SessionLookup {
    /// `inline`: whether SQLite lookups may run on the calling thread
    /// (`KITCHEN_API_SQLITE_INLINE_READS`).
    pub fn new(db: &Db, inline: bool) -> Self {
        let inline = match db {
            Db::Sqlite(pools) if inline => {
                InlineReads::for_file(pools.read().connect_options().get_filename()).map(Arc::new)
            }
            _ => None,
        };
        Self {
            db: db.clone(),
            inline,
        }
    }

    /// Whether lookups run on the calling thread (for the start-up log).
    pub fn is_inline(&self) -> bool {
        self.inline.is_some()
    }

    /// The token with this digest and its user, if the token exists.
    pub async fn find(&self, digest: &[u8]) -> Result<Option<SessionRow>, sqlx::Error> {
        if let Some(inline) = &self.inline {
            match inline.find_session(SESSION_BY_DIGEST, digest) {
                Ok(found) => {
                    metrics::counter!(crate::metrics::SESSION_LOOKUPS, "via" => "inline")
                        .increment(1);
                    return Ok(found);
                }
                Err(why) => tracing::debug!(%why, "inline session lookup fell back to the pool"),
            }
        }
        metrics::counter!(crate::metrics::SESSION_LOOKUPS, "via" => "pool").increment(1);
        find_session_by_digest(&self.db, digest).await
    }
}

/// Records when each of these tokens was last used (ids of revoked tokens are ignored). A chunk
/// is one statement on both engines: PostgreSQL takes arrays, SQLite a JSON array of
/// `[id, time]` pairs read with `json_each` (one statement instead of one per row, each of which
/// was a hand-off to sqlx's worker thread).
///
/// Chunks are small and paused between, on both engines, so that a large flush is spread out
/// instead of one burst. On SQLite the requests that write (logins, registrations) wait for the
/// single writer by sleeping and retrying, and back-to-back chunks kept them waiting for over a
/// second during a login storm (seen as "slow statement" warnings). On PostgreSQL, flushes come
/// in waves: every token used a minute ago comes due at once (all of them after a restart, or
/// in a benchmark that rotates over 100,000 tokens), and ~10 µs of PostgreSQL's CPU per row, in
/// one burst, took a core from the service's workers and lengthened the cheap path's p99.
pub async fn touch_tokens(db: &Db, uses: &[(i64, DateTime<Utc>)]) -> Result<(), sqlx::Error> {
    const PAUSE: std::time::Duration = std::time::Duration::from_millis(10);
    let rows_per_chunk = match db {
        Db::Sqlite(_) => 200,
        Db::Postgres(_) => 250,
    };
    for (n, chunk) in uses.chunks(rows_per_chunk).enumerate() {
        if n > 0 {
            tokio::time::sleep(PAUSE).await;
        }
        match db {
            Db::Sqlite(pools) => {
                const SQL: &str = "UPDATE tokens SET last_used_at = u.value ->> 1 \
                     FROM json_each($1) AS u WHERE tokens.id = u.value ->> 0";
                // The text sqlx itself writes for a `DateTime<Utc>`, so every reader of the
                // column (sqlx, `inline_reads`) reads it back the same.
                let pairs: Vec<(i64, String)> = chunk
                    .iter()
                    .map(|(id, at)| {
                        (
                            *id,
                            at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false),
                        )
                    })
                    .collect();
                let json =
                    serde_json::to_string(&pairs).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
                let written = sqlx::query(SQL).bind(json).execute(pools.write()).await;
                pools.note_write(&written);
                written?;
            }
            Db::Postgres(pool) => {
                const SQL: &str = "UPDATE tokens SET last_used_at = u.at \
                     FROM UNNEST($1::BIGINT[], $2::TIMESTAMPTZ[]) AS u(id, at) \
                     WHERE tokens.id = u.id";
                let (ids, ats): (Vec<i64>, Vec<DateTime<Utc>>) = chunk.iter().copied().unzip();
                sqlx::query(SQL).bind(ids).bind(ats).execute(pool).await?;
            }
        }
    }
    Ok(())
}

/// Revokes every token of user `id` for `actor_id`, if the account is theirs to act on
/// ([`may_manage!`], checked by the DELETE itself). `Done` holds how many there were.
pub async fn delete_tokens_of_user_by_staff(
    db: &Db,
    id: i64,
    actor_id: i64,
) -> Result<StaffWrite<u64>, sqlx::Error> {
    const SQL: &str = concat!(
        "DELETE FROM tokens WHERE user_id = $1 \
         AND EXISTS (SELECT 1 FROM users WHERE users.id = $1 AND ",
        may_manage!(),
        ")"
    );
    let revoked = on_db!(write db, pool => sqlx::query(SQL)
        .bind(id)
        .bind(actor_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    if revoked > 0 {
        return Ok(StaffWrite::Done(revoked));
    }
    refusal(db, id, actor_id, StaffWrite::Done(0)).await
}
