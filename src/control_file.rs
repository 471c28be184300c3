//! `control.secret` in the data directory: how the command line finds the server running on
//! that directory and proves it may give it orders. Written (0600) by [`crate::run`] once the
//! server is ready, removed when it stops; a file left by a server that was killed is found
//! stale because nothing answers at its address.
//!
//! The format is a few `key = value` lines, so that an operator can read it:
//! `url` (the control listener, loopback HTTP) and `secret` (its Bearer credential).

use mailroom_shared::Secret;
use mailroom_shared::fsutil::{PRIVATE_FILE_MODE, write_durably};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The file's name inside the data directory.
pub const FILE_NAME: &str = "control.secret";

/// What the file says.
#[derive(Debug, Clone)]
pub struct ControlFile {
    /// The control listener, e.g. `127.0.0.1:40123`.
    pub addr: SocketAddr,
    /// Its Bearer credential.
    pub secret: Secret,
}

/// The file's path for `data_dir`.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

impl ControlFile {
    /// Write it into `data_dir`, 0600, replacing any stale one.
    pub fn write(&self, data_dir: &Path) -> io::Result<()> {
        let text = format!(
            "# Written by the running mailroom server for its command line; removed when it stops.\n\
             url = http://{}/\nsecret = {}\n",
            self.addr,
            self.secret.expose()
        );
        write_durably(&path(data_dir), text.as_bytes(), PRIVATE_FILE_MODE)
    }

    /// The file in `data_dir`, if there is one.
    pub fn read(data_dir: &Path) -> io::Result<Option<Self>> {
        let text = match std::fs::read_to_string(path(data_dir)) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let value = |key: &str| {
            text.lines()
                .filter_map(|l| l.split_once('='))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().to_string())
        };
        let bad = |what: &str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: no valid {what}", path(data_dir).display()),
            )
        };
        let addr = value("url")
            .as_deref()
            .and_then(|u| u.strip_prefix("http://"))
            .map(|u| u.trim_end_matches('/'))
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| bad("url"))?;
        let secret = value("secret")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("secret"))?;
        Ok(Some(Self {
            addr,
            secret: Secret::new(secret),
        }))
    }
}

/// Removes the file when dropped: on every way out of [`crate::run`] once it was written.
pub(crate) struct RemoveOnDrop(pub PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.0.display(), error = %e, "Cannot remove the control file.");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn written_private_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(ControlFile::read(dir.path()).expect("read").is_none());
        let file = ControlFile {
            addr: "127.0.0.1:4321".parse().expect("addr"),
            secret: Secret::new("s3cret-token"),
        };
        file.write(dir.path()).expect("write");
        let mode = std::fs::metadata(path(dir.path()))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let back = ControlFile::read(dir.path()).expect("read").expect("there");
        assert_eq!(back.addr, file.addr);
        assert_eq!(back.secret.expose(), "s3cret-token");
        drop(RemoveOnDrop(path(dir.path())));
        assert!(ControlFile::read(dir.path()).expect("read").is_none());
    }

    #[test]
    fn a_damaged_file_is_an_error_not_a_guess() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(path(dir.path()), "url = ftp://x\nsecret = y\n").expect("write");
        let e = ControlFile::read(dir.path()).expect_err("bad url");
        assert!(e.to_string().contains("no valid url"), "{e}");
    }
}
