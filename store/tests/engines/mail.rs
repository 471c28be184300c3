//! Messages: delivery (dedup of bodies, Junk routing, quota, all or nothing), APPEND, the
//! reads, flags and MODSEQ, COPY/MOVE/EXPUNGE with their announcements and QRESYNC history,
//! ownership, and POP3's removal.

use std::sync::Arc;

use actix::{Addr, Handler, Message};
use mailroom_config::StoreEngine;
use mailroom_shared::Secret;
use mailroom_shared::events::EventData;
use mailroom_shared::msg::MailboxChange;
use mailroom_store::actor::{
    Append, Changes, Copy, DeleteMailbox, Deliver, Expunge, FetchBodies, FetchBody, FetchHeaders,
    FetchMeta, ListMailboxes, Move, OpenBody, RemoveMessages, Select, SetFlags,
};
use mailroom_store::{
    BodySource, Delivered, FLAG_DELETED, FLAG_DRAFT, FLAG_FLAGGED, FLAG_SEEN, FlagOp, FlagsResult,
    MailboxInfo, MailboxStore, MessageInfo, Role, StoreError,
};

use crate::announced::Announced;
use crate::support::{Harness, each_engine};

/// A store with alice and bob (no quota) and carol (1000 octets).
pub struct Mail {
    pub h: Harness,
    pub alice: i64,
    pub bob: i64,
    pub carol: i64,
}

impl Mail {
    pub async fn new(h: Harness) -> Self {
        let alice = h.account("alice@example.test", "password1").await;
        let bob = h.account("bob@example.test", "password1").await;
        let carol = h
            .admin
            .user_add(
                "carol@example.test",
                &Secret::new("password1"),
                Role::User,
                Some(1000),
            )
            .await
            .expect("carol")
            .id;
        Mail {
            h,
            alice,
            bob,
            carol,
        }
    }

    /// Send `m` to the store actor.
    pub async fn ask<M>(&self, m: M) -> M::Result
    where
        M: Message + Send + 'static,
        M::Result: Send,
        MailboxStore: Handler<M>,
    {
        ask(&self.h.store, m).await
    }

    pub async fn deliver(&self, to: &[i64], raw: Arc<[u8]>) -> Result<Vec<Delivered>, StoreError> {
        self.ask(Deliver {
            recipients: to.to_vec(),
            junk: Vec::new(),
            raw,
            internal_date: Some(1_700_000_000),
            event: None,
        })
        .await
    }

    pub async fn mailbox(&self, account_id: i64, name: &str) -> (MailboxInfo, Vec<MessageInfo>) {
        self.ask(Select {
            account_id,
            name: name.into(),
        })
        .await
        .expect("select")
    }

    pub async fn flags(
        &self,
        mailbox_id: i64,
        uids: &[u32],
        op: FlagOp,
        flags: u8,
        keywords: &[&str],
        unchanged_since: Option<u64>,
    ) -> FlagsResult {
        self.ask(SetFlags {
            account_id: self.alice,
            mailbox_id,
            uids: uids.to_vec(),
            op,
            flags,
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
            unchanged_since,
        })
        .await
        .expect("set flags")
    }

    pub async fn used(&self, address: &str) -> u64 {
        self.h
            .admin
            .user_get(address)
            .await
            .expect(address)
            .used_bytes
    }

    /// One number the SQL `sql` (with `$1` = `id`) reads from the database.
    pub async fn scalar(&self, sql: &str, id: i64) -> i64 {
        match self.h.config.store.engine {
            StoreEngine::Embedded => {
                let db = self.h.config.server.data_dir.join("mailroom.db");
                let conn = rusqlite::Connection::open(db).expect("db");
                conn.query_row(&sql.replace("$1", "?1"), [id], |r| r.get(0))
                    .expect("query")
            }
            StoreEngine::Postgres => self
                .postgres()
                .await
                .query_one(sql, &[&id])
                .await
                .expect("query")
                .get(0),
        }
    }

    /// A connection to the harness's PostgreSQL database.
    async fn postgres(&self) -> tokio_postgres::Client {
        let url = self.h.config.store.url.as_deref().expect("url");
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        client
    }

