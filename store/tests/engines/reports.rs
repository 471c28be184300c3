//! What the dashboard and the policy pages read: messages per hour by kind, the queue and
//! data sizes, recent events, the greylist search, and the bodies' self-check.

use std::net::IpAddr;
use std::sync::Arc;

use mailroom_shared::events::{EventData, Greylisted, Rejected, Stage};
use mailroom_store::actor::RecordEvent;
use mailroom_store::greylist::{SaveGreylist, Triplet, TripletState};

use crate::support::{Harness, each_engine};

fn client() -> IpAddr {
    "192.0.2.1".parse().expect("ip")
}

async fn record(h: &Harness, event: EventData) {
    h.store
        .send(RecordEvent(event))
        .await
        .expect("mailbox")
        .expect("record");
}

fn rejected(reason: &str) -> EventData {
    EventData::Rejected(Rejected {
        stage: Stage::Rcpt,
        code: 550,
        reason: reason.into(),
        client: client(),
        mail_from: Some("a@remote.test".into()),
        rcpt_to: Some("x@example.test".into()),
    })
}

#[actix_rt::test]
async fn sizes_and_the_body_check_follow_the_mail() {
    each_engine(|h| async move {
        let h = &h;
        let empty = h.admin.sizes().await.expect("sizes");
        assert_eq!(
            (empty.queued, empty.held, empty.message_bytes),
            (0, 0, 0),
            "{}",
            h.engine
        );
        assert!(empty.database_bytes > 0, "{}: {empty:?}", h.engine);
        let alice = h.account("alice@example.test", "password1").await;
        let bob = h.account("bob@example.test", "password1").await;
        let one: Arc<[u8]> = Arc::from(&b"Subject: one\r\n\r\nfor both\r\n"[..]);
        let two: Arc<[u8]> = Arc::from(&b"Subject: two\r\n\r\nfor alice, twice\r\n"[..]);
        h.deliver(&[alice, bob], &one).await;
        h.deliver(&[alice], &two).await;
        h.deliver(&[alice], &two).await;
        let sizes = h.admin.sizes().await.expect("sizes");
        assert_eq!(
            sizes.message_bytes,
            (one.len() + two.len()) as u64,
            "{}: each body once",
            h.engine
        );
        assert_eq!(
            h.admin.verify().await.expect("verify"),
            Vec::<String>::new(),
            "{}",
            h.engine
        );
    })
    .await;
}

#[actix_rt::test]
async fn messages_are_counted_by_kind_and_hour_and_recent_events_come_newest_first() {
    each_engine(|h| async move {
        let h = &h;
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64;
        record(h, rejected("first")).await;
        record(h, rejected("second")).await;
        record(
            h,
            EventData::Greylisted(Greylisted {
                client: client(),
                mail_from: "a@remote.test".into(),
                rcpt_to: "x@example.test".into(),
                retry_after_secs: 300,
            }),
        )
        .await;
        let counts = h.admin.hourly_counts(before - 10).await.expect("counts");
        let hours = (before / 3600)..=(before / 3600 + 1);
        assert!(
            counts.iter().all(|c| hours.contains(&c.hour)),
            "{}: {counts:?}",
            h.engine
        );
        let total = |what: &str| -> u64 {
            counts
                .iter()
                .filter(|c| c.what == what)
                .map(|c| c.count)
                .sum()
        };
        assert_eq!(
            (total("rejected"), total("greylisted"), total("received")),
            (2, 1, 0),
            "{}: {counts:?}",
            h.engine
        );
        assert_eq!(
            h.admin.hourly_counts(before + 7200).await.expect("later"),
            [],
            "{}: nothing since a later time",
            h.engine
        );
        let recent = h.admin.recent_events("rejected", 1).await.expect("recent");
        assert_eq!(recent.len(), 1, "{}", h.engine);
        assert!(recent[0].2.contains("second"), "{}: {recent:?}", h.engine);
        let all = h.admin.recent_events("rejected", 10).await.expect("recent");
        assert_eq!(all.len(), 2);
        assert!(all[0].0 > all[1].0, "{}: newest first", h.engine);
    })
    .await;
}

#[actix_rt::test]
async fn the_greylist_is_searched_by_part_of_any_field() {
    each_engine(|h| async move {
        let h = &h;
        let triplet = |net: &str, sender: &str| Triplet {
            net: net.into(),
            sender: sender.into(),
            recipient: "Alice@example.test".into(),
        };
        let state = |last_seen| TripletState {
            first_seen: 1000,
            last_seen,
            passed_at: None,
            count: 2,
        };
        h.store
            .send(SaveGreylist {
                triplets: vec![
                    (triplet("192.0.2.0/24", "one@remote.test"), state(1100)),
                    (triplet("198.51.100.0/24", "two@far.test"), state(1200)),
                ],
                known: Vec::new(),
                forget: Vec::new(),
            })
            .await
            .expect("mailbox")
            .expect("save");
        let found = |q: &'static str, limit| async move {
            h.admin
                .greylist_entries(q, limit)
                .await
                .expect("search")
                .into_iter()
                .map(|e| e.sender)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            found("", 10).await,
            ["two@far.test", "one@remote.test"],
            "{}: newest first",
            h.engine
        );
        assert_eq!(found("", 1).await, ["two@far.test"]);
        assert_eq!(
            found("192.0.2", 10).await,
            ["one@remote.test"],
            "{}",
            h.engine
        );
        assert_eq!(
            found("ALICE@", 10).await.len(),
            2,
            "{}: case does not matter",
            h.engine
        );
        assert_eq!(found("nothing", 10).await, Vec::<String>::new());
    })
    .await;
}
