//! Queries on `data_migrations`: the migrations that need the service's own code, each run
//! once after the SQL migrations.

use chrono::{DateTime, Utc};

use super::{Db, Tx, on_db, on_tx};

/// Whether data migration `name` is still to run; read first, so a read-only database starts.
async fn is_data_migration_pending(db: &Db, name: &str) -> Result<bool, sqlx::Error> {
    const SQL: &str = "SELECT name FROM data_migrations WHERE name = $1 AND done_at IS NULL";
    let pending: Option<String> =
        on_db!(db, pool => sqlx::query_scalar(SQL).bind(name).fetch_optional(pool).await)?;
    Ok(pending.is_some())
}

/// Marks data migration `name` as done; `false` if it was (a second server waits here).
async fn claim_data_migration(
    tx: &mut Tx,
    name: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    const SQL: &str = "UPDATE data_migrations SET done_at = $2 WHERE name = $1 AND done_at IS NULL";
    on_tx!(tx, conn => sqlx::query(SQL)
        .bind(name)
        .bind(now)
        .execute(conn)
        .await
        .map(|r| r.rows_affected() > 0))
}

/// The transaction data migration `name` runs in, having claimed it; `None` when it has run
/// (or another server has just claimed it). Commit it with the migration's changes.
pub(super) async fn begin_data_migration(
    db: &Db,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Option<Tx>, sqlx::Error> {
    if !is_data_migration_pending(db, name).await? {
        return Ok(None);
    }
    let mut tx = Tx::begin(db).await?;
    if !claim_data_migration(&mut tx, name, now).await? {
        tx.rollback().await?;
        return Ok(None);
    }
    Ok(Some(tx))
}