    /// The reference counts of the stored bodies, ascending: read from the database, since
    /// no request shows them.
    pub async fn refcounts(&self) -> Vec<i64> {
        match self.h.config.store.engine {
            StoreEngine::Embedded => {
                let db = self.h.config.server.data_dir.join("mailroom.db");
                let conn = rusqlite::Connection::open(db).expect("db");
                let mut stmt = conn
                    .prepare("SELECT refcount FROM blobs ORDER BY refcount")
                    .expect("prepare");
                stmt.query_map([], |r| r.get(0))
                    .expect("query")
                    .collect::<Result<_, _>>()
                    .expect("rows")
            }
            StoreEngine::Postgres => self
                .postgres()
                .await
                .query("SELECT refcount FROM blobs ORDER BY refcount", &[])
                .await
                .expect("query")
                .iter()
                .map(|r| r.get(0))
                .collect(),
        }
    }
}

/// Send `m` to a store actor.
pub async fn ask<M>(store: &Addr<MailboxStore>, m: M) -> M::Result
where
    M: Message + Send + 'static,
    M::Result: Send,
    MailboxStore: Handler<M>,
{
    store.send(m).await.expect("store actor")
}

pub fn message(n: usize) -> Arc<[u8]> {
    format!("From: a@example.test\r\nSubject: test {n}\r\n\r\nbody {n}\r\n")
        .into_bytes()
        .into()
}

/// A message too big to live in a row of the embedded engine: there its body is a file.
pub fn large(n: usize) -> Arc<[u8]> {
    let line = format!("line of message {n} padded to make it large enough\r\n");
    format!(
        "Subject: large {n}\r\n\r\n{}",
        line.repeat(200 * 1024 / line.len())
    )
    .into_bytes()
    .into()
}

#[actix_rt::test]
async fn same_body_to_several_recipients_is_stored_once() {
    each_engine(|h| async move {
        let f = Mail::new(h).await;
        let engine = f.h.engine;
        // A small body, then a large one (a file of its own on the embedded engine).
        for (n, body) in [message(1), large(1)].into_iter().enumerate() {
            let delivered = f
                .deliver(&[f.alice, f.bob, f.bob], body.clone())
                .await
                .expect("deliver");
            assert_eq!(delivered.len(), 2, "{engine}: duplicates ignored");
            // alice also got the repeat of the round before.
            let uids: Vec<u32> = delivered.iter().map(|d| d.uid).collect();
            assert_eq!(uids, [2 * n as u32 + 1, n as u32 + 1], "{engine}");
            let expected: &[i64] = if n == 0 { &[2] } else { &[2, 3] };
            assert_eq!(f.refcounts().await, expected, "{engine}");
            // Identical content delivered again is still one body.
            f.deliver(&[f.alice], body.clone()).await.expect("again");
            let expected: &[i64] = if n == 0 { &[3] } else { &[3, 3] };
            assert_eq!(f.refcounts().await, expected, "{engine}");
            let fetched = f
                .ask(FetchBody {
                    account_id: f.bob,
                    mailbox_id: delivered[1].mailbox_id,
                    uid: n as u32 + 1,
                })
                .await
                .expect("body");
            assert_eq!(&*fetched, &*body, "{engine}");
        }
    })
    .await;
}

