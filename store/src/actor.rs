//! The `MailboxStore` actor: the one way protocol sessions, the outbound queue, the admin
//! panel, the API and the CLI reach the store.
//!
//! The actor is thin glue. Each handler hands its request ([`crate::requests`]) to the engine
//! behind the role traits ([`crate::engine`]) and returns the engine's future as a
//! `ResponseFuture`, so it never blocks its arbiter: writes wait on the writer, reads on the
//! read pool, argon2 and body files on the blocking pool. After a write is durable, the
//! handler publishes `MailboxChanged` for every mailbox it changed (and `MessageDelivered` for
//! a delivery) on the bus.
//!
//! Every message that names a mailbox id also carries the `account_id` of the session's
//! logged-in user, and the store refuses (NotFound) a mailbox that account does not own.

use std::sync::Arc;

use actix::prelude::*;
use mailroom_shared::bus::Bus;
use mailroom_shared::events::{EventData, EventRecorded};
use mailroom_shared::metrics::{AuthOutcome, metrics};
use mailroom_shared::msg::MessageDelivered;
use mailroom_shared::queue::{QueueAdmin, QueueChanged, QueueReply, QueueRequest};

use crate::dkim::{DkimKey, DkimKeys};
use crate::engine::{Engine, Outcome, StoreFuture};
use crate::error::StoreError;
use crate::greylist::{
    ExpireGreylist, GreylistLookup, GreylistRows, LoadGreylist, LookupGreylist, SaveGreylist,
};
use crate::mime::MessageMeta;
use crate::outbound::{DueQueue, QueuedMessage, RecordAttempts, Submitted};
use crate::requests::QueueCommand;
use crate::spam::{
    BayesCounts, FetchBlob, FetchSpamDecision, HostedDomains, ReadBayes, RecordSpamDecisions,
    StoredSpamDecision, TrainBayes, Trained,
};
use crate::types::{
    Account, Appended, BodySource, ChangeSet, Delivered, FlagsResult, LoginOutcome, MailboxInfo,
    MessageInfo, Resolution, StoreStats,
};

// The requests, where callers have always found them.
pub use crate::requests::directory::{LoginAttempt, LoginGuard, LoginProtocol, Verdict};
pub use crate::requests::{
    Append, Authenticate, Changes, CheckRecipient, ClaimRecent, Copy, CreateMailbox, DeleteMailbox,
    Deliver, Expunge, FetchBodies, FetchBody, FetchHeaders, FetchMeta, Flush, LastEventId,
    LeaseWebhook, ListMailboxes, LostSubscriptions, Move, OpenBody, OwnsAddresses, PruneEvents,
    ReadEvents, RecordEvent, RemoveMessages, RenameMailbox, ResolveRecipient, Select, SetFlags,
    SetSubscribed, SetWebhookCursor, Stats, Submit, WatchFatal, WebhookCursor,
};

impl Handler<Authenticate> for MailboxStore {
    type Result = ResponseFuture<Verdict<Account>>;
    fn handle(&mut self, msg: Authenticate, ctx: &mut Context<Self>) -> Self::Result {
        let me = ctx.address();
        let attempt = msg.attempt.clone();
        let username = msg.address.clone();
        let delay = msg.guard.refusal_delay();
        let checked = self.engine.authenticate(msg);
        Box::pin(async move {
            let protocol = attempt.protocol.as_str();
            let (verdict, outcome) = match checked.await {
                Ok(LoginOutcome::Accepted(account)) => {
                    (Verdict::Accepted(account), AuthOutcome::Success)
                }
                Ok(LoginOutcome::Refused { locked }) => {
                    // Logged without making the client wait any longer.
                    me.do_send(RecordEvent(EventData::AuthFailed(
                        mailroom_shared::events::AuthFailed {
                            protocol: protocol.into(),
                            mechanism: attempt.mechanism.clone(),
                            client: attempt.client,
                            username,
                        },
                    )));
                    for l in locked {
                        tracing::warn!(
                            scope = l.scope.as_str(),
                            target = %l.key,
                            failures = l.failures,
                            protocol,
                            client = %attempt.client,
                            until = l.until,
                            "failed logins began a lockout"
                        );
                        metrics().lockout(protocol, l.scope.as_str());
                        me.do_send(RecordEvent(EventData::LockedOut(
                            mailroom_shared::events::LockedOut {
                                protocol: protocol.into(),
                                scope: l.scope.as_str().into(),
                                target: l.key,
                                failures: l.failures,
                                client: attempt.client,
                                until: l.until,
                            },
                        )));
                    }
                    (Verdict::Refused, AuthOutcome::Failure)
                }
                Ok(LoginOutcome::LockedOut(l)) => (Verdict::LockedOut(l), AuthOutcome::LockedOut),
                Err(e) => (Verdict::Unavailable(e.to_string()), AuthOutcome::Error),
            };
            metrics().auth_attempt(protocol, &attempt.mechanism, outcome);
            if matches!(verdict, Verdict::Refused | Verdict::LockedOut(_)) {
                // The same wait for both refusals: it slows guessing down without costing
                // the server anything (other sessions go on), and a lockout looks like a
                // failure from the outside.
                tokio::time::sleep(delay).await;
            }
            verdict
        })
    }
}

