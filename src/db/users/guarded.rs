//! Writes to `users` guarded in their own SQL: staff change only accounts they may manage, and
//! the last active superuser is never deactivated, demoted or deleted.

use super::{UserRow, find_user_by_id, user_columns};
use crate::db::{Db, on_db};

/// New values for a user's flags; `None` leaves one as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlagChanges {
    pub is_active: Option<bool>,
    pub is_staff: Option<bool>,
    pub is_superuser: Option<bool>,
}

#[derive(Debug)]
pub enum StaffWrite<T> {
    Done(T),
    NotFound,
    /// A staff member's or superuser's account, and the actor is no active superuser.
    Forbidden,
    /// The change would leave no active superuser.
    LastSuperuser,
}

/// SQL true when user `$2` may write the `users` row in scope; part of each guarded statement,
/// so a promotion or demotion committed a moment before is respected.
macro_rules! may_manage {
    () => {
        "(NOT (users.is_staff OR users.is_superuser) \
          OR EXISTS (SELECT 1 FROM users actor \
                     WHERE actor.id = $2 AND actor.is_superuser AND actor.is_active))"
    };
}
pub(in crate::db) use may_manage;

/// SQL true when some active superuser other than the user `$1` exists.
macro_rules! another_active_superuser {
    () => {
        "EXISTS (SELECT 1 FROM users other \
                 WHERE other.id <> $1 AND other.is_superuser AND other.is_active)"
    };
}

/// Locks the active superusers' rows, so two superusers stepping down at once cannot both pass
/// [`another_active_superuser!`] (SQLite writes one statement at a time already).
async fn lock_active_superusers(tx: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    const SQL: &str = "SELECT id FROM users WHERE is_superuser AND is_active FOR UPDATE";
    sqlx::query(SQL).execute(tx).await.map(|_| ())
}

/// Why a guarded write changed nothing: no such user, not the actor's, or else `otherwise`.
pub(in crate::db) async fn refusal<T>(
    db: &Db,
    id: i64,
    actor_id: i64,
    otherwise: StaffWrite<T>,
) -> Result<StaffWrite<T>, sqlx::Error> {
    const SQL: &str = concat!("SELECT ", may_manage!(), " FROM users WHERE id = $1");
    let allowed: Option<bool> = on_db!(db, pool => sqlx::query_scalar(SQL)
        .bind(id)
        .bind(actor_id)
        .fetch_optional(pool)
        .await)?;
    Ok(match allowed {
        None => StaffWrite::NotFound,
        Some(false) => StaffWrite::Forbidden,
        Some(true) => otherwise,
    })
}

/// Whether `actor_id` may manage user `id`: `Done(())`, or why not.
pub async fn may_act_on(db: &Db, id: i64, actor_id: i64) -> Result<StaffWrite<()>, sqlx::Error> {
    refusal(db, id, actor_id, StaffWrite::Done(())).await
}

/// Applies `changes` by `actor_id`, guarded in the UPDATE itself.
pub async fn set_user_flags(
    db: &Db,
    id: i64,
    actor_id: i64,
    changes: FlagChanges,
) -> Result<StaffWrite<UserRow>, sqlx::Error> {
    const SQL: &str = concat!(
        "UPDATE users SET \
         is_active = COALESCE($3, is_active), \
         is_staff = COALESCE($4, is_staff), \
         is_superuser = COALESCE($5, is_superuser) \
         WHERE id = $1 AND ",
        may_manage!(),
        " AND (NOT (is_superuser AND is_active) \
              OR (COALESCE($5, TRUE) AND COALESCE($3, TRUE)) OR ",
        another_active_superuser!(),
        ") RETURNING ",
        user_columns!()
    );
    macro_rules! query {
        () => {
            sqlx::query_as(SQL)
                .bind(id)
                .bind(actor_id)
                .bind(changes.is_active)
                .bind(changes.is_staff)
                .bind(changes.is_superuser)
        };
    }
    let updated: Option<UserRow> = match db {
        Db::Sqlite(_) => on_db!(write db, pool => query!().fetch_optional(pool).await)?,
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            lock_active_superusers(&mut tx).await?;
            let row = query!().fetch_optional(&mut *tx).await?;
            tx.commit().await?;
            row
        }
    };
    match updated {
        Some(row) => Ok(StaffWrite::Done(row)),
        None => refusal(db, id, actor_id, StaffWrite::LastSuperuser).await,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletion {
    /// Gone, with the name of its stored picture (to remove from the picture store).
    Deleted {
        picture_key: Option<String>,
    },
    NotFound,
    /// The user is the last active superuser, and stays.
    LastSuperuser,
}

/// Deletes a user (its tokens and codes cascade), never the last active superuser.
pub async fn delete_user(db: &Db, user_id: i64) -> Result<Deletion, sqlx::Error> {
    const SQL: &str = concat!(
        "DELETE FROM users WHERE id = $1 AND (NOT (is_superuser AND is_active) OR ",
        another_active_superuser!(),
        ") RETURNING picture_key"
    );
    let deleted: Option<Option<String>> = match db {
        Db::Sqlite(_) => on_db!(write db, pool => sqlx::query_scalar(SQL)
            .bind(user_id)
            .fetch_optional(pool)
            .await)?,
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            lock_active_superusers(&mut tx).await?;
            let done = sqlx::query_scalar(SQL)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            done
        }
    };
    if let Some(picture_key) = deleted {
        return Ok(Deletion::Deleted { picture_key });
    }
    let exists = find_user_by_id(db, user_id).await?.is_some();
    Ok(if exists {
        Deletion::LastSuperuser
    } else {
        Deletion::NotFound
    })
}
