//! What the inbound policy keeps: greylist rows (saved, replaced, looked up, forgotten,
//! expired, kept across a restart), the spam filter's Bayes counts (per account, a message
//! counted once, retraining moves it), hosted domains and DKIM keys.

use actix::prelude::*;
use mailroom_store::MailboxStore;
use mailroom_store::StoreError;
use mailroom_store::dkim::{DkimAlgorithm, DkimKeys};
use mailroom_store::greylist::*;
use mailroom_store::spam::{BayesCounts, HostedDomains, ReadBayes, SpamClass, TrainBayes, Trained};

use crate::support::{Harness, each_engine};

async fn ask<M>(store: &Addr<MailboxStore>, m: M) -> M::Result
where
    M: Message + Send + 'static,
    M::Result: Send,
    MailboxStore: Handler<M>,
{
    store.send(m).await.expect("store mailbox")
}

fn triplet(n: u8) -> Triplet {
    Triplet {
        net: format!("192.0.{n}.0/24"),
        sender: "a@example.org".into(),
        recipient: "b@example.test".into(),
    }
}

fn pending(first_seen: i64) -> TripletState {
    TripletState {
        first_seen,
        last_seen: first_seen,
        passed_at: None,
        count: 1,
    }
}

#[actix_rt::test]
async fn greylist_rows_are_saved_replaced_looked_up_expired_and_survive_a_restart() {
    each_engine(|mut h| async move {
        let sender = KnownSender::Sender {
            net: "192.0.1.0/24".into(),
            address: "a@example.org".into(),
        };
        let domain = KnownSender::Domain("example.org".into());
        let save = SaveGreylist {
            triplets: vec![(triplet(1), pending(100)), (triplet(2), pending(200))],
            known: vec![(sender.clone(), 150), (domain.clone(), 150)],
            forget: Vec::new(),
        };
        ask(&h.store, save).await.expect("save");
        // A later save replaces the triplet whole (a new round has a new first_seen) and
        // keeps the later delivery time of a known sender.
        let passed = TripletState {
            first_seen: 300,
            last_seen: 400,
            passed_at: Some(400),
            count: 2,
        };
        let again = SaveGreylist {
            triplets: vec![(triplet(1), passed)],
            known: vec![(sender.clone(), 120)],
            forget: Vec::new(),
        };
        ask(&h.store, again).await.expect("save again");
        let lookup = LookupGreylist {
            triplet: triplet(1),
            known: vec![sender.clone(), KnownSender::Domain("other.example".into())],
        };
        let (found, known) = ask(&h.store, lookup).await.expect("lookup");
        assert_eq!(found, Some(passed), "{}", h.engine);
        assert_eq!(known, [(sender.clone(), 150)], "{}", h.engine);

        let rows = ask(&h.store, LoadGreylist { limit: 10 })
            .await
            .expect("load");
        assert_eq!(
            rows.triplets,
            [(triplet(1), passed), (triplet(2), pending(200))],
            "{}: newest first",
            h.engine
        );
        assert!(rows.all_triplets && rows.all_known, "{}", h.engine);
        let one = ask(&h.store, LoadGreylist { limit: 1 })
            .await
            .expect("load 1");
        assert_eq!(one.triplets.len(), 1, "{}", h.engine);
        assert!(!one.all_triplets && !one.all_known, "{}", h.engine);

        h.restart().await;
        let rows = ask(&h.store, LoadGreylist { limit: 10 })
            .await
            .expect("load");
        assert_eq!(rows.triplets.len(), 2, "{}", h.engine);
        assert_eq!(rows.known.len(), 2, "{}", h.engine);

        // Pending first seen before 250 goes (triplet 2 at 200); passed last seen before 300
        // stays (triplet 1 at 400); known senders last seen before 300 go (both at 150).
        let expire = ExpireGreylist {
            pending_before: 250,
            passed_before: 300,
        };
        assert_eq!(
            ask(&h.store, expire).await.expect("expire"),
            3,
            "{}",
            h.engine
        );
        let rows = ask(&h.store, LoadGreylist { limit: 10 })
            .await
            .expect("load");
        assert_eq!(rows.triplets, [(triplet(1), passed)], "{}", h.engine);
        assert!(rows.known.is_empty(), "{}", h.engine);
    })
    .await;
}