#[actix_rt::test]
async fn junk_recipients_get_their_copy_in_junk_and_the_body_is_stored_once() {
    each_engine(|h| async move {
        let f = Mail::new(h).await;
        let engine = f.h.engine;
        // carol has no Junk any more: hers falls back to INBOX.
        f.ask(DeleteMailbox {
            account_id: f.carol,
            name: "Junk".into(),
        })
        .await
        .expect("delete Junk");
        let delivered = f
            .ask(Deliver {
                recipients: vec![f.alice, f.bob, f.carol],
                junk: vec![f.alice, f.carol, 9999],
                raw: message(3),
                internal_date: Some(1_700_000_000),
                event: None,
            })
            .await
            .expect("deliver");
        assert_eq!(delivered.len(), 3, "{engine}");
        assert_eq!(
            f.refcounts().await,
            [3],
            "{engine}: one body, three references"
        );
        let copy = |who: i64| {
            delivered
                .iter()
                .find(|d| d.account_id == who)
                .expect("copy")
        };
        let (alice_junk, alice_msgs) = f.mailbox(f.alice, "Junk").await;
        assert_eq!(copy(f.alice).mailbox_id, alice_junk.id, "{engine}");
        assert_eq!(alice_msgs.len(), 1, "{engine}");
        assert!(f.mailbox(f.alice, "INBOX").await.1.is_empty(), "{engine}");
        let (bob_inbox, bob_msgs) = f.mailbox(f.bob, "INBOX").await;
        assert_eq!(copy(f.bob).mailbox_id, bob_inbox.id, "{engine}");
        assert_eq!(bob_msgs.len(), 1, "{engine}");
        assert!(f.mailbox(f.bob, "Junk").await.1.is_empty(), "{engine}");
        let (carol_inbox, carol_msgs) = f.mailbox(f.carol, "INBOX").await;
        assert_eq!(copy(f.carol).mailbox_id, carol_inbox.id, "{engine}");
        assert_eq!(carol_msgs.len(), 1, "{engine}");
    })
    .await;
}

#[actix_rt::test]
async fn a_delivery_announces_each_mailbox_and_logs_its_event_with_the_recipients() {
    each_engine(|h| async move {
        let f = Mail::new(h).await;
        let engine = f.h.engine;
        let heard = Announced::listen(&f.h.bus);
        let event = EventData::Delivered(mailroom_shared::events::Delivered {
            message_id: "m1".into(),
            client: "127.0.0.1".parse().expect("ip"),
            envelope: mailroom_shared::events::Envelope {
                mail_from: "a@example.test".into(),
                rcpt_to: vec!["team@example.test".into()],
            },
            recipients: Vec::new(),
            size: message(1).len() as u64,
            spam_score: None,
            auth_results: None,
        });
        let delivered = f
            .ask(Deliver {
                recipients: vec![f.bob, f.alice],
                junk: Vec::new(),
                raw: message(1),
                internal_date: None,
                event: Some(event),
            })
            .await
            .expect("deliver");
        let batch = heard.take().await;
        let mut changed: Vec<(i64, i64, MailboxChange)> = batch
            .changed
            .iter()
            .map(|c| (c.account_id, c.mailbox_id, c.change))
            .collect();
        changed.sort_by_key(|c| c.0);
        let mut expected: Vec<(i64, i64, MailboxChange)> = delivered
            .iter()
            .map(|d| (d.account_id, d.mailbox_id, MailboxChange::Added))
            .collect();
        expected.sort_by_key(|c| c.0);
        assert_eq!(changed, expected, "{engine}: one change per mailbox");
        for c in &batch.changed {
            let (info, _) = f.mailbox(c.account_id, "INBOX").await;
            assert_eq!(c.modseq, info.highestmodseq, "{engine}");
        }
        assert_eq!(batch.events.len(), 1, "{engine}");
        let EventData::Delivered(d) = &batch.events[0].data else {
            panic!("{engine}: {:?}", batch.events[0]);
        };
        assert_eq!(
            d.recipients,
            ["alice@example.test", "bob@example.test"],
            "{engine}: the store names the accounts"
        );
    })
    .await;
}

#[actix_rt::test]
async fn quota_exceeded_fails_the_whole_delivery() {
    each_engine(|h| async move {
        let f = Mail::new(h).await;
        let engine = f.h.engine;
        // carol's quota is 1000 octets.
        let big: Arc<[u8]> = vec![b'x'; 600].into();
        f.deliver(&[f.carol], big).await.expect("first fits");
        let mut other = vec![b'y'; 600];
        other[0] = b'z';
        let err = f.deliver(&[f.alice, f.carol], other.into()).await;
        assert_eq!(
            err,
            Err(StoreError::QuotaExceeded {
                address: "carol@example.test".into()
            }),
            "{engine}"
        );
        let (inbox, _) = f.mailbox(f.alice, "INBOX").await;
        assert_eq!(inbox.exists, 0, "{engine}: nobody got the failed delivery");
        assert_eq!(f.refcounts().await, [1], "{engine}");
        assert_eq!(f.used("alice@example.test").await, 0, "{engine}");
        assert_eq!(f.used("carol@example.test").await, 600, "{engine}");
    })
    .await;
}

