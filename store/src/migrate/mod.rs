//! Moving a store from the embedded engine to PostgreSQL (`mailroom store migrate`): every
//! table copied with its ids, UIDVALIDITYs, UIDs, flags and MODSEQs as they were, then
//! checked against what PostgreSQL holds before it is committed.
//!
//! The engines do the reading (`sqlite::export`) and the writing (`postgres::import`);
//! this driver only moves [`crate::table_rows`] rows between them in batches and compares. The whole
//! copy is one PostgreSQL transaction: a failure, or a check that does not hold, rolls it
//! back and leaves the target database empty.

use std::path::Path;

use crate::error::StoreError;
use crate::postgres::import::PgImport;
use crate::sqlite::export::SqliteExport;
use crate::table_rows::{Row, TABLES};

/// Rows sent to PostgreSQL in one COPY, at most…
const BATCH_ROWS: usize = 1000;
/// …and about this many octets (bodies can be large).
const BATCH_OCTETS: usize = 16 * 1024 * 1024;

/// What a migration reports as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress<'a> {
    /// The source was counted: this many rows will be copied.
    Counted { rows: u64 },
    /// Copying of this table starts.
    Table(&'a str),
    /// This many more rows were copied.
    Copied(u64),
    /// Reading the bodies back from PostgreSQL starts; there are this many.
    Verifying { bodies: u64 },
    /// This many bodies have been checked so far.
    Verified(u64),
}

/// One table's rows, in the source and in the target after the copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    pub table: &'static str,
    pub source: u64,
    pub target: u64,
}

/// The outcome of a migration that ran to its checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Every table's row counts.
    pub tables: Vec<TableCount>,
    /// Bodies read back from PostgreSQL and hashed, and their octets.
    pub bodies_checked: u64,
    pub body_octets: u64,
    /// Bodies whose octets in PostgreSQL do not match their name (SHA-256) or size.
    pub bad_bodies: Vec<String>,
    /// Mailboxes whose message counters differ between the engines.
    pub bad_mailboxes: Vec<i64>,
    /// Whether the copy was committed: only when every check held.
    pub committed: bool,
}

impl MigrationReport {
    /// Every count equal and every body and mailbox sound.
    pub fn verified(&self) -> bool {
        self.tables.iter().all(|t| t.source == t.target)
            && self.bad_bodies.is_empty()
            && self.bad_mailboxes.is_empty()
    }
}

/// Copy the stopped embedded store in `data_dir` into the empty PostgreSQL database at
/// `url`, then verify: row counts per table, every body's SHA-256 recomputed from what
/// PostgreSQL holds, and each mailbox's counters. Commits only when all of that holds; the
/// report says which checks failed otherwise.
///
/// Errors (nothing committed): no store in `data_dir`, a server holding it, a target that
/// already holds mailroom data or cannot be reached, a body file missing. Blocks for as long
/// as the copy takes; callable from any thread.
pub fn migrate_to_postgres(
    data_dir: &Path,
    url: &str,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<MigrationReport, StoreError> {
    // A thread of its own: the import drives its connection with a runtime of its own,
    // which cannot be entered from a thread already inside one.
    std::thread::scope(|s| {
        s.spawn(|| run(data_dir, url, progress))
            .join()
            .map_err(|_| StoreError::Unavailable("the migration panicked".into()))?
    })
}

fn run(
    data_dir: &Path,
    url: &str,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<MigrationReport, StoreError> {
    let source = SqliteExport::open(data_dir)?;
    let mut target = PgImport::begin(url)?;
    let mut counts = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        counts.push(source.count(table)?);
    }
    progress(Progress::Counted {
        rows: counts.iter().sum(),
    });
    for table in TABLES {
        progress(Progress::Table(table.name));
        let mut batch: Vec<Row> = Vec::new();
        let mut octets = 0;
        source.rows(table, &mut |row| {
            octets += row.iter().map(|v| v.weight()).sum::<usize>();
            batch.push(row);
            if batch.len() >= BATCH_ROWS || octets >= BATCH_OCTETS {
                let n = batch.len() as u64;
                target.copy(table, std::mem::take(&mut batch))?;
                octets = 0;
                progress(Progress::Copied(n));
            }
            Ok(())
        })?;
        if !batch.is_empty() {
            let n = batch.len() as u64;
            target.copy(table, batch)?;
            progress(Progress::Copied(n));
        }
    }
    target.set_sequences(&source.id_floors()?, source.last_uidvalidity()?)?;

    let mut tables = Vec::with_capacity(TABLES.len());
    for (table, source) in TABLES.iter().zip(counts) {
        tables.push(TableCount {
            table: table.name,
            source,
            target: target.count(table)?,
        });
    }
    let bodies = tables
        .iter()
        .find(|t| t.table == "blobs")
        .map_or(0, |t| t.target);
    progress(Progress::Verifying { bodies });
    let bodies = target.verify_bodies(&mut |n| progress(Progress::Verified(n)))?;
    let mut bad_mailboxes = Vec::new();
    let kept = target.mailbox_counters()?;
    let mut expected = source.mailbox_counters()?.into_iter();
    for (id, counters) in &kept {
        if expected.next() != Some((*id, *counters)) {
            bad_mailboxes.push(*id);
        }
    }
    let mut report = MigrationReport {
        tables,
        bodies_checked: bodies.checked,
        body_octets: bodies.octets,
        bad_bodies: bodies.bad,
        bad_mailboxes,
        committed: false,
    };
    if report.verified() {
        target.commit()?;
        report.committed = true;
    } else {
        target.rollback()?;
    }
    Ok(report)
}
