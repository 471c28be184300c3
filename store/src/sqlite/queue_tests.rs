//! The outbound queue through the store actor: Submit is one transaction, results are
//! recorded with their DSNs, the queue survives a restart, admin requests act on it.

use std::sync::Arc;

use actix::prelude::*;
use mailroom_shared::Secret;
use mailroom_shared::bus::Bus;
use mailroom_shared::queue::{QueueAdmin, QueueChanged, QueueReply, QueueRequest};

use crate::MailboxStore;
use crate::error::StoreError;
use crate::outbound::{AttemptResult, DueQueue, Notify, OutboundRecipient, RecordAttempts};
use crate::requests::{Select, Submit};
use crate::sqlite::Admin;
use crate::types::Role;

#[derive(Default)]
struct Wakes(usize);
impl Actor for Wakes {
    type Context = Context<Self>;
}
impl Handler<QueueChanged> for Wakes {
    type Result = ();
    fn handle(&mut self, _: QueueChanged, _: &mut Context<Self>) {
        self.0 += 1;
    }
}
#[derive(Message)]
#[rtype(result = "usize")]
struct Count;
impl Handler<Count> for Wakes {
    type Result = usize;
    fn handle(&mut self, _: Count, _: &mut Context<Self>) -> usize {
        self.0
    }
}

fn remote(address: &str) -> OutboundRecipient {
    OutboundRecipient {
        address: address.into(),
        notify: Notify::default(),
        orcpt: None,
    }
}

fn submit(account_id: i64, local: Vec<i64>, remote: Vec<OutboundRecipient>) -> Submit {
    Submit {
        sender: "alice@example.test".into(),
        account_id,
        local,
        remote,
        raw: b"Subject: hi\r\n\r\nbody\r\n".to_vec(),
        ret: None,
        envid: Some("env-1".into()),
        event: None,
    }
}

fn setup() -> (tempfile::TempDir, i64, i64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = Admin::open(dir.path()).expect("admin");
    admin.domain_add("example.test").expect("domain");
    let pw = Secret::new("password1");
    let alice = admin
        .user_add("alice@example.test", &pw, Role::User, None)
        .expect("alice")
        .id;
    let bob = admin
        .user_add("bob@example.test", &pw, Role::User, Some(10))
        .expect("bob")
        .id;
    (dir, alice, bob)
}

async fn inbox_count(store: &Addr<MailboxStore>, account_id: i64) -> usize {
    let (_, messages) = store
        .send(Select {
            account_id,
            name: "INBOX".into(),
        })
        .await
        .expect("mailbox")
        .expect("select");
    messages.len()
}

async fn due(store: &Addr<MailboxStore>) -> Vec<crate::outbound::QueuedMessage> {
    store
        .send(DueQueue {
            now: i64::MAX,
            limit: 100,
            exclude: Vec::new(),
        })
        .await
        .expect("mailbox")
        .expect("due")
}

#[actix_rt::test]
async fn submit_stores_local_and_queues_remote_in_one_transaction() {
    let (dir, alice, bob) = setup();
    let bus = Bus::start();
    let wakes = Wakes::default().start();
    bus.subscribe::<QueueChanged>(wakes.clone().recipient());
    let store = MailboxStore::start_embedded(dir.path(), bus.clone()).expect("start");

    let done = store
        .send(submit(
            alice,
            vec![alice],
            vec![remote("x@remote.test"), remote("y@Remote.TEST")],
        ))
        .await
        .expect("mailbox")
        .expect("submit");
    assert_eq!(done.delivered.len(), 1);
    assert_eq!(done.queued.len(), 2);
    assert_eq!(inbox_count(&store, alice).await, 1);
    let queued = due(&store).await;
    assert_eq!(queued.len(), 1, "the body is queued once");
    assert_eq!(queued[0].envid.as_deref(), Some("env-1"));
    assert_eq!(queued[0].account_id, Some(alice));
    let domains: Vec<&str> = queued[0].recipients.iter().map(|r| &r.domain[..]).collect();
    assert_eq!(domains, ["remote.test", "remote.test"]);
    assert_eq!(&queued[0].body[..], b"Subject: hi\r\n\r\nbody\r\n");

    // In-flight messages are skipped and the limit counts what is left.
    let second = store
        .send(submit(alice, Vec::new(), vec![remote("w@remote.test")]))
        .await
        .expect("mailbox")
        .expect("submit");
    let next = store
        .send(DueQueue {
            now: i64::MAX,
            limit: 1,
            exclude: vec![queued[0].id],
        })
        .await
        .expect("mailbox")
        .expect("due");
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].recipients[0].id, second.queued[0]);
    store
        .send(QueueAdmin(QueueRequest::Delete(next[0].id)))
        .await
        .expect("mailbox")
        .expect("delete");
    // Bob's quota (10 octets) refuses his copy: then nothing is queued either.
    let refused = store
        .send(submit(alice, vec![bob], vec![remote("z@remote.test")]))
        .await
        .expect("mailbox");
    assert!(
        matches!(refused, Err(StoreError::QuotaExceeded { .. })),
        "{refused:?}"
    );
    assert_eq!(due(&store).await[0].recipients.len(), 2, "no new rows");
    // A round trip through the bus orders us after the store's publishes.
    bus.0
        .send(mailroom_shared::bus::Publish(QueueChanged))
        .await
        .expect("bus");
    assert_eq!(
        wakes.send(Count).await.expect("count"),
        3,
        "one wake per submission + ours"
    );
}

