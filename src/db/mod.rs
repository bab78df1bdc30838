//! Storage, for SQLite and PostgreSQL alike. Each query is written once, in SQL that both engines
//! accept (`$1` placeholders, `RETURNING`), and [`on_db!`] expands it once per engine so each copy
//! is type-checked against its own driver. The two dialects differ only in `migrations/`.

mod account;
mod codes;
mod events;
mod inline_reads;
mod login;
mod session_changes;
mod sessions;
mod staff;
mod throttle;
mod tokens;
mod users;

pub use account::{
    MailTarget, change_password, delete_user, find_mail_target_by_email_key,
    find_mail_target_by_id, find_password_hash,
};
pub use codes::{CodeOwner, CodeTry, CodeUse, replace_code, take_code_try, use_code};
pub use events::{EventRow, NewEvent, insert_event, list_events};
pub use login::{LoginRead, read_login, store_login};
pub use session_changes::{
    last_session_change, purge_session_changes, record_session_changes, session_changes_after,
};
pub use sessions::{SessionInfo, delete_all_sessions, delete_session, list_sessions};
pub use staff::{
    FlagChanges, FlagOutcome, deactivate_user_by_email_key, delete_user_tokens, find_user,
    insert_superuser, list_users, set_user_flags,
};
pub use throttle::{ThrottleRow, clear_throttle, count_event_within, record_failure};
pub use tokens::{
    NewToken, SessionLookup, SessionRow, delete_token, purge_expired_tokens, touch_tokens,
};
pub use users::{
    Change, Credentials, NewUser, ProfileChanges, UserRow, insert_user_with_token,
    update_password_hash, update_profile,
};

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::config::Config;

/// A connection pool to whichever engine `DATABASE_URL` names. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same expression against whichever pool `db` holds, binding it to `$pool`.
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

/// Pooled PostgreSQL connections idle this long are checked before use.
const IDLE_PING_AFTER: Duration = Duration::from_secs(30);

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
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // WAL with NORMAL survives a process crash without losing a committed write;
                // only a power cut can lose the last transactions.
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            let pool = SqlitePoolOptions::new()
                .max_connections(config.db_max_connections)
                .acquire_timeout(config.db_acquire_timeout())
                // A SQLite file cannot "go away" between queries: no ping at all.
                .test_before_acquire(false)
                .connect_with(options)
                .await
                .with_context(|| format!("cannot open the SQLite database {url}"))?;
            Ok(Db::Sqlite(pool))
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

    /// Applies every pending migration of this engine.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Db::Sqlite(pool) => SQLITE_MIGRATOR.run(pool).await,
            Db::Postgres(pool) => POSTGRES_MIGRATOR.run(pool).await,
        }
        .context("database migration failed")
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

    /// Whether every migration this binary embeds has been applied (for `/readyz`): a server
    /// started with `--migrate-on-start false` before `kitchen-api migrate` ran is not ready.
    pub async fn migrations_applied(&self) -> Result<bool, sqlx::Error> {
        let sql = "SELECT version FROM _sqlx_migrations WHERE success";
        let (applied, migrator): (Vec<i64>, &sqlx::migrate::Migrator) = match self {
            Db::Sqlite(pool) => (
                sqlx::query_scalar(sql).fetch_all(pool).await?,
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

    /// Connections open and idle, for `/metrics`.
    pub fn pool_usage(&self) -> (u32, usize) {
        on_db!(self, pool => (pool.size(), pool.num_idle()))
    }

    /// Finishes in-flight queries and closes every connection.
    pub async fn close(&self) {
        on_db!(self, pool => pool.close().await)
    }
}
