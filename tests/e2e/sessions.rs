//! The session registry behind the admin panel's Sessions page, with the real IMAP and POP3
//! drivers in process (the admin API that exposes it comes with the panel): a logged-in
//! session is listed with its account, and ending it makes the client see `* BYE` / `-ERR`
//! and the connection close.

use mailroom_config::{Config, ListenerAddrs, ListenerKind, Listeners};
use mailroom_shared::bus::Bus;
use mailroom_shared::net::{
    Apply, Arbiters, Bound, ConnectionTracker, ListenerSet, Protocol, Protocols,
};
use mailroom_shared::shutdown::drain_signal;
use mailroom_shared::snapshot::Snapshot;
use mailroom_store::actor::MailboxStore;
use mailroom_tests::{LineClient, wait_until};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use actix::Actor;

/// IMAP and POP3 listeners on free ports in a System on their own thread; the tracker and
/// the bound addresses come back. The System stops when `stop` is dropped.
fn start(
    data_dir: std::path::PathBuf,
) -> (
    ConnectionTracker,
    Vec<(ListenerKind, SocketAddr)>,
    mpsc::Sender<()>,
) {
    let ports = mailroom_tests::free_ports(2);
    let (ready_tx, ready_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let mut config = Config::default();
            config.server.data_dir = data_dir.clone();
            config.security.allow_plaintext_auth = true;
            config.listeners = Listeners {
                imap: Some(ListenerAddrs::One(format!("127.0.0.1:{}", ports[0]))),
                pop3: Some(ListenerAddrs::One(format!("127.0.0.1:{}", ports[1]))),
                ..Listeners::none()
            };
            let snapshot = Arc::new(Snapshot {
                generation: 1,
                tls: mailroom_shared::tls::acceptor(&config).expect("tls"),
                dns: mailroom_shared::dns::Dns::build(&config.dns).expect("dns"),
                config: Arc::new(config),
            });
            let bus = Bus::start();
            let store = MailboxStore::start_embedded(&data_dir, bus.clone()).expect("store");
            let imap: Arc<dyn Protocol> =
                Arc::new(mailroom_imap::Imap::new(store.clone(), bus.clone()));
            let pop3: Arc<dyn Protocol> = Arc::new(mailroom_pop3::Pop3::new(store.clone()));
            let protocols: Protocols = [(ListenerKind::Imap, imap), (ListenerKind::Pop3, pop3)]
                .into_iter()
                .collect();
            let (_switch, draining) = drain_signal();
            let tracker = ConnectionTracker::default();
            let arbiters = Arbiters::per_core();
            let listeners =
                ListenerSet::new(protocols, tracker.clone(), arbiters.clone(), draining, bus)
                    .start();
            listeners
                .send(Apply(snapshot))
                .await
                .expect("mailbox")
                .expect("apply");
            let bound = listeners.send(Bound).await.expect("bound");
            ready_tx.send((tracker, bound)).expect("ready");
            // Block this System's thread only once everything runs elsewhere or is idle.
            let _ = tokio::task::spawn_blocking(move || stop_rx.recv()).await;
            arbiters.stop_all();
        });
    });
    let (tracker, bound) = ready_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("listeners up");
    (tracker, bound, stop_tx)
}

fn port(bound: &[(ListenerKind, SocketAddr)], kind: ListenerKind) -> u16 {
    bound
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, a)| a.port())
        .expect("bound")
}

#[test]
fn a_logged_in_session_is_listed_and_can_be_ended() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    actix_rt::System::new().block_on(async {
        let store = MailboxStore::start_embedded(&data, Bus::start()).expect("store");
        let admin = mailroom_store::StoreAdmin::new(store.clone());
        admin.domain_add("example.test").await.expect("domain");
        admin
            .user_add(
                "alice@example.test",
                &mailroom_shared::Secret::new("password-1"),
                mailroom_store::Role::User,
                None,
            )
            .await
            .expect("user");
        let flushed = store.send(mailroom_store::actor::Flush).await;
        flushed.expect("store").expect("flush");
    });
    let (tracker, bound, _stop) = start(data);

    let mut imap = LineClient::connect(port(&bound, ListenerKind::Imap)).expect("imap");
    assert!(imap.read_line().expect("greeting").starts_with("* OK"));
    let mut pop = LineClient::connect(port(&bound, ListenerKind::Pop3)).expect("pop3");
    assert!(pop.read_line().expect("greeting").starts_with("+OK"));
    let reply = imap
        .cmd("a1 LOGIN alice@example.test password-1")
        .expect("login");
    assert!(reply.starts_with("a1 OK"), "{reply}");

    let listed = wait_until(Duration::from_secs(10), || {
        tracker.list().iter().any(|s| {
            s.kind == ListenerKind::Imap && s.account.as_deref() == Some("alice@example.test")
        })
    });
    assert!(listed, "{:?}", tracker.list());
    let sessions = tracker.list();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let imap_id = sessions
        .iter()
        .find(|s| s.kind == ListenerKind::Imap)
        .map(|s| s.session_id)
        .expect("imap session");
    let pop_session = sessions
        .iter()
        .find(|s| s.kind == ListenerKind::Pop3)
        .expect("pop3 session");
    assert_eq!(pop_session.account, None, "not logged in");

    // IMAP: ended while idle between commands.
    assert!(tracker.end(imap_id));
    let bye = imap.read_line().expect("bye");
    assert!(bye.starts_with("* BYE ") && bye.contains("ended"), "{bye}");
    assert!(imap.closed());
    // POP3 logs in, then is ended.
    assert!(
        pop.cmd("USER alice@example.test")
            .expect("user")
            .starts_with("+OK")
    );
    assert!(pop.cmd("PASS password-1").expect("pass").starts_with("+OK"));
    assert!(wait_until(Duration::from_secs(10), || {
        tracker.list().iter().any(|s| {
            s.account.as_deref() == Some("alice@example.test") && s.kind == ListenerKind::Pop3
        })
    }));
    assert!(tracker.end(pop_session.session_id));
    let err = pop.read_line().expect("-ERR");
    assert!(err.starts_with("-ERR ") && err.contains("ended"), "{err}");
    assert!(pop.closed());

    assert!(wait_until(Duration::from_secs(10), || tracker
        .list()
        .is_empty()));
    assert!(!tracker.end(imap_id), "gone once closed");
}
