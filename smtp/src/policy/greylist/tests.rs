//! Greylist decisions with the time passed in, and the actor over a real store.

use super::*;
use mailroom_shared::events::Envelope;

const DELAY: i64 = 300;
const WINDOW: i64 = 3600;
const EXPIRE: i64 = 36 * 86_400;

fn settings() -> Settings {
    Settings {
        enabled: true,
        delay_secs: DELAY,
        retry_window_secs: WINDOW,
        expire_secs: EXPIRE,
        whitelist: vec![Network::parse("198.51.100.0/24").expect("net")],
    }
}

fn q(client: &str, sender: &str, rcpt: &str) -> Check {
    Check {
        client: client.parse().expect("ip"),
        sender: sender.into(),
        recipient: rcpt.into(),
        authenticated_domain: None,
    }
}

fn verdict(state: &mut State, check: &Check, now: i64) -> Verdict {
    match state.check(check, now, false) {
        Step::Done { verdict, .. } => verdict,
        Step::Lookup(l) => panic!("unexpected lookup {l:?}"),
    }
}

fn defer(secs: u64) -> Verdict {
    Verdict::Defer {
        retry_after_secs: secs,
    }
}

#[test]
fn first_try_and_early_retry_are_deferred_then_the_retry_passes_and_later_mail_too() {
    let mut s = State::new(settings(), 1000);
    let c = q("192.0.2.7", "a@example.org", "b@example.test");
    assert_eq!(verdict(&mut s, &c, 1000), defer(300));
    assert_eq!(
        verdict(&mut s, &c, 1100),
        defer(200),
        "the delay counts from the first try"
    );
    assert_eq!(verdict(&mut s, &c, 1299), defer(1));
    assert_eq!(verdict(&mut s, &c, 1300), Verdict::Pass);
    assert_eq!(
        verdict(&mut s, &c, 1301),
        Verdict::Pass,
        "passed triplets pass at once"
    );
    assert_eq!(verdict(&mut s, &c, 1300 + EXPIRE), Verdict::Pass);
}

#[test]
fn what_must_survive_a_crash_is_written_before_the_reply() {
    let mut s = State::new(settings(), 1000);
    let c = q("192.0.2.7", "a@example.org", "b@example.test");
    let durable = |step: Step| match step {
        Step::Done { save, durable, .. } => (save.map(|(_, st)| st), durable),
        Step::Lookup(_) => panic!("lookup"),
    };
    let (saved, d) = durable(s.check(&c, 1000, false));
    assert!(d, "a new round is durable");
    assert_eq!(
        saved.map(|st| (st.first_seen, st.passed_at)),
        Some((1000, None))
    );
    let (saved, d) = durable(s.check(&c, 1100, false));
    assert!(!d, "a repeat only counts");
    assert_eq!(saved.map(|st| st.count), Some(2));
    let (saved, d) = durable(s.check(&c, 1300, false));
    assert!(d, "passing is durable");
    assert_eq!(saved.map(|st| st.passed_at), Some(Some(1300)));
    let (_, d) = durable(s.check(&c, 1400, false));
    assert!(!d, "refreshing a passed triplet is not waited for");
}

