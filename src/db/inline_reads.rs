//! The session lookup on SQLite without leaving the calling thread. sqlx-sqlite hands every
//! statement to a worker thread and back, which costs the authentication path several times
//! the lookup itself; this runs it through a few read-only `rusqlite` connections instead. It
//! never waits on a lock, and anything it cannot read exactly as sqlx does falls back to the
//! pool (docs/decisions/0009). `KITCHEN_API_SQLITE_INLINE_READS=false` turns it off.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};

use super::tokens::SessionRow;
use super::users::UserRow;

/// Connections kept open between lookups: about one per async worker thread.
const MAX_IDLE: usize = 8;

/// Why a lookup did not answer; the caller then asks the pool, which has the final word.
#[derive(Debug)]
pub(super) enum Fallback {
    Sqlite(rusqlite::Error),
    Type(rusqlite::types::FromSqlError),
    Unreadable(&'static str),
}

impl std::fmt::Display for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fallback::Sqlite(e) => write!(f, "{e}"),
            Fallback::Type(e) => write!(f, "{e}"),
            Fallback::Unreadable(what) => {
                write!(f, "a {what} in a spelling this path does not read")
            }
        }
    }
}

impl From<rusqlite::Error> for Fallback {
    fn from(e: rusqlite::Error) -> Self {
        Fallback::Sqlite(e)
    }
}

/// Read-only connections to one SQLite file, for [`InlineReads::find_session`].
pub(super) struct InlineReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for InlineReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineReads")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl InlineReads {
    /// Inline reads of the database file at `path`, or `None` where there is no file to share.
    pub(super) fn for_file(path: &Path) -> Option<Self> {
        if !path.is_file() {
            return None;
        }
        let reads = Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        };
        // Opened once now, so a file that this path cannot read shows at start, not per request.
        match reads.open() {
            Ok(conn) => {
                reads.give_back(conn);
                Some(reads)
            }
            Err(e) => {
                tracing::info!(error = %e, "SQLite inline reads are off: cannot open the file read-only");
                None
            }
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::ZERO)?;
        Ok(conn)
    }

    fn take(&self) -> rusqlite::Result<Connection> {
        let conn = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match conn {
            Some(conn) => Ok(conn),
            None => self.open(),
        }
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
    }

    /// The token with this digest and its user, as the pool would answer it.
    pub(super) fn find_session(
        &self,
        sql: &str,
        digest: &[u8],
    ) -> Result<Option<SessionRow>, Fallback> {
        let conn = self.take()?;
        let found = query_session(&conn, sql, digest);
        // A connection that failed is dropped rather than reused: the next one starts clean.
        if found.is_ok() {
            self.give_back(conn);
        }
        found
    }
}

fn query_session(
    conn: &Connection,
    sql: &str,
    digest: &[u8],
) -> Result<Option<SessionRow>, Fallback> {
    let mut statement = conn.prepare_cached(sql)?;
    let row = statement
        .query_row([digest], |row| Ok(read_session(row)))
        .optional()?;
    row.transpose()
}

/// Columns by position: the token's three, then [`super::users::user_columns`].
fn read_session(row: &Row<'_>) -> Result<SessionRow, Fallback> {
    Ok(SessionRow {
        token_id: row.get(0)?,
        token_created_at: timestamp(row.get_ref(1)?.as_str()?)?,
        last_used_at: row
            .get_ref(2)?
            .as_str_or_null()?
            .map(timestamp)
            .transpose()?,
        user: UserRow {
            id: row.get(3)?,
            email: row.get(4)?,
            name: row.get(5)?,
            date_of_birth: row
                .get_ref(6)?
                .as_str_or_null()?
                .map(|text| {
                    NaiveDate::parse_from_str(text, "%F").map_err(|_| Fallback::Unreadable("date"))
                })
                .transpose()?,
            bio: row.get(7)?,
            profile_picture: row.get(8)?,
            phone_number: row.get(9)?,
            is_superuser: row.get(10)?,
            is_staff: row.get(11)?,
            is_active: row.get(12)?,
            email_verified: row.get(13)?,
            date_joined: timestamp(row.get_ref(14)?.as_str()?)?,
            picture_key: row.get(15)?,
        },
    })
}

/// The RFC 3339 text that sqlx writes for a `DateTime<Utc>`; other spellings fall back.
fn timestamp(text: &str) -> Result<DateTime<Utc>, Fallback> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| Fallback::Unreadable("timestamp"))
}

impl From<rusqlite::types::FromSqlError> for Fallback {
    fn from(e: rusqlite::types::FromSqlError) -> Self {
        Fallback::Type(e)
    }
}