#[actix_rt::test]
async fn unknown_recipient_fails_the_delivery() {
    each_engine(|h| async move {
        let f = Mail::new(h).await;
        let err = f.deliver(&[f.alice, 999], message(1)).await;
        assert!(
            matches!(err, Err(StoreError::NotFound(_))),
            "{}: {err:?}",
            f.h.engine
        );
        let err = f.deliver(&[], message(1)).await;
        assert!(
            matches!(err, Err(StoreError::Invalid(_))),
            "{}: {err:?}",
            f.h.engine
        );
        assert_eq!(f.mailbox(f.alice, "INBOX").await.0.exists, 0);
    })
    .await;
}

#[actix_rt::test]
async fn flags_take_new_modseqs_and_honour_unchangedsince() {
    each_engine(|h| async move {
        let f = Mail::new(h).await;
        let engine = f.h.engine;
        for n in 0..3 {
            f.deliver(&[f.alice], message(n)).await.expect("deliver");
        }
        let (inbox, msgs) = f.mailbox(f.alice, "inbox").await;
        assert_eq!(
            (inbox.exists, inbox.unseen, inbox.uidnext),
            (3, 3, 4),
            "{engine}"
        );
        let start = inbox.highestmodseq;
        assert!(msgs.iter().all(|m| m.modseq <= start));

        let r = f
            .flags(
                inbox.id,
                &[2, 1, 9],
                FlagOp::Add,
                FLAG_SEEN,
                &["$Work"],
                None,
            )
            .await;
        assert_eq!(r.updated.iter().map(|m| m.uid).collect::<Vec<_>>(), [1, 2]);
        // RFC 7162 §3.1: each change gets a MODSEQ above everything before it.
        assert_eq!(r.updated[0].modseq, start + 1, "{engine}");
        assert_eq!(r.updated[1].modseq, start + 2, "{engine}");
        assert_eq!(r.updated[0].keywords, ["$Work"]);
        let (inbox, _) = f.mailbox(f.alice, "INBOX").await;
        assert_eq!(
            (inbox.unseen, inbox.highestmodseq),
            (1, start + 2),
            "{engine}"
        );

        // No change, no new MODSEQ.
        let again = f
            .flags(inbox.id, &[1], FlagOp::Add, FLAG_SEEN, &["$work"], None)
            .await;
        assert!(again.updated.is_empty(), "{engine}");

        // UNCHANGEDSINCE below message 1's MODSEQ: refused for 1, done for 3.
        let r = f
            .flags(
                inbox.id,
                &[1, 3],
                FlagOp::Add,
                FLAG_FLAGGED,
                &[],
                Some(start),
            )
            .await;
        assert_eq!(r.failed_modified, [1], "{engine}");
        assert_eq!(r.updated.len(), 1);
        assert_eq!((r.updated[0].uid, r.updated[0].modseq), (3, start + 3));

        let r = f
            .flags(inbox.id, &[1], FlagOp::Remove, FLAG_SEEN, &["$WORK"], None)
            .await;
        assert_eq!((r.updated[0].flags, r.updated[0].keywords.len()), (0, 0));
        let r = f
            .flags(
                inbox.id,
                &[1],
                FlagOp::Replace,
                FLAG_DRAFT,
                &["b", "a"],
                None,
            )
            .await;
        assert_eq!(r.updated[0].flags, FLAG_DRAFT);
        assert_eq!(r.updated[0].keywords, ["a", "b"]);

        let bad = SetFlags {
            account_id: f.alice,
            mailbox_id: inbox.id,
            uids: vec![1],
            op: FlagOp::Add,
            flags: 0x80,
            keywords: vec![],
            unchanged_since: None,
        };
        assert!(
            matches!(f.ask(bad).await, Err(StoreError::Invalid(_))),
            "{engine}"
        );
    })
    .await;
}

