//! Storage, for SQLite and PostgreSQL alike. Each query is written once, in SQL that both engines
//! accept (`$1` placeholders, `RETURNING`), and [`on_db!`] expands it once per engine so each copy
//! is type-checked against its own driver. The two dialects differ only in `migrations/`.

mod account;
mod codes;
mod email_keys;
mod events;
mod inline_reads;
mod login;
mod rate_events;
mod session_changes;
mod sessions;
mod staff;
mod throttle;
mod tokens;
mod tx;
mod users;

pub use account::{
    Deletion, MailTarget, change_password, delete_user, find_mail_target_by_email_key,
    find_mail_target_by_id, find_password_hash,
};
pub use codes::{CodeOwner, CodeTry, CodeUse, replace_code, take_code_try, use_code};
pub use events::{EventRow, NewEvent, insert_event, list_events, purge_events};
pub use login::{LoginRead, read_login, store_login};
pub use rate_events::{WindowCount, WindowLimit, count_events_in_window};
pub use session_changes::{
    last_session_change, purge_session_changes, record_session_changes, session_changes_after,
};
pub use sessions::{SessionInfo, delete_all_sessions, delete_session, list_sessions};
pub use staff::{
    FlagChanges, StaffWrite, deactivate_user_by_email_key, delete_user_tokens, find_user,
    insert_superuser, list_users, set_user_flags,
};
pub use throttle::{
    EventLimit, GuessRule, ThrottleRow, count_event_within, count_events_within, count_guess,
    find_throttle, purge_throttle_rows, settle_guess,
};
pub use tokens::{
    NewToken, SessionLookup, SessionRow, delete_token, purge_expired_tokens, touch_tokens,
};
pub use tx::Tx;
pub(crate) use tx::on_tx;
pub use users::{
    Change, Credentials, NewUser, ProfileChanges, UserRow, insert_user_with_token,
    update_password_hash, update_profile,
};

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

use crate::config::Config;

/// A connection pool to whichever engine `DATABASE_URL` names. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePools),
    Postgres(PgPool),
}

/// SQLite's connections: readers, opened read-only, up to `db_max_connections` of them, and one
/// writer. SQLite lets one connection write at a time; with several connections writing, the
/// others wait for its lock in SQLite's busy handler, which sleeps and retries (1, 2, 5, 10, …
/// 100 ms) instead of waking when the lock is free. Eight clients logging in at once with a
/// cheap hash saw a p99 of 313–344 ms that way, against 15–18 ms with one writer, and 55 %
/// more logins per second (`docs/bench/analysis.md` §0l). With one writer connection, writes
/// queue for it in the pool, in order, and each starts the moment the one before commits; the
/// lock is only ever waited for when another process (the command line, a second server)
/// writes to the same file.
/// The readers being read-only makes a statement that writes through [`on_db!`] without
/// `write` fail at once, in the tests, rather than quietly compete for the lock.
/// A failed write and the replaced writer are what keep acknowledged writes safe on a full
/// disk: see [`writer_is_clean`] and [`SqlitePools::note_write`].
#[derive(Clone, Debug)]
pub struct SqlitePools {
    read: SqlitePool,
    /// `None`: the readers' pool writes too (see [`SqlitePools::single`]).
    write: Option<SqlitePool>,
    /// Whether writes have been failing (see [`Db::writes_work`]).
    health: WriterHealth,
}

/// When the last write failed for want of storage, if none has succeeded since. Shared by
/// the pools' clones and the writer pool's release hook.
#[derive(Clone, Debug, Default)]
struct WriterHealth(Arc<Mutex<Option<Instant>>>);

impl WriterHealth {
    /// Notes how a write ended.
    fn note(&self, failed: bool) {
        let Ok(mut failing) = self.0.lock() else {
            return;
        };
        if failed && failing.is_none() {
            tracing::warn!(
                "a write to the SQLite database failed; /readyz says not ready until one succeeds"
            );
        }
        *failing = failed.then(Instant::now);
    }

    fn failed_at(&self) -> Option<Instant> {
        self.0.lock().ok().and_then(|failing| *failing)
    }
}

impl SqlitePools {
    /// One pool for reading and writing alike: an in-memory database (each pool would have
    /// its own), or a database only ever read.
    pub fn single(pool: SqlitePool) -> Self {
        Self {
            read: pool,
            write: None,
            health: WriterHealth::default(),
        }
    }

    /// Notes how a write ended: a storage failure (a full disk, an I/O error, a read-only
    /// file) makes [`Db::writes_work`] say no until a write succeeds again.
    pub fn note_write<T>(&self, result: &Result<T, sqlx::Error>) {
        self.health
            .note(result.as_ref().is_err_and(is_storage_failure));
    }

