//! Storage, one module per table and one function per query, each written once in SQL both
//! engines accept; [`on_db!`] expands it per engine, so each copy is type-checked by its driver.

mod codes;
mod console;
mod data_migrations;
mod delivery_addresses;
mod devices;
mod email_keys;
mod events;
mod flows;
mod inline_reads;
mod mfa;
mod name_keys;
mod passkeys;
mod pools;
mod rate_events;
mod session_changes;
mod throttle;
mod tokens;
mod tx;
mod users;

pub use codes::{CodeOwner, CodeTry, replace_code, take_code_try};
pub use console::{
    ConsoleSessionRow, SEARCH_POSTGRES, SEARCH_SQLITE, delete_console_session,
    find_console_session, insert_console_session, purge_console_sessions, search_users,
    touch_console_session,
};
pub use delivery_addresses::{
    DeliveryAddressChanges, DeliveryAddressRow, ImportedDeliveryAddress, NewDeliveryAddress,
    delete_address_of_user, find_address_of_user, find_address_owner, insert_address_within_limit,
    insert_imported_address, list_addresses_of_user, update_address_of_user,
};
pub use devices::{DeviceKey, purge_devices, remember_device};
pub use events::{EventRow, NewEvent, find_events, insert_event, list_events, purge_events};
pub use flows::{
    CodeUse, LoginRead, change_email, change_password, insert_user_with_token, read_login,
    store_login, use_code,
};
pub use mfa::{
    MfaSummary, NewChallenge, TotpRead, delete_mfa_challenge, delete_second_factors_by_staff,
    delete_totp, enable_totp, find_totp, insert_mfa_challenge, mfa_summary, purge_mfa_challenges,
    replace_pending_totp, replace_recovery_codes, take_mfa_challenge_try, take_totp_step,
    use_recovery_code,
};
pub use passkeys::{
    CeremonyRow, NewCeremony, PasskeyAccount, PasskeyRow, StoredPasskey, delete_passkey_of_user,
    find_passkey_account, find_passkey_by_credential_id, find_passkeys_of_user, insert_ceremony,
    insert_passkey, list_passkeys_of_user, purge_ceremonies, record_passkey_use, take_ceremony,
};
pub use pools::SqlitePools;
pub(crate) use pools::on_db;
pub use rate_events::{WindowCount, WindowLimit, count_events_in_window};
pub use session_changes::{
    last_session_change, purge_session_changes, record_session_changes, session_changes_after,
};
pub use throttle::{
    GuessRule, ThrottleRow, count_guess, find_throttle, purge_throttle_rows, settle_guess,
    uncount_guess,
};
pub use tokens::{
    NewToken, SessionInfo, SessionLookup, SessionRow, delete_token_of_user, delete_tokens_of_user,
    delete_tokens_of_user_by_staff, insert_token, list_tokens_of_user, purge_expired_tokens,
    touch_tokens,
};
pub use tx::{On, Tx};
pub(crate) use tx::{on, on_tx};
pub use users::{
    AddressRow, Change, Credentials, Deletion, FlagChanges, ImportedUser, MailTarget, NewUser,
    PictureChange, ProfileChanges, StaffWrite, Updated, UserRow, deactivate_user_by_email_key,
    delete_user, find_address_by_email_key, find_address_by_id, find_mail_target_by_email_key,
    find_mail_target_by_id, find_password_hash, find_user_by_id, insert_imported_user,
    insert_superuser, list_users, may_act_on, restart_imported_ids, set_user_flags,
    update_password_hash, update_profile,
};

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};

use crate::config::Config;
use pools::WriterHealth;

/// A connection pool to whichever engine `DATABASE_URL` names. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePools),
    Postgres(PgPool),
}

/// How long after a failed write `/readyz` waits before it tries a write of its own.
const PROBE_AFTER: Duration = Duration::from_secs(10);

/// Runs a purge's DELETE of at most `$2` rows older than `$1`; returns how many it deleted.
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

const IDLE_PING_AFTER: Duration = Duration::from_secs(30);

fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Db {
    /// Opens `config.database_url`; PostgreSQL lazily, so the service starts (and answers 503)
    /// while the database comes up.
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
                // WAL with NORMAL loses a committed write in a power cut, never in a crash.
                .synchronous(SqliteSynchronous::Normal);
            let pools = |max_connections| {
                SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(config.db_acquire_timeout())
                    .test_before_acquire(false)
            };
            let in_memory = is_in_memory(url);
            let writers = if in_memory {
                config.db_max_connections
            } else {
                1
            };
            // The writer first: it creates the file in WAL mode, so readers can open it read-only.
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
                // By default sqlx pings every connection it hands out, a second round trip per
                // query: ping only those idle long enough for a server or proxy to drop them.
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

    /// Applies every pending migration of this engine, then the data migrations in Rust.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Db::Sqlite(pools) => SQLITE_MIGRATOR.run(pools.write()).await,
            Db::Postgres(pool) => POSTGRES_MIGRATOR.run(pool).await,
        }
        .context("database migration failed")?;
        email_keys::canonicalise_email_keys(self, chrono::Utc::now())
            .await
            .context("re-keying stored addresses failed")?;
        name_keys::key_names(self, chrono::Utc::now())
            .await
            .context("keying stored names for the search failed")
    }

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

    /// Whether writes work (for `/readyz`): on SQLite, not since a write failed for want of
    /// storage, until one succeeds or, a while later, a small probe of its own does.
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

    /// Whether every migration this binary embeds has been applied (for `/readyz`).
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

    /// Connections open to write, for `/metrics`: SQLite's writer, or `None` on PostgreSQL.
    pub fn writer_connections(&self) -> Option<u32> {
        match self {
            Db::Sqlite(pools) => Some(pools.write().size()),
            Db::Postgres(_) => None,
        }
    }

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

/// Whether the SQLite writer came back from a write with no transaction open, as sqlx counts
/// them and as SQLite does. A failed statement or `COMMIT` (a full disk, an I/O error) can
/// leave one open, or the two counts apart, and every later write would then go into a
/// transaction that never commits while answering success. Such a connection is closed
/// (`false`), which rolls back what was never acknowledged, and the pool opens a fresh one.
async fn writer_is_clean(conn: &mut SqliteConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection as _;
    let clean = !conn.is_in_transaction() && {
        let mut handle = conn.lock_handle().await?;
        crate::sys::sqlite_autocommit(&mut handle)
    };
    if !clean {
        tracing::warn!(
            "the SQLite writer was left inside a transaction by a failed write; replacing it"
        );
    }
    Ok(clean)
}