#[actix_rt::test]
async fn a_forgotten_triplet_is_gone_and_the_others_stay() {
    each_engine(|h| async move {
        // The whole harness: a closure that only reads `h.store` would leave the rest (the
        // store's directory or database) to be dropped at once.
        let h = &h;
        let save = SaveGreylist {
            triplets: vec![(triplet(1), pending(100)), (triplet(2), pending(200))],
            ..SaveGreylist::default()
        };
        ask(&h.store, save).await.expect("save");
        let forget = SaveGreylist {
            forget: vec![triplet(1), triplet(9)],
            ..SaveGreylist::default()
        };
        ask(&h.store, forget).await.expect("forget");
        let rows = ask(&h.store, LoadGreylist { limit: 10 })
            .await
            .expect("load");
        assert_eq!(rows.triplets, [(triplet(2), pending(200))], "{}", h.engine);
    })
    .await;
}

fn train(account_id: i64, blob: &str, class: SpamClass, tokens: &[i64]) -> TrainBayes {
    TrainBayes {
        account_id,
        blob: blob.into(),
        class,
        tokens: tokens.to_vec(),
    }
}

async fn trained(h: &Harness, m: TrainBayes) -> Trained {
    ask(&h.store, m).await.expect("train")
}

async fn counts(h: &Harness, account_id: i64, tokens: &[i64]) -> BayesCounts {
    let m = ReadBayes {
        account_ids: vec![account_id],
        tokens: tokens.to_vec(),
    };
    let mut got = ask(&h.store, m).await.expect("read bayes");
    assert_eq!(got.len(), 1);
    got.remove(0).1
}

#[actix_rt::test]
async fn training_counts_tokens_and_messages_per_account() {
    each_engine(|h| async move {
        let alice = h.account("alice@example.test", "password1").await;
        let bob = h.account("bob@example.test", "password1").await;
        let first = trained(&h, train(alice, "b1", SpamClass::Spam, &[1, 2, 2, 3])).await;
        assert_eq!(first, Trained::New, "{}", h.engine);
        trained(&h, train(alice, "b2", SpamClass::Spam, &[2, 3])).await;
        trained(&h, train(alice, "b3", SpamClass::Ham, &[3, -4])).await;

        let c = counts(&h, alice, &[1, 2, 3, -4, 99]).await;
        assert_eq!((c.spam_messages, c.ham_messages), (2, 1), "{}", h.engine);
        // A token counts once per message however often it occurs in it.
        assert_eq!(c.tokens.get(&1), Some(&(1, 0)), "{}", h.engine);
        assert_eq!(c.tokens.get(&2), Some(&(2, 0)), "{}", h.engine);
        assert_eq!(c.tokens.get(&3), Some(&(2, 1)), "{}", h.engine);
        assert_eq!(c.tokens.get(&-4), Some(&(0, 1)), "{}", h.engine);
        assert_eq!(c.tokens.get(&99), None, "{}: never seen", h.engine);

        // Bob's classifier is his own.
        assert_eq!(counts(&h, bob, &[1, 2, 3]).await, BayesCounts::default());

        // Several accounts in one read, in the order asked.
        let both = ReadBayes {
            account_ids: vec![bob, alice],
            tokens: vec![2],
        };
        let both = ask(&h.store, both).await.expect("read");
        assert_eq!((both[0].0, both[1].0), (bob, alice), "{}", h.engine);
        assert_eq!(both[1].1.tokens.get(&2), Some(&(2, 0)), "{}", h.engine);

        let unknown = ask(&h.store, train(9999, "b", SpamClass::Spam, &[1])).await;
        assert!(
            matches!(unknown, Err(StoreError::NotFound(_))),
            "{}: {unknown:?}",
            h.engine
        );
    })
    .await;
}

