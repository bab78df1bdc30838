//! The data migration that gives every stored address its canonical key ([`Email`]), which
//! needs the UTS-46 mapping in Rust; once, in one transaction. Of rows that share a mailbox the
//! oldest keeps the key, the others get [`Email::set_aside_key`] and a warning for staff:
//! nothing is deleted (`docs/decisions/0001-one-account-per-mailbox.md`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::data_migrations::begin_data_migration;
use super::users::{find_address_by_email_key, list_addresses_after, set_email_key};
use super::{Db, Tx};
use crate::domain::Email;

const NAME: &str = "email_keys";

const PAGE: i64 = 1000;

/// An account with a claim on a canonical key.
struct Claimant {
    id: i64,
    date_joined: DateTime<Utc>,
    /// The canonical address to store if it wins; `None` for the row already holding the key.
    email: Option<String>,
}

/// Runs the migration unless it has run; safe to call at every start.
pub async fn canonicalise_email_keys(db: &Db, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    let Some(mut tx) = begin_data_migration(db, NAME, now).await? else {
        return Ok(());
    };
    let (changes, unreadable) = non_canonical_addresses(&mut tx).await?;
    if !unreadable.is_empty() {
        tracing::warn!(
            user_ids = ?unreadable,
            "stored addresses that are not valid addresses were left as they are; staff should correct them"
        );
    }
    // Every changing row leaves its old key first: one row's old key may be another's new one.
    for (_, claimants) in changes.values() {
        for c in claimants {
            set_email_key(&mut tx, c.id, &format!("rekeying:{}", c.id), None).await?;
        }
    }
    let changed: usize = changes.values().map(|(_, c)| c.len()).sum();
    for (email, mut claimants) in changes.into_values() {
        if let Some(holder) = find_address_by_email_key(&mut tx, email.key()).await? {
            claimants.push(Claimant {
                id: holder.id,
                date_joined: holder.date_joined,
                email: None,
            });
        }
        claimants.sort_by_key(|c| (c.date_joined, c.id));
        let Some((first, others)) = claimants.split_first() else {
            continue;
        };
        // The others first: one of them may be the holder, still on the key.
        for other in others {
            set_email_key(&mut tx, other.id, &email.set_aside_key(other.id), None).await?;
        }
        set_email_key(&mut tx, first.id, email.key(), first.email.as_deref()).await?;
        if !others.is_empty() {
            let set_aside: Vec<i64> = others.iter().map(|c| c.id).collect();
            tracing::warn!(
                kept_by = first.id,
                set_aside = ?set_aside,
                "accounts with one mailbox: the oldest keeps the address, the others cannot log in until staff resolve it"
            );
        }
    }
    tx.commit().await?;
    tracing::info!(changed, "stored addresses given their canonical keys");
    Ok(())
}

/// The rows whose address or key is not canonical, by canonical key, and the unreadable ones.
async fn non_canonical_addresses(
    tx: &mut Tx,
) -> Result<(BTreeMap<String, (Email, Vec<Claimant>)>, Vec<i64>), sqlx::Error> {
    let (mut changes, mut unreadable) = (BTreeMap::new(), Vec::new());
    let mut after = 0i64;
    loop {
        let rows = list_addresses_after(tx, after, PAGE).await?;
        let Some(last) = rows.last() else {
            return Ok((changes, unreadable));
        };
        after = last.id;
        for row in rows {
            let Ok(email) = Email::parse_existing(&row.email) else {
                unreadable.push(row.id);
                continue;
            };
            if email.key() == row.email_key && email.as_str() == row.email {
                continue;
            }
            let claimant = Claimant {
                id: row.id,
                date_joined: row.date_joined,
                email: Some(email.as_str().to_owned()),
            };
            changes
                .entry(email.key().to_owned())
                .or_insert_with(|| (email, Vec::new()))
                .1
                .push(claimant);
        }
    }
}
