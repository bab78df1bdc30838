//! Queries on `user_addresses`: a user's saved delivery addresses. Every query names the owner,
//! so no statement can read or change another user's address whatever id it is given.

use super::{Db, Tx, on_db, on_tx};
use crate::domain::{AddressText, PlaceLabel};

/// The columns of [`DeliveryAddressRow`], in the order the answers show them.
macro_rules! address_columns {
    () => {
        "id, address, street, post_code, apartment, labelled_place"
    };
}

/// A saved address as stored (blank parts are `""`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeliveryAddressRow {
    pub id: i64,
    pub address: String,
    pub street: String,
    pub post_code: String,
    pub apartment: String,
    pub labelled_place: String,
}

/// A new address, every part parsed.
#[derive(Debug, Clone)]
pub struct NewDeliveryAddress {
    pub address: AddressText,
    pub street: AddressText,
    pub post_code: AddressText,
    pub apartment: AddressText,
    pub labelled_place: PlaceLabel,
}

/// The parts an update sets; `None` keeps a part as it is.
#[derive(Debug, Clone, Default)]
pub struct DeliveryAddressChanges {
    pub address: Option<AddressText>,
    pub street: Option<AddressText>,
    pub post_code: Option<AddressText>,
    pub apartment: Option<AddressText>,
    pub labelled_place: Option<PlaceLabel>,
}

/// The user's addresses, oldest first (newest last, as the list answers them).
pub async fn list_addresses_of_user(
    db: &Db,
    user_id: i64,
) -> Result<Vec<DeliveryAddressRow>, sqlx::Error> {
    const SQL: &str = concat!(
        "SELECT ",
        address_columns!(),
        " FROM user_addresses WHERE user_id = $1 ORDER BY id"
    );
    on_db!(db, pool => sqlx::query_as(SQL).bind(user_id).fetch_all(pool).await)
}

pub async fn find_address_of_user(
    db: &Db,
    user_id: i64,
    id: i64,
) -> Result<Option<DeliveryAddressRow>, sqlx::Error> {
    const SQL: &str = concat!(
        "SELECT ",
        address_columns!(),
        " FROM user_addresses WHERE id = $1 AND user_id = $2"
    );
    on_db!(db, pool => sqlx::query_as(SQL).bind(id).bind(user_id).fetch_optional(pool).await)
}

/// Adds an address unless the user already has `max` (or no longer exists): `None` then.
///
/// The count and the insert must be one step, or parallel requests would each see room for
/// one more. On PostgreSQL the user's row is locked first, so the insert's own snapshot, taken
/// after the lock, counts every address committed before it; on SQLite one writer runs one
/// statement at a time.
pub async fn insert_address_within_limit(
    db: &Db,
    user_id: i64,
    max: u32,
    new: &NewDeliveryAddress,
) -> Result<Option<DeliveryAddressRow>, sqlx::Error> {
    const LOCK: &str = "SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE";
    const SQL: &str = concat!(
        "INSERT INTO user_addresses \
         (user_id, address, street, post_code, apartment, labelled_place) \
         SELECT u.id, $2, $3, $4, $5, $6 FROM users u WHERE u.id = $1 \
         AND (SELECT COUNT(*) FROM user_addresses WHERE user_id = $1) < $7 \
         RETURNING ",
        address_columns!()
    );
    let mut tx = Tx::begin(db).await?;
    let done = async {
        if tx.is_postgres() {
            on_tx!(tx, conn => sqlx::query(LOCK).bind(user_id).execute(conn).await.map(drop))?;
        }
        on_tx!(tx, conn => sqlx::query_as(SQL)
            .bind(user_id)
            .bind(new.address.as_str())
            .bind(new.street.as_str())
            .bind(new.post_code.as_str())
            .bind(new.apartment.as_str())
            .bind(new.labelled_place.as_str())
            .bind(i64::from(max))
            .fetch_optional(conn)
            .await)
    }
    .await;
    tx.finish(done).await
}

/// Sets the parts `changes` names, in one statement (two concurrent partial updates of
/// different parts both land); `None` if the user has no address `id`.
pub async fn update_address_of_user(
    db: &Db,
    user_id: i64,
    id: i64,
    changes: &DeliveryAddressChanges,
) -> Result<Option<DeliveryAddressRow>, sqlx::Error> {
    const SQL: &str = concat!(
        "UPDATE user_addresses SET address = COALESCE($3, address), \
         street = COALESCE($4, street), post_code = COALESCE($5, post_code), \
         apartment = COALESCE($6, apartment), labelled_place = COALESCE($7, labelled_place) \
         WHERE id = $1 AND user_id = $2 RETURNING ",
        address_columns!()
    );
    let text = |t: &Option<AddressText>| t.as_ref().map(|t| t.as_str().to_owned());
    on_db!(write db, pool => sqlx::query_as(SQL)
        .bind(id)
        .bind(user_id)
        .bind(text(&changes.address))
        .bind(text(&changes.street))
        .bind(text(&changes.post_code))
        .bind(text(&changes.apartment))
        .bind(changes.labelled_place.map(PlaceLabel::as_str))
        .fetch_optional(pool)
        .await)
}

/// Deletes the user's address `id`; `false` if the user has none with that id.
pub async fn delete_address_of_user(db: &Db, user_id: i64, id: i64) -> Result<bool, sqlx::Error> {
    const SQL: &str = "DELETE FROM user_addresses WHERE id = $1 AND user_id = $2";
    on_db!(write db, pool => sqlx::query(SQL)
        .bind(id)
        .bind(user_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0))
}

/// An address brought over from the Django service, with its id there.
#[derive(Debug, Clone)]
pub struct ImportedDeliveryAddress {
    pub id: i64,
    pub user_id: i64,
    pub address: NewDeliveryAddress,
}

/// Inserts the address with its own id unless that id is taken; returns whether it did.
pub async fn insert_imported_address(
    tx: &mut Tx,
    a: &ImportedDeliveryAddress,
) -> Result<bool, sqlx::Error> {
    const SQL: &str = "INSERT INTO user_addresses \
         (id, user_id, address, street, post_code, apartment, labelled_place) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";
    let new = &a.address;
    on_tx!(tx, conn => sqlx::query(SQL)
        .bind(a.id)
        .bind(a.user_id)
        .bind(new.address.as_str())
        .bind(new.street.as_str())
        .bind(new.post_code.as_str())
        .bind(new.apartment.as_str())
        .bind(new.labelled_place.as_str())
        .execute(conn)
        .await
        .map(|r| r.rows_affected() > 0))
}

/// Whose address `id` is, if it exists (for the import's re-runs).
pub async fn find_address_owner(tx: &mut Tx, id: i64) -> Result<Option<i64>, sqlx::Error> {
    const SQL: &str = "SELECT user_id FROM user_addresses WHERE id = $1";
    on_tx!(tx, conn => sqlx::query_scalar(SQL).bind(id).fetch_optional(conn).await)
}
