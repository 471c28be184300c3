//! The spam scorer's tables: training counts and totals, retraining moves a message instead
//! of counting it twice, decisions follow the body, and bodies are found by blob hash only
//! for an account that has them.

use super::*;
use crate::spam::{
    FetchBlob, FetchSpamDecision, HostedDomains, ReadBayes, RecordSpamDecisions, SpamClass,
    SpamDecision, TrainBayes, Trained,
};

fn train(account_id: i64, blob: &str, class: SpamClass, tokens: &[i64]) -> TrainBayes {
    TrainBayes {
        account_id,
        blob: blob.into(),
        class,
        tokens: tokens.to_vec(),
    }
}

impl Fixture {
    async fn counts(&self, account_id: i64, tokens: &[i64]) -> crate::spam::BayesCounts {
        let m = ReadBayes {
            account_ids: vec![account_id],
            tokens: tokens.to_vec(),
        };
        let mut got = self.store.read_bayes(m).await.expect("read bayes");
        assert_eq!(got.len(), 1);
        got.remove(0).1
    }

    async fn train(&self, m: TrainBayes) -> Trained {
        self.store.train_bayes(m).await.expect("train").value
    }
}

#[actix_rt::test]
async fn training_counts_tokens_and_messages_per_account() {
    let f = fixture();
    assert_eq!(
        f.train(train(f.alice, "b1", SpamClass::Spam, &[1, 2, 2, 3]))
            .await,
        Trained::New
    );
    f.train(train(f.alice, "b2", SpamClass::Spam, &[2, 3]))
        .await;
    f.train(train(f.alice, "b3", SpamClass::Ham, &[3, -4]))
        .await;

    let c = f.counts(f.alice, &[1, 2, 3, -4, 99]).await;
    assert_eq!((c.spam_messages, c.ham_messages), (2, 1));
    // A token counts once per message however often it occurs in it.
    assert_eq!(c.tokens.get(&1), Some(&(1, 0)));
    assert_eq!(c.tokens.get(&2), Some(&(2, 0)));
    assert_eq!(c.tokens.get(&3), Some(&(2, 1)));
    assert_eq!(c.tokens.get(&-4), Some(&(0, 1)));
    assert_eq!(c.tokens.get(&99), None, "never seen");

    // Bob's classifier is his own.
    let b = f.counts(f.bob, &[1, 2, 3]).await;
    assert_eq!(b, crate::spam::BayesCounts::default());

    // Several accounts in one read, in the order asked.
    let both = f
        .store
        .read_bayes(ReadBayes {
            account_ids: vec![f.bob, f.alice],
            tokens: vec![2],
        })
        .await
        .expect("read");
    assert_eq!(both[0].0, f.bob);
    assert_eq!(both[1].0, f.alice);
    assert_eq!(both[1].1.tokens.get(&2), Some(&(2, 0)));

    let unknown = f
        .store
        .train_bayes(train(9999, "b", SpamClass::Spam, &[1]))
        .await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound(_))),
        "{unknown:?}"
    );
}

#[actix_rt::test]
async fn retraining_moves_a_message_instead_of_counting_it_twice() {
    let f = fixture();
    f.train(train(f.alice, "b1", SpamClass::Spam, &[1, 2]))
        .await;
    f.train(train(f.alice, "b2", SpamClass::Spam, &[2])).await;
    // The same message the same way again changes nothing.
    assert_eq!(
        f.train(train(f.alice, "b1", SpamClass::Spam, &[1, 2]))
            .await,
        Trained::Unchanged
    );
    let c = f.counts(f.alice, &[1, 2]).await;
    assert_eq!((c.spam_messages, c.ham_messages), (2, 0));
    assert_eq!(c.tokens.get(&2), Some(&(2, 0)));

    // Moved out of Junk: b1's spam counts go, ham counts come. The tokens given now differ
    // (a newer tokenizer, say): the old ones are subtracted as stored, the new ones added.
    assert_eq!(
        f.train(train(f.alice, "b1", SpamClass::Ham, &[2, 5])).await,
        Trained::Moved
    );
    let c = f.counts(f.alice, &[1, 2, 5]).await;
    assert_eq!((c.spam_messages, c.ham_messages), (1, 1));
    assert_eq!(c.tokens.get(&1), None, "a token at zero both ways is gone");
    assert_eq!(c.tokens.get(&2), Some(&(1, 1)));
    assert_eq!(c.tokens.get(&5), Some(&(0, 1)));

    // And back again.
    assert_eq!(
        f.train(train(f.alice, "b1", SpamClass::Spam, &[1, 2]))
            .await,
        Trained::Moved
    );
    let c = f.counts(f.alice, &[1, 2, 5]).await;
    assert_eq!((c.spam_messages, c.ham_messages), (2, 0));
    assert_eq!(c.tokens.get(&1), Some(&(1, 0)));
    assert_eq!(c.tokens.get(&2), Some(&(2, 0)));
    assert_eq!(c.tokens.get(&5), None);

    // Training survives a restart of the store (it is durable when acknowledged).
    let dir = f.dir;
    drop(f.store);
    let store = SqliteBackend::open(dir.path()).expect("reopen");
    let got = store
        .read_bayes(ReadBayes {
            account_ids: vec![f.alice],
            tokens: vec![2],
        })
        .await
        .expect("read");
    assert_eq!(got[0].1.tokens.get(&2), Some(&(2, 0)));
}

