//! Queries on `tokens`. Only SHA-256 digests are stored: the lookup is by digest, through the
//! `tokens_digest_unique` index, so a stolen table logs nobody in.

use chrono::{DateTime, Utc};

use std::sync::Arc;

use super::inline_reads::InlineReads;
use super::users::{StaffWrite, UserRow, may_manage, refusal, user_columns};
use super::{Db, On, Tx, on, on_db, on_tx};

/// A token about to be stored.
pub struct NewToken<'a> {
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

pub async fn list_tokens_of_user(db: &Db, user_id: i64) -> Result<Vec<SessionInfo>, sqlx::Error> {
    const SQL: &str = "SELECT id, created_at, last_used_at, user_agent FROM tokens \
                       WHERE user_id = $1 ORDER BY id DESC";
    on_db!(db, pool => sqlx::query_as(SQL).bind(user_id).fetch_all(pool).await)
}

/// Revokes one token of the user, scoped so no user ends another's; `false` if there was none.
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

/// Deletes every token created before `created_before` or idle since `idle_before`.
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

/// The authentication path's lookup; [`super::inline_reads`] reads its columns in this order.
const SESSION_BY_DIGEST: &str = concat!(
    "SELECT t.token_id, t.token_created_at, t.last_used_at, ",
    user_columns!(),
    " FROM (SELECT id AS token_id, user_id, created_at AS token_created_at, last_used_at \
       FROM tokens WHERE digest = $1) t \
     JOIN users ON users.id = t.user_id"
);

async fn find_session_by_digest(db: &Db, digest: &[u8]) -> Result<Option<SessionRow>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as(SESSION_BY_DIGEST).bind(digest).fetch_optional(pool).await)
}

/// How the authentication path finds a session: on a SQLite file on the calling thread
/// ([`super::inline_reads`]), otherwise or when that cannot answer through the pool.
#[derive(Clone, Debug)]
pub struct SessionLookup {
    db: Db,
    inline: Option<Arc<InlineReads>>,
}

impl SessionLookup {
    /// `inline`: `KITCHEN_API_SQLITE_INLINE_READS`.
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

/// Records when each of these tokens was last used (revoked ones are ignored), one statement
/// per chunk: arrays on PostgreSQL, a JSON array read with `json_each` on SQLite. Chunks are
/// small and paused between, so a large flush neither holds SQLite's one writer from logins
/// nor takes a burst of PostgreSQL's CPU from the request path.
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
                // The text sqlx writes for a `DateTime<Utc>`, which `inline_reads` reads too.
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

/// Revokes the tokens of user `id` (every one, or only token `only`) if `actor_id` may manage
/// the user ([`may_manage!`], in the DELETE): `Done(n)`, or why not.
pub async fn delete_tokens_of_user_by_staff(
    db: &Db,
    id: i64,
    only: Option<i64>,
    actor_id: i64,
) -> Result<StaffWrite<u64>, sqlx::Error> {
    const SQL: &str = concat!(
        "DELETE FROM tokens WHERE user_id = $1 AND ($3 IS NULL OR id = $3) \
         AND EXISTS (SELECT 1 FROM users WHERE users.id = $1 AND ",
        may_manage!(),
        ")"
    );
    let revoked = on_db!(write db, pool => sqlx::query(SQL)
        .bind(id)
        .bind(actor_id)
        .bind(only)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    if revoked > 0 {
        return Ok(StaffWrite::Done(revoked));
    }
    refusal(db, id, actor_id, StaffWrite::Done(0)).await
}