#[actix_rt::test]
async fn copy_move_and_expunge() {
    each_engine(|h| async move {
        let f = Mail::new(h).await;
        let engine = f.h.engine;
        for n in 0..3 {
            f.deliver(&[f.alice], message(n)).await.expect("deliver");
        }
        let size: u64 = (0..3).map(|n| message(n).len() as u64).sum();
        let boxes = f
            .ask(ListMailboxes {
                account_id: f.alice,
            })
            .await
            .expect("list");
        let id = |name: &str| boxes.iter().find(|b| b.name == name).expect(name).id;
        let (inbox, archive, trash) = (id("INBOX"), id("Archive"), id("Trash"));
        let heard = Announced::listen(&f.h.bus);

        let copied = f
            .ask(Copy {
                account_id: f.alice,
                from: inbox,
                uids: vec![3, 1, 42],
                to: archive,
            })
            .await
            .expect("copy");
        assert_eq!(copied, [(1, 1), (3, 2)], "{engine}");
        assert_eq!(f.refcounts().await, [1, 2, 2], "{engine}");
        let alice = "alice@example.test";
        let copies = message(0).len() as u64 + message(2).len() as u64;
        assert_eq!(f.used(alice).await, size + copies, "{engine}");
        let batch = heard.take().await;
        assert_eq!(batch.changed.len(), 1, "{engine}");
        assert_eq!(
            (batch.changed[0].mailbox_id, batch.changed[0].change),
            (archive, MailboxChange::Added)
        );

        let (before, _) = f.mailbox(f.alice, "INBOX").await;
        let moved = f
            .ask(Move {
                account_id: f.alice,
                from: inbox,
                uids: vec![1, 2],
                to: trash,
            })
            .await
            .expect("move");
        assert_eq!(moved, [(1, 1), (2, 2)], "{engine}");
        let batch = heard.take().await;
        let changed: Vec<(i64, MailboxChange)> = batch
            .changed
            .iter()
            .map(|c| (c.mailbox_id, c.change))
            .collect();
        assert_eq!(
            changed,
            [
                (trash, MailboxChange::Added),
                (inbox, MailboxChange::Expunged)
            ],
            "{engine}: target added, source expunged"
        );
        let EventData::MessageMoved(m) = &batch.events[0].data else {
            panic!("{engine}: {:?}", batch.events);
        };
        assert_eq!(
            (m.from_mailbox.as_str(), m.to_mailbox.as_str()),
            ("INBOX", "Trash")
        );
        assert_eq!(m.to_special_use.as_deref(), Some("\\Trash"));
        assert_eq!(m.blobs.len(), 2, "{engine}");
        assert_eq!(
            f.used(alice).await,
            size + copies,
            "{engine}: a move costs nothing"
        );
        let (_, left) = f.mailbox(f.alice, "INBOX").await;
        assert_eq!(left.iter().map(|m| m.uid).collect::<Vec<_>>(), [3]);
        let (_, in_trash) = f.mailbox(f.alice, "Trash").await;
        assert_eq!(in_trash.len(), 2, "{engine}");
        // QRESYNC: the source remembers what left it.
        let since = f
            .ask(Changes {
                account_id: f.alice,
                mailbox_id: inbox,
                since_modseq: before.highestmodseq,
            })
            .await
            .expect("changes");
        assert_eq!(since.expunged, [1, 2], "{engine}");
        assert!(since.changed.is_empty(), "{engine}");

        // Expunge removes only \Deleted messages, and only the listed ones if given.
        f.flags(trash, &[1, 2], FlagOp::Add, FLAG_DELETED, &[], None)
            .await;
        let (flagged, _) = f.mailbox(f.alice, "Trash").await;
        let only = f
            .ask(Expunge {
                account_id: f.alice,
                mailbox_id: trash,
                uids: Some(vec![2, 7]),
            })
            .await
            .expect("uid expunge");
        assert_eq!(only, [2], "{engine}");
        let all = f
            .ask(Expunge {
                account_id: f.alice,
                mailbox_id: trash,
                uids: None,
            })
            .await
            .expect("expunge");
        assert_eq!(all, [1], "{engine}");
        let (trash_info, rest) = f.mailbox(f.alice, "Trash").await;
        assert!(rest.is_empty());
        assert_eq!(trash_info.uidnext, 3, "{engine}: UIDs are never reused");
        assert_eq!(
            f.used(alice).await,
            size + copies - message(0).len() as u64 - message(1).len() as u64,
            "{engine}"
        );
        // Expunged UIDs are remembered with the MODSEQ of their removal for QRESYNC.
        let since = f
            .ask(Changes {
                account_id: f.alice,
                mailbox_id: trash,
                since_modseq: flagged.highestmodseq,
            })
            .await
            .expect("changes");
        assert_eq!(since.expunged, [1, 2], "{engine}");
        let last = f
            .ask(Changes {
                account_id: f.alice,
                mailbox_id: trash,
                since_modseq: trash_info.highestmodseq - 1,
            })
            .await
            .expect("changes");
        assert_eq!(last.expunged, [1], "{engine}: the second expunge's MODSEQ");
        // Message 2's body (only in Trash) is gone; 0 and 2 are in INBOX and Archive.
        assert_eq!(f.refcounts().await, [1, 2], "{engine}");
    })
    .await;
}