#[test]
fn triplets_use_the_ipv4_slash_24_and_the_ipv6_slash_64() {
    let mut s = State::new(settings(), 1000);
    assert_eq!(client_net("192.0.2.7".parse().expect("ip")), "192.0.2.0/24");
    assert_eq!(
        client_net("::ffff:192.0.2.7".parse().expect("ip")),
        "192.0.2.0/24"
    );
    assert_eq!(
        client_net("2001:db8:1:2:3:4:5:6".parse().expect("ip")),
        "2001:db8:1:2::/64"
    );
    let _ = verdict(
        &mut s,
        &q("192.0.2.7", "a@example.org", "b@example.test"),
        0,
    );
    // A neighbour in the same /24 retrying counts as the same sender.
    assert_eq!(
        verdict(
            &mut s,
            &q("192.0.2.200", "A@Example.org", "B@example.test"),
            DELAY
        ),
        Verdict::Pass
    );
    assert_eq!(
        verdict(
            &mut s,
            &q("192.0.3.7", "a@example.org", "b@example.test"),
            DELAY
        ),
        defer(300),
        "another /24 is another triplet"
    );
    let _ = verdict(
        &mut s,
        &q("2001:db8:1:2::1", "a@example.org", "b@example.test"),
        0,
    );
    assert_eq!(
        verdict(
            &mut s,
            &q("2001:db8:1:2:ffff::9", "a@example.org", "b@example.test"),
            DELAY
        ),
        Verdict::Pass
    );
    assert_eq!(
        verdict(
            &mut s,
            &q("2001:db8:1:3::1", "a@example.org", "b@example.test"),
            DELAY
        ),
        defer(300)
    );
    // Another sender or recipient is another triplet.
    assert_eq!(
        verdict(
            &mut s,
            &q("192.0.2.7", "c@example.org", "b@example.test"),
            DELAY
        ),
        defer(300)
    );
    assert_eq!(
        verdict(
            &mut s,
            &q("192.0.2.7", "a@example.org", "d@example.test"),
            DELAY
        ),
        defer(300)
    );
}

#[test]
fn a_retry_after_the_window_starts_a_new_round() {
    let mut s = State::new(settings(), 1000);
    let c = q("192.0.2.7", "a@example.org", "b@example.test");
    let _ = verdict(&mut s, &c, 0);
    assert_eq!(verdict(&mut s, &c, DELAY + WINDOW + 1), defer(300));
    assert_eq!(verdict(&mut s, &c, 2 * DELAY + WINDOW + 1), Verdict::Pass);
}

#[test]
fn a_passed_triplet_quiet_longer_than_the_expiry_starts_over() {
    let mut s = State::new(settings(), 1000);
    let c = q("192.0.2.7", "a@example.org", "b@example.test");
    let _ = verdict(&mut s, &c, 0);
    assert_eq!(verdict(&mut s, &c, DELAY), Verdict::Pass);
    assert_eq!(verdict(&mut s, &c, DELAY + EXPIRE + 1), defer(300));
}

#[test]
fn expiry_forgets_closed_rounds_and_quiet_triplets() {
    let mut s = State::new(settings(), 1000);
    let pending = q("192.0.2.7", "a@example.org", "b@example.test");
    let passed = q("192.0.2.7", "c@example.org", "b@example.test");
    let _ = verdict(&mut s, &pending, 0);
    let _ = verdict(&mut s, &passed, 0);
    let _ = verdict(&mut s, &passed, DELAY);
    let sweep = s.expire(DELAY + WINDOW + 1);
    assert_eq!(sweep.pending_before, 1);
    assert_eq!(sweep.passed_before, DELAY + WINDOW + 1 - EXPIRE);
    assert_eq!(
        s.held(),
        (1, 0),
        "the pending round whose window closed is gone"
    );
    let _ = s.expire(DELAY + EXPIRE + 1);
    assert_eq!(s.held(), (0, 0));
}

#[test]
fn whitelisted_networks_and_a_disabled_greylist_pass_without_state() {
    let mut s = State::new(settings(), 1000);
    assert_eq!(
        s.check(
            &q("198.51.100.9", "a@example.org", "b@example.test"),
            0,
            false
        ),
        Step::pass()
    );
    assert_eq!(s.held(), (0, 0));
    s.configure(Settings {
        enabled: false,
        ..settings()
    });
    assert_eq!(
        s.check(&q("192.0.2.7", "a@example.org", "b@example.test"), 0, false),
        Step::pass()
    );
    s.configure(Settings {
        whitelist: vec![Network::parse("2001:db8::/32").expect("net")],
        ..settings()
    });
    assert_eq!(
        verdict(
            &mut s,
            &q("2001:db8::1", "a@x.example", "b@example.test"),
            0
        ),
        Verdict::Pass
    );
    assert_eq!(
        verdict(
            &mut s,
            &q("198.51.100.9", "a@x.example", "b@example.test"),
            0
        ),
        defer(300)
    );
}

