//! The directory's management through the actor (panel, API, CLI): domains with their DKIM
//! keys and role addresses, accounts with their mailboxes, aliases, API tokens, and the
//! removal of an account with its mail.

use std::sync::Arc;

use actix::prelude::*;
use mailroom_shared::Secret;
use mailroom_shared::msg::AccountRemoved;
use mailroom_store::actor::{ListMailboxes, Verdict};
use mailroom_store::dkim::DkimAlgorithm;
use mailroom_store::{AccountChange, Resolution, Role, StoreError};

use crate::directory::login;
use crate::support::{Harness, each_engine};

fn pw() -> Secret {
    Secret::new("password1")
}

fn targets(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Whether `password` logs in as `address` (the store's own check, no delay).
async fn logs_in(h: &Harness, address: &str, password: &str) -> Option<i64> {
    match login(h, address, password, "192.0.2.1").await {
        Verdict::Accepted(a) => Some(a.id),
        Verdict::Refused => None,
        other => panic!("{}: {address}: {other:?}", h.engine),
    }
}

/// example.test with the admin root@example.test.
async fn with_root(h: &Harness) {
    h.admin.domain_add("example.test").await.expect("domain");
    h.admin
        .user_add("root@example.test", &pw(), Role::Admin, None)
        .await
        .expect("admin");
}

#[actix_rt::test]
async fn domain_errors() {
    each_engine(|h| async move {
        // The whole harness, not only the fields used: its temporary store lives as long.
        let h = &h;
        let a = &h.admin;
        let d = a.domain_add("Example.TEST.").await.expect("add");
        assert_eq!(d.name, "example.test");
        assert_eq!(
            a.domain_add("example.test").await,
            Err(StoreError::Exists("domain example.test".into())),
            "{}",
            h.engine
        );
        assert!(matches!(
            a.domain_add("bad domain").await,
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            a.domain_remove("other.test").await,
            Err(StoreError::NotFound(_))
        ));
        a.user_add("u@example.test", &pw(), Role::User, None)
            .await
            .expect("user");
        let refused = a.domain_remove("example.test").await;
        assert_eq!(
            refused,
            Err(StoreError::Invalid(
                "domain example.test still has 1 accounts; remove them first".into()
            )),
            "{}",
            h.engine
        );
        a.user_remove("U@example.test").await.expect("remove user");
        a.domain_remove("example.test").await.expect("now empty");
        assert_eq!(a.domain_list().await.expect("list"), []);
    })
    .await;
}

#[actix_rt::test]
async fn a_new_domain_has_one_dkim_key_of_each_algorithm() {
    each_engine(|h| async move {
        // The whole harness, not only the fields used: its temporary store lives as long.
        let h = &h;
        h.admin.domain_add("example.test").await.expect("domain");
        let keys = h.admin.domain_dkim("Example.test").await.expect("keys");
        let algorithms: Vec<DkimAlgorithm> = keys.iter().map(|k| k.algorithm).collect();
        assert_eq!(
            algorithms,
            [DkimAlgorithm::RsaSha256, DkimAlgorithm::Ed25519Sha256],
            "{}",
            h.engine
        );
        assert!(keys.iter().all(|k| k.domain == "example.test"));
        assert_ne!(keys[0].selector, keys[1].selector);
        assert!(matches!(
            h.admin.domain_dkim("other.test").await,
            Err(StoreError::NotFound(_))
        ));
    })
    .await;
}

#[actix_rt::test]
async fn user_errors() {
    each_engine(|h| async move {
        // The whole harness, not only the fields used: its temporary store lives as long.
        let h = &h;
        let a = &h.admin;
        a.domain_add("example.test").await.expect("domain");
        let alice = a
            .user_add("Alice@example.test", &pw(), Role::Admin, Some(5000))
            .await
            .expect("add");
        assert_eq!(
            (alice.address.as_str(), alice.role, alice.quota_bytes),
            ("Alice@example.test", Role::Admin, 5000)
        );
        assert_eq!(
            a.user_add("bob@elsewhere.test", &pw(), Role::User, None)
                .await,
            Err(StoreError::UnknownDomain("elsewhere.test".into()))
        );
        assert_eq!(
            a.user_add("ALICE@example.test", &pw(), Role::User, None)
                .await,
            Err(StoreError::Exists("account ALICE@example.test".into())),
            "{}",
            h.engine
        );
        for bad in ["not-an-address", "a b@example.test", "@example.test", ""] {
            let r = a.user_add(bad, &pw(), Role::User, None).await;
            assert!(matches!(r, Err(StoreError::Invalid(_))), "{bad:?}: {r:?}");
        }
        let short = a
            .user_add(
                "carol@example.test",
                &Secret::new("short"),
                Role::User,
                None,
            )
            .await;
        assert!(matches!(short, Err(StoreError::Invalid(_))), "{short:?}");
        assert!(matches!(
            a.user_passwd("nobody@example.test", &pw()).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            a.user_remove("nobody@example.test").await,
            Err(StoreError::NotFound(_))
        ));

        a.user_passwd("alice@example.test", &Secret::new("new password"))
            .await
            .expect("passwd");
        assert_eq!(logs_in(h, "alice@example.test", "password1").await, None);
        assert_eq!(
            logs_in(h, "alice@EXAMPLE.test", "new password").await,
            Some(alice.id),
            "{}",
            h.engine
        );
        assert_eq!(a.user_list().await.expect("list").len(), 1);
    })
    .await;
}

#[actix_rt::test]
async fn an_account_is_changed_but_the_last_enabled_admin_stays_one() {
    each_engine(|h| async move {
        // The whole harness, not only the fields used: its temporary store lives as long.
        let h = &h;
        let a = &h.admin;
        with_root(h).await;
        let bob = a
            .user_add("bob@example.test", &pw(), Role::User, None)
            .await
            .expect("bob");
        let changed = a
            .user_change(
                "Bob@example.test",
                &AccountChange {
                    quota_bytes: Some(1234),
                    role: Some(Role::Admin),
                    disabled: Some(true),
                },
            )
            .await
            .expect("change");
        assert_eq!(
            (
                changed.id,
                changed.quota_bytes,
                changed.role,
                changed.disabled
            ),
            (bob.id, 1234, Role::Admin, true),
            "{}",
            h.engine
        );
        assert_eq!(a.user_get("bob@example.test").await, Ok(changed));
        // A disabled account is refused like a wrong password.
        assert_eq!(logs_in(h, "bob@example.test", "password1").await, None);
        // A refused change changes nothing: the last enabled admin stays one.
        let refused = a
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
            "{}: {refused:?}",
            h.engine
        );
        assert!(
            !a.user_get("root@example.test")
                .await
                .expect("root")
                .disabled
        );
        assert!(matches!(
            a.user_change("nobody@example.test", &AccountChange::default())
                .await,
            Err(StoreError::NotFound(_))
        ));
    })
    .await;
}

#[actix_rt::test]
async fn every_mailbox_gets_its_own_uidvalidity() {
    each_engine(|h| async move {
        // The whole harness, not only the fields used: its temporary store lives as long.
        let h = &h;
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let mut all = Vec::new();
        for address in ["a@example.test", "b@example.test"] {
            let id = h.account(address, "password1").await;
            let boxes = h
                .store
                .send(ListMailboxes { account_id: id })
                .await
                .expect("mailbox")
                .expect("list");
            let names: Vec<&str> = boxes.iter().map(|b| b.name.as_str()).collect();
            assert_eq!(
                names,
                ["INBOX", "Sent", "Drafts", "Junk", "Trash", "Archive"],
                "{}",
                h.engine
            );
            let special = boxes
                .iter()
                .filter(|b| b.special_use.is_some() && b.subscribed)
                .count();
            assert_eq!(special, 5, "{}", h.engine);
            all.extend(boxes.iter().map(|b| b.uidvalidity));
        }
        let mut distinct = all.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!((all.len(), distinct.len()), (12, 12), "{}", h.engine);
        // Not below the time they were made: a store rebuilt from scratch does not repeat
        // values clients have cached (RFC 9051 §2.3.1.1).
        assert!(
            all.iter().all(|&v| u64::from(v) >= started),
            "{}: {all:?}",
            h.engine
        );
    })
    .await;
}

#[actix_rt::test]
async fn alias_errors() {
    each_engine(|h| async move {
        // The whole harness, not only the fields used: its temporary store lives as long.
        let h = &h;
        let a = &h.admin;
        h.account("alice@example.test", "password1").await;
        let alias = a
            .alias_add(
                "Team@example.test",
                &targets(&["x@remote.test", "alice@example.test"]),
            )
            .await
            .expect("alias");
        assert_eq!(alias.targets, ["alice@example.test", "x@remote.test"]);
        assert_eq!(
            a.alias_add("team@example.test", &targets(&["alice@example.test"]))
                .await,
            Err(StoreError::Exists("alias team@example.test".into()))
        );
        assert_eq!(
            a.alias_add("alice@example.test", &targets(&["x@remote.test"]))
                .await,
            Err(StoreError::Exists("account alice@example.test".into()))
        );
        assert_eq!(
            a.alias_add("x@other.test", &targets(&["alice@example.test"]))
                .await,
            Err(StoreError::UnknownDomain("other.test".into()))
        );
        for bad in [
            vec![],
            targets(&["not an address"]),
            targets(&["loop@example.test"]),
        ] {
            let r = a.alias_add("loop@example.test", &bad).await;
            assert!(matches!(r, Err(StoreError::Invalid(_))), "{bad:?}: {r:?}");
        }
        assert!(matches!(
            a.alias_add("bad source", &targets(&["alice@example.test"]))
                .await,
            Err(StoreError::Invalid(_))
        ));
        a.alias_add("@example.test", &targets(&["alice@example.test"]))
            .await
            .expect("catch-all");
        let list = a.alias_list().await.expect("list");
        assert_eq!(
            list.iter().map(|x| x.source.as_str()).collect::<Vec<_>>(),
            ["@example.test", "Team@example.test"],
            "{}",
            h.engine
        );
        a.alias_remove("TEAM@example.test").await.expect("remove");
        assert_eq!(
            a.alias_remove("team@example.test").await,
            Err(StoreError::NotFound("alias team@example.test".into()))
        );
    })
    .await;
}

#[actix_rt::test]
async fn a_new_domain_gets_postmaster_and_abuse_aliases_to_the_first_admin() {
    each_engine(|h| async move {
        // The whole harness, not only the fields used: its temporary store lives as long.
        let h = &h;
        let a = &h.admin;
        // No admin yet: nothing to point them at, and both are reported missing.
        a.domain_add("example.test").await.expect("domain");
        a.domain_add("old.test").await.expect("domain");
        assert_eq!(
            a.missing_role_addresses("example.test")
                .await
                .expect("missing"),
            ["postmaster@example.test", "abuse@example.test"]
        );
        // An existing alias is kept as it is.
        a.user_add("user@example.test", &pw(), Role::User, None)
            .await
            .expect("user");
        a.alias_add("abuse@old.test", &targets(&["user@example.test"]))
            .await
            .expect("abuse alias");
        let user = a
            .resolve_recipient("user@example.test")
            .await
            .expect("user");
        // The first admin account: the domains made before it get theirs now (RFC 5321
        // §4.5.1 postmaster, RFC 2142 §2 abuse).
        let root = a
            .user_add("root@example.test", &pw(), Role::Admin, None)
            .await
            .expect("admin")
            .id;
        a.user_add("second@example.test", &pw(), Role::Admin, None)
            .await
            .expect("second admin");
        a.domain_add("new.test").await.expect("domain");
        for address in [
            "postmaster@example.test",
            "abuse@example.test",
            "postmaster@old.test",
            "postmaster@new.test",
            "Abuse@New.test",
        ] {
            assert_eq!(
                a.resolve_recipient(address).await.expect("resolve"),
                Resolution::Local(vec![root]),
                "{}: {address}",
                h.engine
            );
        }
        assert_eq!(a.resolve_recipient("abuse@old.test").await, Ok(user));
        for domain in ["example.test", "old.test", "new.test"] {
            assert_eq!(
                a.missing_role_addresses(domain).await.expect("missing"),
                Vec::<String>::new(),
                "{domain}"
            );
        }
        let new_aliases: Vec<(String, Vec<String>)> = a
            .alias_list()
            .await
            .expect("aliases")
            .into_iter()
            .filter(|al| al.source.ends_with("@new.test"))
            .map(|al| (al.source, al.targets))
            .collect();
        assert_eq!(
            new_aliases,
            [
                ("abuse@new.test".into(), vec!["root@example.test".into()]),
                (
                    "postmaster@new.test".into(),
                    vec!["root@example.test".into()]
                ),
            ]
        );
        // Removed by hand, it is reported missing again.
        a.alias_remove("abuse@new.test").await.expect("remove");
        assert_eq!(
            a.missing_role_addresses("new.test").await.expect("missing"),
            ["abuse@new.test"]
        );
    })
    .await;
}

#[actix_rt::test]
async fn internationalised_domains_are_one_domain_in_either_form() {
    each_engine(|h| async move {
        // The whole harness, not only the fields used: its temporary store lives as long.
        let h = &h;
        let a = &h.admin;
        // RFC 5890 §2.3.2.1: the U-label and the A-label are the same name; stored as A-label.
        let d = a.domain_add("Exämple.org").await.expect("U-label");
        assert_eq!(d.name, "xn--exmple-cua.org");
        assert_eq!(
            a.domain_add("xn--exmple-cua.org").await,
            Err(StoreError::Exists("domain xn--exmple-cua.org".into()))
        );
        let jo = a
            .user_add("jöran@exämple.org", &pw(), Role::User, None)
            .await
            .expect("user")
            .id;
        a.alias_add("info@xn--exmple-cua.org", &targets(&["jöran@exämple.org"]))
            .await
            .expect("alias");
        for address in [
            "jöran@exämple.org",
            "JÖRAN@EXÄMPLE.ORG",
            "jöran@xn--exmple-cua.org",
            "info@exämple.org",
            "info@XN--EXMPLE-CUA.ORG",
        ] {
            assert_eq!(
                a.resolve_recipient(address).await,
                Ok(Resolution::Local(vec![jo])),
                "{}: {address}",
                h.engine
            );
        }
        assert_eq!(
            a.alias_add("info@exämple.org", &targets(&["jöran@exämple.org"]))
                .await,
            Err(StoreError::Exists("alias info@xn--exmple-cua.org".into()))
        );
        // An account name in either form finds the account (logins look it up the same way).
        for address in ["jöran@exämple.org", "jöran@xn--exmple-cua.org"] {
            assert_eq!(a.user_get(address).await.expect("user").id, jo, "{address}");
        }
    })
    .await;
}

#[actix_rt::test]
async fn a_token_acts_as_its_admin_until_deleted() {
    each_engine(|h| async move {
        // The whole harness, not only the fields used: its temporary store lives as long.
        let h = &h;
        let a = &h.admin;
        with_root(h).await;
        a.user_add("bob@example.test", &pw(), Role::User, None)
            .await
            .expect("bob");
        assert!(matches!(
            a.token_create("bob@example.test", "ci").await,
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            a.token_create("root@example.test", "  ").await,
            Err(StoreError::Invalid(_))
        ));
        let (token, secret) = a
            .token_create("root@example.test", " ci ")
            .await
            .expect("token");
        assert!(secret.starts_with("mrt_"), "{secret}");
        assert_eq!(
            (token.name.as_str(), token.account.as_str(), token.last_used),
            ("ci", "root@example.test", None)
        );
        let acting = a.token_account(&secret).await.expect("token account");
        assert_eq!(
            acting.map(|a| a.address),
            Some("root@example.test".into()),
            "{}",
            h.engine
        );
        let listed = a.token_list().await.expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].id, token.id);
        assert!(listed[0].last_used.is_some(), "its use is recorded");
        assert_eq!(a.token_account("mrt_not-a-token").await, Ok(None));
        assert_eq!(a.token_account("password1").await, Ok(None));
        a.token_delete(token.id).await.expect("delete token");
        assert_eq!(a.token_account(&secret).await.expect("read"), None);
        assert!(matches!(
            a.token_delete(token.id).await,
            Err(StoreError::NotFound(_))
        ));
        // A token of an admin who is no longer one does not act.
        let (_, secret) = a
            .token_create("root@example.test", "again")
            .await
            .expect("token");
        a.user_add("other@example.test", &pw(), Role::Admin, None)
            .await
            .expect("another admin");
        a.user_change(
            "root@example.test",
            &AccountChange {
                role: Some(Role::User),
                ..Default::default()
            },
        )
        .await
        .expect("demote");
        assert_eq!(a.token_account(&secret).await, Ok(None), "{}", h.engine);
    })
    .await;
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

