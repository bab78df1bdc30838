//! The data migration that gives every stored name its search key ([`search_key`]): folded by
//! the service's code, not the engine's `lower()` (ASCII letters only on SQLite), so both
//! engines find the same users; once, in one transaction, a page of names per statement.

use chrono::{DateTime, Utc};

use super::data_migrations::begin_data_migration;
use super::{Db, Tx, on_tx};
use crate::domain::search_key;

const NAME: &str = "name_keys";

/// Names read and keyed per statement (two parameters each, well under SQLite's limit).
const PAGE: i64 = 500;

/// Runs the migration unless it has run; safe to call at every start.
pub async fn key_names(db: &Db, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    let Some(mut tx) = begin_data_migration(db, NAME, now).await? else {
        return Ok(());
    };
    let (mut after, mut keyed) = (0, 0);
    loop {
        let names = names_after(&mut tx, after).await?;
        let Some(&(last, _)) = names.last() else {
            break;
        };
        set_name_keys(&mut tx, &names).await?;
        keyed += names.len();
        after = last;
    }
    tx.commit().await?;
    tracing::info!(keyed, "stored names given their search keys");
    Ok(())
}

async fn names_after(tx: &mut Tx, after: i64) -> Result<Vec<(i64, String)>, sqlx::Error> {
    const SQL: &str =
        "SELECT id, name FROM users WHERE id > $1 AND name IS NOT NULL ORDER BY id LIMIT $2";
    on_tx!(tx, conn => sqlx::query_as(SQL).bind(after).bind(PAGE).fetch_all(conn).await)
}

/// One `UPDATE … FROM (VALUES …)` for the page (both engines name its columns `column1`, …).
async fn set_name_keys(tx: &mut Tx, names: &[(i64, String)]) -> Result<(), sqlx::Error> {
    let rows: Vec<String> = (0..names.len())
        .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
        .collect();
    let sql = format!(
        "UPDATE users SET name_key = v.column2 FROM (VALUES {}) AS v WHERE users.id = v.column1",
        rows.join(", ")
    );
    on_tx!(tx, conn => {
        let mut query = sqlx::query(&sql);
        for (id, name) in names {
            query = query.bind(id).bind(search_key(name));
        }
        query.execute(conn).await.map(drop)
    })
}
