//! The data directory is private (issue #17 item 5): it holds password hashes, DKIM and TLS
//! private keys, API token hashes and everyone's mail. Started under umask 022, the server makes
//! the directory 0700 and every file in it 0600 (the database and its -wal/-shm, the lock, the
//! self-signed TLS pair, body files), the CLI does the same when it is the first to touch the
//! directory, and a directory left wider is tightened at start, with a warning naming it.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::{BIN, python};
use mailroom_tests::{Server, http_get};

/// The umask most systems give a login shell: without care, files come out 0644.
const UMASK: u32 = 0o022;

fn start() -> Server {
    match Server::start_with_umask(BIN, "", UMASK) {
        Ok(server) => server,
        Err(e) => panic!("{e:#}"),
    }
}

/// Every path under `dir` (itself included, symbolic links skipped) with its mode.
fn modes(dir: &Path) -> Vec<(PathBuf, bool, u32)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(path) = todo.pop() {
        let meta = std::fs::symlink_metadata(&path).expect("stat");
        if meta.file_type().is_symlink() {
            continue;
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read_dir") {
                todo.push(entry.expect("entry").path());
            }
        }
        out.push((path, meta.is_dir(), meta.mode() & 0o7777));
    }
    out
}

/// Fails naming every directory that is not 0700 and every file that is not 0600.
fn assert_private(dir: &Path, when: &str) {
    let all = modes(dir);
    let wide: Vec<String> = all
        .iter()
        .filter(|(_, is_dir, mode)| *mode != if *is_dir { 0o700 } else { 0o600 })
        .map(|(p, _, mode)| format!("{} {mode:04o}", p.display()))
        .collect();
    assert!(wide.is_empty(), "{when}: not private: {wide:?}");
    assert!(all.len() > 1, "{when}: the data directory is empty");
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").mode() & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// `mailroom --config CONFIG args…` under [`UMASK`], with `stdin`.
fn cli_under_umask(config: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("umask {UMASK:03o}; exec \"$0\" \"$@\""))
        .arg(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the CLI");
    if let Some(mut pipe) = child.stdin.take() {
        std::io::Write::write_all(&mut pipe, stdin.as_bytes()).expect("stdin");
    }
    let out = child.wait_with_output().expect("CLI output");
    assert!(
        out.status.success(),
        "mailroom {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn the_data_dir_is_private_after_start_a_large_delivery_and_user_add() {
    let s = start();
    let data = s.data_dir();
    assert_private(&data, "after start");
    for name in [
        "mailroom.db",
        "mailroom.db-wal",
        "mailroom.db-shm",
        "server.lock",
    ] {
        assert_eq!(mode_of(&data.join(name)), 0o600, "{name}");
    }
    let key = data.join(format!("tls/{}.selfsigned.key", s.hostname));
    assert_eq!(mode_of(&key), 0o600);

    cli_under_umask(&s.config_path(), &["domain", "add", "example.test"], "");
    cli_under_umask(
        &s.config_path(),
        &["user", "add", "alice@example.test", "--password-stdin"],
        "password-1\n",
    );
    assert_private(&data, "after user add");

    // Above 128 KiB a body is a file of its own under blobs/: this one is 300 KiB.
    python(&format!(
        "import smtplib\nline = b'a line of a large message, long enough for a body file\\r\\n'\n\
         body = b'Subject: large\\r\\n\\r\\n' + line * (300 * 1024 // len(line))\n\
         c = smtplib.SMTP('127.0.0.1', {})\n\
         c.sendmail('sender@example.org', ['alice@example.test'], body)\nc.quit()\n",
        s.ports.smtp
    ));
    let bodies: Vec<PathBuf> = modes(&data.join("blobs"))
        .into_iter()
        .filter(|(_, is_dir, _)| !is_dir)
        .map(|(p, _, _)| p)
        .collect();
    assert_eq!(bodies.len(), 1, "one body file: {bodies:?}");
    assert_private(&data, "after a large delivery");

    // The WAL's size is exported, and it is what the file holds.
    let (status, text) = http_get(s.ports.admin, "/metrics").expect("GET /metrics");
    assert_eq!(status, 200);
    let wal: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("mailroom_store_wal_bytes "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no mailroom_store_wal_bytes in {text}"));
    assert!(wal > 0.0, "the WAL holds the delivery: {wal}");
}

#[test]
fn the_cli_alone_makes_a_private_data_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let config = dir.path().join("mailroom.toml");
    std::fs::write(
        &config,
        format!("[server]\ndata_dir = \"{}\"\n", data.display()),
    )
    .expect("config");
    cli_under_umask(&config, &["domain", "add", "example.test"], "");
    cli_under_umask(
        &config,
        &["user", "add", "bob@example.test", "--password-stdin"],
        "password-1\n",
    );
    assert_private(&data, "after domain add and user add");
}

#[test]
fn a_wider_data_dir_is_tightened_at_start() {
    let mut s = start();
    let data = s.data_dir();
    s.signal("TERM").expect("TERM");
    assert!(s.wait_exit(Duration::from_secs(20)).is_some(), "stopped");
    // As an older mailroom, a restore or an operator's chmod could leave it.
    let key = data.join(format!("tls/{}.selfsigned.key", s.hostname));
    chmod(&data, 0o755);
    chmod(&data.join("mailroom.db"), 0o644);
    chmod(&data.join("blobs"), 0o755);
    std::fs::create_dir_all(data.join("blobs/ab")).expect("fan-out dir");
    chmod(&data.join("blobs/ab"), 0o777);
    chmod(&key, 0o644);
    s.spawn().expect("restart");
    assert_private(&data, "after a restart");
    let log = s.log();
    for path in [&data, &data.join("mailroom.db"), &key] {
        assert!(
            log.contains(&path.display().to_string()) && log.contains("Tightened"),
            "the log names {}: {log}",
            path.display()
        );
    }
}