#[actix_rt::test]
async fn retraining_moves_a_message_instead_of_counting_it_twice() {
    each_engine(|mut h| async move {
        let alice = h.account("alice@example.test", "password1").await;
        trained(&h, train(alice, "b1", SpamClass::Spam, &[1, 2])).await;
        trained(&h, train(alice, "b2", SpamClass::Spam, &[2])).await;
        // The same message the same way again changes nothing.
        let again = trained(&h, train(alice, "b1", SpamClass::Spam, &[1, 2])).await;
        assert_eq!(again, Trained::Unchanged, "{}", h.engine);
        let c = counts(&h, alice, &[1, 2]).await;
        assert_eq!((c.spam_messages, c.ham_messages), (2, 0), "{}", h.engine);
        assert_eq!(c.tokens.get(&2), Some(&(2, 0)), "{}", h.engine);

        // Moved out of Junk: b1's spam counts go, ham counts come. The tokens given now
        // differ (a newer tokenizer, say): the old ones are subtracted as stored, the new
        // ones added.
        let moved = trained(&h, train(alice, "b1", SpamClass::Ham, &[2, 5])).await;
        assert_eq!(moved, Trained::Moved, "{}", h.engine);
        let c = counts(&h, alice, &[1, 2, 5]).await;
        assert_eq!((c.spam_messages, c.ham_messages), (1, 1), "{}", h.engine);
        assert_eq!(
            c.tokens.get(&1),
            None,
            "{}: zero both ways is gone",
            h.engine
        );
        assert_eq!(c.tokens.get(&2), Some(&(1, 1)), "{}", h.engine);
        assert_eq!(c.tokens.get(&5), Some(&(0, 1)), "{}", h.engine);

        // And back again.
        let back = trained(&h, train(alice, "b1", SpamClass::Spam, &[1, 2])).await;
        assert_eq!(back, Trained::Moved, "{}", h.engine);
        let c = counts(&h, alice, &[1, 2, 5]).await;
        assert_eq!((c.spam_messages, c.ham_messages), (2, 0), "{}", h.engine);
        assert_eq!(c.tokens.get(&1), Some(&(1, 0)), "{}", h.engine);
        assert_eq!(c.tokens.get(&2), Some(&(2, 0)), "{}", h.engine);
        assert_eq!(c.tokens.get(&5), None, "{}", h.engine);

        // Training survives a restart of the store (it is durable when acknowledged).
        h.restart().await;
        let c = counts(&h, alice, &[2]).await;
        assert_eq!(c.tokens.get(&2), Some(&(2, 0)), "{}", h.engine);
    })
    .await;
}

#[actix_rt::test]
async fn one_message_trained_by_two_nodes_at_once_counts_once() {
    each_engine(|h| async move {
        let alice = h.account("alice@example.test", "password1").await;
        let b = h.other_node("node-b").unwrap_or_else(|| h.store.clone());
        for round in 0..10 {
            let blob = format!("b{round}");
            let (x, y) = tokio::join!(
                h.store.send(train(alice, &blob, SpamClass::Spam, &[7])),
                b.send(train(alice, &blob, SpamClass::Spam, &[7])),
            );
            let mut got = [
                x.expect("mailbox").expect("a"),
                y.expect("mailbox").expect("b"),
            ];
            got.sort_by_key(|t| *t == Trained::Unchanged);
            assert_eq!(got, [Trained::New, Trained::Unchanged], "{}", h.engine);
        }
        let c = counts(&h, alice, &[7]).await;
        assert_eq!(c.spam_messages, 10, "{}", h.engine);
        assert_eq!(c.tokens.get(&7), Some(&(10, 0)), "{}", h.engine);
    })
    .await;
}

#[actix_rt::test]
async fn hosted_domains_are_named_in_any_case_and_have_signing_keys() {
    each_engine(|h| async move {
        h.account("alice@example.test", "password1").await;
        let hosted = HostedDomains {
            domains: vec![
                "Example.TEST".into(),
                "other.test".into(),
                "example.test.".into(),
            ],
        };
        let got = ask(&h.store, hosted).await.expect("hosted");
        assert_eq!(got, ["Example.TEST", "example.test."], "{}", h.engine);

        let keys = DkimKeys {
            domain: "Example.TEST.".into(),
        };
        let keys = ask(&h.store, keys).await.expect("keys");
        let algorithms: Vec<DkimAlgorithm> = keys.iter().map(|k| k.algorithm).collect();
        assert_eq!(algorithms, DkimAlgorithm::ALL, "{}", h.engine);
        assert!(
            keys.iter().all(|k| k.domain == "example.test"),
            "{}",
            h.engine
        );
        for k in &keys {
            k.public_key().expect("the stored key parses");
        }
        let none = DkimKeys {
            domain: "other.test".into(),
        };
        assert!(
            ask(&h.store, none).await.expect("keys").is_empty(),
            "{}",
            h.engine
        );
    })
    .await;
}