#[actix_rt::test]
async fn decisions_are_kept_with_the_body_and_follow_a_move() {
    let f = fixture();
    let raw = message(1);
    let d = f
        .deliver(&[f.alice, f.bob], raw.clone())
        .await
        .expect("deliver");
    let decision = |account_id: i64, mailbox_id: i64, score: f64| SpamDecision {
        account_id,
        mailbox_id,
        uid: 1,
        score,
        action: "inbox".into(),
        rules_json: r#"[{"name":"MISSING_DATE","score":1.5,"detail":""}]"#.into(),
    };
    f.store
        .record_spam_decisions(RecordSpamDecisions {
            decisions: vec![
                decision(d[0].account_id, d[0].mailbox_id, 1.5),
                decision(d[1].account_id, d[1].mailbox_id, 2.5),
                // Gone (never there): skipped, not an error.
                decision(f.alice, d[0].mailbox_id + 1000, 9.0),
            ],
        })
        .await
        .expect("record");
    let ask = |account_id: i64, mailbox_id: i64, uid: u32| FetchSpamDecision {
        account_id,
        mailbox_id,
        uid,
    };
    let alice = f
        .store
        .fetch_spam_decision(ask(f.alice, d[0].mailbox_id, 1))
        .await
        .expect("fetch")
        .expect("kept");
    assert_eq!(alice.score, 1.5);
    assert!(alice.rules_json.contains("MISSING_DATE"));
    let bob = f
        .store
        .fetch_spam_decision(ask(f.bob, d[1].mailbox_id, 1))
        .await
        .expect("fetch")
        .expect("kept");
    assert_eq!(bob.score, 2.5);
    // Another account's mailbox is not found.
    let theirs = f
        .store
        .fetch_spam_decision(ask(f.bob, d[0].mailbox_id, 1))
        .await;
    assert!(matches!(theirs, Err(StoreError::NotFound(_))), "{theirs:?}");

    // Moved into Junk, the message keeps its explanation.
    let (junk, _) = f.mailbox(f.alice, "Junk").await;
    let moved = f
        .store
        .move_messages(Move {
            account_id: f.alice,
            from: d[0].mailbox_id,
            uids: vec![1],
            to: junk.id,
        })
        .await
        .expect("move")
        .value;
    let after = f
        .store
        .fetch_spam_decision(ask(f.alice, junk.id, moved[0].1))
        .await
        .expect("fetch");
    assert_eq!(after.map(|a| a.score), Some(1.5));
}

#[actix_rt::test]
async fn a_body_is_fetched_by_hash_only_for_an_account_that_has_it() {
    let f = fixture();
    for raw in [message(1), large(2)] {
        f.deliver(&[f.alice], raw.clone()).await.expect("deliver");
        let hash = super::super::blobs::sha256_hex(&raw);
        let body = f
            .store
            .fetch_blob(FetchBlob {
                account_id: f.alice,
                blob: hash.clone(),
            })
            .await
            .expect("alice has it");
        assert_eq!(&*body, &*raw);
        let bob = f
            .store
            .fetch_blob(FetchBlob {
                account_id: f.bob,
                blob: hash,
            })
            .await;
        assert!(matches!(bob, Err(StoreError::NotFound(_))), "{bob:?}");
    }
}

#[actix_rt::test]
async fn hosted_domains_are_named_in_any_case() {
    let f = fixture();
    let got = f
        .store
        .hosted_domains(HostedDomains {
            domains: vec![
                "Example.TEST".into(),
                "other.test".into(),
                "example.test.".into(),
            ],
        })
        .await
        .expect("hosted");
    assert_eq!(got, ["Example.TEST", "example.test."]);
}
