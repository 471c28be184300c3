//! The embedded backend: SQLite (WAL) for metadata and small bodies, one content-addressed
//! file per larger body.
//!
//! Layout of the data directory:
//! ```text
//! mailroom.db (+ -wal, -shm)   metadata and bodies up to 128 KiB; see schema/migrations.rs
//! blobs/<2 hex>/<62 hex>       larger bodies, named by their SHA-256
//! tmp/                         bodies being written; emptied at open
//! ```
//! Writes go through the one writer thread ([`writer`]), which group-commits them; reads use a
//! pool of read-only connections ([`reads`]). The directory (domains, accounts, aliases,
//! tokens) is written the same way ([`directory`]).
//!
//! One server process per data directory: the orphan sweep at open assumes no other process
//! writes blobs.

mod api_tokens;
mod blob_cache;
mod blobs;
mod directory;
#[cfg(test)]
mod directory_tests;
mod dkim;
mod events;
pub(crate) mod export;
mod greylist;
mod health;
mod logins;
mod ops;
mod queue;
mod reads;
mod recent;
mod roles;
mod schema;
mod spam;
#[cfg(test)]
mod test_admin;
#[cfg(test)]
mod tests;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deadpool_sqlite::{Hook, HookError, Pool, Runtime};
use mailroom_shared::fsutil;
use rusqlite::Connection;

use crate::error::StoreError;
use crate::mime::MessageMeta;
use blob_cache::BlobCache;
use blobs::{BlobStore, INLINE_MAX};
use writer::{Body, Tenancy, WriterHandle};

#[cfg(test)]
pub(crate) use test_admin::Admin;

/// File name of the metadata database inside the data directory.
pub const DB_FILE: &str = "mailroom.db";

/// How long a connection waits for another's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

// Analysing in place must never mean writing a body file on the caller's thread.
const _: () = assert!(crate::common::messages::ANALYZE_IN_PLACE_MAX as u64 <= INLINE_MAX);

/// Most read connections open at once.
const READ_POOL_SIZE: usize = 8;

