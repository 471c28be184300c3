//! Tests of the embedded engine through its role traits ([`crate::engine`]) that are about
//! this engine: body files, restarts, the WAL, flush. What every engine does the same way
//! (delivery, flags, copy/move/expunge, the mailbox tree, `Changes`) is in the engine suite,
//! store/tests/engines; the event log is in [`events`].

mod bodies;
mod dkim;
mod events;

use std::path::Path;
use std::sync::Arc;

use mailroom_shared::Secret;
use tempfile::TempDir;

use super::{Admin, DB_FILE, SqliteBackend};
use crate::engine::{Directory, Lifecycle, Mailboxes, PolicyState};
use crate::error::StoreError;
use crate::requests::{
    Authenticate, Deliver, Expunge, FetchBody, LoginAttempt, LoginGuard, LoginProtocol, Select,
    SetFlags,
};
use crate::types::*;

struct Fixture {
    dir: TempDir,
    store: SqliteBackend,
    alice: i64,
    bob: i64,
    carol: i64,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = Admin::open(dir.path()).expect("admin");
    admin.domain_add("example.test").expect("domain");
    let pw = Secret::new("password1");
    let id = |a: &str, q: Option<u64>| admin.user_add(a, &pw, Role::User, q).expect(a).id;
    let alice = id("alice@example.test", None);
    let bob = id("bob@example.test", None);
    let carol = id("carol@example.test", Some(1000));
    let store = SqliteBackend::open(dir.path()).expect("store");
    Fixture {
        dir,
        store,
        alice,
        bob,
        carol,
    }
}

fn message(n: usize) -> Arc<[u8]> {
    format!("From: a@example.test\r\nSubject: test {n}\r\n\r\nbody {n}\r\n")
        .into_bytes()
        .into()
}

/// A message too big to live in its blob row: its body is a file.
fn large(n: usize) -> Arc<[u8]> {
    let line = format!("line of message {n} padded to make it large enough\r\n");
    let lines = super::blobs::INLINE_MAX as usize / line.len() + 1;
    format!("Subject: large {n}\r\n\r\n{}", line.repeat(lines))
        .into_bytes()
        .into()
}

fn blob_files(dir: &Path) -> usize {
    let mut n = 0;
    for sub in std::fs::read_dir(dir.join("blobs")).expect("blobs") {
        n += std::fs::read_dir(sub.expect("entry").path())
            .expect("fan-out dir")
            .count();
    }
    n
}

fn refcounts(dir: &Path) -> Vec<i64> {
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).expect("db");
    let mut stmt = conn
        .prepare("SELECT refcount FROM blobs ORDER BY refcount")
        .expect("prepare");
    stmt.query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

impl Fixture {
    async fn deliver(&self, to: &[i64], raw: Arc<[u8]>) -> Result<Vec<Delivered>, StoreError> {
        let m = Deliver {
            recipients: to.to_vec(),
            junk: Vec::new(),
            raw,
            internal_date: Some(1_700_000_000),
            event: None,
        };
        self.store.deliver(m).await.map(|o| o.value)
    }

    async fn mailbox(&self, account_id: i64, name: &str) -> (MailboxInfo, Vec<MessageInfo>) {
        let m = Select {
            account_id,
            name: name.into(),
        };
        self.store.select(m).await.expect("select")
    }
}

#[actix_rt::test]
async fn a_large_body_to_several_recipients_is_one_file() {
    // Reference counting itself is in the engine suite (store/tests/engines/mail.rs).
    let f = fixture();
    f.deliver(&[f.alice, f.bob], large(1))
        .await
        .expect("deliver");
    f.deliver(&[f.alice], large(1)).await.expect("again");
    assert_eq!(blob_files(f.dir.path()), 1);
    f.deliver(&[f.alice], message(1)).await.expect("small");
    assert_eq!(blob_files(f.dir.path()), 1, "a small body has no file");
}

#[actix_rt::test]
async fn small_bodies_are_kept_in_the_database_across_a_restart() {
    let f = fixture();
    let d = f.deliver(&[f.alice], message(7)).await.expect("deliver");
    f.store.flush().await.expect("flush");
    assert_eq!(blob_files(f.dir.path()), 0);
    let (dir, alice) = (f.dir, f.alice);
    drop(f.store);
    let store = SqliteBackend::open(dir.path()).expect("reopen");
    let body = store
        .fetch_body(FetchBody {
            account_id: alice,
            mailbox_id: d[0].mailbox_id,
            uid: d[0].uid,
        })
        .await
        .expect("body after restart");
    assert_eq!(&*body, &*message(7));
    store.flush().await.expect("flush");
    drop(store);
    let admin = Admin::open(dir.path()).expect("admin");
    assert_eq!(admin.verify().expect("verify"), Vec::<String>::new());
    // A damaged row is reported, like a damaged file.
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).expect("db");
    conn.execute("UPDATE blobs SET data = x'00'", [])
        .expect("damage");
    let problems = admin.verify().expect("verify");
    assert_eq!(problems.len(), 1, "{problems:?}");
}

