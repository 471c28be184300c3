//! Message bodies as content-addressed files: `blobs/<2 hex>/<62 hex>` named by SHA-256.
//! Only bodies over [`INLINE_MAX`] become files; smaller ones are stored in their `blobs`
//! row and become durable with the transaction that references them.
//!
//! A body is written to `tmp/`, fsynced and renamed into place by the *caller's* thread, so
//! deliveries write in parallel; the writer fsyncs each touched `blobs/xx/` directory once per
//! batch before the COMMIT that references the file. Hence a committed row always names a
//! complete, durable file. A crash can leave a file with no row (written, never committed, or
//! its last reference expunged just before the crash); such files are harmless and
//! [`BlobStore::sweep_orphans`] removes them at the next open.
//!
//! This module only touches files; which files are referenced is the database's business.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use mailroom_shared::fsutil::{PRIVATE_FILE_MODE, create_private_dir, sync_dir};
use rusqlite::{Connection, OptionalExtension};

use crate::error::StoreError;

/// Bodies are private to the server.
const FILE_MODE: u32 = PRIVATE_FILE_MODE;

/// Largest body kept in its database row. A file costs two fsyncs of its own (the file, then
/// its directory) that no group commit can share; a row rides on the batch's one commit.
/// Above this size the copy into the WAL (and again at checkpoint) costs more than the
/// fsyncs save, and big rows would slow every reader of the table.
pub(crate) const INLINE_MAX: u64 = 128 * 1024;

const BLOB_ROW_EXISTS: &str = "SELECT 1 FROM blobs WHERE sha256 = ?1";

/// Lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    crate::types::blob_hash(bytes)
}

/// A body read from its row, checked against the length recorded for it like a file is.
pub(crate) use crate::common::messages::check_stored as check_inline;

/// A body that is now a complete file in its final place (its directory not yet fsynced).
#[derive(Debug, Clone)]
pub(crate) struct StoredBlob {
    /// Hex SHA-256, the file's identity.
    pub hash: String,
}

/// The `blobs/` and `tmp/` directories of one data directory.
#[derive(Debug)]
pub(crate) struct BlobStore {
    blobs: PathBuf,
    tmp: PathBuf,
    /// Makes temp names unique among this process's threads.
    next_tmp: AtomicU64,
}

impl BlobStore {
    /// The blob directories of `data_dir`, as they are: for readers that must not change
    /// anything (the admin CLI, next to a running server).
    pub(crate) fn at(data_dir: &Path) -> Self {
        Self {
            blobs: data_dir.join("blobs"),
            tmp: data_dir.join("tmp"),
            next_tmp: AtomicU64::new(0),
        }
    }

