//! Two engines on one database, as two mailroom nodes sharing PostgreSQL: concurrent writes
//! into the same mailboxes never give a UID twice, leave no gap, and give MODSEQs that grow
//! in commit order. (The embedded engine has one writer per data directory, so only
//! PostgreSQL runs these.)

use std::collections::BTreeSet;
use std::sync::Arc;

use futures_util::future::join_all;
use mailroom_store::actor::{
    Append, Copy, Deliver, Expunge, ListMailboxes, Move, Select, SetFlags,
};
use mailroom_store::engine::Engine;
use mailroom_store::{FLAG_DELETED, FlagOp, MessageInfo, StoreError};

use crate::mail::{Mail, message};
use crate::support::each_engine;

/// Writes per engine.
const WRITES: usize = 60;

/// One write of the mix: an APPEND to alice's INBOX, or a delivery to alice and bob. The
/// UIDs it got in alice's INBOX and bob's INBOX.
async fn write(
    engine: Arc<dyn Engine>,
    n: usize,
    alice: i64,
    bob: i64,
) -> Result<(Option<u32>, Option<u32>), StoreError> {
    let raw = message(n);
    if n.is_multiple_of(2) {
        let out = engine
            .append(Append {
                account_id: alice,
                mailbox: "INBOX".into(),
                flags: 0,
                keywords: vec![],
                internal_date: None,
                raw,
            })
            .await?;
        assert_eq!(out.changes.len(), 1);
        Ok((Some(out.value.uid), None))
    } else {
        let out = engine
            .deliver(Deliver {
                recipients: vec![bob, alice],
                junk: vec![],
                raw,
                internal_date: None,
                event: None,
            })
            .await?;
        assert_eq!(out.changes.len(), 2, "one change per mailbox");
        let uid = |who: i64| {
            out.value
                .iter()
                .find(|d| d.account_id == who)
                .map(|d| d.uid)
        };
        Ok((uid(alice), uid(bob)))
    }
}

/// UIDs 1..=n each once, and MODSEQs strictly growing with the UID: UID and MODSEQ are
/// taken together under the mailbox's row lock, which is held to COMMIT, so UID order is
/// commit order.
fn check_mailbox(engine: &str, name: &str, messages: &[MessageInfo], n: usize) {
    let uids: Vec<u32> = messages.iter().map(|m| m.uid).collect();
    assert_eq!(
        uids,
        (1..=n as u32).collect::<Vec<_>>(),
        "{engine} {name}: dense UIDs"
    );
    for pair in messages.windows(2) {
        assert!(
            pair[0].modseq < pair[1].modseq,
            "{engine} {name}: MODSEQ {} of UID {} then {} of UID {}",
            pair[0].modseq,
            pair[0].uid,
            pair[1].modseq,
            pair[1].uid
        );
    }
}

#[actix_rt::test]
async fn two_engines_on_one_database_give_each_uid_once_and_modseqs_in_commit_order() {
    each_engine(|h| async move {
        if h.engine != "postgres" {
            return;
        }
        let f = Mail::new(h).await;
        let one = mailroom_store::open(&f.h.config).expect("first engine");
        let two = mailroom_store::open(&f.h.config).expect("second engine");
        let writes = (0..WRITES).flat_map(|n| {
            [
                write(one.clone(), 2 * n, f.alice, f.bob),
                write(two.clone(), 2 * n + 1, f.alice, f.bob),
            ]
        });
        let results = join_all(writes).await;
        let mut alice_uids = BTreeSet::new();
        let mut bob_uids = BTreeSet::new();
        for r in results {
            let (a, b) = r.expect("every write succeeds");
            if let Some(uid) = a {
                assert!(alice_uids.insert(uid), "alice's UID {uid} given twice");
            }
            if let Some(uid) = b {
                assert!(bob_uids.insert(uid), "bob's UID {uid} given twice");
            }
        }
        // Every append and every delivery reached alice; half the writes reached bob.
        assert_eq!(alice_uids.len(), 2 * WRITES);
        assert_eq!(bob_uids.len(), WRITES);
        for (who, name, n) in [(f.alice, "alice", 2 * WRITES), (f.bob, "bob", WRITES)] {
            let (info, messages) = f
                .ask(Select {
                    account_id: who,
                    name: "INBOX".into(),
                })
                .await
                .expect("select");
            check_mailbox(f.h.engine, name, &messages, n);
            assert_eq!(info.uidnext as usize, n + 1);
            assert_eq!(
                Some(info.highestmodseq),
                messages.last().map(|m| m.modseq),
                "{name}: HIGHESTMODSEQ is the last change"
            );
        }
        one.flush().await.expect("flush");
        two.flush().await.expect("flush");
    })
    .await;
}