#[actix_rt::test]
async fn a_failed_delivery_of_a_large_body_leaves_no_file() {
    let f = fixture();
    // carol's quota is 1000 octets: the body is written as a file first, then refused.
    let err = f.deliver(&[f.alice, f.carol], large(2)).await;
    assert!(
        matches!(err, Err(StoreError::QuotaExceeded { .. })),
        "{err:?}"
    );
    assert_eq!(
        blob_files(f.dir.path()),
        0,
        "the failed body's file was removed"
    );
    assert_eq!(refcounts(f.dir.path()), Vec::<i64>::new());
}

/// A guarded login of `address` with `password` from 192.0.2.7, locking after 2 failures
/// of an account or 3 of a client.
fn login(address: &str, password: &str) -> Authenticate {
    let mut config = mailroom_config::Config::default();
    config.security.lockout_failures = 2;
    config.security.lockout_failures_per_ip = 3;
    config.security.auth_failure_delay_ms = 0;
    Authenticate {
        address: address.into(),
        password: Secret::new(password),
        attempt: LoginAttempt {
            protocol: LoginProtocol::Imap,
            mechanism: "LOGIN".into(),
            client: "192.0.2.7".parse().expect("ip"),
        },
        guard: LoginGuard::from_config(&config),
    }
}

#[actix_rt::test]
async fn authenticate_checks_the_password() {
    let f = fixture();
    let ok = f
        .store
        .authenticate(login("Alice@Example.test", "password1"))
        .await;
    assert!(
        matches!(&ok, Ok(LoginOutcome::Accepted(a)) if a.id == f.alice),
        "{ok:?}"
    );
    let wrong = f
        .store
        .authenticate(login("alice@example.test", "password2"))
        .await;
    assert_eq!(wrong, Ok(LoginOutcome::Refused { locked: vec![] }));
    let nobody = f
        .store
        .authenticate(login("nobody@example.test", "password1"))
        .await;
    assert_eq!(nobody, Ok(LoginOutcome::Refused { locked: vec![] }));
}

#[actix_rt::test]
async fn a_locked_account_is_refused_whatever_the_password() {
    let f = fixture();
    let first = f.store.authenticate(login("alice@example.test", "x")).await;
    assert_eq!(first, Ok(LoginOutcome::Refused { locked: vec![] }));
    // The second failure reaches lockout_failures = 2: the failure reports the lockout.
    let second = f.store.authenticate(login("alice@example.test", "y")).await;
    let Ok(LoginOutcome::Refused { locked }) = second else {
        panic!("{second:?}");
    };
    assert_eq!(locked.len(), 1);
    assert_eq!(
        (locked[0].scope, locked[0].key.as_str(), locked[0].failures),
        (LockoutScope::Account, "alice@example.test", 2)
    );
    // Now the right password gets the same answer as a wrong one.
    for password in ["password1", "wrong"] {
        let r = f
            .store
            .authenticate(login("alice@example.test", password))
            .await;
        assert!(
            matches!(&r, Ok(LoginOutcome::LockedOut(l)) if l.scope == LockoutScope::Account),
            "{password}: {r:?}"
        );
    }
    // The client's third failure (another account) locks the client out for every account.
    let third = f.store.authenticate(login("bob@example.test", "z")).await;
    assert!(
        matches!(&third, Ok(LoginOutcome::Refused { locked }) if locked.iter().any(|l| l.scope == LockoutScope::Ip)),
        "{third:?}"
    );
}

#[actix_rt::test]
async fn flush_commits_then_closes() {
    let f = fixture();
    f.deliver(&[f.alice], message(1)).await.expect("deliver");
    f.store.flush().await.expect("flush");
    f.store.flush().await.expect("flushing twice is fine");
    let late = f.deliver(&[f.alice], message(2)).await;
    assert!(matches!(late, Err(StoreError::Unavailable(_))), "{late:?}");
    // The checkpoint emptied the WAL into the database.
    let wal = f.dir.path().join(format!("{DB_FILE}-wal"));
    assert!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) == 0);
    let stats = f.store.stats();
    assert_eq!((stats.ops, stats.commits), (1, 1));
}