/// Removing an account is announced once it is durable (which ends its sessions), with its
/// mail gone and no body left behind; a body another account still has stays.
#[actix_rt::test]
async fn a_removed_account_is_announced_with_its_mail_gone() {
    each_engine(|h| async move {
        // The whole harness, not only the fields used: its temporary store lives as long.
        let h = &h;
        let removals = Removals::default().start();
        h.bus
            .subscribe(removals.clone().recipient::<AccountRemoved>());
        let alice = h.account("alice@example.test", "password1").await;
        let bob = h.account("bob@example.test", "password1").await;
        let shared: Arc<[u8]> = Arc::from(&b"Subject: both\r\n\r\nhello\r\n"[..]);
        let own: Arc<[u8]> =
            Arc::from(format!("Subject: big\r\n\r\n{}\r\n", "y".repeat(300_000)).into_bytes());
        h.deliver(&[alice, bob], &shared).await;
        h.deliver(&[alice], &own).await;
        let before = h.admin.sizes().await.expect("sizes").message_bytes;
        assert_eq!(before, (shared.len() + own.len()) as u64, "{}", h.engine);
        h.admin
            .user_remove("Alice@example.test")
            .await
            .expect("remove");
        let heard = removals.send(Removed).await.expect("removals");
        assert_eq!(heard.len(), 1, "{}: {heard:?}", h.engine);
        assert_eq!(
            (heard[0].account_id, heard[0].address.as_str()),
            (alice, "alice@example.test")
        );
        assert!(matches!(
            h.admin.user_get("alice@example.test").await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(
            h.admin.resolve_recipient("alice@example.test").await,
            Ok(Resolution::UnknownUser)
        );
        assert!(
            h.store
                .send(ListMailboxes { account_id: alice })
                .await
                .expect("mailbox")
                .map_or(true, |boxes| boxes.is_empty()),
            "no mailbox of alice is left"
        );
        assert_eq!(
            h.admin.sizes().await.expect("sizes").message_bytes,
            shared.len() as u64,
            "{}: only bob's body is left",
            h.engine
        );
        assert_eq!(
            h.admin.verify().await.expect("verify"),
            Vec::<String>::new(),
            "{}: no body left behind or missing",
            h.engine
        );
    })
    .await;
}