fn delivered(client: &str, from: &str, to: &[&str]) -> Delivered {
    Delivered {
        message_id: "1.0".into(),
        client: client.parse().expect("ip"),
        envelope: Envelope {
            mail_from: from.into(),
            rcpt_to: to.iter().map(|s| s.to_string()).collect(),
        },
        recipients: to.iter().map(|s| s.to_string()).collect(),
        size: 10,
        spam_score: None,
        auth_results: None,
    }
}

#[test]
fn deliveries_teach_passed_triplets_known_senders_and_domains() {
    let mut s = State::new(settings(), 1000);
    let save = s.learn(
        &delivered("192.0.2.7", "A@Example.org", &["b@example.test"]),
        50,
    );
    assert_eq!(save.triplets.len(), 1);
    assert_eq!(save.triplets[0].1.passed_at, Some(50));
    assert_eq!(
        save.known
            .iter()
            .map(|(k, _)| k.clone())
            .collect::<Vec<_>>(),
        [
            KnownSender::Sender {
                net: "192.0.2.0/24".into(),
                address: "a@example.org".into()
            },
            KnownSender::Domain("example.org".into())
        ]
    );
    // The delivered triplet passes, and so does the same sender to someone else from its net.
    assert_eq!(
        verdict(
            &mut s,
            &q("192.0.2.8", "a@example.org", "b@example.test"),
            60
        ),
        Verdict::Pass
    );
    assert_eq!(
        verdict(
            &mut s,
            &q("192.0.2.8", "a@example.org", "new@example.test"),
            60
        ),
        Verdict::Pass
    );
    // From elsewhere, the sender alone proves nothing: anyone can write it.
    let elsewhere = q("203.0.113.1", "a@example.org", "new@example.test");
    assert_eq!(verdict(&mut s, &elsewhere, 60), defer(300));
    // Unless SPF or DKIM vouched for its domain, which delivered before.
    let other = q("203.0.113.1", "z@example.org", "new2@example.test");
    let vouched = Check {
        authenticated_domain: Some("Example.ORG.".into()),
        ..other.clone()
    };
    assert_eq!(verdict(&mut s, &vouched, 60), Verdict::Pass);
    let unknown_domain = Check {
        authenticated_domain: Some("never.example".into()),
        ..other
    };
    assert_eq!(verdict(&mut s, &unknown_domain, 60), defer(300));
    // A known sender is forgotten after the expiry.
    assert_eq!(
        verdict(
            &mut s,
            &q("192.0.2.8", "a@example.org", "newer@example.test"),
            50 + EXPIRE + 1
        ),
        defer(300)
    );
    // The null sender teaches its triplets only.
    let save = s.learn(&delivered("192.0.2.7", "", &["b@example.test"]), 70);
    assert_eq!((save.triplets.len(), save.known.len()), (1, 0));
    // Nothing is learned while greylisting is off.
    s.configure(Settings {
        enabled: false,
        ..settings()
    });
    let save = s.learn(
        &delivered("192.0.2.7", "q@example.org", &["b@example.test"]),
        80,
    );
    assert!(save.triplets.is_empty() && save.known.is_empty());
}

#[test]
fn memory_is_bounded_and_misses_are_then_looked_up() {
    let mut s = State::new(settings(), 10);
    for i in 0..11 {
        let _ = verdict(
            &mut s,
            &q("192.0.2.7", "a@example.org", &format!("r{i}@example.test")),
            i,
        );
    }
    assert!(s.held().0 <= 10, "{:?}", s.held());
    // The oldest was evicted: it may be in the store, so it is looked up, not taken as new.
    let c = q("192.0.2.7", "a@example.org", "r0@example.test");
    let Step::Lookup(lookup) = s.check(&c, 400, false) else {
        panic!("expected a lookup");
    };
    assert_eq!(lookup.triplet.recipient, "r0@example.test");
    s.absorb(
        lookup.triplet,
        Some(TripletState {
            first_seen: 0,
            last_seen: 0,
            passed_at: None,
            count: 1,
        }),
        Vec::new(),
    );
    assert_eq!(
        s.check(&c, 400, true),
        Step::Done {
            verdict: Verdict::Pass,
            save: Some((
                Triplet {
                    net: "192.0.2.0/24".into(),
                    sender: "a@example.org".into(),
                    recipient: "r0@example.test".into()
                },
                TripletState {
                    first_seen: 0,
                    last_seen: 400,
                    passed_at: Some(400),
                    count: 2
                }
            )),
            durable: true
        },
        "the stored first try counts"
    );
}

