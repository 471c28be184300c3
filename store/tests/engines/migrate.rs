//! `store migrate`: an embedded store built through the actor, copied into a fresh
//! PostgreSQL database, arrives whole — ids, UIDVALIDITY, UIDs, flags, keywords, MODSEQs,
//! expunged rows, bodies kept as files and in rows, the queue, greylisting, events — with
//! the sequences past the copied values; a store a server holds, a target that holds data and
//! a copy that fails are refused and leave the target empty.

use std::sync::Arc;

use actix::Addr;
use mailroom_config::Config;
use mailroom_shared::bus::Bus;
use mailroom_shared::events::{AuthFailed, EventData};
use mailroom_store::actor::{
    Append, CreateMailbox, DeleteMailbox, Deliver, Expunge, Flush, ListMailboxes, RecordEvent,
    Select, SetFlags, SetSubscribed, SetWebhookCursor, Submit,
};
use mailroom_store::greylist::{KnownSender, SaveGreylist, Triplet, TripletState};
use mailroom_store::migrate::{MigrationReport, migrate_to_postgres};
use mailroom_store::types::{FLAG_DELETED, FLAG_FLAGGED, FLAG_SEEN, FlagOp};
use mailroom_store::{
    MailboxInfo, MailboxStore, MessageInfo, Notify, OutboundRecipient, Role, StoreAdmin, StoreError,
};

use crate::support::{POSTGRES_VAR, postgres};

/// Larger than the embedded engine keeps in a row: stored as a file.
const LARGE: usize = 300 * 1024;

fn message(n: usize, pad: usize) -> Arc<[u8]> {
    let mut raw = format!(
        "From: sender@remote.example\r\nTo: alice@example.test\r\nSubject: message {n}\r\n\r\n"
    )
    .into_bytes();
    raw.extend(std::iter::repeat_n(b'x', pad));
    raw.extend_from_slice(b"\r\n");
    raw.into()
}

async fn send<M>(store: &Addr<MailboxStore>, m: M) -> M::Result
where
    M: actix::Message + Send + 'static,
    M::Result: Send,
    MailboxStore: actix::Handler<M>,
{
    store.send(m).await.expect("store mailbox")
}

/// Every mailbox of `account` with its messages, as IMAP would see them.
async fn snapshot(
    store: &Addr<MailboxStore>,
    account_id: i64,
) -> Vec<(MailboxInfo, Vec<MessageInfo>)> {
    let boxes = send(store, ListMailboxes { account_id })
        .await
        .expect("list");
    let mut out = Vec::new();
    for b in boxes {
        let name = b.name.clone();
        out.push(
            send(store, Select { account_id, name })
                .await
                .expect("select"),
        );
    }
    out
}

/// Migrate, waiting for a store that was just closed to let go of its directory; the
/// progress reported, as text.
async fn migrate_when_released(
    data_dir: &std::path::Path,
    url: &str,
) -> (Result<MigrationReport, StoreError>, Vec<String>) {
    let mut seen = Vec::new();
    for _ in 0..250 {
        match migrate_to_postgres(data_dir, url, &mut |p| seen.push(format!("{p:?}"))) {
            Err(StoreError::Unavailable(e)) if e.contains("server is using") => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await
            }
            other => return (other, seen),
        }
    }
    panic!("the closed store never released its directory");
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the target");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

async fn count(pg: &tokio_postgres::Client, table: &str) -> i64 {
    pg.query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .expect("count")
        .get(0)
}