#[actix_rt::test]
async fn another_accounts_mailbox_is_not_found() {
    each_engine(|h| async move {
        let f = Mail::new(h).await;
        let engine = f.h.engine;
        let d = f.deliver(&[f.alice], message(1)).await.expect("deliver");
        let inbox = d[0].mailbox_id;
        let not_found = |r: &Result<_, StoreError>| matches!(r, Err(StoreError::NotFound(_)));
        let flag = SetFlags {
            account_id: f.bob,
            mailbox_id: inbox,
            uids: vec![1],
            op: FlagOp::Add,
            flags: FLAG_DELETED,
            keywords: vec![],
            unchanged_since: None,
        };
        assert!(not_found(&f.ask(flag).await.map(|_| ())), "{engine}");
        let body = FetchBody {
            account_id: f.bob,
            mailbox_id: inbox,
            uid: 1,
        };
        assert!(not_found(&f.ask(body).await.map(|_| ())), "{engine}");
        let meta = FetchMeta {
            account_id: f.bob,
            mailbox_id: inbox,
            uids: vec![1],
        };
        assert!(not_found(&f.ask(meta).await.map(|_| ())), "{engine}");
        let bodies = FetchBodies {
            account_id: f.bob,
            mailbox_id: inbox,
            uids: vec![1],
        };
        assert_eq!(f.ask(bodies).await.expect("bodies").len(), 0, "{engine}");
        let headers = FetchHeaders {
            account_id: f.bob,
            mailbox_id: inbox,
            uids: vec![1],
        };
        assert_eq!(f.ask(headers).await.expect("headers").len(), 0, "{engine}");
        let (bob_inbox, _) = f.mailbox(f.bob, "INBOX").await;
        let steal = Copy {
            account_id: f.bob,
            from: inbox,
            uids: vec![1],
            to: bob_inbox.id,
        };
        assert!(not_found(&f.ask(steal).await.map(|_| ())), "{engine}");
        let take = Move {
            account_id: f.bob,
            from: inbox,
            uids: vec![1],
            to: bob_inbox.id,
        };
        assert!(not_found(&f.ask(take).await.map(|_| ())), "{engine}");
        let wipe = Expunge {
            account_id: f.bob,
            mailbox_id: inbox,
            uids: None,
        };
        assert!(not_found(&f.ask(wipe).await.map(|_| ())), "{engine}");
        let peek = Changes {
            account_id: f.bob,
            mailbox_id: inbox,
            since_modseq: 0,
        };
        assert!(not_found(&f.ask(peek).await.map(|_| ())), "{engine}");
        assert_eq!(f.mailbox(f.alice, "INBOX").await.1.len(), 1, "{engine}");
    })
    .await;
}