#[actix_rt::test]
async fn reopening_sweeps_orphans_and_keeps_messages() {
    let f = fixture();
    f.deliver(&[f.alice], large(1)).await.expect("deliver");
    f.store.flush().await.expect("flush");
    // A file no row refers to, as a crash between write and commit would leave.
    let orphan = super::blobs::BlobStore::at(f.dir.path())
        .put(b"never committed")
        .expect("put");
    assert_eq!(blob_files(f.dir.path()), 2);
    // As at a restart: the old server is gone (and with it its lock) before the new one opens.
    let (dir, alice) = (f.dir, f.alice);
    drop(f.store);
    let store = SqliteBackend::open(dir.path()).expect("reopen");
    assert_eq!(blob_files(dir.path()), 1, "{} swept", orphan.hash);
    let (_, msgs) = store
        .select(Select {
            account_id: alice,
            name: "INBOX".into(),
        })
        .await
        .expect("select");
    assert_eq!(msgs.len(), 1);
}

#[actix_rt::test]
async fn over_quota_names_full_accounts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = Admin::open(dir.path()).expect("admin");
    admin.domain_add("q.test").expect("domain");
    let pw = mailroom_shared::Secret::new("password1");
    let small = admin
        .user_add("small@q.test", &pw, Role::User, Some(100))
        .expect("small")
        .id;
    let free = admin
        .user_add("free@q.test", &pw, Role::User, None)
        .expect("free")
        .id;
    admin
        .alias_add(
            "both@q.test",
            &["small@q.test".into(), "free@q.test".into()],
        )
        .expect("alias");
    let store = SqliteBackend::open(dir.path()).expect("open");
    let backend = &store;
    let ask = |size| async move {
        let (resolution, over) = backend
            .check_recipient(crate::requests::CheckRecipient {
                address: "both@q.test".into(),
                size,
            })
            .await?;
        let mut both = vec![small, free];
        both.sort_unstable();
        assert_eq!(resolution, Resolution::Local(both));
        Ok::<_, StoreError>(over)
    };
    assert_eq!(ask(0).await.expect("check"), Vec::<i64>::new());
    assert_eq!(ask(100).await.expect("check"), Vec::<i64>::new());
    assert_eq!(ask(101).await.expect("check"), vec![small]);
    store
        .deliver(crate::requests::Deliver {
            recipients: vec![small],
            junk: Vec::new(),
            raw: std::sync::Arc::from(vec![b'x'; 100]),
            internal_date: None,
            event: None,
        })
        .await
        .expect("fits exactly");
    // Full now: even an unknown size is refused.
    assert_eq!(ask(0).await.expect("check"), vec![small]);
}

#[actix_rt::test]
async fn several_bodies_in_one_request() {
    let f = fixture();
    let small = f.deliver(&[f.alice], message(1)).await.expect("small");
    f.deliver(&[f.alice], large(2)).await.expect("large");
    let bodies = f
        .store
        .fetch_bodies(crate::requests::FetchBodies {
            account_id: f.alice,
            mailbox_id: small[0].mailbox_id,
            uids: vec![9, 2, 1, 2],
        })
        .await
        .expect("bodies");
    let got: Vec<(u32, Vec<u8>)> = bodies.into_iter().map(|(u, b)| (u, b.to_vec())).collect();
    assert_eq!(got, vec![(1, message(1).to_vec()), (2, large(2).to_vec())]);
    // Another account's mailbox gives nothing, as if it did not exist.
    let theirs = f
        .store
        .fetch_bodies(crate::requests::FetchBodies {
            account_id: f.bob,
            mailbox_id: small[0].mailbox_id,
            uids: vec![1],
        })
        .await
        .expect("bodies");
    assert!(theirs.is_empty());
}

fn header_rows(dir: &Path) -> i64 {
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).expect("db");
    conn.query_row("SELECT count(*) FROM headers", [], |r| r.get(0))
        .expect("count")
}

