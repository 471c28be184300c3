//! The greylist rows through the store actor: saved, replaced, looked up, expired, and kept
//! across a restart.

use actix::prelude::*;
use mailroom_shared::bus::Bus;
use mailroom_store::MailboxStore;
use mailroom_store::greylist::*;

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

async fn ask<M>(store: &Addr<MailboxStore>, m: M) -> M::Result
where
    M: Message + Send + 'static,
    M::Result: Send,
    MailboxStore: Handler<M>,
{
    store.send(m).await.expect("store mailbox")
}

#[actix_rt::test]
async fn rows_are_saved_replaced_looked_up_expired_and_survive_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = MailboxStore::start_embedded(dir.path(), Bus::start()).expect("start");
    let sender = KnownSender::Sender {
        net: "192.0.1.0/24".into(),
        address: "a@example.org".into(),
    };
    let domain = KnownSender::Domain("example.org".into());
    ask(
        &store,
        SaveGreylist {
            triplets: vec![(triplet(1), pending(100)), (triplet(2), pending(200))],
            known: vec![(sender.clone(), 150), (domain.clone(), 150)],
            forget: Vec::new(),
        },
    )
    .await
    .expect("save");
    // A later save replaces the triplet whole (a new round has a new first_seen) and
    // keeps the later delivery time of a known sender.
    let passed = TripletState {
        first_seen: 300,
        last_seen: 400,
        passed_at: Some(400),
        count: 2,
    };
    ask(
        &store,
        SaveGreylist {
            triplets: vec![(triplet(1), passed)],
            known: vec![(sender.clone(), 120)],
            forget: Vec::new(),
        },
    )
    .await
    .expect("save again");
    let (found, known) = ask(
        &store,
        LookupGreylist {
            triplet: triplet(1),
            known: vec![sender.clone(), KnownSender::Domain("other.example".into())],
        },
    )
    .await
    .expect("lookup");
    assert_eq!(found, Some(passed));
    assert_eq!(known, [(sender.clone(), 150)]);

    let rows = ask(&store, LoadGreylist { limit: 10 }).await.expect("load");
    assert_eq!(
        rows.triplets,
        [(triplet(1), passed), (triplet(2), pending(200))],
        "newest first"
    );
    assert!(rows.all_triplets && rows.all_known);
    let one = ask(&store, LoadGreylist { limit: 1 })
        .await
        .expect("load 1");
    assert_eq!(one.triplets.len(), 1);
    assert!(!one.all_triplets && !one.all_known);

    store
        .send(mailroom_store::actor::Flush)
        .await
        .expect("mailbox")
        .expect("flush");
    drop(store);
    // The writer thread releases the lock file once it has closed.
    let mut reopened = None;
    for _ in 0..100 {
        match MailboxStore::start_embedded(dir.path(), Bus::start()) {
            Ok(s) => {
                reopened = Some(s);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
    let store = reopened.expect("reopen");
    let rows = ask(&store, LoadGreylist { limit: 10 }).await.expect("load");
    assert_eq!(rows.triplets.len(), 2);
    assert_eq!(rows.known.len(), 2);

    // Pending first seen before 250 goes (triplet 2 at 200); passed last seen before 300
    // stays (triplet 1 at 400); known senders last seen before 300 go (both at 150).
    let removed = ask(
        &store,
        ExpireGreylist {
            pending_before: 250,
            passed_before: 300,
        },
    )
    .await
    .expect("expire");
    assert_eq!(removed, 3);
    let rows = ask(&store, LoadGreylist { limit: 10 }).await.expect("load");
    assert_eq!(rows.triplets, [(triplet(1), passed)]);
    assert!(rows.known.is_empty());
}

#[actix_rt::test]
async fn a_forgotten_triplet_is_gone_and_the_others_stay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = MailboxStore::start_embedded(dir.path(), Bus::start()).expect("start");
    let save = SaveGreylist {
        triplets: vec![(triplet(1), pending(100)), (triplet(2), pending(200))],
        ..SaveGreylist::default()
    };
    ask(&store, save).await.expect("save");
    let forget = SaveGreylist {
        forget: vec![triplet(1), triplet(9)],
        ..SaveGreylist::default()
    };
    ask(&store, forget).await.expect("forget");
    let rows = ask(&store, LoadGreylist { limit: 10 }).await.expect("load");
    assert_eq!(rows.triplets, [(triplet(2), pending(200))]);
}