#[actix_rt::test]
async fn append_then_fetch_meta_bodies_and_headers() {
    each_engine(|h| async move {
        let f = Mail::new(h).await;
        let engine = f.h.engine;
        let raw = message(7);
        let append = Append {
            account_id: f.alice,
            mailbox: "Sent".into(),
            flags: FLAG_SEEN,
            keywords: vec!["$Forwarded".into()],
            internal_date: Some(1_600_000_000),
            raw: raw.clone(),
        };
        let appended = f.ask(append.clone()).await.expect("append");
        assert_eq!(appended.uid, 1, "{engine}");
        let (sent, msgs) = f.mailbox(f.alice, "Sent").await;
        assert_eq!(sent.uidvalidity, appended.uidvalidity, "{engine}");
        assert_eq!(sent.special_use.as_deref(), Some("\\Sent"));
        assert_eq!(msgs[0].internal_date, 1_600_000_000);
        assert_eq!(msgs[0].flags, FLAG_SEEN);
        assert_eq!(msgs[0].keywords, ["$Forwarded"], "{engine}");
        assert_eq!(msgs[0].size, raw.len() as u64);
        assert_eq!(
            (sent.exists, sent.unseen, sent.size),
            (1, 0, raw.len() as u64)
        );

        let metas = f
            .ask(FetchMeta {
                account_id: f.alice,
                mailbox_id: sent.id,
                uids: vec![1, 5],
            })
            .await
            .expect("meta");
        assert_eq!(metas.len(), 1, "{engine}");
        assert_eq!(*metas[0].1, mailroom_store::mime::analyze(&raw), "{engine}");
        let body = FetchBody {
            account_id: f.alice,
            mailbox_id: sent.id,
            uid: 1,
        };
        assert_eq!(&*f.ask(body).await.expect("body"), &*raw, "{engine}");
        let second = f
            .ask(Append {
                raw: message(8),
                ..append.clone()
            })
            .await
            .expect("2nd");
        assert_eq!(second.uid, 2);
        let bodies = f
            .ask(FetchBodies {
                account_id: f.alice,
                mailbox_id: sent.id,
                uids: vec![2, 9, 1],
            })
            .await
            .expect("bodies");
        let got: Vec<(u32, &[u8])> = bodies.iter().map(|(u, b)| (*u, &b[..])).collect();
        assert_eq!(got, [(1, &raw[..]), (2, &message(8)[..])], "{engine}");
        let headers = f
            .ask(FetchHeaders {
                account_id: f.alice,
                mailbox_id: sent.id,
                uids: vec![2],
            })
            .await
            .expect("headers");
        let header_end = b"Subject: test 8\r\n\r\n";
        let text = &message(8)[..];
        let cut = text
            .windows(header_end.len())
            .position(|w| w == header_end)
            .expect("header end")
            + header_end.len();
        assert_eq!(headers.len(), 1, "{engine}");
        assert_eq!(&headers[0].1[..], &text[..cut], "{engine}");
        let opened = f
            .ask(OpenBody {
                account_id: f.alice,
                mailbox_id: sent.id,
                uid: 2,
            })
            .await
            .expect("open");
        // A small body comes in memory from every engine.
        let BodySource::Inline(opened) = opened else {
            panic!("{engine}: {opened:?}");
        };
        assert_eq!(&opened[..], &message(8)[..], "{engine}");
        let gone = f
            .ask(OpenBody {
                account_id: f.alice,
                mailbox_id: sent.id,
                uid: 3,
            })
            .await;
        assert!(matches!(gone, Err(StoreError::NotFound(_))), "{engine}");

        let nowhere = Append {
            mailbox: "Nope".into(),
            ..append.clone()
        };
        assert!(
            matches!(f.ask(nowhere).await, Err(StoreError::NotFound(_))),
            "{engine}"
        );
        let bad = Append {
            keywords: vec!["has space".into()],
            ..append
        };
        assert!(
            matches!(f.ask(bad).await, Err(StoreError::Invalid(_))),
            "{engine}"
        );
    })
    .await;
}

