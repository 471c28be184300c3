//! The POP3 side of the store: `RemoveMessages` (the UPDATE state's one-transaction removal,
//! whatever the flags) and `OpenBody` (a body to read in pieces, in memory or as a file).

use super::*;
use crate::requests::{Changes, OpenBody, RemoveMessages};
use mailroom_shared::msg::MailboxChange;

impl Fixture {
    async fn remove(
        &self,
        account_id: i64,
        mailbox_id: i64,
        uids: &[u32],
    ) -> Result<crate::engine::Outcome<Vec<u32>>, StoreError> {
        let m = RemoveMessages {
            account_id,
            mailbox_id,
            uids: uids.to_vec(),
        };
        self.store.remove_messages(m).await
    }

    async fn open(&self, mailbox_id: i64, uid: u32) -> Result<BodySource, StoreError> {
        let m = OpenBody {
            account_id: self.alice,
            mailbox_id,
            uid,
        };
        self.store.open_body(m).await
    }

    fn used_by(&self, account_id: i64) -> u64 {
        let admin = Admin::open(self.dir.path()).expect("admin");
        let list = admin.user_list().expect("users");
        list.into_iter()
            .find(|a| a.id == account_id)
            .expect("account")
            .used_bytes
    }
}

async fn read_all(body: BodySource) -> Vec<u8> {
    use tokio::io::AsyncReadExt as _;
    match body {
        BodySource::Inline(data) => data.to_vec(),
        BodySource::Stream(mut stream, size) => {
            let mut out = Vec::new();
            stream.read_to_end(&mut out).await.expect("read");
            assert_eq!(out.len() as u64, size);
            out
        }
    }
}

#[actix_rt::test]
async fn remove_messages_takes_exactly_the_listed_uids_whatever_their_flags() {
    let f = fixture();
    for n in 0..4 {
        f.deliver(&[f.alice], message(n)).await.expect("deliver");
    }
    let (inbox, _) = f.mailbox(f.alice, "INBOX").await;
    // \Deleted on 4 must not matter: only the listed ones go.
    f.flags(inbox.id, &[4], FlagOp::Add, FLAG_DELETED, &[], None)
        .await;
    let before = f.used_by(f.alice);

    let out = f
        .remove(f.alice, inbox.id, &[3, 1, 1, 99])
        .await
        .expect("remove");
    assert_eq!(
        out.value,
        [1, 3],
        "ascending, deduplicated, missing skipped"
    );
    assert_eq!(out.changes.len(), 1);
    assert_eq!(out.changes[0].change, MailboxChange::Expunged);
    assert_eq!(out.changes[0].mailbox_id, inbox.id);

    let (after, left) = f.mailbox(f.alice, "INBOX").await;
    assert_eq!(left.iter().map(|m| m.uid).collect::<Vec<_>>(), [2, 4]);
    assert_eq!(out.changes[0].modseq, after.highestmodseq);
    let freed = message(0).len() as u64 + message(2).len() as u64;
    assert_eq!(f.used_by(f.alice), before - freed, "quota credited");

    // IMAP sessions learn the removals through `Changes`, as after EXPUNGE.
    let changes = f
        .store
        .changes(Changes {
            account_id: f.alice,
            mailbox_id: inbox.id,
            since_modseq: inbox.highestmodseq,
        })
        .await
        .expect("changes");
    assert_eq!(changes.expunged, [1, 3]);
}

#[actix_rt::test]
async fn removing_nothing_changes_and_announces_nothing() {
    let f = fixture();
    f.deliver(&[f.alice], message(1)).await.expect("deliver");
    let (inbox, _) = f.mailbox(f.alice, "INBOX").await;
    for uids in [&[][..], &[7, 8]] {
        let out = f.remove(f.alice, inbox.id, uids).await.expect("remove");
        assert!(out.value.is_empty() && out.changes.is_empty(), "{out:?}");
    }
    let (after, left) = f.mailbox(f.alice, "INBOX").await;
    assert_eq!(after.highestmodseq, inbox.highestmodseq, "no new MODSEQ");
    assert_eq!(left.len(), 1);
}

#[actix_rt::test]
async fn remove_messages_refuses_another_accounts_mailbox() {
    let f = fixture();
    let d = f.deliver(&[f.bob], message(1)).await.expect("deliver");
    let r = f.remove(f.alice, d[0].mailbox_id, &[d[0].uid]).await;
    assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
    let (_, bobs) = f.mailbox(f.bob, "INBOX").await;
    assert_eq!(bobs.len(), 1, "bob's message stays");
}

#[actix_rt::test]
async fn a_removed_large_body_loses_its_file() {
    let f = fixture();
    let d = f.deliver(&[f.alice], large(1)).await.expect("deliver");
    assert_eq!(blob_files(f.dir.path()), 1);
    f.remove(f.alice, d[0].mailbox_id, &[d[0].uid])
        .await
        .expect("remove");
    assert_eq!(blob_files(f.dir.path()), 0);
    assert_eq!(refcounts(f.dir.path()), Vec::<i64>::new());
}

#[actix_rt::test]
async fn open_body_gives_small_bodies_in_memory_and_large_ones_as_files() {
    let f = fixture();
    let small = f.deliver(&[f.alice], message(1)).await.expect("small");
    let big = f.deliver(&[f.alice], large(2)).await.expect("large");
    let inbox = small[0].mailbox_id;

    let s = f.open(inbox, small[0].uid).await.expect("open small");
    assert!(matches!(s, BodySource::Inline(_)), "{s:?}");
    assert_eq!(s.len(), message(1).len() as u64);
    assert_eq!(read_all(s).await, &*message(1));

    let l = f.open(inbox, big[0].uid).await.expect("open large");
    assert!(matches!(l, BodySource::Stream(..)), "{l:?}");
    assert_eq!(l.len(), large(2).len() as u64);
    assert_eq!(read_all(l).await, &*large(2));

    // Another account, and a UID that is not there: NotFound.
    let other = OpenBody {
        account_id: f.bob,
        mailbox_id: inbox,
        uid: 1,
    };
    assert!(matches!(
        f.store.open_body(other).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        f.open(inbox, 42).await,
        Err(StoreError::NotFound(_))
    ));
}

#[actix_rt::test]
async fn an_open_body_stays_readable_after_its_message_is_removed() {
    let f = fixture();
    let d = f.deliver(&[f.alice], large(3)).await.expect("deliver");
    let (inbox, uid) = (d[0].mailbox_id, d[0].uid);
    let opened = f.open(inbox, uid).await.expect("open");
    f.remove(f.alice, inbox, &[uid]).await.expect("remove");
    assert_eq!(blob_files(f.dir.path()), 0, "the file is unlinked");
    // The open handle still reads the whole body (a RETR in progress finishes).
    assert_eq!(read_all(opened).await, &*large(3));
    assert!(matches!(
        f.open(inbox, uid).await,
        Err(StoreError::NotFound(_))
    ));
}
