//! A message body being received: kept in memory up to [`MEMORY_MAX`] octets, then written
//! to an unnamed temporary file in the data directory's `tmp/`, so that a connection holds a
//! bounded buffer whatever the size of what it receives.
//!
//! The in-memory part is reserved from the [`InflightBudget`](crate::inflight::InflightBudget)
//! when the spool is made ([`Spool::start`]) and given back as soon as the body moves to
//! disk. Reading a spooled body back ([`Spool::into_bytes`]) is the caller's business to
//! reserve (it waits its turn: see `crate::inflight`).
//!
//! The file is made with `O_TMPFILE` (or an unlinked name), so nothing is left behind when
//! the session ends, however it ends. Writes are plain blocking writes: they land in the page
//! cache and cost about what the copy into a `Vec` would.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::inflight::{Exhausted, Reservation, inflight};

/// Octets a body may take in memory before it goes to disk. Small mail (most of it) never
/// touches the disk here; the store keeps bodies up to the same size in its database row.
pub const MEMORY_MAX: usize = 128 * 1024;

/// A body being received; see the module docs.
#[derive(Debug)]
pub struct Spool {
    memory: Vec<u8>,
    file: Option<File>,
    len: u64,
    limit: usize,
    /// The in-memory part's share of the budget, while the body is in memory.
    reservation: Option<Reservation>,
}

impl Spool {
    /// A spool of the process's budget and directory (`crate::inflight::configure`); fails
    /// when the budget has no room for a new body.
    pub fn start() -> Result<Self, Exhausted> {
        let reservation = inflight().budget.try_reserve(MEMORY_MAX as u64)?;
        Ok(Self::with(MEMORY_MAX, Some(reservation)))
    }

    /// A spool that goes to disk past `limit` octets, holding `reservation` until then.
    pub fn with(limit: usize, reservation: Option<Reservation>) -> Self {
        Self {
            memory: Vec::new(),
            file: None,
            len: 0,
            limit,
            reservation,
        }
    }

    /// Octets written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the body went to disk (reading it back then needs a reservation).
    pub fn on_disk(&self) -> bool {
        self.file.is_some()
    }

    /// Append `bytes`.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        if self.file.is_none() && self.memory.len() + bytes.len() > self.limit {
            let mut file = open_temp(&inflight().tmp_dir)?;
            file.write_all(&self.memory)?;
            self.memory = Vec::new();
            self.file = Some(file);
            self.reservation = None;
        }
        match &mut self.file {
            Some(file) => file.write_all(bytes)?,
            None => self.memory.extend_from_slice(bytes),
        }
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// The whole body, read back from disk if it went there.
    pub fn into_bytes(self) -> io::Result<Vec<u8>> {
        let Some(mut file) = self.file else {
            return Ok(self.memory);
        };
        file.seek(SeekFrom::Start(0))?;
        let mut data = Vec::with_capacity(usize::try_from(self.len).unwrap_or(0));
        file.read_to_end(&mut data)?;
        if data.len() as u64 != self.len {
            return Err(io::Error::other(format!(
                "spooled body has {} octets, expected {}",
                data.len(),
                self.len
            )));
        }
        Ok(data)
    }
}

/// An unnamed file in `dir`, gone when closed.
fn open_temp(dir: &Path) -> io::Result<File> {
    std::fs::create_dir_all(dir)?;
    tempfile::tempfile_in(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inflight::InflightBudget;

    #[test]
    fn a_small_body_stays_in_memory() {
        let mut s = Spool::with(16, None);
        s.write(b"hello ").expect("write");
        s.write(b"world").expect("write");
        assert!(!s.on_disk());
        assert_eq!(s.len(), 11);
        assert_eq!(s.into_bytes().expect("read"), b"hello world");
    }

    #[test]
    fn a_large_body_goes_to_disk_and_comes_back_whole() {
        let budget = InflightBudget::new(64 * 1024);
        let held = budget.try_reserve(32 * 1024).expect("room");
        let mut s = Spool::with(1000, Some(held));
        assert_eq!(budget.available(), 32 * 1024);
        let mut expected = Vec::new();
        for i in 0..500u32 {
            let chunk = format!("line {i} of a long message\r\n");
            s.write(chunk.as_bytes()).expect("write");
            expected.extend_from_slice(chunk.as_bytes());
        }
        assert!(s.on_disk());
        // The in-memory share is given back once the body is on disk.
        assert_eq!(budget.available(), budget.capacity());
        assert_eq!(s.memory.capacity(), 0);
        assert_eq!(s.len(), expected.len() as u64);
        assert_eq!(s.into_bytes().expect("read"), expected);
    }

    #[test]
    fn the_boundary_is_exact() {
        let mut s = Spool::with(4, None);
        s.write(b"abcd").expect("write");
        assert!(!s.on_disk(), "exactly the limit stays in memory");
        s.write(b"e").expect("write");
        assert!(s.on_disk());
        assert_eq!(s.into_bytes().expect("read"), b"abcde");
    }

    #[test]
    fn the_temp_file_has_no_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = open_temp(dir.path()).expect("open");
        drop(file);
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }
}
