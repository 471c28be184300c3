//! The event log: events written in the transaction of the change they describe (delivery,
//! MOVE) or on their own. (Reading in id order, webhook cursors and pruning are tested on
//! every engine, in `tests/engines/events.rs`.)

use std::sync::Arc;

use mailroom_shared::events::{AuthFailed, Delivered, Envelope, EventData, EventKind};

use super::{Fixture, fixture, message};
use crate::engine::{EventLog, Lifecycle, Mailboxes};
use crate::error::StoreError;
use crate::requests::{Deliver, Move, ReadEvents, RecordEvent, Select};

fn delivered_event(to: &str) -> EventData {
    EventData::Delivered(Delivered {
        message_id: "1f.0".into(),
        client: "192.0.2.7".parse().expect("ip"),
        envelope: Envelope {
            mail_from: "x@example.org".into(),
            rcpt_to: vec![to.into()],
        },
        recipients: vec![to.into()],
        size: 42,
        spam_score: None,
        auth_results: None,
    })
}

fn auth_failed(user: &str) -> EventData {
    EventData::AuthFailed(AuthFailed {
        protocol: "imap".into(),
        mechanism: "LOGIN".into(),
        client: "192.0.2.8".parse().expect("ip"),
        username: user.into(),
    })
}

impl Fixture {
    async fn events(&self, after: i64) -> Vec<mailroom_shared::events::EventRecorded> {
        let m = ReadEvents { after, limit: 100 };
        self.store.read_events(m).await.expect("read events")
    }

    /// Rows in `events`, read straight from the database.
    fn event_rows(&self) -> i64 {
        let conn = rusqlite::Connection::open(self.dir.path().join(super::DB_FILE)).expect("db");
        conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .expect("count")
    }
}

#[actix_rt::test]
async fn a_delivery_logs_its_event_in_the_same_transaction() {
    let f = fixture();
    let mut event = delivered_event("team@example.test");
    let m = Deliver {
        recipients: vec![f.bob, f.alice],
        raw: message(1),
        internal_date: None,
        event: Some(event.clone()),
        junk: Vec::new(),
    };
    let outcome = f.store.deliver(m).await.expect("deliver");
    assert_eq!(outcome.events.len(), 1, "handed back for the bus");
    // The store names the accounts that received it (an alias's targets, say).
    if let EventData::Delivered(d) = &mut event {
        d.recipients = vec!["alice@example.test".into(), "bob@example.test".into()];
    }
    assert_eq!(outcome.events[0].data, event);
    let logged = f.events(0).await;
    assert_eq!(logged, outcome.events);
    assert!(logged[0].id > 0);
    let stats = f.store.stats();
    assert_eq!(stats.commits, 1, "delivery and event shared one commit");
}

#[actix_rt::test]
async fn a_failed_delivery_logs_no_event() {
    let f = fixture();
    // carol's quota is 1000 octets; the whole delivery (alice too) fails.
    let big: Arc<[u8]> = vec![b'x'; 2000].into();
    let m = Deliver {
        recipients: vec![f.alice, f.carol],
        raw: big,
        internal_date: None,
        event: Some(delivered_event("carol@example.test")),
        junk: Vec::new(),
    };
    let r = f.store.deliver(m).await;
    assert!(
        matches!(r, Err(StoreError::QuotaExceeded { .. })),
        "{:?}",
        r.map(|o| o.value)
    );
    assert_eq!(f.event_rows(), 0);
    let (_, inbox) = f
        .store
        .select(Select {
            account_id: f.alice,
            name: "INBOX".into(),
        })
        .await
        .expect("select");
    assert!(inbox.is_empty());
    // The failed op's id is rolled back with it: the next event is still id 1.
    let next = f
        .store
        .record_event(RecordEvent(auth_failed("bob")))
        .await
        .expect("record");
    assert_eq!(next.value.id, 1);
}

#[actix_rt::test]
async fn a_move_logs_message_moved_with_both_mailboxes_and_the_blobs() {
    let f = fixture();
    let m = Deliver {
        recipients: vec![f.alice],
        raw: message(1),
        internal_date: None,
        event: None,
        junk: Vec::new(),
    };
    f.store.deliver(m).await.expect("deliver");
    let mailbox = |name: &str| {
        f.store.select(Select {
            account_id: f.alice,
            name: name.into(),
        })
    };
    let (inbox, msgs) = mailbox("INBOX").await.expect("inbox");
    let (junk, _) = mailbox("Junk").await.expect("junk");
    let mv = |uids: Vec<u32>| Move {
        account_id: f.alice,
        from: inbox.id,
        uids,
        to: junk.id,
    };
    // Nothing moved: nothing logged.
    let none = f
        .store
        .move_messages(mv(vec![99]))
        .await
        .expect("move none");
    assert!(none.events.is_empty());
    let moved = f
        .store
        .move_messages(mv(vec![msgs[0].uid]))
        .await
        .expect("move");
    assert_eq!(moved.events.len(), 1);
    let EventData::MessageMoved(e) = &moved.events[0].data else {
        panic!("{:?}", moved.events[0]);
    };
    assert_eq!(e.account, "alice@example.test");
    assert_eq!(e.account_id, f.alice);
    assert_eq!(
        (e.from_mailbox.as_str(), e.from_special_use.as_deref()),
        ("INBOX", None)
    );
    assert_eq!(
        (e.to_mailbox.as_str(), e.to_special_use.as_deref()),
        ("Junk", Some("\\Junk"))
    );
    let hash = super::super::blobs::sha256_hex(&message(1));
    assert_eq!(e.blobs, [hash]);
    assert_eq!(moved.events[0].data.kind(), EventKind::MessageMoved);
    assert_eq!(f.events(0).await, moved.events);
}
