//! Files under the data directory: durable writes (temp file, fsync, rename, fsync of the
//! directory: a reader sees the old file or the whole new one, never a part, and after return
//! the new one survives a crash), and private modes.
//!
//! The data directory holds password hashes, DKIM and TLS private keys, API token hashes and
//! everyone's mail: it is 0700 and every file in it 0600, whatever the umask. Everything that
//! creates a file or directory under it uses [`create_private_dir`] / [`create_private_file`]
//! (or passes [`PRIVATE_FILE_MODE`]); [`secure_data_dir`] runs when the store opens and
//! tightens (or refuses) what an older version, an operator or a restore left wider.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of every directory under (and of) the data directory.
pub const PRIVATE_DIR_MODE: u32 = 0o700;
/// Mode of every file under the data directory.
pub const PRIVATE_FILE_MODE: u32 = 0o600;
/// Paths named one by one in the log when tightened; the rest are only counted.
const TIGHTENED_LOGGED: usize = 10;

/// Write `bytes` to `path` durably with file mode `mode`.
pub fn write_durably(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("path has no parent directory"))?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// fsync a directory, making renames and creations inside it durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Create `dir` (0700; its missing ancestors with the default mode) unless it exists.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    match DirBuilder::new().mode(PRIVATE_DIR_MODE).create(dir) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        other => other,
    }
}

/// Open `path` for writing, creating it 0600 if missing; an existing file keeps its content.
pub fn create_private_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(PRIVATE_FILE_MODE)
        .open(path)
}

/// Make sure the data directory `dir` exists and is private: created 0700 if missing; in an
/// existing one every directory with group or other bits is set to 0700 and every such file to
/// 0600, each logged as a warning. Symbolic links are left alone (and not followed).
///
/// Returns how many paths were tightened. Fails, naming the path and the fix, when a mode
/// cannot be changed (the path belongs to another user) or a directory cannot be read.
pub fn secure_data_dir(dir: &Path) -> io::Result<usize> {
    create_private_dir(dir).map_err(|e| refuse(dir, "cannot create", &e))?;
    let mut tightened = 0;
    secure_tree(dir, &mut tightened)?;
    if tightened > TIGHTENED_LOGGED {
        tracing::warn!(
            data_dir = %dir.display(),
            tightened,
            "Tightened the modes of paths in the data directory (the first {TIGHTENED_LOGGED} named above)."
        );
    }
    Ok(tightened)
}

fn secure_tree(path: &Path, tightened: &mut usize) -> io::Result<()> {
    // A path that is gone by the time it is looked at (a WAL or temp file removed by a store
    // closing, or by another mailroom command) has no mode left to fix.
    let meta = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        meta => meta.map_err(|e| refuse(path, "cannot stat", &e))?,
    };
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Ok(());
    }
    let want = if kind.is_dir() {
        PRIVATE_DIR_MODE
    } else {
        PRIVATE_FILE_MODE
    };
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        match std::fs::set_permissions(path, Permissions::from_mode(want)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            set => set,
        }
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "{} has mode {mode:04o} (owner uid {}) and it cannot be tightened to \
                     {want:04o}: {e}; the data directory holds password hashes and private \
                     keys: run mailroom as the user that owns it, or fix it with \
                     `chown -R <mailroom's user> {root}` and `chmod -R go= {root}`",
                    path.display(),
                    meta.uid(),
                    root = path.display(),
                ),
            )
        })?;
        *tightened += 1;
        if *tightened <= TIGHTENED_LOGGED {
            tracing::warn!(
                path = %path.display(),
                was = format!("{mode:04o}"),
                now = format!("{want:04o}"),
                "Tightened the mode of a path in the data directory: it was readable by other users."
            );
        }
    }
    if kind.is_dir() {
        let entries = match std::fs::read_dir(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            entries => entries.map_err(|e| refuse(path, "cannot read", &e))?,
        };
        for entry in entries {
            let entry = entry.map_err(|e| refuse(path, "cannot read", &e))?;
            secure_tree(&entry.path(), tightened)?;
        }
    }
    Ok(())
}

/// An error naming `path`, what failed and how to fix it.
fn refuse(path: &Path, what: &str, e: &io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!(
            "{what} {} in the data directory: {e}; it must belong to the user mailroom runs as \
             (fix: `chown -R <mailroom's user> {}`)",
            path.display(),
            path.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).expect("stat").mode() & 0o7777
    }

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn a_missing_data_dir_is_made_private() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("deep/data");
        assert_eq!(secure_data_dir(&data).expect("secure"), 0);
        assert_eq!(mode(&data), 0o700);
        let file = data.join("f");
        drop(create_private_file(&file).expect("create"));
        assert_eq!(mode(&file), 0o600);
        create_private_dir(&data.join("sub")).expect("sub");
        assert_eq!(mode(&data.join("sub")), 0o700);
    }

    #[test]
    fn a_path_gone_before_it_is_looked_at_is_skipped() {
        // A store closing removes its WAL while the next open walks the directory.
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut tightened = 0;
        secure_tree(&tmp.path().join("mailroom.db-wal"), &mut tightened).expect("skipped");
        assert_eq!(tightened, 0);
    }

    #[test]
    fn wider_modes_are_tightened_and_private_ones_left_alone() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("data");
        std::fs::create_dir_all(data.join("blobs/ab")).expect("dirs");
        std::fs::write(data.join("mailroom.db"), b"x").expect("db");
        std::fs::write(data.join("blobs/ab/cdef"), b"body").expect("body");
        std::fs::write(data.join("kept"), b"k").expect("kept");
        chmod(&data, 0o755);
        chmod(&data.join("blobs"), 0o775);
        chmod(&data.join("blobs/ab"), 0o750);
        chmod(&data.join("mailroom.db"), 0o644);
        chmod(&data.join("blobs/ab/cdef"), 0o666);
        chmod(&data.join("kept"), 0o400);
        // A link to a file outside is neither followed nor changed.
        let outside = tmp.path().join("outside");
        std::fs::write(&outside, b"o").expect("outside");
        chmod(&outside, 0o644);
        std::os::unix::fs::symlink(&outside, data.join("link")).expect("symlink");

        assert_eq!(secure_data_dir(&data).expect("secure"), 5);
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("blobs")), 0o700);
        assert_eq!(mode(&data.join("blobs/ab")), 0o700);
        assert_eq!(mode(&data.join("mailroom.db")), 0o600);
        assert_eq!(mode(&data.join("blobs/ab/cdef")), 0o600);
        assert_eq!(mode(&data.join("kept")), 0o400);
        assert_eq!(mode(&outside), 0o644);
        // A second pass finds nothing to do.
        assert_eq!(secure_data_dir(&data).expect("again"), 0);
    }
}
