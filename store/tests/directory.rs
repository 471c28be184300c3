//! The directory (domains, accounts, tokens, lockouts) through the store actor: its writes
//! take the writer like mail does, a removal is announced once durable with its mail gone,
//! and the CLI's engine beside a running server is seen by it at once.

use std::sync::Arc;

use actix::prelude::*;
use mailroom_shared::Secret;
use mailroom_shared::bus::Bus;
use mailroom_shared::msg::AccountRemoved;
use mailroom_store::actor::{
    Authenticate, Deliver, Flush, LoginAttempt, LoginGuard, LoginProtocol, ResolveRecipient, Stats,
    Verdict,
};
use mailroom_store::{
    AccountChange, MailboxStore, Resolution, Role, StoreAdmin, StoreError, blob_hash,
};

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

/// Collects `AccountRemoved` events.
#[derive(Default)]
struct Removals(Vec<AccountRemoved>);
impl Actor for Removals {
    type Context = Context<Self>;
}
impl Handler<AccountRemoved> for Removals {
    type Result = ();
    fn handle(&mut self, m: AccountRemoved, _: &mut Context<Self>) {
        self.0.push(m);
    }
}
#[derive(Message)]
#[rtype(result = "Vec<AccountRemoved>")]
struct Removed;
impl Handler<Removed> for Removals {
    type Result = MessageResult<Removed>;
    fn handle(&mut self, _: Removed, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.0.clone())
    }
}

/// The panel's, the API's and the CLI's writes take the writer like mail does, and
/// removing an account is announced once it is durable, with its mail gone.
#[actix_rt::test]
async fn directory_writes_go_through_the_writer_and_a_removal_is_announced() {
    let (dir, alice, bus, store) = with_alice().await;
    let removals = Removals::default().start();
    bus.subscribe(removals.clone().recipient::<AccountRemoved>());
    let admin = StoreAdmin::new(store.clone());
    let stats = async || store.send(Stats).await.expect("mailbox").expect("stats");

    let before = stats().await;
    let pw = Secret::new("password1");
    admin
        .user_add("root@example.test", &pw, Role::Admin, None)
        .await
        .expect("admin");
    assert_eq!(stats().await.ops, before.ops + 1, "one writer op");
    // A refused change changes nothing: the last enabled admin stays one.
    let refused = admin
        .user_change(
            "root@example.test",
            &AccountChange {
                disabled: Some(true),
                ..Default::default()
            },
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "{refused:?}"
    );
    assert!(
        !admin
            .user_get("root@example.test")
            .await
            .expect("root")
            .disabled
    );
    // A token acts as its admin until it is deleted.
    let (token, secret) = admin
        .token_create("root@example.test", "ci")
        .await
        .expect("token");
    let acting = admin.token_account(&secret).await.expect("token account");
    assert_eq!(acting.map(|a| a.address), Some("root@example.test".into()));
    admin.token_delete(token.id).await.expect("delete token");
    assert_eq!(admin.token_account(&secret).await.expect("read"), None);
    assert!(matches!(
        admin.lockout_clear("192.0.2.7").await,
        Err(StoreError::NotFound(_))
    ));
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
    let heard = removals.send(Removed).await.expect("removals");
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert_eq!(
        (heard[0].account_id, heard[0].address.as_str()),
        (alice, "alice@example.test")
    );
    assert!(matches!(
        admin.user_get("alice@example.test").await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        admin.verify().await.expect("verify"),
        Vec::<String>::new(),
        "no body left behind or missing"
    );
    assert!(!file.exists(), "the body's file went with its last message");
    store.send(Flush).await.expect("mailbox").expect("flush");
}
