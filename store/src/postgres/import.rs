//! Writing a migrated store into PostgreSQL ([`crate::migrate`]): one transaction on one
//! connection, rows streamed in with binary COPY, ids kept as they were, and the checks
//! that read back what the database now holds before anything is committed. Dropping an
//! import that was not committed rolls everything back (the connection closes), so a failed
//! migration leaves the database as empty as it found it.

use std::pin::pin;

use tokio::runtime::Runtime;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls};

use super::{pg, schema};
use crate::error::StoreError;
use crate::table_rows::{Kind, Row, TABLES, Table, Value};

/// Bodies read back per query while verifying.
const VERIFY_BATCH: i64 = 64;

/// An import in progress: an open transaction holding every table locked.
pub(crate) struct PgImport {
    runtime: Runtime,
    client: Client,
}

/// What reading the bodies back found.
pub(crate) struct BodyCheck {
    pub checked: u64,
    pub octets: u64,
    /// Hashes whose octets in the database do not hash to them (or have the wrong length,
    /// or a header block that is not their start).
    pub bad: Vec<String>,
}

impl PgImport {
    /// Connect to `url`, bring the schema up to date, begin the transaction and lock the
    /// tables; refuse a database that already holds mailroom data. Blocks; call it from a
    /// thread outside any async runtime.
    pub(crate) fn begin(url: &str) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Invalid(format!("the target URL: {e}")))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut client = runtime.block_on(async {
            let (client, connection) = config.connect(NoTls).await.map_err(pg)?;
            tokio::spawn(async move {
                // Errors show up on the client's next request.
                let _ = connection.await;
            });
            Ok::<_, StoreError>(client)
        })?;
        runtime.block_on(schema::migrate(&mut client))?;
        let names: Vec<String> = TABLES.iter().map(|t| format!("\"{}\"", t.name)).collect();
        runtime.block_on(async {
            // EXCLUSIVE: readers may look, but no node can write while we fill the tables.
            client
                .batch_execute(&format!(
                    "BEGIN; LOCK TABLE {} IN EXCLUSIVE MODE",
                    names.join(", ")
                ))
                .await
                .map_err(pg)?;
            let mut holding = Vec::new();
            for table in TABLES {
                let sql = format!("SELECT EXISTS (SELECT 1 FROM \"{}\")", table.name);
                let any: bool = client.query_one(&sql, &[]).await.map_err(pg)?.get(0);
                if any {
                    holding.push(table.name);
                }
            }
            if !holding.is_empty() {
                return Err(StoreError::Invalid(format!(
                    "the target database already holds mailroom data (in {}): \
                     migrate into an empty database",
                    holding.join(", ")
                )));
            }
            Ok(())
        })?;
        Ok(Self { runtime, client })
    }

    /// Append `rows` to `table`, ids and all.
    pub(crate) fn copy(&mut self, table: &Table, rows: Vec<Row>) -> Result<(), StoreError> {
        let columns: Vec<String> = table
            .columns
            .iter()
            .map(|c| format!("\"{}\"", c.name))
            .collect();
        let types: Vec<Type> = table.columns.iter().map(|c| pg_type(c.kind)).collect();
        let sql = format!(
            "COPY \"{}\" ({}) FROM STDIN BINARY",
            table.name,
            columns.join(", ")
        );
        let client = &self.client;
        self.runtime.block_on(async {
            let sink = client.copy_in(&sql).await.map_err(pg)?;
            let mut writer = pin!(BinaryCopyInWriter::new(sink, &types));
            for row in rows {
                let mut cells: Vec<Box<dyn ToSql + Sync + Send>> = Vec::with_capacity(row.len());
                for (column, cell) in table.columns.iter().zip(row) {
                    cells.push(sql_value(column.kind, cell).ok_or_else(|| {
                        StoreError::Unavailable(format!(
                            "{}.{}: a value that is not {:?}",
                            table.name, column.name, column.kind
                        ))
                    })?);
                }
                let refs: Vec<&(dyn ToSql + Sync)> = cells
                    .iter()
                    .map(|c| c.as_ref() as &(dyn ToSql + Sync))
                    .collect();
                writer.as_mut().write(&refs).await.map_err(pg)?;
            }
            writer.as_mut().finish().await.map_err(pg)?;
            Ok(())
        })
    }

    /// Start every id sequence after the highest id copied (or ever given, per `floors`),
    /// and `uidvalidity_seq` after every UIDVALIDITY the source used, so nothing the source
    /// handed out is handed out again.
    pub(crate) fn set_sequences(
        &mut self,
        floors: &[(String, i64)],
        last_uidvalidity: i64,
    ) -> Result<(), StoreError> {
        let client = &self.client;
        self.runtime.block_on(async {
            for table in TABLES.iter().filter(|t| t.has_identity()) {
                let floor = floors
                    .iter()
                    .find(|(name, _)| name == table.name)
                    .map_or(0, |(_, seq)| *seq);
                let sql = format!(
                    "SELECT setval(pg_get_serial_sequence($1, 'id'), \
                     GREATEST((SELECT coalesce(max(id), 0) FROM \"{}\"), $2) + 1, false)",
                    table.name
                );
                client
                    .query_one(&sql, &[&table.name, &floor])
                    .await
                    .map_err(pg)?;
            }
            client
                .query_one(
                    "SELECT setval('uidvalidity_seq', GREATEST((SELECT coalesce(max(uidvalidity), \
                     0) FROM mailboxes), $1) + 1, false)",
                    &[&last_uidvalidity],
                )
                .await
                .map_err(pg)?;
            Ok(())
        })
    }

    /// How many rows `table` holds now.
    pub(crate) fn count(&mut self, table: &Table) -> Result<u64, StoreError> {
        let sql = format!("SELECT count(*) FROM \"{}\"", table.name);
        let client = &self.client;
        let n: i64 = self
            .runtime
            .block_on(client.query_one(&sql, &[]))
            .map_err(pg)?
            .get(0);
        Ok(n.max(0) as u64)
    }

    /// Read every body back and hash it; `progress` hears how many were checked so far.
    pub(crate) fn verify_bodies(
        &mut self,
        progress: &mut dyn FnMut(u64),
    ) -> Result<BodyCheck, StoreError> {
        let client = &self.client;
        self.runtime.block_on(async {
            let mut check = BodyCheck {
                checked: 0,
                octets: 0,
                bad: Vec::new(),
            };
            let mut after = 0i64;
            loop {
                let rows = client
                    .query(
                        "SELECT id, sha256, size, headers, data FROM blobs WHERE id > $1 \
                         ORDER BY id LIMIT $2",
                        &[&after, &VERIFY_BATCH],
                    )
                    .await
                    .map_err(pg)?;
                let Some(last) = rows.last() else { break };
                after = last.get(0);
                for row in &rows {
                    let hash: String = row.get(1);
                    let size: i64 = row.get(2);
                    let headers: &[u8] = row.get(3);
                    let data: &[u8] = row.get(4);
                    let sound = crate::types::blob_hash(data) == hash
                        && data.len() as i64 == size
                        && data.starts_with(headers);
                    if !sound {
                        check.bad.push(hash);
                    }
                    check.checked += 1;
                    check.octets += data.len() as u64;
                }
                progress(check.checked);
            }
            Ok(check)
        })
    }

    /// Each mailbox's id and the message count, unseen count, deleted count and size the
    /// trigger kept while the messages arrived.
    pub(crate) fn mailbox_counters(&mut self) -> Result<Vec<(i64, [i64; 4])>, StoreError> {
        let client = &self.client;
        let rows = self
            .runtime
            .block_on(client.query(
                "SELECT id, n_messages, n_unseen, n_deleted, total_size FROM mailboxes \
                 ORDER BY id",
                &[],
            ))
            .map_err(pg)?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), [r.get(1), r.get(2), r.get(3), r.get(4)]))
            .collect())
    }

    /// Make it all durable and visible.
    pub(crate) fn commit(self) -> Result<(), StoreError> {
        self.runtime
            .block_on(self.client.batch_execute("COMMIT"))
            .map_err(pg)
    }

    /// Undo it all (also what dropping the import does, by closing the connection).
    pub(crate) fn rollback(self) -> Result<(), StoreError> {
        self.runtime
            .block_on(self.client.batch_execute("ROLLBACK"))
            .map_err(pg)
    }
}