/// Open a connection that may write: WAL so readers never block the writer, FULL sync so
/// every COMMIT is on disk before it returns, and enforced foreign keys.
fn open_write_connection(db: &Path) -> Result<Connection, StoreError> {
    // Made here, 0600, before SQLite would make it with the umask's mode: the -wal and -shm
    // files SQLite creates beside it take the database file's mode.
    fsutil::create_private_file(db)?;
    let conn = Connection::open(db)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!(
            "database refused WAL mode (got {mode})"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    // 64 MiB of page cache (negative = KiB): index pages keyed by content hashes are hit at
    // random, and re-reading them from disk on every batch costs more than the memory.
    conn.pragma_update(None, "cache_size", -65536)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Create the data directory 0700, or tighten an existing one (see
/// [`fsutil::secure_data_dir`]); a path that cannot be made private stops the open.
fn secure_data_dir(data_dir: &Path) -> Result<(), StoreError> {
    fsutil::secure_data_dir(data_dir)
        .map(drop)
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

/// SQLite's errors as the store's: the engine could not do it now. Kept inside the engine so
/// that no caller above it names rusqlite.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Unavailable(format!("database: {e}"))
    }
}

/// Now, in unix seconds (0 if the clock is before 1970).
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

use crate::common::directory::address_key;

/// Open the data directory's lock file and try to take it: the file, and whether this
/// process now owns the directory (no server holds it). The lock lasts as long as the file.
fn lock_data_dir(data_dir: &Path) -> Result<(std::fs::File, bool), StoreError> {
    let lock = fsutil::create_private_file(&data_dir.join(LOCK_FILE))?;
    let owned = lock.try_lock().is_ok();
    Ok((lock, owned))
}

/// The embedded engine. Cheap to share behind an `Arc`.
pub struct SqliteBackend {
    writer: WriterHandle,
    pool: Pool,
    blobs: Arc<BlobStore>,
    headers: Arc<BlobCache<[u8]>>,
    metas: Arc<BlobCache<MessageMeta>>,
    /// Held for the backend's life (locked when this process owns the directory): the orphan
    /// sweep at open and the writer's file deletions are only safe with one owner.
    lock: Arc<std::fs::File>,
}

/// The lock file a running server holds in its data directory.
const LOCK_FILE: &str = "server.lock";

impl SqliteBackend {
    /// Open (creating if needed) the store in `data_dir`: run migrations, clear `tmp/`,
    /// delete unreferenced blob files, start the writer thread.
    ///
    /// Blocks for as long as that takes; call it at startup. The read pool needs a tokio
    /// runtime when it is first used, not here.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_as(data_dir, false)
    }

    /// Like [`SqliteBackend::open`], but when a server holds `data_dir` already, open beside
    /// it as a guest instead of failing: for the CLI, whose few directory writes SQLite's
    /// locking keeps apart from the server's. A guest neither sweeps nor deletes body files
    /// nor checkpoints the WAL; those stay the server's.
    pub fn open_beside_server(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_as(data_dir, true)
    }

    fn open_as(data_dir: &Path, may_be_guest: bool) -> Result<Self, StoreError> {
        secure_data_dir(data_dir)?;
        let (lock, owned) = lock_data_dir(data_dir)?;
        let tenancy = match owned {
            true => Tenancy::Owner,
            false if may_be_guest => Tenancy::Guest,
            false => {
                return Err(StoreError::Unavailable(format!(
                    "another mailroom server is using {}",
                    data_dir.display()
                )));
            }
        };
        let db = data_dir.join(DB_FILE);
        let mut conn = open_write_connection(&db)?;
        schema::migrations::migrate(&mut conn)?;
        // Domains created before DKIM keys existed (or by an older mailroom) get theirs now,
        // so that everything the submission path signs for has a key.
        dkim::backfill(&mut conn)?;
        let blobs = match tenancy {
            Tenancy::Owner => {
                let blobs = Arc::new(BlobStore::open(data_dir)?);
                // No writer runs yet, so nothing can be between "file written" and "row
                // committed".
                let removed = blobs.sweep_orphans(&conn)?;
                if removed > 0 {
                    tracing::info!(removed, "Removed unreferenced blob files.");
                }
                blobs
            }
            // The owner may be writing bodies into tmp/ right now.
            Tenancy::Guest => Arc::new(BlobStore::at(data_dir)),
        };
        let pool = read_pool(&db)?;
        let writer = writer::spawn(conn, blobs.clone(), tenancy)?;
        Ok(Self {
            writer,
            pool,
            blobs,
            headers: Arc::new(BlobCache::new(blob_cache::HEADER_BYTES)),
            metas: Arc::new(BlobCache::new(blob_cache::META_BYTES)),
            lock: Arc::new(lock),
        })
    }

    /// Run `f` on a pooled read-only connection, on a blocking thread.
    async fn read<T, F>(pool: Pool, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let conn = pool
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(format!("read pool: {e}")))?;
        conn.interact(f)
            .await
            .map_err(|e| StoreError::Unavailable(format!("read task: {e}")))?
    }

    /// Analyse, hash and (when large) durably write a body: the part of a delivery that runs
    /// in parallel, outside the writer. A small body is analysed right here on the caller's
    /// thread, which costs less than the two thread switches of the blocking pool; a larger
    /// one goes to the blocking pool so that no session's arbiter stalls on it.
    async fn prepare_body(blobs: Arc<BlobStore>, raw: Arc<[u8]>) -> Result<Body, StoreError> {
        crate::common::messages::prepare_body(raw, Self::body_key(blobs)).await
    }

    /// How this engine keys a body: a small one is written by the writer's transaction,
    /// inside the group commit; a large one is written to its file first.
    fn body_key(
        blobs: Arc<BlobStore>,
    ) -> impl FnOnce(&Arc<[u8]>) -> Result<String, StoreError> + Send + 'static {
        move |raw| {
            Ok(if raw.len() as u64 > INLINE_MAX {
                blobs.put(raw)?.hash
            } else {
                blobs::sha256_hex(raw)
            })
        }
    }
}

/// The read-only pool: `query_only` makes a stray write fail instead of competing with the
/// writer for the lock.
fn read_pool(db: &Path) -> Result<Pool, StoreError> {
    let hook = Hook::sync_fn(|conn, _| {
        let guard = conn
            .lock()
            .map_err(|_| HookError::message("read connection mutex poisoned"))?;
        guard
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(HookError::Backend)?;
        guard
            .pragma_update(None, "query_only", "ON")
            .map_err(HookError::Backend)?;
        Ok(())
    });
    deadpool_sqlite::Config::new(PathBuf::from(db))
        .builder(Runtime::Tokio1)
        .map_err(|e| StoreError::Unavailable(format!("read pool: {e}")))?
        .max_size(READ_POOL_SIZE)
        .post_create(hook)
        .build()
        .map_err(|e| StoreError::Unavailable(format!("read pool: {e}")))
}

impl Drop for SqliteBackend {
    fn drop(&mut self) {
        // deadpool-sqlite closes each connection through tokio's spawn_blocking, which panics
        // outside a runtime — as when an actix System is dropped with the store in it. Close
        // them now, inside a runtime; a short-lived one if need be (its drop waits for them).
        if tokio::runtime::Handle::try_current().is_ok() {
            self.pool.close();
        } else if let Ok(rt) = tokio::runtime::Builder::new_current_thread().build() {
            let _inside = rt.enter();
            self.pool.close();
        }
    }
}