#[actix_rt::test]
async fn an_embedded_store_arrives_whole_in_postgresql() {
    let Some(admin_url) = std::env::var(POSTGRES_VAR).ok().filter(|u| !u.is_empty()) else {
        eprintln!(
            "skipped the migration test: set {POSTGRES_VAR} to a PostgreSQL server's URL \
             (`eval \"$(scripts/services)\"` starts one) to run it"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.server.data_dir = dir.path().to_path_buf();
    let store = mailroom_store::start(&config, Bus::start()).expect("open the embedded store");
    let admin = StoreAdmin::new(store.clone());

    // The directory: domains, accounts (one admin, for a token), an alias, DKIM keys.
    admin.domain_add("example.test").await.expect("domain");
    admin.domain_add("other.test").await.expect("domain");
    let pw = mailroom_shared::Secret::new("correct horse battery");
    let alice = admin
        .user_add("alice@example.test", &pw, Role::Admin, Some(50_000_000))
        .await
        .expect("alice")
        .id;
    let bob = admin
        .user_add("bob@other.test", &pw, Role::User, None)
        .await
        .expect("bob")
        .id;
    admin
        .alias_add("info@example.test", &["alice@example.test".into()])
        .await
        .expect("alias");
    admin
        .token_create("alice@example.test", "ci")
        .await
        .expect("token");

    // Mailboxes and mail: a body shared by two recipients, one kept as a file, an APPEND
    // with flags and keywords, a flag change, an expunge, a deleted subscribed mailbox.
    for name in ["Work", "Projects/2026", "Old"] {
        send(
            &store,
            CreateMailbox {
                account_id: alice,
                name: name.into(),
            },
        )
        .await
        .expect("create");
    }
    for name in ["Work", "Old"] {
        send(
            &store,
            SetSubscribed {
                account_id: alice,
                name: name.into(),
                subscribed: true,
            },
        )
        .await
        .expect("subscribe");
    }
    let deliver = |recipients: Vec<i64>, raw: Arc<[u8]>| Deliver {
        recipients,
        junk: Vec::new(),
        raw,
        internal_date: Some(1_700_000_000),
        event: None,
    };
    send(&store, deliver(vec![alice, bob], message(0, 10)))
        .await
        .expect("shared delivery");
    let large = message(1, LARGE);
    send(&store, deliver(vec![alice], large.clone()))
        .await
        .expect("large delivery");
    for n in 2..5 {
        send(&store, deliver(vec![alice], message(n, n * 100)))
            .await
            .expect("delivery");
    }
    let appended = send(
        &store,
        Append {
            account_id: alice,
            mailbox: "Work".into(),
            flags: FLAG_SEEN | FLAG_FLAGGED,
            keywords: vec!["$Important".into(), "project".into()],
            internal_date: Some(1_600_000_000),
            raw: message(9, 50),
        },
    )
    .await
    .expect("append");
    let inbox = send(
        &store,
        Select {
            account_id: alice,
            name: "INBOX".into(),
        },
    )
    .await
    .expect("select")
    .0;
    let set = |uids: Vec<u32>, flags: u8, keywords: Vec<String>| SetFlags {
        account_id: alice,
        mailbox_id: inbox.id,
        uids,
        op: FlagOp::Add,
        flags,
        keywords,
        unchanged_since: None,
    };
    send(&store, set(vec![1], FLAG_DELETED, Vec::new()))
        .await
        .expect("flag");
    send(&store, set(vec![2, 3], FLAG_SEEN, vec!["followup".into()]))
        .await
        .expect("flag");
    send(
        &store,
        Expunge {
            account_id: alice,
            mailbox_id: inbox.id,
            uids: None,
        },
    )
    .await
    .expect("expunge");
    send(
        &store,
        DeleteMailbox {
            account_id: alice,
            name: "Old".into(),
        },
    )
    .await
    .expect("delete mailbox");

    // The queue, greylisting, the event log and a webhook cursor.
    send(
        &store,
        Submit {
            sender: "alice@example.test".into(),
            account_id: alice,
            local: Vec::new(),
            remote: vec![OutboundRecipient {
                address: "carol@remote.example".into(),
                notify: Notify::default(),
                orcpt: None,
            }],
            raw: b"Subject: out\r\n\r\nbody\r\n".to_vec(),
            ret: None,
            envid: Some("env-7".into()),
            event: None,
        },
    )
    .await
    .expect("submit");
    send(
        &store,
        SaveGreylist {
            triplets: vec![(
                Triplet {
                    net: "192.0.2.0/24".into(),
                    sender: "a@remote.example".into(),
                    recipient: "alice@example.test".into(),
                },
                TripletState {
                    first_seen: 100,
                    last_seen: 160,
                    passed_at: Some(160),
                    count: 2,
                },
            )],
            known: vec![(KnownSender::Domain("remote.example".into()), 160)],
            forget: Vec::new(),
        },
    )
    .await
    .expect("greylist");
    let event = send(
        &store,
        RecordEvent(EventData::AuthFailed(AuthFailed {
            protocol: "imap".into(),
            mechanism: "LOGIN".into(),
            client: "192.0.2.8".parse().expect("ip"),
            username: "mallory".into(),
        })),
    )
    .await
    .expect("event");
    send(
        &store,
        SetWebhookCursor {
            target: "https://hooks.example/x".into(),
            last_id: event.id,
        },
    )
    .await
    .expect("cursor");

    let mut before = snapshot(&store, alice).await;
    before.extend(snapshot(&store, bob).await);
    let large_hash = mailroom_store::types::blob_hash(&large);
    assert!(
        dir.path()
            .join("blobs")
            .join(&large_hash[..2])
            .join(&large_hash[2..])
            .is_file(),
        "the large body is a file in the embedded store"
    );

    let target = postgres(&admin_url).await;
    let url = target.config.store.url.clone().expect("url");

    // A store a server holds is refused, and nothing reaches the target.
    let held = migrate_to_postgres(dir.path(), &url, &mut |_| {});
    assert!(
        matches!(&held, Err(StoreError::Unavailable(e)) if e.contains("server is using")),
        "{held:?}"
    );
    let pg = connect(&url).await;
    assert_eq!(count(&pg, "accounts").await, 0);

    send(&store, Flush).await.expect("flush");
    drop((store, admin));
    let (report, seen) = migrate_when_released(dir.path(), &url).await;
    let report = report.expect("migrate");
    assert!(report.committed && report.verified(), "{report:#?}");
    assert!(
        seen.iter().any(|p| p.starts_with("Table(\"messages\")"))
            && seen.iter().any(|p| p.starts_with("Verified")),
        "progress was reported: {seen:?}"
    );
    for t in &report.tables {
        assert_eq!(t.source, t.target, "{}", t.table);
        assert_eq!(t.target as i64, count(&pg, t.table).await, "{}", t.table);
    }
    let rows = |name: &str| {
        report
            .tables
            .iter()
            .find(|t| t.table == name)
            .map(|t| t.target)
            .expect("table in the report")
    };
    for name in [
        "domains",
        "accounts",
        "aliases",
        "dkim_keys",
        "api_tokens",
        "mailboxes",
        "lost_subscriptions",
        "blobs",
        "messages",
        "expunged",
        "queue_messages",
        "queue_recipients",
        "greylist_triplets",
        "greylist_known",
        "events",
        "webhook_cursors",
    ] {
        assert!(rows(name) > 0, "the test put rows in {name}");
    }
    assert_eq!(report.bodies_checked, rows("blobs"));
    assert!(report.body_octets > LARGE as u64);

    // Every mailbox and message as IMAP saw them before.
    for (info, messages) in &before {
        let row = pg
            .query_one(
                "SELECT name, uidvalidity, uidnext, highestmodseq, subscribed, n_messages \
                 FROM mailboxes WHERE id = $1",
                &[&info.id],
            )
            .await
            .expect("mailbox");
        let got: (String, i64, i64, i64, bool, i64) = (
            row.get(0),
            row.get(1),
            row.get(2),
            row.get(3),
            row.get(4),
            row.get(5),
        );
        assert_eq!(
            got,
            (
                info.name.clone(),
                i64::from(info.uidvalidity),
                i64::from(info.uidnext),
                info.highestmodseq as i64,
                info.subscribed,
                messages.len() as i64
            ),
            "mailbox {}",
            info.name
        );
        let rows = pg
            .query(
                "SELECT uid, flags, keywords, modseq, internal_date, size FROM messages \
                 WHERE mailbox_id = $1 ORDER BY uid",
                &[&info.id],
            )
            .await
            .expect("messages");
        let got: Vec<(i64, i32, String, i64, i64, i64)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
            .collect();
        let want: Vec<(i64, i32, String, i64, i64, i64)> = messages
            .iter()
            .map(|m| {
                (
                    i64::from(m.uid),
                    i32::from(m.flags),
                    m.keywords.join(" "),
                    m.modseq as i64,
                    m.internal_date,
                    m.size as i64,
                )
            })
            .collect();
        assert_eq!(got, want, "messages of {}", info.name);
    }
    let work = &before
        .iter()
        .find(|(i, _)| i.name == "Work")
        .expect("work")
        .0;
    assert_eq!(work.uidvalidity, appended.uidvalidity);
    let inbox_after = &before
        .iter()
        .find(|(i, _)| i.id == inbox.id)
        .expect("inbox")
        .1;
    assert!(inbox_after.iter().all(|m| m.uid != 1), "uid 1 was expunged");
    let expunged: Vec<(i64, i64)> = pg
        .query(
            "SELECT uid, modseq FROM expunged WHERE mailbox_id = $1",
            &[&inbox.id],
        )
        .await
        .expect("expunged")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(expunged.len(), 1);
    assert_eq!(expunged[0].0, 1);
    assert!(expunged[0].1 > 1);

    // The body kept as a file is in its row now, octet for octet.
    let row = pg
        .query_one(
            "SELECT data, headers, refcount FROM blobs WHERE sha256 = $1",
            &[&large_hash],
        )
        .await
        .expect("large body");
    let (data, headers, refcount): (Vec<u8>, Vec<u8>, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(data, &large[..]);
    assert!(data.starts_with(&headers) && headers.ends_with(b"\r\n\r\n"));
    assert_eq!(refcount, 1);
    let shared: i64 = pg
        .query_one(
            "SELECT refcount FROM blobs WHERE sha256 = $1",
            &[&mailroom_store::types::blob_hash(&message(0, 10))],
        )
        .await
        .expect("shared body")
        .get(0);
    assert_eq!(
        shared, 1,
        "alice's copy (INBOX uid 1) was expunged, bob's is left"
    );

    // The rest, as it was written.
    let row = pg
        .query_one(
            "SELECT role, quota_bytes, password_hash FROM accounts WHERE id = $1",
            &[&alice],
        )
        .await
        .expect("alice");
    let (role, quota, hash): (String, i64, String) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((role.as_str(), quota), ("admin", 50_000_000));
    assert!(hash.starts_with("$argon2"), "{hash}");
    let lost: Vec<String> = pg
        .query("SELECT name FROM lost_subscriptions", &[])
        .await
        .expect("lost")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(lost, ["Old"]);
    let row = pg
        .query_one(
            "SELECT r.address, r.status, m.envid, m.account_id FROM queue_recipients r \
             JOIN queue_messages m ON m.id = r.message_id",
            &[],
        )
        .await
        .expect("queue");
    let queued: (String, String, Option<String>, Option<i64>) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(
        queued,
        (
            "carol@remote.example".into(),
            "queued".into(),
            Some("env-7".into()),
            Some(alice)
        )
    );
    let row = pg
        .query_one(
            "SELECT net, first_seen, passed_at, count FROM greylist_triplets",
            &[],
        )
        .await
        .expect("triplet");
    let triplet: (String, i64, Option<i64>, i64) = (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(triplet, ("192.0.2.0/24".into(), 100, Some(160), 2));
    let row = pg
        .query_one(
            "SELECT c.last_id, e.kind FROM webhook_cursors c JOIN events e ON e.id = c.last_id",
            &[],
        )
        .await
        .expect("cursor");
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, String>(1)),
        (event.id, "auth_failed".into())
    );

    // Numbering goes on past everything copied.
    for table in [
        "domains",
        "accounts",
        "mailboxes",
        "blobs",
        "messages",
        "events",
    ] {
        let sql = format!(
            "SELECT nextval(pg_get_serial_sequence('{table}', 'id')) > \
             (SELECT max(id) FROM {table})"
        );
        let past: bool = pg.query_one(&sql, &[]).await.expect("nextval").get(0);
        assert!(past, "{table} ids go on past the copied ones");
    }
    let past: bool = pg
        .query_one(
            "SELECT nextval('uidvalidity_seq') > (SELECT max(uidvalidity) FROM mailboxes)",
            &[],
        )
        .await
        .expect("uidvalidity")
        .get(0);
    assert!(past, "UIDVALIDITY goes on past every copied one");

    // A database that holds mailroom data is refused, and keeps what it had.
    let again = migrate_to_postgres(dir.path(), &url, &mut |_| {});
    assert!(
        matches!(&again, Err(StoreError::Invalid(e)) if e.contains("already holds mailroom data")),
        "{again:?}"
    );
    assert_eq!(count(&pg, "messages").await as u64, rows("messages"));

    // A copy that fails half-way (a body file is gone) leaves its target empty.
    std::fs::remove_file(
        dir.path()
            .join("blobs")
            .join(&large_hash[..2])
            .join(&large_hash[2..]),
    )
    .expect("remove the body file");
    let second = postgres(&admin_url).await;
    let url2 = second.config.store.url.clone().expect("url");
    let failed = migrate_to_postgres(dir.path(), &url2, &mut |_| {});
    assert!(
        matches!(&failed, Err(StoreError::Unavailable(e)) if e.contains("is missing")),
        "{failed:?}"
    );
    let pg2 = connect(&url2).await;
    for t in &report.tables {
        assert_eq!(
            count(&pg2, t.table).await,
            0,
            "{} after a failed copy",
            t.table
        );
    }
}