/// Rounds of each writer in the mixed test.
const ROUNDS: u32 = 30;

#[actix_rt::test]
async fn moves_copies_and_expunges_on_one_node_beside_deliveries_on_another_stay_consistent() {
    each_engine(|h| async move {
        if h.engine != "postgres" {
            return;
        }
        let f = Mail::new(h).await;
        let alice = f.alice;
        let one = mailroom_store::open(&f.h.config).expect("first engine");
        let two = mailroom_store::open(&f.h.config).expect("second engine");
        let boxes = f
            .ask(ListMailboxes { account_id: alice })
            .await
            .expect("list");
        let id = |name: &str| boxes.iter().find(|b| b.name == name).expect(name).id;
        let (inbox, archive, trash) = (id("INBOX"), id("Archive"), id("Trash"));
        let all: Vec<u32> = (1..=4 * ROUNDS).collect();

        // Node one delivers to INBOX and appends to Archive.
        let deliveries = async {
            for n in 0..ROUNDS as usize {
                let delivered = one.deliver(Deliver {
                    recipients: vec![alice],
                    junk: vec![],
                    raw: message(n),
                    internal_date: None,
                    event: None,
                });
                delivered.await.expect("deliver");
                let appended = one.append(Append {
                    account_id: alice,
                    mailbox: "Archive".into(),
                    flags: 0,
                    keywords: vec![],
                    internal_date: None,
                    raw: message(1000 + n),
                });
                appended.await.expect("append");
            }
        };
        // Node two moves INBOX to Archive, copies Archive to Trash and empties Trash.
        let filing = async {
            for _ in 0..ROUNDS {
                let moved = two.move_messages(Move {
                    account_id: alice,
                    from: inbox,
                    uids: all.clone(),
                    to: archive,
                });
                moved.await.expect("move");
                let copied = two.copy(Copy {
                    account_id: alice,
                    from: archive,
                    uids: all.clone(),
                    to: trash,
                });
                copied.await.expect("copy");
                let flagged = two.set_flags(SetFlags {
                    account_id: alice,
                    mailbox_id: trash,
                    uids: (1..=all.len() as u32 * ROUNDS).collect(),
                    op: FlagOp::Add,
                    flags: FLAG_DELETED,
                    keywords: vec![],
                    unchanged_since: None,
                });
                flagged.await.expect("flag");
                let expunged = two.expunge(Expunge {
                    account_id: alice,
                    mailbox_id: trash,
                    uids: None,
                });
                expunged.await.expect("expunge");
            }
        };
        futures_util::join!(deliveries, filing);

        let mut total = 0;
        for name in ["INBOX", "Archive", "Trash"] {
            let (info, messages) = f
                .ask(Select {
                    account_id: alice,
                    name: name.into(),
                })
                .await
                .expect("select");
            let uids: BTreeSet<u32> = messages.iter().map(|m| m.uid).collect();
            assert_eq!(uids.len(), messages.len(), "{name}: a UID twice");
            assert_eq!(info.exists as usize, messages.len(), "{name}: counter");
            let size: u64 = messages.iter().map(|m| m.size).sum();
            assert_eq!(info.size, size, "{name}: size counter");
            assert!(uids.iter().all(|&u| u < info.uidnext), "{name}: UIDNEXT");
            assert!(
                messages.iter().all(|m| m.modseq <= info.highestmodseq),
                "{name}: HIGHESTMODSEQ"
            );
            total += size;
            let id = info.id;
            let reused = f
                .scalar(
                    "SELECT count(*) FROM expunged e JOIN messages m \
                     ON m.mailbox_id = e.mailbox_id AND m.uid = e.uid WHERE e.mailbox_id = $1",
                    id,
                )
                .await;
            assert_eq!(reused, 0, "{name}: an expunged UID came back");
        }
        // Everything delivered and appended is somewhere; Trash's copies are gone.
        let (inbox_now, _) = f.mailbox(alice, "INBOX").await;
        let (archive_now, _) = f.mailbox(alice, "Archive").await;
        assert_eq!(
            (inbox_now.exists + archive_now.exists) as usize,
            2 * ROUNDS as usize
        );
        assert_eq!(
            f.used("alice@example.test").await,
            total,
            "usage follows the copies"
        );
        let wrong = f
            .scalar(
                "SELECT count(*) FROM blobs b WHERE refcount <> \
                 (SELECT count(*) FROM messages m WHERE m.blob = b.sha256) \
                 AND CAST($1 AS BIGINT) = CAST($1 AS BIGINT)",
                0,
            )
            .await;
        assert_eq!(wrong, 0, "every body's refcount is its number of messages");
        one.flush().await.expect("flush");
        two.flush().await.expect("flush");
    })
    .await;
}