impl Handler<Submit> for MailboxStore {
    type Result = ResponseFuture<Result<Submitted, StoreError>>;
    fn handle(&mut self, msg: Submit, _: &mut Context<Self>) -> Self::Result {
        let size = msg.raw.len() as u64;
        let bus = self.bus.clone();
        let submitted = self.write(self.engine.submit(msg));
        Box::pin(async move {
            let submitted = submitted.await?;
            if !submitted.delivered.is_empty() {
                bus.publish(MessageDelivered {
                    account_ids: submitted.delivered.iter().map(|d| d.account_id).collect(),
                    size,
                });
            }
            if !submitted.queued.is_empty() {
                bus.publish(QueueChanged);
            }
            Ok(submitted)
        })
    }
}

impl Handler<QueueCommand> for MailboxStore {
    type Result = ResponseFuture<Result<QueueReply, StoreError>>;
    fn handle(&mut self, msg: QueueCommand, _: &mut Context<Self>) -> Self::Result {
        let bus = self.bus.clone();
        let wakes = matches!(
            msg.0,
            QueueRequest::Retry(_) | QueueRequest::RetryAll | QueueRequest::Release(_)
        );
        let done = self.write(self.engine.queue_admin(msg.0));
        Box::pin(async move {
            let reply = done.await?;
            if wakes {
                bus.publish(QueueChanged);
            }
            Ok(reply)
        })
    }
}

impl Handler<QueueAdmin> for MailboxStore {
    type Result = ResponseFuture<Result<QueueReply, String>>;
    fn handle(&mut self, msg: QueueAdmin, ctx: &mut Context<Self>) -> Self::Result {
        let done = self.handle(QueueCommand(msg.0), ctx);
        Box::pin(async move { done.await.map_err(|e| e.to_string()) })
    }
}

/// The store actor. Start one per process with [`crate::start`]; sessions
/// reach it through [`local_twin`].
///
/// It keeps no state of its own beyond the shared engine and bus, so any number of copies
/// ("twins") may run, one per arbiter: a session that asks the twin on its own thread saves
/// the trip to the System arbiter and back on every request.
#[derive(Clone, MessageResponse)]
pub struct MailboxStore {
    engine: Arc<dyn Engine>,
    bus: Bus,
}

/// Ask for a copy of the store actor to start elsewhere. Sent by [`local_twin`].
#[derive(Message)]
#[rtype(result = "MailboxStore")]
pub struct Twin;

impl Handler<Twin> for MailboxStore {
    type Result = MailboxStore;
    fn handle(&mut self, _: Twin, _: &mut Context<Self>) -> MailboxStore {
        self.clone()
    }
}