fn pg_type(kind: Kind) -> Type {
    match kind {
        Kind::Int => Type::INT8,
        Kind::Int32 => Type::INT4,
        Kind::Bool => Type::BOOL,
        Kind::Real => Type::FLOAT8,
        Kind::Text => Type::TEXT,
        Kind::Bytes => Type::BYTEA,
    }
}

/// `cell` as a value of the column's PostgreSQL type; `None` if it cannot be one.
fn sql_value(kind: Kind, cell: Value) -> Option<Box<dyn ToSql + Sync + Send>> {
    Some(match (kind, cell) {
        (Kind::Int, Value::Null) => Box::new(None::<i64>),
        (Kind::Int32, Value::Null) => Box::new(None::<i32>),
        (Kind::Bool, Value::Null) => Box::new(None::<bool>),
        (Kind::Real, Value::Null) => Box::new(None::<f64>),
        (Kind::Text, Value::Null) => Box::new(None::<String>),
        (Kind::Bytes, Value::Null) => Box::new(None::<Vec<u8>>),
        (Kind::Int, Value::Int(i)) => Box::new(Some(i)),
        (Kind::Int32, Value::Int(i)) => Box::new(Some(i32::try_from(i).ok()?)),
        (Kind::Bool, Value::Int(i)) => Box::new(Some(i != 0)),
        (Kind::Real, Value::Real(f)) => Box::new(Some(f)),
        // SQLite may keep a whole-numbered REAL as an integer.
        (Kind::Real, Value::Int(i)) => Box::new(Some(i as f64)),
        (Kind::Text, Value::Text(s)) => Box::new(Some(s)),
        (Kind::Bytes, Value::Bytes(b)) => Box::new(Some(b)),
        (Kind::Bytes, Value::Text(s)) => Box::new(Some(s.into_bytes())),
        _ => return None,
    })
}
