//! The spam scorer's tables: decisions follow the body, and bodies are found by blob hash
//! only for an account that has them. (Training and hosted domains are tested on every
//! engine, in `tests/engines/policy.rs`.)

use super::*;
use crate::spam::{FetchBlob, FetchSpamDecision, RecordSpamDecisions, SpamDecision};

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
