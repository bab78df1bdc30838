//! `kitchen-api import-django --from <url>`: moves the Django service's users, profiles, hashes
//! DRF tokens (as digests) and saved delivery addresses into our database, in one [`Tx`] rolled back by `--dry-run`, so
//! a dry run reports exactly what a run would do. Re-running leaves imported users as they are
//! now (a revoked session stays revoked). Secrets are never printed.

mod addresses;
mod plan;
mod source;

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;

pub use addresses::{AddressReport, SkippedAddress};
pub use plan::{Skipped, Warning};

use crate::auth::{Clock, SystemClock};
use crate::db::{self, Db, NewToken, Tx};
use plan::SeenEmails;
use source::Source;

/// Users read from Django per query.
const BATCH: i64 = 500;

/// What an import did (or, with `--dry-run`, would do).
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub dry_run: bool,
    pub source_engine: &'static str,
    pub source_users: i64,
    pub imported: u64,
    pub unchanged: u64,
    pub skipped: Vec<Skipped>,
    pub tokens_imported: u64,
    pub warnings: Vec<Warning>,
    pub addresses: AddressReport,
}

/// Runs the import from the Django database at `from` into `db`.
pub async fn import(db: &Db, from: &str, dry_run: bool) -> anyhow::Result<Report> {
    let source = Source::open(from).await?;
    let mut report = Report {
        dry_run,
        source_engine: source.engine(),
        source_users: source.count_users().await?,
        ..Report::default()
    };
    let now = SystemClock.now();
    let today = now.date_naive();
    let mut seen = SeenEmails::new();
    // Users here with their Django id (imported now or before): their addresses come too.
    let mut here = HashSet::new();
    let mut tx = Tx::begin(db).await?;
    let (mut after, mut done) = (i64::MIN, 0);
    loop {
        let batch = source.batch(after, BATCH).await?;
        let Some(last) = batch.last() else { break };
        after = match last {
            Ok(u) => u.id,
            Err(u) => u.id,
        };
        for row in batch {
            done += 1;
            let user = match row {
                Ok(user) => user,
                Err(bad) => {
                    report.skipped.push(Skipped {
                        id: bad.id,
                        email: String::new(),
                        reason: bad.reason,
                    });
                    continue;
                }
            };
            match plan::plan_user(user, today, &mut seen) {
                Err(skipped) => report.skipped.push(skipped),
                Ok(planned) => {
                    let id = planned.user.id;
                    if write(&mut tx, planned, now, &mut report).await? {
                        here.insert(id);
                    }
                }
            }
        }
        eprint!("\rimported {done}/{}", report.source_users);
    }
    if done > 0 {
        eprintln!();
    }
    report.addresses = addresses::import_addresses(&source, &mut tx, &here).await?;
    source.close().await;
    if dry_run {
        tx.rollback().await?;
    } else {
        db::restart_imported_ids(&mut tx)
            .await
            .context("cannot commit the import")?;
        tx.commit().await.context("cannot commit the import")?;
    }
    Ok(report)
}

/// Writes one planned user and its token, unless its id or address is taken. Returns whether
/// the user is now here under its Django id (imported, or found unchanged).
async fn write(
    tx: &mut Tx,
    planned: plan::Planned,
    now: DateTime<Utc>,
    report: &mut Report,
) -> anyhow::Result<bool> {
    let user = &planned.user;
    if !db::insert_imported_user(tx, user).await? {
        let conflict = match db::find_address_by_id(tx, user.id).await? {
            Some(held) if held.email_key == user.email.key() => {
                report.unchanged += 1;
                return Ok(true);
            }
            Some(_) => format!("id {} already belongs to another account", user.id),
            None => match db::find_address_by_email_key(tx, user.email.key()).await? {
                Some(other) => format!("the address already belongs to account {}", other.id),
                None => "refused by the database".to_owned(),
            },
        };
        report.skipped.push(Skipped {
            id: user.id,
            email: user.email.as_str().to_owned(),
            reason: conflict,
        });
        return Ok(false);
    }
    report.imported += 1;
    report.warnings.extend(planned.warnings);
    if let Some(digest) = planned.token {
        let token = NewToken {
            digest: &digest,
            created_at: now,
            user_agent: None,
        };
        db::insert_token(tx, user.id, &token).await?;
        report.tokens_imported += 1;
    }
    Ok(true)
}

impl Report {
    /// The summary table printed on stdout.
    pub fn print(&self, out: &mut impl Write) -> std::io::Result<()> {
        let dry = if self.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        };
        writeln!(out, "Django import from {}{dry}", self.source_engine)?;
        for (label, n) in [
            ("users in Django", self.source_users.unsigned_abs()),
            ("imported", self.imported),
            ("unchanged", self.unchanged),
            ("skipped", self.skipped.len() as u64),
            ("tokens imported", self.tokens_imported),
            ("warnings", self.warnings.len() as u64),
            ("addresses", self.addresses.source.unsigned_abs()),
            ("  imported", self.addresses.imported),
            ("  unchanged", self.addresses.unchanged),
            ("  skipped", self.addresses.skipped.len() as u64),
        ] {
            writeln!(out, "{label:<16}{n:>8}")?;
        }
        if !self.skipped.is_empty() {
            writeln!(out, "\nskipped users:")?;
            for s in &self.skipped {
                writeln!(out, "  id {:<8} {:<32} {}", s.id, s.email, s.reason)?;
            }
        }
        if !self.addresses.skipped.is_empty() {
            writeln!(out, "\nskipped addresses:")?;
            for s in &self.addresses.skipped {
                let user = s.user_id.map_or_else(|| "?".to_owned(), |u| u.to_string());
                writeln!(out, "  id {:<8} user {:<8} {}", s.id, user, s.reason)?;
            }
        }
        if !self.warnings.is_empty() {
            writeln!(out, "\nwarnings:")?;
            for w in &self.warnings {
                writeln!(out, "  id {:<8} {:<16} {}", w.id, w.field, w.reason)?;
            }
        }
        Ok(())
    }

    /// Writes the report as JSON to `path`.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_vec_pretty(self)?;
        std::fs::write(path, json)
            .with_context(|| format!("cannot write the report to {}", path.display()))
    }
}
