//! The embedded engine's directory through the store actor: its writes take the writer like
//! mail does, a removed account's body files go, and the CLI's engine beside a running server
//! is seen by it at once. (The directory's behaviour on every engine is in `tests/engines`.)

use std::sync::Arc;

use actix::prelude::*;
use mailroom_shared::Secret;
use mailroom_shared::bus::Bus;
use mailroom_store::actor::{
    Authenticate, Deliver, Flush, LoginAttempt, LoginGuard, LoginProtocol, ResolveRecipient, Stats,
    Verdict,
};
use mailroom_store::{MailboxStore, Resolution, Role, StoreAdmin, StoreError, blob_hash};

/// A store with example.test and alice (password `password1`), and its bus.
async fn with_alice() -> (tempfile::TempDir, i64, Bus, Addr<MailboxStore>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = Bus::start();
    let store = MailboxStore::start_embedded(dir.path(), bus.clone()).expect("start");
    let admin = StoreAdmin::new(store.clone());
    admin.domain_add("example.test").await.expect("domain");
    let alice = admin
        .user_add(
            "alice@example.test",
            &Secret::new("password1"),
            Role::User,
            None,
        )
        .await
        .expect("alice")
        .id;
    (dir, alice, bus, store)
}

/// The CLI changes accounts through its own engine, opened beside the running server; the
/// running store must see those changes at once, without a restart or a cache to expire.
#[actix_rt::test]
async fn changes_made_by_another_connection_are_seen_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = MailboxStore::start_embedded(dir.path(), Bus::start()).expect("start");
    let resolve = |address: &str| {
        store.send(ResolveRecipient {
            address: address.into(),
        })
    };
    assert_eq!(
        resolve("bob@later.test")
            .await
            .expect("mailbox")
            .expect("resolve"),
        Resolution::NotOurDomain
    );

    let mut cli_config = mailroom_config::Config::default();
    cli_config.server.data_dir = dir.path().to_path_buf();
    let cli_engine = mailroom_store::open_beside_server(&cli_config).expect("beside the server");
    let cli = StoreAdmin::new(MailboxStore::start_with(cli_engine, Bus::start()));
    cli.domain_add("later.test").await.expect("domain");
    assert_eq!(
        resolve("bob@later.test")
            .await
            .expect("mailbox")
            .expect("resolve"),
        Resolution::UnknownUser
    );
    let pw = Secret::new("password1");
    let bob = cli
        .user_add("bob@later.test", &pw, Role::User, None)
        .await
        .expect("bob")
        .id;
    assert_eq!(
        resolve("bob@later.test")
            .await
            .expect("mailbox")
            .expect("resolve"),
        Resolution::Local(vec![bob])
    );
    let mut config = mailroom_config::Config::default();
    config.security.auth_failure_delay_ms = 0;
    let account = store
        .send(Authenticate {
            address: "bob@later.test".into(),
            password: pw.clone(),
            attempt: LoginAttempt {
                protocol: LoginProtocol::Smtp,
                mechanism: "PLAIN".into(),
                client: "192.0.2.1".parse().expect("ip"),
            },
            guard: LoginGuard::from_config(&config),
        })
        .await
        .expect("mailbox");
    assert!(
        matches!(&account, Verdict::Accepted(a) if a.id == bob),
        "{account:?}"
    );

    cli.user_remove("bob@later.test").await.expect("remove");
    assert_eq!(
        resolve("bob@later.test")
            .await
            .expect("mailbox")
            .expect("resolve"),
        Resolution::UnknownUser
    );
    store.send(Flush).await.expect("mailbox").expect("flush");
}

/// The panel's, the API's and the CLI's writes take the writer like mail does, and a removed
/// account's body file goes with its last message. (What removal announces, and the rest of
/// the directory's behaviour, is in the engine suite.)
#[actix_rt::test]
async fn directory_writes_go_through_the_writer_and_a_removed_accounts_body_file_goes() {
    let (dir, alice, _bus, store) = with_alice().await;
    let admin = StoreAdmin::new(store.clone());
    let stats = async || store.send(Stats).await.expect("mailbox").expect("stats");

    let before = stats().await;
    let pw = Secret::new("password1");
    admin
        .user_add("root@example.test", &pw, Role::Admin, None)
        .await
        .expect("admin");
    assert_eq!(stats().await.ops, before.ops + 1, "one writer op");
    // A short password is refused before anything is written.
    let ops = stats().await.ops;
    let short = admin
        .user_add("x@example.test", &Secret::new("short"), Role::User, None)
        .await;
    assert!(matches!(short, Err(StoreError::Invalid(_))), "{short:?}");
    assert_eq!(stats().await.ops, ops);

    // alice has mail, large enough to be a file.
    let raw: Arc<[u8]> =
        Arc::from(format!("Subject: big\r\n\r\n{}\r\n", "y".repeat(300_000)).into_bytes());
    store
        .send(Deliver {
            recipients: vec![alice],
            junk: Vec::new(),
            raw: raw.clone(),
            internal_date: None,
            event: None,
        })
        .await
        .expect("mailbox")
        .expect("deliver");
    let blob = blob_hash(&raw);
    let file = dir.path().join("blobs").join(&blob[..2]).join(&blob[2..]);
    assert!(file.exists(), "a large body is a file");
    admin
        .user_remove("Alice@example.test")
        .await
        .expect("remove");
    assert_eq!(
        admin.verify().await.expect("verify"),
        Vec::<String>::new(),
        "no body left behind or missing"
    );
    assert!(!file.exists(), "the body's file went with its last message");
    store.send(Flush).await.expect("mailbox").expect("flush");
}
