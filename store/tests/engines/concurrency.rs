//! Two engines on one database, as two mailroom nodes sharing PostgreSQL: concurrent writes
//! into the same mailboxes never give a UID twice, leave no gap, and give MODSEQs that grow
//! in commit order. (The embedded engine has one writer per data directory, so only
//! PostgreSQL runs these.)

use std::collections::BTreeSet;
use std::sync::Arc;

use futures_util::future::join_all;
use mailroom_store::actor::{Append, Deliver, Select};
use mailroom_store::engine::Engine;
use mailroom_store::{MessageInfo, StoreError};

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
