//! The actor with a real embedded store: learning from `MessageMoved` and scoring with it.

use super::*;
use crate::policy::spam::tests::facts;
use crate::policy::spam::{Action, Settings};
use mailroom_shared::Secret;
use mailroom_store::actor::{Deliver, ListMailboxes, Move, Select};
use mailroom_store::spam::ReadBayes;
use mailroom_store::{Role, StoreAdmin, blob_hash};

/// A casino campaign: each copy differs in its numbers and links, as real ones do. Proper
/// headers and a text part, so the rules alone leave it in the INBOX.
fn campaign(i: usize) -> Arc<[u8]> {
    format!(
        "From: Lucky Palace <news{i}@lucky-palace.example>\r\nTo: alice@example.test\r\n\
Subject: Your exclusive casino bonus {i} is waiting\r\nDate: Tue, 7 Mar 2023 10:00:00 +0000\r\n\
Message-ID: <bonus-{i}@lucky-palace.example>\r\n\r\n\
Claim your exclusive casino bonus now: free spins, jackpot winnings and instant payouts. \
Use bonus code LUCKY{i} at https://lucky-palace.example/claim/{i} before midnight. \
Roulette, blackjack and slots are waiting.\r\n"
    )
    .into_bytes()
    .into()
}

fn ordinary() -> Arc<[u8]> {
    Arc::from(
        &b"From: Ann <ann@example.org>\r\nTo: alice@example.test\r\nSubject: Minutes\r\n\
Date: Tue, 7 Mar 2023 10:00:00 +0000\r\nMessage-ID: <m1@example.org>\r\n\r\n\
Here are the minutes of the budget meeting. Priya will send the vendor quotes.\r\n"[..],
    )
}

struct World {
    _dir: tempfile::TempDir,
    store: Addr<MailboxStore>,
    scorer: Addr<SpamScorer>,
    alice: i64,
    bob: i64,
}

async fn world(settings: Settings) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = MailboxStore::start_embedded(dir.path(), Bus::start()).expect("store");
    let admin = StoreAdmin::new(store.clone());
    admin.domain_add("example.test").await.expect("domain");
    let pw = Secret::new("password1");
    let alice = admin
        .user_add("alice@example.test", &pw, Role::User, None)
        .await
        .expect("alice")
        .id;
    let bob = admin
        .user_add("bob@example.test", &pw, Role::User, None)
        .await
        .expect("bob")
        .id;
    let scorer = SpamScorer::new(store.clone(), settings).start();
    World {
        _dir: dir,
        store,
        scorer,
        alice,
        bob,
    }
}

fn moved(
    account_id: i64,
    from: (&str, Option<&str>),
    to: (&str, Option<&str>),
    blobs: Vec<String>,
) -> EventRecorded {
    EventRecorded {
        id: 1,
        timestamp: 0,
        data: EventData::MessageMoved(MessageMoved {
            account: "alice@example.test".into(),
            account_id,
            from_mailbox: from.0.into(),
            from_special_use: from.1.map(str::to_string),
            to_mailbox: to.0.into(),
            to_special_use: to.1.map(str::to_string),
            blobs,
        }),
    }
}

const INBOX: (&str, Option<&str>) = ("INBOX", None);
const JUNK: (&str, Option<&str>) = ("Junk", Some("\\Junk"));
const TRASH: (&str, Option<&str>) = ("Trash", Some("\\Trash"));

impl World {
    async fn score(&self, account_ids: Vec<i64>, raw: Arc<[u8]>) -> SpamVerdict {
        self.scorer
            .send(Score {
                account_ids,
                raw,
                facts: facts(),
            })
            .await
            .expect("scorer")
            .expect("score")
    }

    async fn totals(&self, account_id: i64) -> (u64, u64) {
        let c = self
            .store
            .send(ReadBayes {
                account_ids: vec![account_id],
                tokens: vec![],
            })
            .await
            .expect("store")
            .expect("read");
        (c[0].1.spam_messages, c[0].1.ham_messages)
    }
}

