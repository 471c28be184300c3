//! Short point reads on the caller's own thread (the SMTP RCPT check): a read-only connection
//! per thread and database, so the read costs no hop to the blocking pool and back (two
//! thread switches per recipient, more than the read itself). Only for reads of a few index
//! lookups: a session's arbiter waits while it runs.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::StoreError;

/// Databases one thread keeps a connection to (tests run many stores on one thread).
const MAX_PER_THREAD: usize = 4;

/// How long a read waits for a lock (only WAL recovery takes one); the caller then falls
/// back to the pool, whose connections wait longer.
const BUSY: Duration = Duration::from_millis(50);

thread_local! {
    static CONNECTIONS: RefCell<Vec<(PathBuf, Connection)>> = const { RefCell::new(Vec::new()) };
}

fn open(db: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(BUSY)?;
    Ok(conn)
}

/// Run `f` on this thread's connection to `db`; `Err` if it could not be opened or `f`
/// failed (the caller retries on the pool).
pub(crate) fn run<T>(
    db: &Path,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    CONNECTIONS.with(|cell| {
        let mut conns = cell.borrow_mut();
        let index = match conns.iter().position(|(path, _)| path == db) {
            Some(i) => i,
            None => {
                if conns.len() >= MAX_PER_THREAD {
                    conns.remove(0);
                }
                conns.push((db.to_path_buf(), open(db)?));
                conns.len() - 1
            }
        };
        f(&conns[index].1)
    })
}