// The actor, over a real store in a temporary directory.

fn config(delay: u64) -> mailroom_config::Greylist {
    mailroom_config::Greylist {
        enabled: true,
        delay_secs: delay,
        ..Default::default()
    }
}

/// A clock the test moves.
fn clock(start: i64) -> (Arc<std::sync::atomic::AtomicI64>, Clock) {
    let now = Arc::new(std::sync::atomic::AtomicI64::new(start));
    let read = now.clone();
    (
        now,
        Arc::new(move || read.load(std::sync::atomic::Ordering::SeqCst)),
    )
}

async fn open_store(dir: &std::path::Path) -> Addr<MailboxStore> {
    MailboxStore::start_embedded(dir, Bus::start()).expect("store")
}

#[actix_rt::test]
async fn a_new_actor_resumes_from_the_store_and_deliveries_teach_it() {
    use std::sync::atomic::Ordering::SeqCst;
    let dir = tempfile::tempdir().expect("tempdir");
    let (now, clk) = clock(10_000);
    let store = open_store(dir.path()).await;
    let bus = Bus::start();
    let g = Greylist::with_clock(&config(300), store.clone(), clk.clone(), 1000).start_on(&bus);
    let passed = q("192.0.2.7", "a@example.org", "b@example.test");
    let pending = q("192.0.2.7", "a@example.org", "c@example.test");
    assert_eq!(g.send(passed.clone()).await.expect("actor"), defer(300));
    now.store(10_300, SeqCst);
    assert_eq!(g.send(passed.clone()).await.expect("actor"), Verdict::Pass);
    now.store(10_100, SeqCst);
    assert_eq!(g.send(pending.clone()).await.expect("actor"), defer(300));
    // A delivery event, sent as the bus would.
    g.send(EventRecorded {
        id: 1,
        timestamp: 10_100,
        data: EventData::Delivered(delivered(
            "203.0.113.5",
            "x@example.net",
            &["b@example.test"],
        )),
    })
    .await
    .expect("actor");
    // Its write is not waited for: let it land before the store is flushed.
    let learned = LookupGreylist {
        triplet: Triplet {
            net: "203.0.113.0/24".into(),
            sender: "x@example.net".into(),
            recipient: "b@example.test".into(),
        },
        known: vec![KnownSender::Domain("example.net".into())],
    };
    let mut landed = false;
    for _ in 0..100 {
        let (found, known) = store
            .send(learned.clone())
            .await
            .expect("store")
            .expect("lookup");
        if found.is_some() && known.len() == 1 {
            landed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(landed, "the learned rows reached the store");
    // A new actor starts from what the store holds (the store's own reopening is tested in
    // the store crate; a whole server restart in tests/e2e/greylist.rs).
    drop(g);
    let g = Greylist::with_clock(&config(300), store.clone(), clk, 1000).start_on(&bus);
    now.store(10_301, SeqCst);
    assert_eq!(
        g.send(passed).await.expect("actor"),
        Verdict::Pass,
        "passed stays passed"
    );
    now.store(10_200, SeqCst);
    assert_eq!(
        g.send(pending.clone()).await.expect("actor"),
        defer(200),
        "a pending triplet keeps its first try"
    );
    now.store(10_400, SeqCst);
    assert_eq!(g.send(pending).await.expect("actor"), Verdict::Pass);
    let vouched = Check {
        authenticated_domain: Some("example.net".into()),
        ..q("192.0.2.99", "y@example.net", "b@example.test")
    };
    assert_eq!(
        g.send(vouched).await.expect("actor"),
        Verdict::Pass,
        "learned domain"
    );
    store
        .send(mailroom_store::actor::Flush)
        .await
        .expect("store")
        .expect("flush");
}

#[actix_rt::test]
async fn the_actor_looks_up_what_it_evicted_and_follows_reloads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_now, clk) = clock(10_000);
    let store = open_store(dir.path()).await;
    // One triplet stored before the actor starts, beyond its cap of one row.
    let t = |r: &str| Triplet {
        net: "192.0.2.0/24".into(),
        sender: "a@example.org".into(),
        recipient: r.into(),
    };
    let old = TripletState {
        first_seen: 9_000,
        last_seen: 9_500,
        passed_at: Some(9_500),
        count: 2,
    };
    let newer = TripletState {
        last_seen: 9_600,
        ..old
    };
    store
        .send(SaveGreylist {
            triplets: vec![(t("old@example.test"), old), (t("new@example.test"), newer)],
            ..SaveGreylist::default()
        })
        .await
        .expect("store")
        .expect("save");
    let bus = Bus::start();
    let g = Greylist::with_clock(&config(300), store.clone(), clk, 1).start_on(&bus);
    // Only the newest row was loaded; the other is found in the store.
    assert_eq!(
        g.send(q("192.0.2.1", "a@example.org", "old@example.test"))
            .await
            .expect("actor"),
        Verdict::Pass
    );
    assert_eq!(
        g.send(q("192.0.2.1", "a@example.org", "never@example.test"))
            .await
            .expect("actor"),
        defer(300)
    );
    // SIGHUP turning it off: everything passes.
    let mut off = mailroom_config::Config::default();
    off.greylist.enabled = false;
    let tls = mailroom_shared::tls::acceptor(&mailroom_config::Config {
        server: mailroom_config::Server {
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        },
        ..Default::default()
    })
    .expect("tls");
    g.send(ConfigChanged(Arc::new(
        mailroom_shared::snapshot::Snapshot {
            generation: 2,
            config: Arc::new(off),
            tls,
            dns: mailroom_shared::dns::Dns::build(&mailroom_config::Dns::default()).expect("dns"),
        },
    )))
    .await
    .expect("actor");
    assert_eq!(
        g.send(q("192.0.2.1", "a@example.org", "other@example.test"))
            .await
            .expect("actor"),
        Verdict::Pass
    );
    store
        .send(mailroom_store::actor::Flush)
        .await
        .expect("store")
        .expect("flush");
}