thread_local! {
    /// Twins started on this thread, by the address they were made from.
    static TWINS: std::cell::RefCell<Vec<(Addr<MailboxStore>, Addr<MailboxStore>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The twin of `store` on the current arbiter, started on first use and reused after; `store`
/// itself if it cannot be reached (the caller's request then fails the same way).
pub async fn local_twin(store: &Addr<MailboxStore>) -> Addr<MailboxStore> {
    let known = |store: &Addr<MailboxStore>| {
        TWINS.with(|twins| {
            let mut twins = twins.borrow_mut();
            // Twins of a stopped System (tests run several on one thread) are dead.
            twins.retain(|(origin, twin)| origin.connected() && twin.connected());
            twins
                .iter()
                .find(|(origin, _)| origin == store)
                .map(|(_, twin)| twin.clone())
        })
    };
    if let Some(twin) = known(store) {
        return twin;
    }
    let Ok(seed) = store.send(Twin).await else {
        return store.clone();
    };
    // Another session on this thread may have started one while we waited.
    if let Some(twin) = known(store) {
        return twin;
    }
    let twin = seed.start();
    TWINS.with(|twins| twins.borrow_mut().push((store.clone(), twin.clone())));
    twin
}

impl Actor for MailboxStore {
    type Context = Context<Self>;
}

impl MailboxStore {
    /// Start the actor over an engine (see [`crate::open`]).
    pub fn start_with(engine: Arc<dyn Engine>, bus: Bus) -> Addr<MailboxStore> {
        MailboxStore { engine, bus }.start()
    }

    /// Await a write, then announce its changes: the events go out only once it is durable.
    fn write<T: 'static>(
        &self,
        fut: StoreFuture<Outcome<T>>,
    ) -> ResponseFuture<Result<T, StoreError>> {
        let bus = self.bus.clone();
        Box::pin(async move {
            let outcome = fut.await?;
            for change in outcome.changes {
                bus.publish(change);
            }
            for event in outcome.events {
                bus.publish(event);
            }
            Ok(outcome.value)
        })
    }
}

/// A handler that just forwards to an engine read.
macro_rules! read_handler {
    ($msg:ty, $method:ident, $out:ty) => {
        impl Handler<$msg> for MailboxStore {
            type Result = ResponseFuture<Result<$out, StoreError>>;
            fn handle(&mut self, msg: $msg, _: &mut Context<Self>) -> Self::Result {
                self.engine.$method(msg)
            }
        }
    };
}

/// A handler for a write: forward, then publish its changes.
macro_rules! write_handler {
    ($msg:ty, $method:ident, $out:ty) => {
        impl Handler<$msg> for MailboxStore {
            type Result = ResponseFuture<Result<$out, StoreError>>;
            fn handle(&mut self, msg: $msg, _: &mut Context<Self>) -> Self::Result {
                self.write(self.engine.$method(msg))
            }
        }
    };
}

mod accounts;

read_handler!(ResolveRecipient, resolve_recipient, Resolution);
read_handler!(CheckRecipient, check_recipient, (Resolution, Vec<i64>));
read_handler!(OwnsAddresses, owns_addresses, Vec<bool>);
read_handler!(ListMailboxes, list_mailboxes, Vec<MailboxInfo>);
read_handler!(LostSubscriptions, lost_subscriptions, Vec<String>);
read_handler!(Select, select, (MailboxInfo, Vec<MessageInfo>));
read_handler!(FetchMeta, fetch_meta, Vec<(MessageInfo, Arc<MessageMeta>)>);
read_handler!(FetchBody, fetch_body, Arc<[u8]>);
read_handler!(FetchBodies, fetch_bodies, Vec<(u32, Arc<[u8]>)>);
read_handler!(FetchHeaders, fetch_headers, Vec<(u32, Arc<[u8]>)>);
read_handler!(Changes, changes, ChangeSet);
write_handler!(Append, append, Appended);
write_handler!(SetFlags, set_flags, FlagsResult);
write_handler!(Copy, copy, Vec<(u32, u32)>);
write_handler!(Move, move_messages, Vec<(u32, u32)>);
write_handler!(Expunge, expunge, Vec<u32>);
write_handler!(CreateMailbox, create_mailbox, MailboxInfo);
write_handler!(DeleteMailbox, delete_mailbox, ());
write_handler!(RenameMailbox, rename_mailbox, ());
write_handler!(SetSubscribed, set_subscribed, ());
write_handler!(ClaimRecent, claim_recent, u32);
read_handler!(OpenBody, open_body, BodySource);
write_handler!(RemoveMessages, remove_messages, Vec<u32>);
write_handler!(RecordEvent, record_event, EventRecorded);
read_handler!(ReadEvents, read_events, Vec<EventRecorded>);
read_handler!(LastEventId, last_event_id, i64);
read_handler!(WebhookCursor, webhook_cursor, Option<i64>);
write_handler!(SetWebhookCursor, set_webhook_cursor, ());
write_handler!(PruneEvents, prune_events, u64);
read_handler!(LeaseWebhook, lease_webhook, bool);
read_handler!(ReadBayes, read_bayes, Vec<(i64, BayesCounts)>);
write_handler!(TrainBayes, train_bayes, Trained);
write_handler!(RecordSpamDecisions, record_spam_decisions, ());
read_handler!(
    FetchSpamDecision,
    fetch_spam_decision,
    Option<StoredSpamDecision>
);
read_handler!(FetchBlob, fetch_blob, Arc<[u8]>);
read_handler!(HostedDomains, hosted_domains, Vec<String>);
read_handler!(DueQueue, due_queue, Vec<QueuedMessage>);
write_handler!(RecordAttempts, record_attempts, ());
read_handler!(DkimKeys, dkim_keys, Vec<DkimKey>);
read_handler!(LoadGreylist, load_greylist, GreylistRows);
read_handler!(LookupGreylist, lookup_greylist, GreylistLookup);
read_handler!(SaveGreylist, save_greylist, ());
read_handler!(ExpireGreylist, expire_greylist, u64);

impl Handler<Deliver> for MailboxStore {
    type Result = ResponseFuture<Result<Vec<Delivered>, StoreError>>;
    fn handle(&mut self, msg: Deliver, _: &mut Context<Self>) -> Self::Result {
        let size = msg.raw.len() as u64;
        let bus = self.bus.clone();
        let delivered = self.write(self.engine.deliver(msg));
        Box::pin(async move {
            let delivered = delivered.await?;
            bus.publish(MessageDelivered {
                account_ids: delivered.iter().map(|d| d.account_id).collect(),
                size,
            });
            Ok(delivered)
        })
    }
}

impl Handler<Stats> for MailboxStore {
    type Result = Result<StoreStats, StoreError>;
    fn handle(&mut self, _: Stats, _: &mut Context<Self>) -> Self::Result {
        Ok(self.engine.stats())
    }
}

impl Handler<Flush> for MailboxStore {
    type Result = ResponseFuture<Result<(), StoreError>>;
    fn handle(&mut self, _: Flush, _: &mut Context<Self>) -> Self::Result {
        self.engine.flush()
    }
}

impl Handler<WatchFatal> for MailboxStore {
    type Result = MessageResult<WatchFatal>;
    fn handle(&mut self, _: WatchFatal, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.engine.fatal())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Role;
    use mailroom_shared::Secret;
    use mailroom_shared::bus::Publish;
    use mailroom_shared::msg::{MailboxChange, MailboxChanged};

    /// Collects the store's events.
    #[derive(Default)]
    struct Sink {
        changed: Vec<MailboxChanged>,
        delivered: Vec<MessageDelivered>,
    }
    impl Actor for Sink {
        type Context = Context<Self>;
    }
    impl Handler<MailboxChanged> for Sink {
        type Result = ();
        fn handle(&mut self, m: MailboxChanged, _: &mut Context<Self>) {
            self.changed.push(m);
        }
    }
    impl Handler<MessageDelivered> for Sink {
        type Result = ();
        fn handle(&mut self, m: MessageDelivered, _: &mut Context<Self>) {
            self.delivered.push(m);
        }
    }
    #[derive(Message)]
    #[rtype(result = "(Vec<MailboxChanged>, Vec<MessageDelivered>)")]
    struct Seen;
    impl Handler<Seen> for Sink {
        type Result = MessageResult<Seen>;
        fn handle(&mut self, _: Seen, _: &mut Context<Self>) -> Self::Result {
            MessageResult((self.changed.clone(), self.delivered.clone()))
        }
    }

    /// A store with alice (password `password1`) whose events a [`Sink`] collects.
    async fn with_alice_and_sink() -> (tempfile::TempDir, i64, Bus, Addr<Sink>, Addr<MailboxStore>)
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let bus = Bus::start();
        let sink = Sink::default().start();
        bus.subscribe(sink.clone().recipient::<MailboxChanged>());
        bus.subscribe(sink.clone().recipient::<MessageDelivered>());
        let store = MailboxStore::start_embedded(dir.path(), bus.clone()).expect("start");
        store
            .send(crate::requests::AddDomain {
                name: "example.test".into(),
            })
            .await
            .expect("mailbox")
            .expect("domain");
        let alice = store
            .send(crate::requests::AddAccount {
                address: "alice@example.test".into(),
                password: Secret::new("password1"),
                role: Role::User,
                quota: None,
            })
            .await
            .expect("mailbox")
            .expect("alice")
            .id;
        (dir, alice, bus, sink, store)
    }

    #[actix_rt::test]
    async fn a_local_twin_serves_from_this_arbiter_and_publishes_the_same() {
        let (_dir, alice, bus, sink, store) = with_alice_and_sink().await;
        let twin = local_twin(&store).await;
        assert!(twin != store, "a twin is an actor of its own");
        assert!(
            local_twin(&store).await == twin,
            "and is reused on this thread"
        );

        // On another arbiter, another twin.
        let other = actix_rt::Arbiter::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let origin = store.clone();
        other.spawn(async move {
            let _ = tx.send(local_twin(&origin).await);
        });
        let far = rx.await.expect("twin from the other arbiter");
        assert!(far != twin && far != store);
        other.stop();

        let delivered = twin
            .send(Deliver {
                recipients: vec![alice],
                raw: Arc::from(&b"Subject: via twin\r\n\r\nhi\r\n"[..]),
                internal_date: None,
                event: None,
                junk: Vec::new(),
            })
            .await
            .expect("mailbox")
            .expect("deliver");
        let seen = store
            .send(ResolveRecipient {
                address: "alice@example.test".into(),
            })
            .await
            .expect("mailbox")
            .expect("resolve");
        assert_eq!(seen, Resolution::Local(vec![alice]));
        bus.0
            .send(Publish(MessageDelivered {
                account_ids: vec![],
                size: 0,
            }))
            .await
            .expect("bus");
        let (changed, _) = sink.send(Seen).await.expect("sink");
        assert_eq!(
            changed.len(),
            1,
            "the twin's write was announced on the bus"
        );
        assert_eq!(changed[0].mailbox_id, delivered[0].mailbox_id);
    }

    #[actix_rt::test]
    async fn deliver_publishes_after_it_is_durable() {
        let (_dir, alice, bus, sink, store) = with_alice_and_sink().await;

        let resolved = store
            .send(ResolveRecipient {
                address: "alice+x@example.test".into(),
            })
            .await
            .expect("mailbox")
            .expect("resolve");
        assert_eq!(resolved, Resolution::Local(vec![alice]));
        // The domain and alice were written through the same writer before.
        let before = store.send(Stats).await.expect("mailbox").expect("stats");
        let raw: Arc<[u8]> = Arc::from(&b"Subject: hi\r\n\r\nhello\r\n"[..]);
        let delivered = store
            .send(Deliver {
                recipients: vec![alice],
                junk: Vec::new(),
                raw: raw.clone(),
                internal_date: None,
                event: None,
            })
            .await
            .expect("mailbox")
            .expect("deliver");
        assert_eq!(delivered[0].uid, 1);

        // A round trip through the bus orders us after the store's publishes.
        bus.0
            .send(Publish(MessageDelivered {
                account_ids: vec![],
                size: 0,
            }))
            .await
            .expect("bus");
        let (changed, seen_delivered) = sink.send(Seen).await.expect("sink");
        assert_eq!(changed.len(), 1);
        assert_eq!(
            (
                changed[0].account_id,
                changed[0].mailbox_id,
                changed[0].change
            ),
            (alice, delivered[0].mailbox_id, MailboxChange::Added)
        );
        assert_eq!(seen_delivered[0].account_ids, [alice]);
        assert_eq!(seen_delivered[0].size, raw.len() as u64);

        let body = store
            .send(FetchBody {
                account_id: alice,
                mailbox_id: delivered[0].mailbox_id,
                uid: 1,
            })
            .await
            .expect("mailbox")
            .expect("body");
        assert_eq!(&*body, &*raw);
        let stats = store.send(Stats).await.expect("mailbox").expect("stats");
        assert_eq!(
            (stats.ops - before.ops, stats.commits - before.commits),
            (1, 1),
            "one op, one commit for the delivery"
        );
        store.send(Flush).await.expect("mailbox").expect("flush");
    }

    /// Mailbox management publishes `Mailbox` events after the change, and renaming INBOX
    /// also `Expunged` for INBOX, whose sessions then learn the UIDs from `Changes`.
    #[actix_rt::test]
    async fn mailbox_management_publishes_its_changes() {
        let (_dir, alice, bus, sink, store) = with_alice_and_sink().await;
        let ask = |name: &str| Select {
            account_id: alice,
            name: name.into(),
        };

        let work = store
            .send(CreateMailbox {
                account_id: alice,
                name: "Work/Jobs".into(),
            })
            .await
            .expect("mailbox")
            .expect("create");
        store
            .send(SetSubscribed {
                account_id: alice,
                name: "Work/Jobs".into(),
                subscribed: true,
            })
            .await
            .expect("mailbox")
            .expect("subscribe");
        store
            .send(RenameMailbox {
                account_id: alice,
                from: "Work".into(),
                to: "Jobs".into(),
            })
            .await
            .expect("mailbox")
            .expect("rename");
        store
            .send(Deliver {
                recipients: vec![alice],
                junk: Vec::new(),
                raw: Arc::from(&b"Subject: hi\r\n\r\nhello\r\n"[..]),
                internal_date: None,
                event: None,
            })
            .await
            .expect("mailbox")
            .expect("deliver");
        let (inbox, _) = store
            .send(ask("INBOX"))
            .await
            .expect("mailbox")
            .expect("inbox");
        store
            .send(RenameMailbox {
                account_id: alice,
                from: "INBOX".into(),
                to: "Saved".into(),
            })
            .await
            .expect("mailbox")
            .expect("rename inbox");
        let (saved, _) = store
            .send(ask("Saved"))
            .await
            .expect("mailbox")
            .expect("saved");
        store
            .send(DeleteMailbox {
                account_id: alice,
                name: "Jobs/Jobs".into(),
            })
            .await
            .expect("mailbox")
            .expect("delete");
        let since = store
            .send(Changes {
                account_id: alice,
                mailbox_id: inbox.id,
                since_modseq: inbox.highestmodseq,
            })
            .await
            .expect("mailbox")
            .expect("changes");
        assert_eq!(since.expunged, [1]);
        let deleted = store
            .send(Changes {
                account_id: alice,
                mailbox_id: work.id,
                since_modseq: 0,
            })
            .await
            .expect("mailbox");
        assert!(
            matches!(deleted, Err(StoreError::NotFound(_))),
            "{deleted:?}"
        );

        // A round trip through the bus orders us after the store's publishes.
        bus.0
            .send(Publish(MessageDelivered {
                account_ids: vec![],
                size: 0,
            }))
            .await
            .expect("bus");
        let (changed, _) = sink.send(Seen).await.expect("sink");
        let boxes = store
            .send(ListMailboxes { account_id: alice })
            .await
            .expect("mailbox")
            .expect("list");
        let superior = boxes.iter().find(|b| b.name == "Jobs").expect("Jobs").id;
        let got: Vec<(i64, MailboxChange)> =
            changed.iter().map(|c| (c.mailbox_id, c.change)).collect();
        use MailboxChange::{Added, Expunged, Mailbox};
        let want_prefix = [
            (superior, Mailbox), // Work, the superior
            (work.id, Mailbox),  // Work/Jobs
            (work.id, Mailbox),  // subscribed
        ];
        assert_eq!(&got[..3], &want_prefix);
        // The rename announces Work and Work/Jobs (now Jobs and Jobs/Jobs), in any order.
        let mut renamed = got[3..5].to_vec();
        renamed.sort_unstable_by_key(|(id, _)| *id);
        assert_eq!(renamed, [(superior, Mailbox), (work.id, Mailbox)]);
        assert_eq!(
            &got[5..],
            &[
                (inbox.id, Added),
                (saved.id, Mailbox),
                (inbox.id, Expunged),
                (work.id, Mailbox),
            ]
        );
        assert!(changed.iter().all(|c| c.account_id == alice));
        store.send(Flush).await.expect("mailbox").expect("flush");
    }
}
