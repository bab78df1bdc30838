//! Queries on `tokens`. Only SHA-256 digests are stored: the lookup is by digest, through the
//! `tokens_digest_unique` index, so a stolen table logs nobody in.

use chrono::{DateTime, Utc};

use std::sync::Arc;

use super::inline_reads::InlineReads;
use super::users::{UserRow, user_columns};
use super::{Db, on_db};

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

/// The INSERT shared by login and registration (each runs it inside its transaction).
pub(super) fn insert_token_query<'q, DB>(
    user_id: i64,
    token: &NewToken<'q>,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q [u8]: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    DateTime<Utc>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(
        "INSERT INTO tokens (user_id, digest, created_at, user_agent) VALUES ($1, $2, $3, $4)",
    )
    .bind(user_id)
    .bind(token.digest)
    .bind(token.created_at)
    .bind(token.user_agent)
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

/// Revokes one token. Returns whether it existed.
pub async fn delete_token(db: &Db, token_id: i64) -> Result<bool, sqlx::Error> {
    const SQL: &str = "DELETE FROM tokens WHERE id = $1";
    on_db!(write db, pool => sqlx::query(SQL)
        .bind(token_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0))
}
