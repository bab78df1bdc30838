//! SQLite's reader and writer pools, the note of whether writes have been failing, and
//! [`on_db!`], which runs one expression against whichever engine's pool a [`super::Db`] holds.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use sqlx::sqlite::SqlitePool;

/// SQLite's connections: read-only readers, and one writer, so writes queue in order instead
/// of sleeping in SQLite's busy handler, which retries rather than wakes when the lock is free
/// (docs/decisions/0010).
#[derive(Clone, Debug)]
pub struct SqlitePools {
    pub(super) read: SqlitePool,
    pub(super) write: Option<SqlitePool>,
    pub(super) health: WriterHealth,
}

/// When the last write failed for want of storage, if none has succeeded since.
#[derive(Clone, Debug, Default)]
pub(super) struct WriterHealth(Arc<Mutex<Option<Instant>>>);

impl WriterHealth {
    pub(super) fn note(&self, failed: bool) {
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

    pub(super) fn note_result<T>(&self, result: &Result<T, sqlx::Error>) {
        self.note(result.as_ref().is_err_and(is_storage_failure));
    }

    pub(super) fn failed_at(&self) -> Option<Instant> {
        self.0.lock().ok().and_then(|failing| *failing)
    }
}

impl SqlitePools {
    /// One pool for reading and writing alike: in memory, or a database only ever read.
    pub fn single(pool: SqlitePool) -> Self {
        Self {
            read: pool,
            write: None,
            health: WriterHealth::default(),
        }
    }

    /// Notes how a write ended, for [`super::Db::writes_work`].
    pub fn note_write<T>(&self, result: &Result<T, sqlx::Error>) {
        self.health.note_result(result);
    }

    pub fn read(&self) -> &SqlitePool {
        &self.read
    }

    /// The pool for statements that write: one connection, on a file.
    pub fn write(&self) -> &SqlitePool {
        self.write.as_ref().unwrap_or(&self.read)
    }

    pub(super) fn all(&self) -> impl Iterator<Item = &SqlitePool> {
        std::iter::once(&self.read).chain(&self.write)
    }
}

/// Runs the expression against whichever pool `db` holds, bound to `$pool`; with `write`, on
/// SQLite's writer, noting how it ended for `/readyz`.
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

/// Whether a write failed for want of storage: I/O, or SQLite's read-only, I/O, corrupt, full,
/// cannot-open or not-a-database (the low byte of an extended code).
pub(super) fn is_storage_failure(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, 8 | 10 | 11 | 13 | 14 | 26)),
        _ => false,
    }
}