#[actix_rt::test]
async fn moving_twenty_into_junk_raises_like_mail_for_that_account_only() {
    let w = world(Settings::default()).await;
    let new = campaign(999);
    let before = w.score(vec![w.alice], new.clone()).await;
    assert_eq!(before.per_account[0].bayes, None, "untrained: rules only");
    assert_eq!(before.per_account[0].action, Action::Inbox);

    // Twenty copies delivered to alice, which she moves into Junk (as IMAP MOVE would).
    let mut blobs = Vec::new();
    for i in 0..20 {
        let raw = campaign(i);
        w.store
            .send(Deliver {
                recipients: vec![w.alice],
                raw: raw.clone(),
                internal_date: None,
                junk: Vec::new(),
                event: None,
            })
            .await
            .expect("store")
            .expect("deliver");
        blobs.push(blob_hash(&raw));
    }
    let (inbox, messages) = w
        .store
        .send(Select {
            account_id: w.alice,
            name: "INBOX".into(),
        })
        .await
        .expect("store")
        .expect("select");
    let boxes = w
        .store
        .send(ListMailboxes {
            account_id: w.alice,
        })
        .await
        .expect("store")
        .expect("list");
    let junk = boxes.iter().find(|b| b.name == "Junk").expect("Junk");
    w.store
        .send(Move {
            account_id: w.alice,
            from: inbox.id,
            uids: messages.iter().map(|m| m.uid).collect(),
            to: junk.id,
        })
        .await
        .expect("store")
        .expect("move");
    for blob in &blobs {
        w.scorer
            .send(moved(w.alice, INBOX, JUNK, vec![blob.clone()]))
            .await
            .expect("scorer");
    }
    assert_eq!(w.totals(w.alice).await, (20, 0));

    let alice = w.score(vec![w.alice], new.clone()).await;
    let bob = w.score(vec![w.bob], new.clone()).await;
    let a = &alice.per_account[0];
    let b = &bob.per_account[0];
    assert_eq!(a.bayes.as_ref().map(|h| h.name), Some("BAYES_SPAM"));
    assert!(
        a.score >= b.score + 3.0,
        "alice {} vs bob {}",
        a.score,
        b.score
    );
    assert_eq!(a.action, Action::Junk);
    assert_eq!(b.bayes, None, "bob trained nothing");
    assert_eq!(b.action, Action::Inbox);
    assert_eq!(
        alice.rules_score, bob.rules_score,
        "the rules are the same for all"
    );
    let headers = String::from_utf8_lossy(&alice.headers).into_owned();
    assert!(
        headers.contains("X-Spam-Status: Yes") && headers.contains("BAYES_SPAM"),
        "{headers}"
    );

    // Both at once: each gets their own verdict; the shared headers show the rules only.
    let both = w.score(vec![w.alice, w.bob], new).await;
    assert_eq!(both.per_account[0].action, Action::Junk);
    assert_eq!(both.per_account[1].action, Action::Inbox);
    assert!(!String::from_utf8_lossy(&both.headers).contains("BAYES"));

    // Ordinary mail is not pushed towards Junk by her spam-only training.
    let plain = w.score(vec![w.alice], ordinary()).await;
    assert!(
        plain.per_account[0].score < 1.0,
        "{:?}",
        plain.per_account[0]
    );

    // Out of Junk into the INBOX trains ham (moving the message, not counting it twice);
    // out of Junk into Trash trains nothing; a move between other mailboxes neither.
    w.scorer
        .send(moved(w.alice, JUNK, INBOX, vec![blobs[0].clone()]))
        .await
        .expect("scorer");
    assert_eq!(w.totals(w.alice).await, (19, 1));
    w.scorer
        .send(moved(w.alice, JUNK, TRASH, vec![blobs[1].clone()]))
        .await
        .expect("scorer");
    w.scorer
        .send(moved(
            w.alice,
            INBOX,
            ("Archive", None),
            vec![blobs[2].clone()],
        ))
        .await
        .expect("scorer");
    assert_eq!(w.totals(w.alice).await, (19, 1));
    // A blob alice does not have (or bob's view of hers) trains nothing and breaks nothing.
    w.scorer
        .send(moved(
            w.bob,
            INBOX,
            JUNK,
            vec![blobs[3].clone(), "00".repeat(32)],
        ))
        .await
        .expect("scorer");
    assert_eq!(w.totals(w.bob).await, (0, 0));
}

