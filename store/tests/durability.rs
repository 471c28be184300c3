//! Durability across `kill -9`: a child process delivers in a loop and prints `ACK <uid>
//! <sha256>` after each acknowledged delivery; the parent SIGKILLs it mid-stream, reopens the
//! store, and checks every acknowledged message is there, byte for byte, and that no message
//! row names a missing or damaged blob.
//!
//! The child is this same test binary, re-run with `--exact durability_child`; it does
//! nothing unless [`DIR_ENV`] names its data directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use futures_util::future::join_all;
use mailroom_shared::Secret;
use mailroom_shared::bus::Bus;
use mailroom_store::actor::Flush;
use mailroom_store::actor::{Deliver, FetchBody, Select};
use mailroom_store::{MailboxStore, Resolution, Role, StoreAdmin};

const DIR_ENV: &str = "MAILROOM_STORE_DURABILITY_DIR";
const ADDRESS: &str = "alice@example.test";
/// Acknowledgements to see before the kill.
const ACKS_BEFORE_KILL: usize = 30;
/// Deliveries in flight at once in the child, so the kill lands mid-batch.
const CHILD_CONCURRENCY: usize = 8;

fn sha256_hex(bytes: &[u8]) -> String {
    digest(&SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The child: deliver forever, acknowledging on stdout.
#[test]
#[ignore = "run by kill_9_loses_no_acknowledged_message in a child process"]
fn durability_child() {
    let Some(dir) = std::env::var_os(DIR_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let account = account_id(&dir);
    actix_rt::System::new().block_on(async move {
        let store = MailboxStore::start_embedded(&dir, Bus::start()).expect("store");
        let counter = Arc::new(AtomicU64::new(0));
        let loops = (0..CHILD_CONCURRENCY).map(|_| {
            let (store, counter) = (store.clone(), counter.clone());
            async move {
                loop {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    // Mostly small bodies (kept in the database), every eighth one large
                    // enough to be a file: both ways must survive the kill.
                    let lines = if n % 8 == 7 { 20_000 } else { 200 };
                    let raw = format!(
                        "Subject: durable {n}\r\n\r\n{}\r\n",
                        format!("line {n}\r\n").repeat(lines)
                    );
                    let sha = sha256_hex(raw.as_bytes());
                    let delivered = store
                        .send(Deliver {
                            recipients: vec![account],
                            junk: Vec::new(),
                            raw: Arc::from(raw.into_bytes()),
                            internal_date: None,
                            event: None,
                        })
                        .await
                        .expect("mailbox")
                        .expect("deliver");
                    // println! is line-buffered and flushes at the newline.
                    println!("ACK {} {sha}", delivered[0].uid);
                }
            }
        });
        join_all(loops).await;
    });
}

/// Run `f` on the management requests of a store started on `dir` for it, then close it.
fn manage<T>(dir: &Path, f: impl AsyncFnOnce(&StoreAdmin) -> T) -> T {
    actix_rt::System::new().block_on(async {
        let store = MailboxStore::start_embedded(dir, Bus::start()).expect("store");
        let out = f(&StoreAdmin::new(store.clone())).await;
        store.send(Flush).await.expect("actor").expect("flush");
        out
    })
}

fn account_id(dir: &Path) -> i64 {
    manage(dir, async |admin| {
        match admin.resolve_recipient(ADDRESS).await.expect("resolve") {
            Resolution::Local(ids) => ids[0],
            other => panic!("{ADDRESS} resolves to {other:?}"),
        }
    })
}

#[test]
fn kill_9_loses_no_acknowledged_message() {
    if std::env::var_os(DIR_ENV).is_some() {
        return; // we are a child run with --include-ignored; only the child test matters
    }
    let dir = tempfile::tempdir().expect("tempdir");
    manage(dir.path(), async |admin| {
        admin.domain_add("example.test").await.expect("domain");
        admin
            .user_add(ADDRESS, &Secret::new("password1"), Role::User, None)
            .await
            .expect("user");
    });

    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "durability_child",
            "--nocapture",
            "--include-ignored",
        ])
        .env(DIR_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("piped stdout");

    // Read on a thread so a hung child fails the test instead of hanging it.
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout);
        loop {
            let mut line = String::new();
            match lines.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                // A line cut off by the kill has no newline: it was never fully printed.
                Ok(_) if line.ends_with('\n') => {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
            }
        }
    });
    let mut acks = Vec::new();
    while acks.len() < ACKS_BEFORE_KILL {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("child acknowledges deliveries");
        if let Some(ack) = parse_ack(&line) {
            acks.push(ack);
        }
    }
    child.kill().expect("SIGKILL"); // std sends SIGKILL on unix
    child.wait().expect("reap");
    reader.join().expect("reader");
    // Everything printed before the kill was acknowledged too.
    acks.extend(rx.try_iter().filter_map(|l| parse_ack(&l)));
    assert!(acks.len() >= ACKS_BEFORE_KILL);

    let problems = manage(dir.path(), async |admin| {
        admin.verify().await.expect("verify")
    });
    assert!(problems.is_empty(), "{problems:#?}");

    let account = account_id(dir.path());
    let data_dir = dir.path().to_path_buf();
    actix_rt::System::new().block_on(async move {
        let store = MailboxStore::start_embedded(&data_dir, Bus::start()).expect("reopen");
        let (inbox, messages) = store
            .send(Select {
                account_id: account,
                name: "INBOX".into(),
            })
            .await
            .expect("mailbox")
            .expect("select");
        println!(
            "{} acknowledged, {} present after kill -9",
            acks.len(),
            messages.len()
        );
        for (uid, sha) in &acks {
            assert!(
                messages.iter().any(|m| m.uid == *uid),
                "ACKed uid {uid} lost"
            );
            let body = store
                .send(FetchBody {
                    account_id: account,
                    mailbox_id: inbox.id,
                    uid: *uid,
                })
                .await
                .expect("mailbox")
                .expect("body");
            assert_eq!(&sha256_hex(&body), sha, "body of uid {uid} differs");
        }
    });
}

fn parse_ack(line: &str) -> Option<(u32, String)> {
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some("ACK"), Some(uid), Some(sha)) => Some((uid.parse().ok()?, sha.to_string())),
        _ => None,
    }
}
