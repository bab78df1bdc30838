//! The Django service's saved delivery addresses (`authentication_useraddress`): read in
//! batches by id after the users, each kept with its id (the apps hold these ids) under the
//! user it belonged to, when that user is here. The per-user cap is not applied: an import
//! keeps what customers had; the cap only stops them adding more.

use std::collections::HashSet;

use anyhow::Context;
use serde::Serialize;
use sqlx::Row;

use super::source::{Source, has_table, short};
use crate::db::{self, ImportedDeliveryAddress, NewDeliveryAddress, Tx, on_db};
use crate::domain::{AddressPart, AddressText, Invalid, PlaceLabel};

const TABLE: &str = "authentication_useraddress";

/// Addresses read from Django per query.
const BATCH: i64 = 500;

/// What became of the addresses (all zero when Django has no such table).
#[derive(Debug, Default, Serialize)]
pub struct AddressReport {
    pub source: i64,
    pub imported: u64,
    pub unchanged: u64,
    pub skipped: Vec<SkippedAddress>,
}

/// An address the import leaves out, and why.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedAddress {
    pub id: i64,
    pub user_id: Option<i64>,
    pub reason: String,
}

/// Imports every address whose user is in `users` (imported now or before, with the same id).
pub async fn import_addresses(
    source: &Source,
    tx: &mut Tx,
    users: &HashSet<i64>,
) -> anyhow::Result<AddressReport> {
    let mut report = AddressReport::default();
    if !has_table(source.db(), TABLE).await {
        return Ok(report);
    }
    const COUNT: &str = "SELECT COUNT(*) FROM authentication_useraddress";
    report.source = on_db!(source.db(), pool => sqlx::query_scalar(COUNT).fetch_one(pool).await)?;
    let mut after = i64::MIN;
    loop {
        let batch = read_batch(source, after).await?;
        let Some(last) = batch.last() else { break };
        after = last.0;
        for (id, row) in batch {
            let skip = |user_id, reason| SkippedAddress {
                id,
                user_id,
                reason,
            };
            let planned = match row {
                Err(reason) => Err(skip(None, reason)),
                Ok(a) if !users.contains(&a.user_id) => Err(skip(
                    Some(a.user_id),
                    "its user was not imported".to_owned(),
                )),
                Ok(a) => plan(id, &a).map_err(|reason| skip(Some(a.user_id), reason)),
            };
            match planned {
                Err(skipped) => report.skipped.push(skipped),
                Ok(address) => write(tx, &address, &mut report).await?,
            }
        }
    }
    Ok(report)
}

async fn write(
    tx: &mut Tx,
    address: &ImportedDeliveryAddress,
    report: &mut AddressReport,
) -> anyhow::Result<()> {
    if db::insert_imported_address(tx, address).await? {
        report.imported += 1;
        return Ok(());
    }
    match db::find_address_owner(tx, address.id).await? {
        Some(owner) if owner == address.user_id => report.unchanged += 1,
        _ => report.skipped.push(SkippedAddress {
            id: address.id,
            user_id: Some(address.user_id),
            reason: format!(
                "id {} already belongs to another user's address",
                address.id
            ),
        }),
    }
    Ok(())
}

/// One Django row, its text as stored (`NULL` is blank).
struct DjangoAddress {
    user_id: i64,
    address: Option<String>,
    street: Option<String>,
    post_code: Option<String>,
    apartment: Option<String>,
    labelled_place: Option<String>,
}

/// Up to [`BATCH`] rows with an id above `after`: each with its id, read or why not.
async fn read_batch(
    source: &Source,
    after: i64,
) -> anyhow::Result<Vec<(i64, Result<DjangoAddress, String>)>> {
    const SQL: &str = "SELECT CAST(id AS BIGINT) AS id, CAST(user_id AS BIGINT) AS user_id, \
         CAST(address AS TEXT) AS address, CAST(street AS TEXT) AS street, \
         CAST(post_code AS TEXT) AS post_code, CAST(apartment AS TEXT) AS apartment, \
         CAST(labelled_place AS TEXT) AS labelled_place \
         FROM authentication_useraddress WHERE id > $1 ORDER BY id LIMIT $2";
    on_db!(source.db(), pool => {
        let rows = sqlx::query(SQL)
            .bind(after)
            .bind(BATCH)
            .fetch_all(pool)
            .await
            .context("cannot read addresses from the Django database")?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get("id")?;
                let text = |c: &str| {
                    row.try_get::<Option<String>, _>(c)
                        .map_err(|e| format!("unreadable value in column {c}: {}", short(&e)))
                };
                let read = (|| {
                    Ok(DjangoAddress {
                        user_id: row
                            .try_get("user_id")
                            .map_err(|e| format!("unreadable user_id: {}", short(&e)))?,
                        address: text("address")?,
                        street: text("street")?,
                        post_code: text("post_code")?,
                        apartment: text("apartment")?,
                        labelled_place: text("labelled_place")?,
                    })
                })();
                Ok((id, read))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .context("a Django address row has no readable id")
    })
}

/// The address by the API's own rules, or why it cannot be kept (a part too long for them, a
/// label that is none of the choices).
fn plan(id: i64, a: &DjangoAddress) -> Result<ImportedDeliveryAddress, String> {
    let part = |name: &str, part, raw: &Option<String>| {
        AddressText::parse(part, raw.as_deref().unwrap_or_default())
            .map_err(|Invalid(m)| format!("{name}: {}", m.join(" ")))
    };
    let label = a.labelled_place.as_deref().unwrap_or_default();
    Ok(ImportedDeliveryAddress {
        id,
        user_id: a.user_id,
        address: NewDeliveryAddress {
            address: part("address", AddressPart::Address, &a.address)?,
            street: part("street", AddressPart::Street, &a.street)?,
            post_code: part("post_code", AddressPart::PostCode, &a.post_code)?,
            apartment: part("apartment", AddressPart::Apartment, &a.apartment)?,
            labelled_place: PlaceLabel::parse(label)
                .map_err(|Invalid(m)| format!("labelled_place: {}", m.join(" ")))?,
        },
    })
}