#[actix_rt::test]
async fn forged_local_sender_is_found_through_the_store_and_disabled_scores_nothing() {
    let w = world(Settings::default()).await;
    let forged: Arc<[u8]> = Arc::from(
        &b"From: Boss <boss@Example.Test>\r\nSubject: Gift cards\r\n\
Date: Tue, 7 Mar 2023 10:00:00 +0000\r\nMessage-ID: <g@x.example>\r\n\r\nBuy gift cards now.\r\n"[..],
    );
    let v = w.score(vec![w.alice], forged.clone()).await;
    let names: Vec<&str> = v.rules.iter().map(|h| h.name).collect();
    assert!(names.contains(&"FORGED_LOCAL_SENDER"), "{names:?}");
    assert_eq!(v.per_account[0].action, Action::Junk);
    assert!(!v.reject);

    let off = world(Settings {
        enabled: false,
        ..Settings::default()
    })
    .await;
    let v = off.score(vec![off.alice], forged).await;
    assert!(v.headers.is_empty() && v.rules.is_empty() && !v.reject);
    assert_eq!(v.per_account[0].action, Action::Inbox);
}

#[test]
fn moves_train_as_users_mean_them() {
    let m = |from: (&str, Option<&str>), to: (&str, Option<&str>)| match moved(1, from, to, vec![])
        .data
    {
        EventData::MessageMoved(m) => training_of(&m),
        _ => unreachable!(),
    };
    assert_eq!(m(INBOX, JUNK), Some(SpamClass::Spam));
    assert_eq!(
        m(INBOX, ("junk", None)),
        Some(SpamClass::Spam),
        "by name, any case"
    );
    assert_eq!(
        m(INBOX, ("Spam", Some("\\Junk"))),
        Some(SpamClass::Spam),
        "by special use"
    );
    assert_eq!(m(JUNK, INBOX), Some(SpamClass::Ham));
    assert_eq!(m(JUNK, ("Archive", None)), Some(SpamClass::Ham));
    assert_eq!(m(JUNK, TRASH), None, "deleting spam is not calling it ham");
    assert_eq!(m(JUNK, ("Junk", None)), None);
    assert_eq!(m(INBOX, ("Archive", None)), None);
}

#[actix_rt::test]
async fn a_reload_applies_new_thresholds_and_weights() {
    mailroom_shared::tls::install_provider();
    let w = world(Settings::default()).await;
    let bus = Bus::start();
    let scorer = SpamScorer::start_on(&bus, w.store.clone(), &mailroom_config::Spam::default());
    let forged: Arc<[u8]> = Arc::from(
        &b"From: Boss <boss@example.test>\r\nSubject: Gift cards\r\n\
Date: Tue, 7 Mar 2023 10:00:00 +0000\r\nMessage-ID: <g@x.example>\r\n\r\nBuy gift cards now.\r\n"[..],
    );
    let score = |raw: Arc<[u8]>| {
        scorer.send(Score {
            account_ids: vec![w.alice],
            raw,
            facts: facts(),
        })
    };
    let before = score(forged.clone()).await.expect("scorer").expect("score");
    assert_eq!(before.per_account[0].action, Action::Junk);

    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = mailroom_config::Config::default();
    config.server.data_dir = dir.path().to_path_buf();
    config.spam.junk_threshold = 8.0;
    config.spam.reject_threshold = 9.0;
    config
        .spam
        .weights
        .insert("FORGED_LOCAL_SENDER".into(), 9.5);
    let snapshot = mailroom_shared::snapshot::Snapshot {
        generation: 2,
        tls: mailroom_shared::tls::acceptor(&config).expect("tls"),
        dns: mailroom_shared::dns::Dns::build(&config.dns).expect("dns"),
        config: Arc::new(config),
    };
    // A round trip through the bus orders the reload before the next Score.
    bus.0
        .send(mailroom_shared::bus::Publish(ConfigChanged(Arc::new(
            snapshot,
        ))))
        .await
        .expect("bus");
    let after = score(forged).await.expect("scorer").expect("score");
    let forged_hit = after.rules.iter().find(|h| h.name == "FORGED_LOCAL_SENDER");
    assert_eq!(forged_hit.map(|h| h.score), Some(9.5));
    assert!(
        after.reject,
        "{} reaches the new reject_threshold",
        after.rules_score
    );
    let headers = String::from_utf8_lossy(&after.headers).into_owned();
    assert!(headers.contains("required=8.0"), "{headers}");
}
