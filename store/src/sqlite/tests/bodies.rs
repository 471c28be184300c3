//! The POP3 side of the embedded engine: `OpenBody` (a body to read in pieces, in memory or
//! as a file) and what `RemoveMessages` does to body files. `RemoveMessages` itself is in
//! the engine suite (store/tests/engines/mail.rs).

use super::*;
use crate::requests::{OpenBody, RemoveMessages};

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
