//! The outbound queue through the store actor: a submission is one transaction, results are
//! recorded with their DSNs, the queue survives a restart, admin requests act on it — and,
//! with several nodes on one store, what `DueQueue` returns is leased to the node that asked:
//! no two nodes get the same recipient, and a dead node's recipients are taken over once its
//! lease runs out.

use std::collections::HashSet;
use std::sync::Arc;

use actix::prelude::*;
use mailroom_shared::Secret;
use mailroom_shared::queue::{QueueAdmin, QueueChanged, QueueReply, QueueRequest};
use mailroom_store::actor::{Select, Submit};
use mailroom_store::outbound::{AttemptResult, DueQueue, QueuedMessage, RecordAttempts};
use mailroom_store::{MailboxStore, Notify, OutboundRecipient, Role, StoreError};

use crate::support::{Harness, each_engine};

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

async fn due_at(store: &Addr<MailboxStore>, now: i64, exclude: Vec<i64>) -> Vec<QueuedMessage> {
    store
        .send(DueQueue {
            now,
            limit: 100,
            exclude,
            lease_secs: 900,
        })
        .await
        .expect("mailbox")
        .expect("due")
}

async fn due(store: &Addr<MailboxStore>) -> Vec<QueuedMessage> {
    due_at(store, unix_now(), Vec::new()).await
}

async fn submitted(store: &Addr<MailboxStore>, m: Submit) -> mailroom_store::Submitted {
    store.send(m).await.expect("mailbox").expect("submit")
}