#[actix_rt::test]
async fn header_blocks_in_one_request_also_for_bodies_stored_before_they_were_kept() {
    let f = fixture();
    let small = f.deliver(&[f.alice], message(1)).await.expect("small");
    f.deliver(&[f.alice], large(2)).await.expect("large");
    let no_blank_line: Arc<[u8]> = Arc::from(&b"Subject: only a header"[..]);
    f.deliver(&[f.alice], no_blank_line.clone())
        .await
        .expect("odd");
    let mailbox_id = small[0].mailbox_id;
    let ask = |account_id: i64, uids: Vec<u32>| {
        f.store.fetch_headers(crate::requests::FetchHeaders {
            account_id,
            mailbox_id,
            uids,
        })
    };
    let want = vec![
        (
            1,
            b"From: a@example.test\r\nSubject: test 1\r\n\r\n".to_vec(),
        ),
        (2, b"Subject: large 2\r\n\r\n".to_vec()),
        (3, no_blank_line.to_vec()),
    ];
    let got = |list: Vec<(u32, Arc<[u8]>)>| -> Vec<(u32, Vec<u8>)> {
        list.into_iter().map(|(u, h)| (u, h.to_vec())).collect()
    };
    assert_eq!(header_rows(f.dir.path()), 3);
    // Bodies stored by a build before schema version 3 have no header row: their header is
    // cut out of the body (inline for 1, a file for 2), the same block.
    let conn = rusqlite::Connection::open(f.dir.path().join(DB_FILE)).expect("db");
    conn.execute(
        "DELETE FROM headers WHERE sha256 IN \
         (SELECT blob FROM messages WHERE uid IN (1, 2))",
        [],
    )
    .expect("forget headers");
    assert_eq!(header_rows(f.dir.path()), 1);
    let headers = ask(f.alice, vec![9, 3, 2, 1, 2]).await.expect("headers");
    assert_eq!(got(headers), want);
    // Again, now from memory.
    let headers = ask(f.alice, vec![3, 1]).await.expect("headers");
    assert_eq!(got(headers), [want[0].clone(), want[2].clone()]);
    assert!(ask(f.bob, vec![1]).await.expect("theirs").is_empty());
    assert!(ask(f.alice, vec![]).await.expect("none").is_empty());

    // A header row goes with its body.
    let f = fixture();
    let one = f.deliver(&[f.alice], message(1)).await.expect("deliver");
    assert_eq!(header_rows(f.dir.path()), 1);
    let flag = SetFlags {
        account_id: f.alice,
        mailbox_id: one[0].mailbox_id,
        uids: vec![one[0].uid],
        op: FlagOp::Add,
        flags: FLAG_DELETED,
        keywords: vec![],
        unchanged_since: None,
    };
    f.store.set_flags(flag).await.expect("flag");
    let gone = Expunge {
        account_id: f.alice,
        mailbox_id: one[0].mailbox_id,
        uids: None,
    };
    f.store.expunge(gone).await.expect("expunge");
    assert_eq!(header_rows(f.dir.path()), 0);
}