#[actix_rt::test]
async fn results_finish_rows_deliver_the_dsn_and_survive_a_restart() {
    let (dir, alice, _) = setup();
    let data = dir.path().to_path_buf();
    // The first server runs in a System of its own, gone (with its lock) before the restart.
    let first = std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let store = MailboxStore::start_embedded(&data, Bus::start()).expect("start");
            let s = store
                .send(submit(
                    alice,
                    Vec::new(),
                    vec![
                        remote("ok@remote.test"),
                        remote("later@remote.test"),
                        remote("bad@remote.test"),
                    ],
                ))
                .await
                .expect("mailbox")
                .expect("submit");
            let dsn: Arc<[u8]> = Arc::from(&b"Subject: Undelivered\r\n\r\nsorry\r\n"[..]);
            store
                .send(RecordAttempts {
                    results: vec![
                        (s.queued[0], AttemptResult::Delivered("250 ok".into())),
                        (
                            s.queued[1],
                            AttemptResult::Deferred {
                                error: "451 later".into(),
                                next_attempt: 1_000,
                                delay_notified: false,
                            },
                        ),
                        (s.queued[2], AttemptResult::Failed("550 no".into())),
                    ],
                    dsns: vec![(alice, dsn)],
                })
                .await
                .expect("mailbox")
                .expect("record");
            assert_eq!(
                inbox_count(&store, alice).await,
                1,
                "the DSN is in the Inbox"
            );
            store
                .send(crate::requests::Flush)
                .await
                .expect("mailbox")
                .expect("flush");
            (s.queued[1], s.queued[0])
        })
    });
    let (kept, done) = first.join().expect("first server");
    // Reopened: only the deferred recipient is left, due at its next attempt.
    let store = MailboxStore::start_embedded(dir.path(), Bus::start()).expect("restart");
    let before = store
        .send(DueQueue {
            now: 999,
            limit: 10,
            exclude: Vec::new(),
        })
        .await
        .expect("mailbox")
        .expect("due");
    assert!(before.is_empty(), "not due before its next attempt");
    let left = due(&store).await;
    assert_eq!(left.len(), 1);
    let ids: Vec<i64> = left[0].recipients.iter().map(|r| r.id).collect();
    assert_eq!(ids, [kept]);
    assert_eq!(left[0].recipients[0].attempts, 1);
    // Recording a result for a finished row changes nothing.
    store
        .send(RecordAttempts {
            results: vec![(done, AttemptResult::Failed("again".into()))],
            dsns: Vec::new(),
        })
        .await
        .expect("mailbox")
        .expect("record");
    assert_eq!(due(&store).await[0].recipients.len(), 1);
    // Hold keeps it from being due; release and retry bring it back; delete drops it.
    let message = left[0].id;
    let admin = |r| store.send(QueueAdmin(r));
    let Ok(Ok(QueueReply::Rows(rows))) = admin(QueueRequest::List).await else {
        panic!("list");
    };
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].last_error.as_deref(), Some("451 later"));
    assert_eq!(rows[0].next_attempt, 1_000);
    assert_eq!(
        admin(QueueRequest::Hold(message)).await.expect("mailbox"),
        Ok(QueueReply::Changed(1))
    );
    assert!(due(&store).await.is_empty(), "held");
    assert_eq!(
        admin(QueueRequest::Release(message))
            .await
            .expect("mailbox"),
        Ok(QueueReply::Changed(1))
    );
    assert_eq!(due(&store).await.len(), 1);
    assert_eq!(
        admin(QueueRequest::Delete(message)).await.expect("mailbox"),
        Ok(QueueReply::Changed(1))
    );
    assert!(due(&store).await.is_empty(), "deleted");
    assert_eq!(
        admin(QueueRequest::Retry(message)).await.expect("mailbox"),
        Ok(QueueReply::Changed(0))
    );
}
