//! The import's writes into our database. They live beside the importer rather than in `db`
//! because they all run in ONE transaction spanning the whole import: committed at the end, or
//! rolled back for a dry run, so a dry run's report is exactly what a real run would do.
//! The SQL is written once for both engines, like everything in `db`.

use super::plan::Planned;
use crate::db::{Tx, on_tx};

/// What writing one user did.
pub enum Outcome {
    Inserted,
    /// This id already holds this address: imported before, left as it is now.
    Unchanged,
    Conflict(String),
}

impl Tx {
    /// Inserts the user with its Django id, unless that id or address is taken; then says
    /// whether it is the same account (an earlier import) or a conflict.
    pub async fn write_user(&mut self, u: &Planned) -> Result<Outcome, sqlx::Error> {
        const INSERT: &str = "INSERT INTO users (id, email, email_key, password_hash, name, \
             date_of_birth, bio, profile_picture, phone_number, is_superuser, is_staff, \
             is_active, email_verified, date_joined) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, FALSE, $13) \
             ON CONFLICT DO NOTHING";
        const KEY_OF_ID: &str = "SELECT email_key FROM users WHERE id = $1";
        const ID_OF_KEY: &str = "SELECT id FROM users WHERE email_key = $1";
        let inserted = on_tx!(self, conn => sqlx::query(INSERT)
            .bind(u.id)
            .bind(u.email.as_str())
            .bind(u.email.key())
            .bind(&u.password_hash)
            .bind(&u.name)
            .bind(u.date_of_birth)
            .bind(&u.bio)
            .bind(&u.profile_picture)
            .bind(&u.phone_number)
            .bind(u.is_superuser)
            .bind(u.is_staff)
            .bind(u.is_active)
            .bind(u.date_joined)
            .execute(conn)
            .await?
            .rows_affected());
        if inserted > 0 {
            return Ok(Outcome::Inserted);
        }
        let key: Option<String> = on_tx!(self, conn => sqlx::query_scalar(KEY_OF_ID).bind(u.id).fetch_optional(conn).await?);
        if let Some(key) = key {
            return Ok(if key == u.email.key() {
                Outcome::Unchanged
            } else {
                Outcome::Conflict(format!("id {} already belongs to another account", u.id))
            });
        }
        let other: Option<i64> = on_tx!(self, conn => sqlx::query_scalar(ID_OF_KEY)
            .bind(u.email.key())
            .fetch_optional(conn)
            .await?);
        Ok(Outcome::Conflict(match other {
            Some(other) => format!("the address already belongs to account {other}"),
            None => "refused by the database".to_owned(),
        }))
    }

    /// Stores the digest of an imported DRF token. Returns whether it was new.
    pub async fn write_token(
        &mut self,
        user_id: i64,
        digest: &[u8],
        created_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, sqlx::Error> {
        const SQL: &str = "INSERT INTO tokens (user_id, digest, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING";
        on_tx!(self, conn => sqlx::query(SQL)
            .bind(user_id)
            .bind(digest)
            .bind(created_at)
            .execute(conn)
            .await
            .map(|r| r.rows_affected() > 0))
    }

    /// Commits, first moving PostgreSQL's id generator past the largest id, so the next
    /// registration cannot collide with an imported id. (SQLite's AUTOINCREMENT already keeps
    /// `sqlite_sequence` at the largest id ever inserted, explicit ones included.) Done only
    /// here because `setval` is not transactional: a dry run must not move it.
    pub async fn commit_import(mut self) -> Result<(), sqlx::Error> {
        if let Tx::Postgres(tx) = &mut self {
            sqlx::query(
                "SELECT setval(pg_get_serial_sequence('users', 'id'), \
                 COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM users",
            )
            .execute(&mut **tx)
            .await?;
        }
        self.commit().await
    }
}