fn recipient_ids(messages: &[QueuedMessage]) -> Vec<i64> {
    let mut ids: Vec<i64> = messages
        .iter()
        .flat_map(|m| m.recipients.iter().map(|r| r.id))
        .collect();
    ids.sort_unstable();
    ids
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn alice(h: &Harness) -> i64 {
    h.account("alice@example.test", "password1").await
}

#[actix_rt::test]
async fn submit_stores_local_and_queues_remote_in_one_transaction() {
    each_engine(|h| async move {
        let alice = alice(&h).await;
        let bob = h
            .admin
            .user_add(
                "bob@example.test",
                &Secret::new("password1"),
                Role::User,
                Some(10),
            )
            .await
            .expect("bob")
            .id;
        let wakes = Wakes::default().start();
        h.bus.subscribe::<QueueChanged>(wakes.clone().recipient());

        let remotes = vec![remote("x@remote.test"), remote("y@Remote.TEST.")];
        let done = submitted(&h.store, submit(alice, vec![alice], remotes)).await;
        assert_eq!(done.delivered.len(), 1, "{}", h.engine);
        assert_eq!(done.queued.len(), 2, "{}", h.engine);
        assert_eq!(inbox_count(&h.store, alice).await, 1, "{}", h.engine);
        let queued = due(&h.store).await;
        assert_eq!(queued.len(), 1, "{}: the body is queued once", h.engine);
        assert_eq!(queued[0].envid.as_deref(), Some("env-1"), "{}", h.engine);
        assert_eq!(queued[0].account_id, Some(alice), "{}", h.engine);
        let domains: Vec<&str> = queued[0].recipients.iter().map(|r| &r.domain[..]).collect();
        assert_eq!(domains, ["remote.test", "remote.test"], "{}", h.engine);
        assert_eq!(&queued[0].body[..], b"Subject: hi\r\n\r\nbody\r\n");

        // In-flight messages are skipped and the limit counts what is left.
        let second = submitted(
            &h.store,
            submit(alice, Vec::new(), vec![remote("w@remote.test")]),
        );
        let second = second.await;
        let next = h
            .store
            .send(DueQueue {
                now: unix_now(),
                limit: 1,
                exclude: vec![queued[0].id],
                lease_secs: 900,
            })
            .await
            .expect("mailbox")
            .expect("due");
        assert_eq!(next.len(), 1, "{}", h.engine);
        assert_eq!(next[0].recipients[0].id, second.queued[0], "{}", h.engine);
        h.store
            .send(QueueAdmin(QueueRequest::Delete(next[0].id)))
            .await
            .expect("mailbox")
            .expect("delete");
        // Bob's quota (10 octets) refuses his copy: then nothing is queued either.
        let refused = h
            .store
            .send(submit(alice, vec![bob], vec![remote("z@remote.test")]))
            .await
            .expect("mailbox");
        assert!(
            matches!(refused, Err(StoreError::QuotaExceeded { .. })),
            "{}: {refused:?}",
            h.engine
        );
        assert_eq!(
            due(&h.store).await[0].recipients.len(),
            2,
            "{}: no new rows",
            h.engine
        );
        // A round trip through the bus orders us after the store's publishes.
        h.bus
            .0
            .send(mailroom_shared::bus::Publish(QueueChanged))
            .await
            .expect("bus");
        let n = wakes.send(Count).await.expect("count");
        assert_eq!(n, 3, "{}: one wake per submission + ours", h.engine);
    })
    .await;
}

#[actix_rt::test]
async fn results_finish_rows_deliver_the_dsn_and_survive_a_restart() {
    each_engine(|mut h| async move {
        let alice = alice(&h).await;
        let remotes = vec![
            remote("ok@remote.test"),
            remote("later@remote.test"),
            remote("bad@remote.test"),
        ];
        let s = submitted(&h.store, submit(alice, Vec::new(), remotes)).await;
        let dsn: Arc<[u8]> = Arc::from(&b"Subject: Undelivered\r\n\r\nsorry\r\n"[..]);
        let record = RecordAttempts {
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
        };
        h.store
            .send(record)
            .await
            .expect("mailbox")
            .expect("record");
        assert_eq!(
            inbox_count(&h.store, alice).await,
            1,
            "{}: the DSN",
            h.engine
        );
        let (kept, done) = (s.queued[1], s.queued[0]);

        // Restarted: only the deferred recipient is left, due at its next attempt.
        h.restart().await;
        let before = due_at(&h.store, 999, Vec::new()).await;
        assert!(
            before.is_empty(),
            "{}: not due before its next attempt",
            h.engine
        );
        let left = due(&h.store).await;
        assert_eq!(left.len(), 1, "{}", h.engine);
        assert_eq!(recipient_ids(&left), [kept], "{}", h.engine);
        assert_eq!(left[0].recipients[0].attempts, 1, "{}", h.engine);
        // Recording a result for a finished row changes nothing.
        let again = RecordAttempts {
            results: vec![(done, AttemptResult::Failed("again".into()))],
            dsns: Vec::new(),
        };
        h.store.send(again).await.expect("mailbox").expect("record");
        assert_eq!(due(&h.store).await[0].recipients.len(), 1, "{}", h.engine);
        // Hold keeps it from being due; release and retry bring it back; delete drops it.
        let message = left[0].id;
        let admin = |r| h.store.send(QueueAdmin(r));
        let Ok(Ok(QueueReply::Rows(rows))) = admin(QueueRequest::List).await else {
            panic!("{}: list", h.engine);
        };
        assert_eq!(rows.len(), 1, "{}", h.engine);
        assert_eq!(
            rows[0].last_error.as_deref(),
            Some("451 later"),
            "{}",
            h.engine
        );
        assert_eq!(rows[0].next_attempt, 1_000, "{}", h.engine);
        let changed = |n| Ok(QueueReply::Changed(n));
        let hold = admin(QueueRequest::Hold(message)).await.expect("mailbox");
        assert_eq!(hold, changed(1), "{}", h.engine);
        assert!(due(&h.store).await.is_empty(), "{}: held", h.engine);
        let release = admin(QueueRequest::Release(message))
            .await
            .expect("mailbox");
        assert_eq!(release, changed(1), "{}", h.engine);
        assert_eq!(due(&h.store).await.len(), 1, "{}", h.engine);
        let delete = admin(QueueRequest::Delete(message)).await.expect("mailbox");
        assert_eq!(delete, changed(1), "{}", h.engine);
        assert!(due(&h.store).await.is_empty(), "{}: deleted", h.engine);
        let retry = admin(QueueRequest::Retry(message)).await.expect("mailbox");
        assert_eq!(retry, changed(0), "{}", h.engine);
    })
    .await;
}

#[actix_rt::test]
async fn a_node_gets_its_own_due_work_again_until_it_records_a_result() {
    // The outbound actor may read a message it then cannot start (connection limits): the
    // next scan of the same node must get it again, leased or not.
    each_engine(|h| async move {
        let alice = alice(&h).await;
        let s = submitted(
            &h.store,
            submit(alice, Vec::new(), vec![remote("x@remote.test")]),
        );
        let s = s.await;
        let first = due(&h.store).await;
        assert_eq!(recipient_ids(&first), s.queued, "{}", h.engine);
        assert_eq!(
            recipient_ids(&due(&h.store).await),
            s.queued,
            "{}",
            h.engine
        );
        // In flight: excluded by the caller.
        assert!(
            due_at(&h.store, unix_now(), vec![first[0].id])
                .await
                .is_empty()
        );
        let record = RecordAttempts {
            results: vec![(s.queued[0], AttemptResult::Delivered("250 ok".into()))],
            dsns: Vec::new(),
        };
        h.store
            .send(record)
            .await
            .expect("mailbox")
            .expect("record");
        assert!(due(&h.store).await.is_empty(), "{}: delivered", h.engine);
    })
    .await;
}

#[actix_rt::test]
async fn two_nodes_asking_at_once_never_get_the_same_recipient() {
    each_engine(|h| async move {
        let Some(b) = h.other_node("node-b") else {
            return; // one process owns an embedded store: there is no second node
        };
        let alice = alice(&h).await;
        let mut all = Vec::new();
        for n in 0..30 {
            let remotes = (0..3).map(|r| remote(&format!("r{r}@d{n}.test"))).collect();
            all.extend(
                submitted(&h.store, submit(alice, Vec::new(), remotes))
                    .await
                    .queued,
            );
        }
        all.sort_unstable();
        let now = unix_now();
        let mut got_a = Vec::new();
        let mut got_b = Vec::new();
        // Small scans, both nodes at once, each excluding what it holds (as the outbound
        // actor excludes its messages in flight), until neither gets anything new.
        let (mut held_a, mut held_b) = (Vec::new(), Vec::new());
        for _ in 0..40 {
            let ask = |store: &Addr<MailboxStore>, exclude: &Vec<i64>| {
                store.send(DueQueue {
                    now,
                    limit: 4,
                    exclude: exclude.clone(),
                    lease_secs: 900,
                })
            };
            let (a, bb) = tokio::join!(ask(&h.store, &held_a), ask(&b, &held_b));
            let (a, bb) = (
                a.expect("mailbox").expect("a"),
                bb.expect("mailbox").expect("b"),
            );
            if a.is_empty() && bb.is_empty() {
                break;
            }
            held_a.extend(a.iter().map(|m| m.id));
            held_b.extend(bb.iter().map(|m| m.id));
            got_a.extend(recipient_ids(&a));
            got_b.extend(recipient_ids(&bb));
        }
        let a: HashSet<i64> = got_a.into_iter().collect();
        let bb: HashSet<i64> = got_b.into_iter().collect();
        let both: Vec<&i64> = a.intersection(&bb).collect();
        assert!(both.is_empty(), "both nodes leased {both:?}");
        let mut union: Vec<i64> = a.union(&bb).copied().collect();
        union.sort_unstable();
        assert_eq!(union, all, "every recipient was leased by one node");
        assert!(
            !a.is_empty() && !bb.is_empty(),
            "both nodes worked: {a:?} {bb:?}"
        );
    })
    .await;
}

#[actix_rt::test]
async fn a_dead_nodes_lease_is_taken_over_and_a_deferred_recipient_is_free() {
    each_engine(|h| async move {
        let Some(b) = h.other_node("node-b") else {
            return;
        };
        let alice = alice(&h).await;
        let s = submitted(
            &h.store,
            submit(alice, Vec::new(), vec![remote("x@remote.test")]),
        );
        let s = s.await;
        let now = unix_now();
        assert_eq!(
            recipient_ids(&due_at(&h.store, now, Vec::new()).await),
            s.queued
        );
        // Leased by the first node: B passes it by while the lease lasts…
        assert!(due_at(&b, now + 60, Vec::new()).await.is_empty(), "leased");
        // … and takes it once the lease has run out (the first node died mid-delivery).
        let later = now + 24 * 3600;
        let taken = due_at(&b, later, Vec::new()).await;
        assert_eq!(recipient_ids(&taken), s.queued, "taken over");
        // Now B's: the first node, back, passes it by.
        assert!(
            due_at(&h.store, later + 1, Vec::new()).await.is_empty(),
            "B holds it"
        );
        // B defers it: the lease goes with the attempt, so at its next attempt any node
        // may take it.
        let record = RecordAttempts {
            results: vec![(
                s.queued[0],
                AttemptResult::Deferred {
                    error: "451 later".into(),
                    next_attempt: later + 10,
                    delay_notified: false,
                },
            )],
            dsns: Vec::new(),
        };
        b.send(record).await.expect("mailbox").expect("record");
        assert!(
            due_at(&h.store, later + 5, Vec::new()).await.is_empty(),
            "not due yet"
        );
        let retried = due_at(&h.store, later + 10, Vec::new()).await;
        assert_eq!(recipient_ids(&retried), s.queued, "free after the deferral");
        assert_eq!(retried[0].recipients[0].attempts, 1);
    })
    .await;
}