    /// The pool for statements that only read.
    pub fn read(&self) -> &SqlitePool {
        &self.read
    }

    /// The pool (of one connection, on a file) for statements that write.
    pub fn write(&self) -> &SqlitePool {
        self.write.as_ref().unwrap_or(&self.read)
    }

    /// Every pool, each once.
    fn all(&self) -> impl Iterator<Item = &SqlitePool> {
        std::iter::once(&self.read).chain(&self.write)
    }
}

/// Runs the same expression against whichever pool `db` holds, binding it to `$pool`:
/// `on_db!(db, pool => …)` for statements that only read, `on_db!(write db, pool => …)` for
/// statements that write. On SQLite the two are different pools ([`SqlitePools`]), and how a
/// write ended is noted for `/readyz` ([`SqlitePools::note_write`]); on PostgreSQL both are
/// the one pool.
macro_rules! on_db {
    (write $db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite(pools) => {
                let $pool = pools.write();
                let result: Result<_, sqlx::Error> = async { $body }.await;
                pools.note_write(&result);
                result
            }
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite(pools) => {
                let $pool = pools.read();
                $body
            }
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

/// How long after a failed write `/readyz` waits before it tries a write of its own.
const PROBE_AFTER: Duration = Duration::from_secs(10);

/// Runs `sql`, a purge's DELETE of at most `$2` rows older than `$1`, and returns how many rows
/// it deleted.
async fn delete_chunk<T>(
    db: &Db,
    sql: &'static str,
    before: T,
    limit: i64,
) -> Result<u64, sqlx::Error>
where
    T: Send + 'static,
    T: for<'q> sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
    T: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    on_db!(write db, pool => sqlx::query(sql)
        .bind(before)
        .bind(limit)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
}

/// Pooled PostgreSQL connections idle this long are checked before use.
const IDLE_PING_AFTER: Duration = Duration::from_secs(30);

/// Whether a `sqlite:` URL names an in-memory database (sqlx's `:memory:` or `mode=memory`).
fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Db {
    /// Opens a pool for `config.database_url`. SQLite files are created if missing and run in
    /// WAL mode, so readers never wait for the writer. PostgreSQL pools connect lazily, so the
    /// service can start (and answer 503) while the database is still coming up.
    pub async fn connect(config: &Config) -> anyhow::Result<Db> {
        let url = config.database_url.as_str();
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .context("DATABASE_URL is not a valid sqlite: URL")?
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            let writer = options
                .clone()
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // WAL with NORMAL survives a process crash without losing a committed write;
                // only a power cut can lose the last transactions.
                .synchronous(SqliteSynchronous::Normal);
            let pools = |max_connections| {
                SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(config.db_acquire_timeout())
                    // A SQLite file cannot "go away" between queries: no ping at all.
                    .test_before_acquire(false)
            };
            // In memory, one pool reads and writes (two would be two databases).
            let in_memory = is_in_memory(url);
            let writers = if in_memory {
                config.db_max_connections
            } else {
                1
            };
            // The writer first: it creates the file and puts it in WAL mode (which the file
            // keeps), so the readers can open it read-only. On a file, a writer that comes back
            // from a failed write still inside a transaction is closed, not reused.
            let health = WriterHealth::default();
            let write_pool = if in_memory {
                pools(writers)
            } else {
                let health = health.clone();
                pools(writers).after_release(move |conn, _| {
                    let health = health.clone();
                    Box::pin(async move {
                        let clean = writer_is_clean(conn).await?;
                        if !clean {
                            health.note(true);
                        }
                        Ok(clean)
                    })
                })
            };
            let write = write_pool
                .connect_with(writer)
                .await
                .with_context(|| format!("cannot open the SQLite database {url}"))?;
            if in_memory {
                return Ok(Db::Sqlite(SqlitePools::single(write)));
            }
            let read = pools(config.db_max_connections).connect_lazy_with(options.read_only(true));
            Ok(Db::Sqlite(SqlitePools {
                read,
                write: Some(write),
                health,
            }))
        } else {
            let pool = PgPoolOptions::new()
                .max_connections(config.db_max_connections)
                .acquire_timeout(config.db_acquire_timeout())
                // sqlx pings every connection it hands out by default: a second round trip
                // per query. Ping only connections idle long enough to have been dropped by
                // the server or a proxy; a connection that died anyway fails one query (503)
                // and is replaced.
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= IDLE_PING_AFTER {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                })
                .connect_lazy(url)
                .context("DATABASE_URL is not a valid postgres:// URL")?;
            Ok(Db::Postgres(pool))
        }
    }

    /// Applies every pending migration of this engine, then the data migrations that need
    /// the service's own code (see `migrations/*/0*_data_migrations.sql`).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Db::Sqlite(pools) => SQLITE_MIGRATOR.run(pools.write()).await,
            Db::Postgres(pool) => POSTGRES_MIGRATOR.run(pool).await,
        }
        .context("database migration failed")?;
        email_keys::canonicalise_email_keys(self, chrono::Utc::now())
            .await
            .context("re-keying stored addresses failed")
    }

    /// Which engine this is, for logs.
    pub fn engine(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// A trivial query: whether the database answers at all (for `/readyz`).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_db!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))
    }

    /// Whether writes work (for `/readyz`). On SQLite, not from a write that failed for want
    /// of storage until one succeeds. A request's write is the best witness (a small probe
    /// can fit where a registration does not), but with no traffic there would be none: so
    /// [`PROBE_AFTER`] after the failure, this tries one small write itself. On PostgreSQL,
    /// whose server manages its own storage, always.
    pub async fn writes_work(&self) -> bool {
        let Db::Sqlite(pools) = self else {
            return true;
        };
        match pools.health.failed_at() {
            None => return true,
            Some(at) if at.elapsed() < PROBE_AFTER => return false,
            Some(_) => {}
        }
        const PROBE: &str = "INSERT INTO writer_probe (id, checked_at) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at";
        let probed = on_db!(write self, pool => sqlx::query(PROBE)
            .bind(chrono::Utc::now())
            .execute(pool)
            .await
            .map(drop));
        probed.is_ok()
    }

    /// Whether every migration this binary embeds has been applied (for `/readyz`): a server
    /// started with `--migrate-on-start false` before `kitchen-api migrate` ran is not ready.
    pub async fn migrations_applied(&self) -> Result<bool, sqlx::Error> {
        let sql = "SELECT version FROM _sqlx_migrations WHERE success";
        let (applied, migrator): (Vec<i64>, &sqlx::migrate::Migrator) = match self {
            Db::Sqlite(pools) => (
                sqlx::query_scalar(sql).fetch_all(pools.read()).await?,
                &SQLITE_MIGRATOR,
            ),
            Db::Postgres(pool) => (
                sqlx::query_scalar(sql).fetch_all(pool).await?,
                &POSTGRES_MIGRATOR,
            ),
        };
        Ok(migrator
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .all(|m| applied.contains(&m.version)))
    }

    /// Connections open and idle, for `/metrics` (on SQLite the writer's among them).
    pub fn pool_usage(&self) -> (u32, usize) {
        match self {
            Db::Sqlite(pools) => pools.all().fold((0, 0), |(open, idle), p| {
                (open + p.size(), idle + p.num_idle())
            }),
            Db::Postgres(pool) => (pool.size(), pool.num_idle()),
        }
    }

    /// Connections open to write, for `/metrics`: SQLite's writer (at most one), or `None` on
    /// PostgreSQL, where every connection may write.
    pub fn writer_connections(&self) -> Option<u32> {
        match self {
            Db::Sqlite(pools) => Some(pools.write().size()),
            Db::Postgres(_) => None,
        }
    }

    /// Finishes in-flight queries and closes every connection.
    pub async fn close(&self) {
        match self {
            Db::Sqlite(pools) => {
                for pool in pools.all() {
                    pool.close().await;
                }
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

/// Whether a write failed for want of storage rather than because of the request: an I/O
/// error, or SQLite's read-only, I/O, corrupt, full, cannot-open or not-a-database results
/// (extended codes; the primary code is the low byte).
fn is_storage_failure(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, 8 | 10 | 11 | 13 | 14 | 26)),
        _ => false,
    }
}

/// Whether the SQLite writer came back from a write with no transaction open, as sqlx counts
/// them and as SQLite does. A failed statement or `COMMIT` (a full disk, an I/O error) can
/// leave one open, or the two counts apart, and every later write would then go into a
/// transaction that never commits while answering success. Such a connection is closed
/// (`false`), which rolls back what was never acknowledged, and the pool opens a fresh one.
async fn writer_is_clean(conn: &mut SqliteConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection as _;
    let clean = !conn.is_in_transaction() && {
        let mut handle = conn.lock_handle().await?;
        let raw = handle.as_raw_handle();
        // SAFETY: `raw` is the connection's open handle, and locking it keeps the connection's
        // worker thread from using it during the call, which only reads a flag.
        unsafe { rusqlite::ffi::sqlite3_get_autocommit(raw.as_ptr()) != 0 }
    };
    if !clean {
        tracing::warn!(
            "the SQLite writer was left inside a transaction by a failed write; replacing it"
        );
    }
    Ok(clean)
}
