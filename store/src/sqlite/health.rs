//! What is fatal for the embedded engine, judged on the writer thread.
//!
//! - **The database file is no longer the one opened** (removed, renamed, replaced by another
//!   file or a directory). SQLite in WAL mode does not notice: it keeps committing into the
//!   open file, and everything acknowledged from then on is lost at the next start. So the
//!   writer compares the path's device and inode with those it opened before each batch, and
//!   refuses the batch if they differ.
//! - **Commits that fail with an I/O-class error** (`SQLITE_IOERR`, `SQLITE_CORRUPT`,
//!   `SQLITE_NOTADB`, `SQLITE_READONLY`, `SQLITE_CANTOPEN`) in [`FAILURES_BEFORE_FATAL`]
//!   batches in a row. One failure may pass; several in a row will not.
//!
//! A full disk (`SQLITE_FULL`) and a busy database are not fatal: both pass once space is
//! freed or the other writer is done, and meanwhile clients are told to retry (451).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

use crate::fatal::Fatal;

/// Batches in a row failing with an I/O-class error after which the store gives up.
pub(crate) const FAILURES_BEFORE_FATAL: u32 = 3;

/// The writer's view of its database's health.
pub(crate) struct Health {
    db: PathBuf,
    /// (device, inode) of the file opened.
    identity: Option<(u64, u64)>,
    /// I/O-class failures in a row, and the last one.
    failures: u32,
    last: Option<String>,
}

impl Health {
    /// Remember the database file at `db` as the one opened (an in-memory database has none).
    pub(crate) fn new(db: Option<&Path>) -> Self {
        let identity = db
            .and_then(|p| std::fs::metadata(p).ok())
            .map(|m| (m.dev(), m.ino()));
        Self {
            db: db.map(Path::to_path_buf).unwrap_or_default(),
            identity,
            failures: 0,
            last: None,
        }
    }

    /// Whether the database file is still the one opened; run before each batch.
    pub(crate) fn check_file(&self) -> Result<(), Fatal> {
        let Some(opened) = self.identity else {
            return Ok(());
        };
        let shown = self.db.display();
        match std::fs::metadata(&self.db) {
            Ok(m) if (m.dev(), m.ino()) == opened => Ok(()),
            Ok(_) => Err(Fatal::Io(format!(
                "the database file {shown} was replaced while the server ran"
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Fatal::Io(format!(
                "the database file {shown} was removed while the server ran"
            ))),
            Err(e) => Err(Fatal::Io(format!(
                "the database file {shown} cannot be examined: {e}"
            ))),
        }
    }

    /// Note a failed BEGIN or COMMIT.
    pub(crate) fn failed(&mut self, e: &rusqlite::Error) {
        if is_io_class(e) {
            self.failures += 1;
            self.last = Some(e.to_string());
        } else {
            self.committed();
        }
    }

    /// Note a batch that committed: the run of failures is over.
    pub(crate) fn committed(&mut self) {
        self.failures = 0;
        self.last = None;
    }

    /// The fatal failure, once I/O-class failures have come [`FAILURES_BEFORE_FATAL`] times in
    /// a row.
    pub(crate) fn verdict(&self) -> Option<Fatal> {
        (self.failures >= FAILURES_BEFORE_FATAL).then(|| {
            Fatal::Io(format!(
                "{} commits in a row failed on {}: {}",
                self.failures,
                self.db.display(),
                self.last.as_deref().unwrap_or("i/o error")
            ))
        })
    }
}

/// Whether `e` says the storage itself failed.
fn is_io_class(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(
            ErrorCode::SystemIoFailure
                | ErrorCode::DatabaseCorrupt
                | ErrorCode::NotADatabase
                | ErrorCode::ReadOnly
                | ErrorCode::CannotOpen
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite_error(code: std::ffi::c_int) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn the_same_file_is_healthy_and_a_moved_or_replaced_one_is_fatal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("mailroom.db");
        std::fs::write(&db, b"x").expect("db");
        let health = Health::new(Some(&db));
        assert_eq!(health.check_file(), Ok(()));

        std::fs::rename(&db, dir.path().join("elsewhere.db")).expect("rename");
        let removed = health.check_file().expect_err("gone");
        assert!(removed.to_string().contains("was removed"), "{removed}");

        std::fs::create_dir(&db).expect("a directory in its place");
        let replaced = health.check_file().expect_err("replaced");
        assert!(
            matches!(&replaced, Fatal::Io(m) if m.contains("was replaced")),
            "{replaced}"
        );
    }

    #[test]
    fn the_writer_refuses_writes_to_a_removed_database_and_raises_the_alarm() {
        use crate::sqlite::writer::{Request, spawn};
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join(crate::sqlite::DB_FILE);
        let mut conn = crate::sqlite::open_write_connection(&db).expect("conn");
        crate::sqlite::schema::migrations::migrate(&mut conn).expect("migrate");
        let blobs =
            std::sync::Arc::new(crate::sqlite::blobs::BlobStore::open(dir.path()).expect("blobs"));
        let handle = spawn(conn, blobs, crate::sqlite::writer::Tenancy::Owner).expect("spawn");
        let fatal = handle.fatal();
        assert_eq!(fatal.cause(), None);

        std::fs::rename(&db, dir.path().join("moved.db")).expect("move the database away");
        let expunge = crate::requests::Expunge {
            account_id: 1,
            mailbox_id: 1,
            uids: None,
        };
        let refused = handle.call_blocking(|reply| Request::Expunge(expunge, reply));
        assert!(
            matches!(&refused, Err(crate::StoreError::Unavailable(m)) if m.contains("was removed")),
            "{refused:?}"
        );
        assert!(
            matches!(fatal.cause(), Some(Fatal::Io(m)) if m.contains("was removed")),
            "{:?}",
            fatal.cause()
        );
    }

    #[test]
    fn an_in_memory_database_has_no_file_to_lose() {
        assert_eq!(Health::new(None).check_file(), Ok(()));
    }

    #[test]
    fn io_failures_are_fatal_only_when_they_persist() {
        let mut health = Health::new(None);
        let io = sqlite_error(rusqlite::ffi::SQLITE_IOERR);
        for _ in 1..FAILURES_BEFORE_FATAL {
            health.failed(&io);
            assert_eq!(health.verdict(), None);
        }
        health.committed();
        for _ in 1..FAILURES_BEFORE_FATAL {
            health.failed(&io);
        }
        assert_eq!(
            health.verdict(),
            None,
            "a commit in between starts the count over"
        );
        health.failed(&sqlite_error(rusqlite::ffi::SQLITE_READONLY));
        let fatal = health.verdict().expect("fatal");
        assert!(
            matches!(&fatal, Fatal::Io(m) if m.contains("commits in a row failed")),
            "{fatal}"
        );
    }

    #[test]
    fn a_full_disk_or_a_busy_database_is_never_fatal() {
        let mut health = Health::new(None);
        for code in [rusqlite::ffi::SQLITE_FULL, rusqlite::ffi::SQLITE_BUSY] {
            for _ in 0..FAILURES_BEFORE_FATAL * 2 {
                health.failed(&sqlite_error(code));
            }
        }
        assert_eq!(health.verdict(), None);
    }
}