    /// Create the layout and empty `tmp/` of files left by a crash. The 256 fan-out
    /// directories are made as bodies first need them (see [`BlobStore::write_new`]): made up
    /// front they cost a megabyte of disk before the first message.
    pub(crate) fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let blobs = data_dir.join("blobs");
        let tmp = data_dir.join("tmp");
        create_private_dir(&tmp)?;
        create_private_dir(&blobs)?;
        sync_dir(&blobs)?;
        sync_dir(data_dir)?;
        for entry in fs::read_dir(&tmp)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(Self::at(data_dir))
    }

    /// The fan-out directory of `hash`; refuses anything but 64 lowercase hex digits, so a
    /// damaged row can never name a path outside `blobs/`.
    pub(crate) fn dir(&self, hash: &str) -> io::Result<PathBuf> {
        let ok = hash.len() == 64
            && hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !ok {
            return Err(io::Error::other(format!("`{hash}` is not a blob name")));
        }
        Ok(self.blobs.join(&hash[..2]))
    }

    /// Make `hash`'s fan-out directory if it is missing, durably (its entry in `blobs/`
    /// synced) before a body is renamed into it: at most 256 times in a store's life.
    fn fan_out_dir(&self, hash: &str) -> io::Result<()> {
        let dir = self.dir(hash)?;
        if dir.is_dir() {
            return Ok(());
        }
        create_private_dir(&dir)?;
        sync_dir(&self.blobs)
    }

    /// Where the file of `hash` lives.
    pub(crate) fn path(&self, hash: &str) -> io::Result<PathBuf> {
        Ok(self.dir(hash)?.join(&hash[2..]))
    }

    /// Store `raw` unless an identical body is already there: temp file, write, fsync,
    /// rename, fsync of the directory. Runs on the caller's thread, so deliveries do this in
    /// parallel and the writer's batch only has the database to sync.
    pub(crate) fn put(&self, raw: &[u8]) -> Result<StoredBlob, StoreError> {
        let hash = sha256_hex(raw);
        let dir = self.dir(&hash)?;
        let path = dir.join(&hash[2..]);
        // Same name means same content, and files appear only by rename after their fsync,
        // so an existing file of the right length is complete.
        let present = fs::metadata(&path).is_ok_and(|m| m.len() == raw.len() as u64);
        if !present {
            self.write_new(&path, &hash, raw)?;
        }
        // Also when the file was there: the delivery that renamed it may not have synced the
        // directory yet, and this one may commit first.
        sync_dir(&dir)?;
        Ok(StoredBlob { hash })
    }

    /// Write the file for `hash` if it is missing. The writer calls this when it creates a
    /// row for a body, because a file seen by [`BlobStore::put`] may since have been removed
    /// as unreferenced.
    pub(crate) fn ensure(&self, hash: &str, raw: &[u8]) -> Result<(), StoreError> {
        let path = self.path(hash)?;
        if fs::metadata(&path).is_ok_and(|m| m.len() == raw.len() as u64) {
            return Ok(());
        }
        self.write_new(&path, hash, raw)?;
        Ok(sync_dir(&self.dir(hash)?)?)
    }

    fn write_new(&self, path: &Path, hash: &str, raw: &[u8]) -> Result<(), StoreError> {
        self.fan_out_dir(hash)?;
        let n = self.next_tmp.fetch_add(1, Ordering::Relaxed);
        let tmp = self.tmp.join(format!("{hash}.{}.{n}", std::process::id()));
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(FILE_MODE)
                .open(&tmp)?;
            file.write_all(raw)?;
            file.sync_all()?;
            fs::rename(&tmp, path)
        })();
        if written.is_err() {
            // Best effort: a leftover temp file is removed at the next open anyway.
            let _ = fs::remove_file(&tmp);
        }
        Ok(written?)
    }

    /// Read a whole body, checking it has the length recorded for it.
    ///
    /// A missing file is `NotFound`: a reader whose snapshot still has the row of a body
    /// the writer has just released (its message expunged) finds the file gone.
    pub(crate) fn read(&self, hash: &str, size: u64) -> Result<Vec<u8>, StoreError> {
        let mut file = match fs::File::open(self.path(hash)?) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound(format!("body {hash}")));
            }
            Err(e) => return Err(e.into()),
        };
        let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.read_to_end(&mut buf)?;
        if buf.len() as u64 != size {
            return Err(StoreError::Unavailable(format!(
                "blob {hash} has {} octets, expected {size}",
                buf.len()
            )));
        }
        Ok(buf)
    }

    /// Delete the file of `hash`, if present. Only for bodies with no row (a body kept in its
    /// row has no file, which is fine).
    pub(crate) fn remove(&self, hash: &str) -> Result<(), StoreError> {
        match fs::remove_file(self.path(hash)?) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Delete every blob file without a row in `blobs`. Only safe while no writer runs
    /// (at open): otherwise a body written but not yet committed would look unreferenced.
    pub(crate) fn sweep_orphans(&self, conn: &Connection) -> Result<u64, StoreError> {
        let mut exists = conn.prepare(BLOB_ROW_EXISTS)?;
        let mut removed = 0;
        for i in 0..=255u8 {
            let prefix = format!("{i:02x}");
            // Fan-out directories are made when first needed: a missing one holds nothing.
            let entries = match fs::read_dir(self.blobs.join(&prefix)) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                entries => entries?,
            };
            for entry in entries {
                let entry = entry?;
                let name = entry.file_name();
                let hash = format!("{prefix}{}", name.to_string_lossy());
                let referenced = exists.query_row([&hash], |_| Ok(())).optional()?.is_some();
                if !referenced {
                    fs::remove_file(entry.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Open the file of `hash` for reading in pieces, checking it has the length recorded for
    /// it. A `NotFound` error means the file is gone (its body was expunged).
    pub(crate) fn open_file(&self, hash: &str, size: u64) -> io::Result<fs::File> {
        let file = fs::File::open(self.path(hash)?)?;
        let len = file.metadata()?.len();
        if len != size {
            return Err(io::Error::other(format!(
                "blob {hash} has {len} octets, expected {size}"
            )));
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_is_content_addressed_and_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = BlobStore::open(dir.path()).expect("open");
        let a = store.put(b"hello").expect("put");
        let b = store.put(b"hello").expect("put again");
        assert_eq!(a.hash, b.hash);
        assert_eq!(
            a.hash,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(store.read(&a.hash, 5).expect("read"), b"hello");
        assert!(store.read(&a.hash, 6).is_err(), "length is checked");
        assert_eq!(
            fs::read_dir(dir.path().join("tmp")).expect("tmp").count(),
            0
        );
    }

    #[test]
    fn bad_names_never_become_paths() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = BlobStore::open(dir.path()).expect("open");
        for bad in ["", "../etc/passwd", &"A".repeat(64), &"a".repeat(63)] {
            assert!(store.path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ensure_rewrites_a_removed_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = BlobStore::open(dir.path()).expect("open");
        let a = store.put(b"body").expect("put");
        store.remove(&a.hash).expect("remove");
        store.remove(&a.hash).expect("removing twice is fine");
        store.ensure(&a.hash, b"body").expect("ensure");
        assert_eq!(store.read(&a.hash, 4).expect("read"), b"body");
    }
}