#[actix_rt::test]
async fn expunging_the_last_copy_removes_the_body() {
    each_engine(|h| async move {
        let f = Mail::new(h).await;
        let d = f
            .deliver(&[f.alice, f.bob], large(1))
            .await
            .expect("deliver");
        for (who, delivery) in [(f.alice, &d[0]), (f.bob, &d[1])] {
            f.ask(SetFlags {
                account_id: who,
                mailbox_id: delivery.mailbox_id,
                uids: vec![delivery.uid],
                op: FlagOp::Add,
                flags: FLAG_DELETED,
                keywords: vec![],
                unchanged_since: None,
            })
            .await
            .expect("flag");
            let gone = f
                .ask(Expunge {
                    account_id: who,
                    mailbox_id: delivery.mailbox_id,
                    uids: None,
                })
                .await
                .expect("expunge");
            assert_eq!(gone, [1], "{}", f.h.engine);
        }
        assert_eq!(f.refcounts().await, Vec::<i64>::new(), "{}", f.h.engine);
    })
    .await;
}

#[actix_rt::test]
async fn remove_messages_takes_exactly_the_listed_uids_whatever_their_flags() {
    each_engine(|h| async move {
        let f = Mail::new(h).await;
        let engine = f.h.engine;
        for n in 0..4 {
            f.deliver(&[f.alice], message(n)).await.expect("deliver");
        }
        let (inbox, _) = f.mailbox(f.alice, "INBOX").await;
        // \Deleted on 4 must not matter: only the listed ones go.
        f.flags(inbox.id, &[4], FlagOp::Add, FLAG_DELETED, &[], None)
            .await;
        let alice = "alice@example.test";
        let before = f.used(alice).await;
        let heard = Announced::listen(&f.h.bus);
        let removed = f
            .ask(RemoveMessages {
                account_id: f.alice,
                mailbox_id: inbox.id,
                uids: vec![3, 1, 1, 99],
            })
            .await
            .expect("remove");
        assert_eq!(
            removed,
            [1, 3],
            "{engine}: ascending, deduplicated, missing skipped"
        );
        let changes = heard.changes().await;
        let (after, left) = f.mailbox(f.alice, "INBOX").await;
        assert_eq!(changes.len(), 1, "{engine}");
        assert_eq!(
            (changes[0].mailbox_id, changes[0].change, changes[0].modseq),
            (inbox.id, MailboxChange::Expunged, after.highestmodseq)
        );
        assert_eq!(left.iter().map(|m| m.uid).collect::<Vec<_>>(), [2, 4]);
        let freed = message(0).len() as u64 + message(2).len() as u64;
        assert_eq!(
            f.used(alice).await,
            before - freed,
            "{engine}: quota credited"
        );
        let since = f
            .ask(Changes {
                account_id: f.alice,
                mailbox_id: inbox.id,
                since_modseq: inbox.highestmodseq,
            })
            .await
            .expect("changes");
        assert_eq!(since.expunged, [1, 3], "{engine}");

        // Nothing to remove: nothing changes, nothing is announced.
        for uids in [vec![], vec![7, 8]] {
            let out = f
                .ask(RemoveMessages {
                    account_id: f.alice,
                    mailbox_id: inbox.id,
                    uids,
                })
                .await
                .expect("remove nothing");
            assert!(out.is_empty(), "{engine}");
        }
        assert!(heard.changes().await.is_empty(), "{engine}");
        assert_eq!(
            f.mailbox(f.alice, "INBOX").await.0.highestmodseq,
            after.highestmodseq
        );

        // Another account's mailbox: NotFound, and its messages stay.
        let d = f.deliver(&[f.bob], message(9)).await.expect("deliver");
        let r = f
            .ask(RemoveMessages {
                account_id: f.alice,
                mailbox_id: d[0].mailbox_id,
                uids: vec![d[0].uid],
            })
            .await;
        assert!(matches!(r, Err(StoreError::NotFound(_))), "{engine}: {r:?}");
        assert_eq!(f.mailbox(f.bob, "INBOX").await.1.len(), 1, "{engine}");
    })
    .await;
}
