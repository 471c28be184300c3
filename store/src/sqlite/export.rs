//! Reading a stopped embedded store for a migration to another engine
//! ([`crate::migrate`]): every table as engine-neutral rows, bodies with their octets whether
//! they live in their row or in a file, all from one snapshot.

use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension};

use super::blobs::{BlobStore, check_inline};
use super::{DB_FILE, dkim, lock_data_dir, open_write_connection, schema};
use crate::error::StoreError;
use crate::mime;
use crate::table_rows::{Row, Rows, Table, Value};

/// A stopped embedded store, locked against a server starting on it while it is read.
pub(crate) struct SqliteExport {
    conn: Connection,
    blobs: BlobStore,
    data_dir: std::path::PathBuf,
    /// Held to the end: a server that starts meanwhile finds the directory taken.
    _lock: std::fs::File,
}

impl SqliteExport {
    /// Open the store in `data_dir` for reading; refuses when there is none, or when a
    /// server holds it (a running server keeps writing, so a copy would be stale at once).
    /// Brings an older store's schema up to date first, as opening it for serving would.
    pub(crate) fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let db = data_dir.join(DB_FILE);
        if !db.is_file() {
            return Err(StoreError::NotFound(format!(
                "the embedded store {}",
                db.display()
            )));
        }
        let (lock, owned) = lock_data_dir(data_dir)?;
        if !owned {
            return Err(StoreError::Unavailable(format!(
                "a mailroom server is using {}: stop it before migrating its store",
                data_dir.display()
            )));
        }
        let mut conn = open_write_connection(&db)?;
        schema::migrations::migrate(&mut conn)?;
        // As at every open: the target must have what a server on this store would have.
        dkim::backfill(&mut conn)?;
        // One read transaction: counts, rows and checks all see the same snapshot.
        conn.execute_batch("BEGIN")?;
        Ok(Self {
            conn,
            blobs: BlobStore::at(data_dir),
            data_dir: data_dir.to_path_buf(),
            _lock: lock,
        })
    }

    /// How many rows `table` has.
    pub(crate) fn count(&self, table: &Table) -> Result<u64, StoreError> {
        let sql = format!("SELECT count(*) FROM \"{}\"", table.name);
        let n: i64 = self.conn.query_row(&sql, [], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    /// Hand every row of `table` to `each`, in the table's order.
    pub(crate) fn rows(
        &self,
        table: &Table,
        each: &mut dyn FnMut(Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        match table.rows {
            Rows::Plain => self.plain_rows(table, each),
            Rows::Bodies => self.bodies(each),
        }
    }

    fn plain_rows(
        &self,
        table: &Table,
        each: &mut dyn FnMut(Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let columns: Vec<String> = table
            .columns
            .iter()
            .map(|c| format!("\"{}\"", c.name))
            .collect();
        let sql = format!(
            "SELECT {} FROM \"{}\" ORDER BY {}",
            columns.join(", "),
            table.name,
            table.order_by
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let mut cells = Vec::with_capacity(columns.len());
            for i in 0..columns.len() {
                cells.push(value(row.get_ref(i)?, table.name)?);
            }
            each(cells)?;
        }
        Ok(())
    }

    /// `blobs` rows as the target keeps them: the body's octets (from its row or its file)
    /// and its header block (from `headers`, or cut from the body for bodies stored before
    /// header rows existed, as readers do).
    fn bodies(
        &self,
        each: &mut dyn FnMut(Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT b.id, b.sha256, b.size, b.refcount, b.meta, h.data, b.data \
             FROM blobs b LEFT JOIN headers h ON h.sha256 = b.sha256 ORDER BY b.id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let hash: String = row.get(1)?;
            let size: i64 = row.get(2)?;
            let refcount: i64 = row.get(3)?;
            let meta: String = row.get(4)?;
            let headers: Option<Vec<u8>> = row.get(5)?;
            let inline: Option<Vec<u8>> = row.get(6)?;
            let size_u = u64::try_from(size)
                .map_err(|_| StoreError::Unavailable(format!("blob {hash} has size {size}")))?;
            let raw = match inline {
                Some(data) => check_inline(&hash, size_u, data)?,
                None => self.blobs.read(&hash, size_u).map_err(|e| match e {
                    StoreError::NotFound(_) => StoreError::Unavailable(format!(
                        "the file of body {hash} is missing from {}",
                        self.data_dir.join("blobs").display()
                    )),
                    other => other,
                })?,
            };
            let headers = headers.unwrap_or_else(|| raw[..mime::header_len(&raw)].to_vec());
            each(vec![
                Value::Int(id),
                Value::Text(hash),
                Value::Int(size),
                Value::Int(refcount),
                Value::Text(meta),
                Value::Bytes(headers),
                Value::Bytes(raw),
            ])?;
        }
        Ok(())
    }

    /// The highest id ever given in each table that never reuses one (AUTOINCREMENT), which
    /// may be above the highest id left: the target must not hand those out again.
    pub(crate) fn id_floors(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let present = self
            .conn
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'",
                [],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !present {
            return Ok(Vec::new());
        }
        let mut stmt = self.conn.prepare("SELECT name, seq FROM sqlite_sequence")?;
        let floors = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(floors)
    }

    /// The last UIDVALIDITY handed out (0 if none): the target's must go on above it.
    pub(crate) fn last_uidvalidity(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM counters WHERE name = 'uidvalidity'",
                [],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0))
    }

    /// Each mailbox's id and its kept message count, unseen count, deleted count and size.
    pub(crate) fn mailbox_counters(&self) -> Result<Vec<(i64, [i64; 4])>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, n_messages, n_unseen, n_deleted, total_size FROM mailboxes ORDER BY id",
        )?;
        let counters = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?]))
            })?
            .collect::<Result<_, _>>()?;
        Ok(counters)
    }
}

fn value(cell: ValueRef<'_>, table: &str) -> Result<Value, StoreError> {
    Ok(match cell {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(
            String::from_utf8(t.to_vec())
                .map_err(|_| StoreError::Unavailable(format!("{table}: text that is not UTF-8")))?,
        ),
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
    })
}
