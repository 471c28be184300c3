//! Group commit: concurrent deliveries are all acknowledged and present, and they share
//! transactions (fewer commits than deliveries), which is where throughput comes from.

use std::sync::Arc;

use futures_util::future::join_all;
use mailroom_shared::Secret;
use mailroom_shared::bus::Bus;
use mailroom_store::actor::{Deliver, Select, Stats};
use mailroom_store::{MailboxStore, Role, StoreAdmin};

const DELIVERIES: usize = 50;

#[actix_rt::test]
async fn fifty_concurrent_deliveries_share_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = MailboxStore::start_embedded(dir.path(), Bus::start()).expect("store");
    let admin = StoreAdmin::new(store.clone());
    admin.domain_add("example.test").await.expect("domain");
    let pw = Secret::new("password1");
    let mut accounts = Vec::new();
    for u in ["a", "b"] {
        let address = format!("{u}@example.test");
        let account = admin.user_add(&address, &pw, Role::User, None).await;
        accounts.push(account.expect("user").id);
    }

    // The domain and the accounts went through the same writer: count from here.
    let before = store.send(Stats).await.expect("mailbox").expect("stats");
    let sends = (0..DELIVERIES).map(|i| {
        let raw = format!("Subject: message {i}\r\n\r\n{}\r\n", "x".repeat(2000 + i));
        store.send(Deliver {
            recipients: vec![accounts[i % accounts.len()]],
            junk: Vec::new(),
            raw: Arc::from(raw.into_bytes()),
            internal_date: None,
            event: None,
        })
    });
    let results = join_all(sends).await;
    let mut delivered = Vec::new();
    for r in results {
        let d = r.expect("mailbox").expect("every delivery is acknowledged");
        delivered.extend(d);
    }
    assert_eq!(delivered.len(), DELIVERIES);

    let mut present = 0;
    for &account_id in &accounts {
        let (info, messages) = store
            .send(Select {
                account_id,
                name: "INBOX".into(),
            })
            .await
            .expect("mailbox")
            .expect("select");
        for d in delivered.iter().filter(|d| d.account_id == account_id) {
            assert_eq!(d.mailbox_id, info.id);
            assert!(
                messages.iter().any(|m| m.uid == d.uid),
                "uid {} missing",
                d.uid
            );
        }
        present += messages.len();
    }
    assert_eq!(present, DELIVERIES);

    let after = store.send(Stats).await.expect("mailbox").expect("stats");
    let (ops, commits) = (after.ops - before.ops, after.commits - before.commits);
    println!("{DELIVERIES} deliveries: {ops} ops in {commits} commits");
    assert_eq!(ops, DELIVERIES as u64);
    assert!(
        commits < DELIVERIES as u64,
        "no batching happened: {ops} ops in {commits} commits"
    );
}