#[actix_rt::test]
async fn the_wal_is_checkpointed_beside_the_writer() {
    let f = fixture();
    for n in 0..20 {
        f.deliver(&[f.alice], message(n)).await.expect("deliver");
    }
    // The main file alone (immutable=1 ignores the WAL) holds the messages once the
    // checkpoint thread has run: the writer's commits never checkpoint themselves.
    let uri = format!("file:{}?immutable=1", f.dir.path().join(DB_FILE).display());
    let in_main_file = || -> i64 {
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI;
        let conn = rusqlite::Connection::open_with_flags(&uri, flags).expect("open main file");
        conn.query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while in_main_file() < 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "the WAL was never checkpointed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[actix_rt::test]
async fn a_recipient_is_resolved_and_checked_against_its_quota_in_one_read() {
    let f = fixture();
    let ask = |address: &str, size: u64| {
        f.store.check_recipient(crate::requests::CheckRecipient {
            address: address.into(),
            size,
        })
    };
    assert_eq!(
        ask("alice@example.test", 1 << 30).await.expect("alice"),
        (Resolution::Local(vec![f.alice]), vec![])
    );
    // carol's quota is 1000 octets.
    assert_eq!(
        ask("carol@example.test", 500).await.expect("fits"),
        (Resolution::Local(vec![f.carol]), vec![])
    );
    assert_eq!(
        ask("Carol@Example.Test", 1001).await.expect("too big"),
        (Resolution::Local(vec![f.carol]), vec![f.carol])
    );
    assert_eq!(
        ask("nobody@example.test", 1).await.expect("unknown"),
        (Resolution::UnknownUser, vec![])
    );
    assert_eq!(
        ask("someone@elsewhere.test", 1).await.expect("not ours"),
        (Resolution::NotOurDomain, vec![])
    );
}

/// Issue #17 item 6: under sustained writes, with readers at work the whole time, the WAL file
/// stays near its limit instead of growing until shutdown.
#[actix_rt::test]
async fn the_wal_stays_bounded_under_sustained_writes_beside_readers() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let f = fixture();
    let db = f.dir.path().join(DB_FILE);
    let wal = f.dir.path().join(format!("{DB_FILE}-wal"));
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    // A reader that is never idle for long: a read transaction every millisecond, some
    // holding their snapshot for a few milliseconds, as FETCHes and SELECTs do. (One that
    // starts its next transaction the instant it ends the last leaves SQLite's checkpoint no
    // moment to take the reader slot: see the report of issue #17.)
    let reader = {
        let (stop, reads, db) = (stop.clone(), reads.clone(), db.clone());
        std::thread::spawn(move || {
            let mut conn = rusqlite::Connection::open(&db).expect("reader");
            while !stop.load(Ordering::Relaxed) {
                let tx = conn.transaction().expect("read transaction");
                let _: i64 = tx
                    .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
                    .expect("count");
                if reads.fetch_add(1, Ordering::Relaxed) % 10 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                tx.commit().expect("end read");
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        })
    };
    // 16 KiB bodies, 20 deliveries at a time (so they share commits as clients' do): about
    // 20 MiB of frames, five times the limit.
    let body = |n: usize| -> Arc<[u8]> {
        let filler = format!("{n:08} ").repeat(16 * 1024 / 9);
        format!("Subject: wal {n}\r\n\r\n{filler}\r\n")
            .into_bytes()
            .into()
    };
    let (rounds, per_round) = (60, 20);
    let mut largest = 0;
    for round in 0..rounds {
        let alice = [f.alice];
        let batch = (0..per_round).map(|i| f.deliver(&alice, body(round * per_round + i)));
        for r in futures_util::future::join_all(batch).await {
            r.expect("deliver");
        }
        largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
    }
    stop.store(true, Ordering::Relaxed);
    reader.join().expect("reader thread");
    assert!(reads.load(Ordering::Relaxed) > 0, "the reader never read");
    // The limit for the database's size plus what the commits that crossed it wrote while
    // the checkpoint waited for the reader (on a loaded machine, a few batches of 20 bodies
    // and their index pages: 4 MiB of slack). Without the writer's checkpoint this run left
    // a WAL of 27 to 39 MiB.
    let db = std::fs::metadata(f.dir.path().join(DB_FILE)).map_or(0, |m| m.len());
    let bound = super::writer::wal_limit(db) + (4 << 20);
    assert!(
        largest <= bound,
        "the WAL reached {largest} octets (bound {bound})"
    );
    let (_, messages) = f.mailbox(f.alice, "INBOX").await;
    assert_eq!(messages.len(), rounds * per_round);
}

/// Issue #17 item 6, "keep reader snapshots short so checkpoints are not starved": the
/// engine's own readers, eight at a time and each starting its next read the moment the last
/// one ends (sessions SELECTing at once), still leave the writer's TRUNCATE its moment: each
/// read is one short transaction on a pooled connection, and a reader that starts after the
/// checkpoint has copied the WAL reads the database, not the WAL. (A foreign connection that
/// holds its transactions open can still delay it: the other WAL test's reader.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stays_bounded_beside_readers_that_never_pause() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let f = fixture();
    let wal = f.dir.path().join(format!("{DB_FILE}-wal"));
    let stop = AtomicBool::new(false);
    let reads = AtomicU64::new(0);
    let body = |n: usize| -> Arc<[u8]> {
        let filler = format!("{n:08} ").repeat(16 * 1024 / 9);
        format!("Subject: gate {n}\r\n\r\n{filler}\r\n")
            .into_bytes()
            .into()
    };
    let reader = || async {
        while !stop.load(Ordering::Relaxed) {
            f.mailbox(f.alice, "INBOX").await;
            reads.fetch_add(1, Ordering::Relaxed);
        }
    };
    let (rounds, per_round) = (60, 20);
    let writer = async {
        let mut largest = 0;
        for round in 0..rounds {
            let alice = [f.alice];
            let batch = (0..per_round).map(|i| f.deliver(&alice, body(round * per_round + i)));
            for r in futures_util::future::join_all(batch).await {
                r.expect("deliver");
            }
            largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
        }
        stop.store(true, Ordering::Relaxed);
        largest
    };
    let (largest, ..) = tokio::join!(
        writer,
        reader(),
        reader(),
        reader(),
        reader(),
        reader(),
        reader(),
        reader(),
        reader()
    );
    assert!(
        reads.load(Ordering::Relaxed) > 100,
        "the readers hardly read"
    );
    let db = std::fs::metadata(f.dir.path().join(DB_FILE)).map_or(0, |m| m.len());
    let bound = super::writer::wal_limit(db) + (4 << 20);
    assert!(
        largest <= bound,
        "the WAL reached {largest} octets (bound {bound})"
    );
}