#[test]
fn eviction_keeps_nine_tenths_even_when_all_were_seen_in_the_same_second() {
    let mut s = State::new(settings(), 10);
    for i in 0..11 {
        let _ = verdict(
            &mut s,
            &q("192.0.2.7", "a@example.org", &format!("r{i}@example.test")),
            500,
        );
    }
    assert_eq!(s.held().0, 9);
}

#[actix_rt::test]
async fn an_admin_whitelists_and_deletes_entries_in_memory_and_in_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_now, clk) = clock(10_000);
    let store = open_store(dir.path()).await;
    let bus = Bus::start();
    // A cap of one row: the second entry is evicted from memory and found in the store.
    let g = Greylist::with_clock(&config(300), store.clone(), clk, 1).start_on(&bus);
    let first = q("192.0.2.1", "a@example.org", "one@example.test");
    let second = q("192.0.2.1", "a@example.org", "two@example.test");
    for c in [&first, &second] {
        assert_eq!(g.send(c.clone()).await.expect("actor"), defer(300));
    }
    let edit = |rcpt: &str, action| EditGreylist {
        net: "192.0.2.0/24".into(),
        sender: "A@example.org".into(),
        recipient: rcpt.into(),
        action,
    };
    let whitelisted = g
        .send(edit("one@example.test", GreylistAction::Whitelist))
        .await
        .expect("actor");
    assert_eq!(whitelisted, Ok(true));
    assert_eq!(g.send(first.clone()).await.expect("actor"), Verdict::Pass);
    let deleted = g
        .send(edit("two@example.test", GreylistAction::Delete))
        .await
        .expect("actor");
    assert_eq!(deleted, Ok(true));
    let unknown = g
        .send(edit("nobody@example.test", GreylistAction::Delete))
        .await
        .expect("actor");
    assert_eq!(unknown, Ok(false));

    // A new actor on the same store: the whitelisted entry still passes, and the deleted
    // one starts a new round.
    let (_later, clk) = clock(10_100);
    let g = Greylist::with_clock(&config(300), store.clone(), clk, 1).start_on(&bus);
    assert_eq!(g.send(first).await.expect("actor"), Verdict::Pass);
    let rows = store
        .send(LoadGreylist { limit: 10 })
        .await
        .expect("store")
        .expect("load");
    let two = rows
        .triplets
        .iter()
        .find(|(t, _)| t.recipient == "two@example.test");
    assert_eq!(two, None, "deleted from the store");
    assert_eq!(g.send(second).await.expect("actor"), defer(300));
}

/// Two nodes: two greylist actors, each with its own memory, over one store.
#[actix_rt::test]
async fn nodes_sharing_a_store_see_each_others_rounds_passes_and_edits() {
    use std::sync::atomic::Ordering::SeqCst;
    let dir = tempfile::tempdir().expect("tempdir");
    let (now, clk) = clock(10_000);
    let store = open_store(dir.path()).await;
    let bus = Bus::start();
    let node = || {
        Greylist::with_clock(&config(300), store.clone(), clk.clone(), 1000)
            .shared_store(true)
            .start_on(&bus)
    };
    let (a, b) = (node(), node());
    let mail = q("192.0.2.7", "a@example.org", "b@example.test");
    // Both hold the pending round in memory.
    assert_eq!(a.send(mail.clone()).await.expect("actor"), defer(300));
    now.store(10_100, SeqCst);
    assert_eq!(
        b.send(mail.clone()).await.expect("actor"),
        defer(200),
        "A's round"
    );
    // The retry lands on B and passes; A, whose memory still says pending, follows the
    // store once the retry window (default 2 days) has long passed too.
    now.store(10_300, SeqCst);
    assert_eq!(b.send(mail.clone()).await.expect("actor"), Verdict::Pass);
    now.store(10_300 + 3 * 86_400, SeqCst);
    assert_eq!(
        a.send(mail.clone()).await.expect("actor"),
        Verdict::Pass,
        "passed on B, passes on A"
    );
    // An admin deletes the entry on B: A starts a new round.
    let deleted = b
        .send(EditGreylist {
            net: "192.0.2.0/24".into(),
            sender: "a@example.org".into(),
            recipient: "b@example.test".into(),
            action: GreylistAction::Delete,
        })
        .await
        .expect("actor");
    assert_eq!(deleted, Ok(true));
    assert_eq!(a.send(mail).await.expect("actor"), defer(300));
}

#[test]
fn a_shared_store_is_asked_on_every_check_and_wins_over_memory() {
    let mut s = State::new(settings(), 1000);
    s.share_store();
    let c = q("192.0.2.7", "a@example.org", "b@example.test");
    let Step::Lookup(lookup) = s.check(&c, 1000, false) else {
        panic!("a shared store is always asked");
    };
    s.absorb(lookup.triplet.clone(), None, Vec::new());
    assert_eq!(verdict_looked_up(&mut s, &c, 1000), defer(300));
    // Memory now holds the round, but the store is still asked.
    assert!(matches!(s.check(&c, 1100, false), Step::Lookup(_)));
    // Another node passed it at 1300: the store's row replaces ours.
    let passed = TripletState {
        first_seen: 1000,
        last_seen: 1300,
        passed_at: Some(1300),
        count: 2,
    };
    s.absorb(lookup.triplet.clone(), Some(passed), Vec::new());
    assert_eq!(verdict_looked_up(&mut s, &c, 1400), Verdict::Pass);
    // Deleted elsewhere: gone from memory too, so a new round starts.
    s.absorb(lookup.triplet, None, Vec::new());
    assert_eq!(verdict_looked_up(&mut s, &c, 1500), defer(300));
}

fn verdict_looked_up(s: &mut State, c: &Check, now: i64) -> Verdict {
    match s.check(c, now, true) {
        Step::Done { verdict, .. } => verdict,
        Step::Lookup(_) => panic!("a looked-up check decides"),
    }
}
