//! Recipients resolved against domains, accounts and aliases; the sender addresses an
//! account owns; logins with their failure counters and lockouts.

use mailroom_shared::Secret;
use mailroom_store::actor::{
    Authenticate, CheckRecipient, LoginAttempt, LoginGuard, LoginProtocol, OwnsAddresses,
    ResolveRecipient, Verdict,
};
use mailroom_store::{Account, AccountChange, LockoutPolicy, LockoutScope, Resolution};

use crate::support::{Harness, each_engine};

fn targets(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Resolve `address`, which must not fail.
async fn resolve(h: &Harness, address: &str) -> Resolution {
    h.store
        .send(ResolveRecipient {
            address: address.into(),
        })
        .await
        .expect("actor")
        .expect("resolve")
}

async fn alias(h: &Harness, source: &str, to: &[&str]) {
    h.admin
        .alias_add(source, &targets(to))
        .await
        .expect("alias");
}

#[actix_rt::test]
async fn an_added_account_receives_and_an_unknown_domain_does_not() {
    each_engine(|h| async move {
        let id = h.account("alice@example.test", "password1").await;
        assert_eq!(
            resolve(&h, "Alice@EXAMPLE.test").await,
            Resolution::Local(vec![id]),
            "{}",
            h.engine
        );
        assert_eq!(
            resolve(&h, "bob@elsewhere.test").await,
            Resolution::NotOurDomain,
            "{}",
            h.engine
        );
    })
    .await;
}

#[actix_rt::test]
async fn resolution_order() {
    each_engine(|h| async move {
        h.admin.domain_add("other.test").await.expect("domain");
        let alice = h.account("alice@example.test", "password1").await;
        let bob = h.account("bob@example.test", "password1").await;
        let e = h.engine;

        // 1. exact account, case-insensitive.
        assert_eq!(
            resolve(&h, "ALICE@Example.Test").await,
            Resolution::Local(vec![alice])
        );
        // 2. exact alias, targets resolved, remote ones skipped, deduplicated.
        alias(
            &h,
            "team@example.test",
            &[
                "alice@example.test",
                "bob+x@example.test",
                "far@remote.test",
            ],
        )
        .await;
        alias(
            &h,
            "all@example.test",
            &["team@example.test", "alice@example.test"],
        )
        .await;
        assert_eq!(
            resolve(&h, "all@example.test").await,
            Resolution::Local(vec![alice, bob]),
            "{e}"
        );
        // 3. +tag falls back to the base address, for accounts and aliases.
        assert_eq!(
            resolve(&h, "bob+lists@example.test").await,
            Resolution::Local(vec![bob]),
            "{e}"
        );
        assert_eq!(
            resolve(&h, "team+x@example.test").await,
            Resolution::Local(vec![alice, bob]),
            "{e}"
        );
        // An alias on the tagged address itself wins over the base.
        alias(&h, "bob+spam@example.test", &["alice@example.test"]).await;
        assert_eq!(
            resolve(&h, "bob+spam@example.test").await,
            Resolution::Local(vec![alice]),
            "{e}"
        );
        // 5. domain ours, nothing matches; not ours; not an address.
        assert_eq!(
            resolve(&h, "nobody@example.test").await,
            Resolution::UnknownUser
        );
        assert_eq!(
            resolve(&h, "nobody@other.test").await,
            Resolution::UnknownUser
        );
        assert_eq!(
            resolve(&h, "alice@remote.test").await,
            Resolution::NotOurDomain
        );
        assert!(matches!(
            resolve(&h, "no at sign").await,
            Resolution::Invalid(_)
        ));
        // 4. catch-all, after everything else.
        alias(&h, "@example.test", &["bob@example.test"]).await;
        assert_eq!(
            resolve(&h, "nobody@example.test").await,
            Resolution::Local(vec![bob]),
            "{e}"
        );
        assert_eq!(
            resolve(&h, "alice@example.test").await,
            Resolution::Local(vec![alice]),
            "{e}"
        );
        // An alias with only remote targets delivers to nobody here.
        alias(&h, "fwd@other.test", &["x@remote.test"]).await;
        assert_eq!(
            resolve(&h, "fwd@other.test").await,
            Resolution::UnknownUser,
            "{e}"
        );
    })
    .await;
}

#[actix_rt::test]
async fn alias_cycles_and_depth_end() {
    each_engine(|h| async move {
        let alice = h.account("alice@example.test", "password1").await;
        let e = h.engine;
        // A cycle that also reaches alice.
        alias(&h, "x@example.test", &["y@example.test"]).await;
        alias(
            &h,
            "y@example.test",
            &["x@example.test", "alice@example.test"],
        )
        .await;
        assert_eq!(
            resolve(&h, "x@example.test").await,
            Resolution::Local(vec![alice]),
            "{e}"
        );
        // A pure cycle reaches nobody.
        alias(&h, "p@example.test", &["q@example.test"]).await;
        alias(&h, "q@example.test", &["p@example.test"]).await;
        assert_eq!(
            resolve(&h, "p@example.test").await,
            Resolution::UnknownUser,
            "{e}"
        );
        // A chain: c0 -> c1 -> ... -> c6 -> alice. Five hops are followed, no more.
        for i in 0..7 {
            let next = if i == 6 {
                "alice@example.test".to_string()
            } else {
                format!("c{}@example.test", i + 1)
            };
            alias(&h, &format!("c{i}@example.test"), &[&next]).await;
        }
        assert_eq!(
            resolve(&h, "c2@example.test").await,
            Resolution::Local(vec![alice]),
            "{e}"
        );
        assert_eq!(
            resolve(&h, "c0@example.test").await,
            Resolution::UnknownUser,
            "{e}"
        );
    })
    .await;
}

#[actix_rt::test]
async fn bare_postmaster_is_the_first_domains_postmaster() {
    each_engine(|h| async move {
        // RFC 5321 §4.1.1.3: <Postmaster> with no domain; with no domain hosted, nobody.
        assert_eq!(resolve(&h, "postmaster").await, Resolution::UnknownUser);
        h.admin.domain_add("first.test").await.expect("domain");
        h.admin.domain_add("a-second.test").await.expect("domain");
        let pm = h.account("postmaster@first.test", "password1").await;
        h.account("postmaster@a-second.test", "password1").await;
        assert_eq!(
            resolve(&h, "postmaster").await,
            Resolution::Local(vec![pm]),
            "{}",
            h.engine
        );
        assert_eq!(resolve(&h, "PostMaster").await, Resolution::Local(vec![pm]));
    })
    .await;
}

#[actix_rt::test]
async fn an_account_owns_its_address_its_tags_and_its_aliases_but_not_catch_alls() {
    each_engine(|h| async move {
        let alice = h.account("alice@example.test", "password1").await;
        h.account("bob@example.test", "password1").await;
        alias(
            &h,
            "team@example.test",
            &["alice@example.test", "bob@example.test"],
        )
        .await;
        alias(&h, "chain@example.test", &["team@example.test"]).await;
        alias(&h, "@example.test", &["alice@example.test"]).await;
        let asked = [
            "alice@example.test",
            "Alice+lists@Example.TEST",
            "team@example.test",
            "chain@example.test",
            "bob@example.test",
            "anything@example.test",
            "alice@other.test",
            "not an address",
        ];
        let owned = h
            .store
            .send(OwnsAddresses {
                account_id: alice,
                addresses: targets(&asked),
            })
            .await
            .expect("actor")
            .expect("owns");
        // A catch-all lets nobody send as everyone.
        assert_eq!(
            owned,
            [true, true, true, true, false, false, false, false],
            "{}",
            h.engine
        );
    })
    .await;
}

#[actix_rt::test]
async fn a_recipient_over_its_quota_is_named() {
    each_engine(|h| async move {
        let alice = h.account("alice@example.test", "password1").await;
        let bob = h.account("bob@example.test", "password1").await;
        h.admin
            .user_change(
                "alice@example.test",
                &AccountChange {
                    quota_bytes: Some(1000),
                    ..Default::default()
                },
            )
            .await
            .expect("quota");
        alias(
            &h,
            "both@example.test",
            &["alice@example.test", "bob@example.test"],
        )
        .await;
        let check = |address: &str, size: u64| {
            h.store.send(CheckRecipient {
                address: address.into(),
                size,
            })
        };
        let got = check("both@example.test", 2000)
            .await
            .expect("actor")
            .expect("check");
        assert_eq!(
            got,
            (Resolution::Local(vec![alice, bob]), vec![alice]),
            "{}",
            h.engine
        );
        let got = check("both@example.test", 1000)
            .await
            .expect("actor")
            .expect("check");
        assert_eq!(got.1, Vec::<i64>::new(), "{}: it fits exactly", h.engine);
        let got = check("nobody@example.test", 5000)
            .await
            .expect("actor")
            .expect("check");
        assert_eq!(got, (Resolution::UnknownUser, vec![]));
    })
    .await;
}

/// A login as `address` with `password` from `client`, with lockouts after two failures of
/// an account or three of a client.
pub(crate) async fn login(
    h: &Harness,
    address: &str,
    password: &str,
    client: &str,
) -> Verdict<Account> {
    let mut config = h.config.clone();
    config.security.auth_failure_delay_ms = 0;
    config.security.lockout_failures = 2;
    config.security.lockout_failures_per_ip = 3;
    config.security.lockout_secs = 600;
    h.store
        .send(Authenticate {
            address: address.into(),
            password: Secret::new(password),
            attempt: LoginAttempt {
                protocol: LoginProtocol::Imap,
                mechanism: "LOGIN".into(),
                client: client.parse().expect("ip"),
            },
            guard: LoginGuard::from_config(&config),
        })
        .await
        .expect("actor")
}

const POLICY: LockoutPolicy = LockoutPolicy {
    account_failures: 2,
    ip_failures: 3,
    secs: 600,
};

#[actix_rt::test]
async fn failed_logins_lock_the_account_and_the_client_until_cleared() {
    each_engine(|h| async move {
        let alice = h.account("alice@example.test", "password1").await;
        h.account("bob@example.test", "password1").await;
        let e = h.engine;
        let ok = login(&h, "Alice@example.test", "password1", "192.0.2.1").await;
        assert!(
            matches!(&ok, Verdict::Accepted(a) if a.id == alice),
            "{e}: {ok:?}"
        );
        let wrong = login(&h, "alice@example.test", "wrong", "192.0.2.1").await;
        assert!(matches!(wrong, Verdict::Refused), "{e}: {wrong:?}");
        // One failure locks nothing: a good password still works and ends the account's run.
        let ok = login(&h, "alice@example.test", "password1", "192.0.2.2").await;
        assert!(matches!(ok, Verdict::Accepted(_)), "{e}: {ok:?}");
        let runs = h.admin.lockouts(&POLICY).await.expect("lockouts");
        assert_eq!(
            runs.iter()
                .map(|(l, active)| (l.scope, l.key.as_str(), l.failures, *active))
                .collect::<Vec<_>>(),
            [(LockoutScope::Ip, "192.0.2.1", 1, false)],
            "{e}: the client's run is kept"
        );
        // Two failures in a row lock the account, on every client, even with its password.
        for _ in 0..2 {
            let wrong = login(&h, "alice@example.test", "wrong", "192.0.2.3").await;
            assert!(matches!(wrong, Verdict::Refused), "{e}: {wrong:?}");
        }
        let locked = login(&h, "alice@example.test", "password1", "192.0.2.4").await;
        assert!(
            matches!(&locked, Verdict::LockedOut(l) if l.scope == LockoutScope::Account
                && l.key == "alice@example.test" && l.failures == 2),
            "{e}: {locked:?}"
        );
        let active: Vec<_> = h
            .admin
            .lockouts(&POLICY)
            .await
            .expect("lockouts")
            .into_iter()
            .filter(|(_, active)| *active)
            .map(|(l, _)| (l.scope, l.key))
            .collect();
        assert_eq!(
            active,
            [(LockoutScope::Account, "alice@example.test".to_string())],
            "{e}"
        );
        h.admin
            .lockout_clear("ALICE@example.test")
            .await
            .expect("clear");
        let ok = login(&h, "alice@example.test", "password1", "192.0.2.4").await;
        assert!(matches!(ok, Verdict::Accepted(_)), "{e}: {ok:?}");
        // Three failures from one client lock it, whichever accounts it tried.
        for address in [
            "bob@example.test",
            "nobody@example.test",
            "bob@example.test",
        ] {
            let wrong = login(&h, address, "wrong", "192.0.2.9").await;
            assert!(matches!(wrong, Verdict::Refused), "{e}: {wrong:?}");
        }
        let locked = login(&h, "alice@example.test", "password1", "192.0.2.9").await;
        assert!(
            matches!(&locked, Verdict::LockedOut(l) if l.scope == LockoutScope::Ip),
            "{e}: {locked:?}"
        );
        h.admin.lockout_clear("192.0.2.9").await.expect("clear ip");
        assert!(matches!(
            h.admin.lockout_clear("192.0.2.9").await,
            Err(mailroom_store::StoreError::NotFound(_))
        ));
        // bob's account is locked too (two failures), alice's is not.
        let locked = login(&h, "bob@example.test", "password1", "192.0.2.10").await;
        assert!(matches!(locked, Verdict::LockedOut(_)), "{e}: {locked:?}");
        let ok = login(&h, "alice@example.test", "password1", "192.0.2.9").await;
        assert!(matches!(ok, Verdict::Accepted(_)), "{e}: {ok:?}");
    })
    .await;
}

/// Nodes sharing one database share its directory: an account added through one resolves
/// on the other at once, and a guesser locked out on one is locked out on every node.
#[actix_rt::test]
async fn every_node_sees_the_directory_and_the_lockouts_of_the_others() {
    each_engine(|h| async move {
        let Some(other) = h.other_node("node-b") else {
            return; // one process owns the embedded engine's data
        };
        let alice = h.account("alice@example.test", "password1").await;
        let resolved = other
            .send(ResolveRecipient {
                address: "alice@example.test".into(),
            })
            .await
            .expect("actor")
            .expect("resolve");
        assert_eq!(resolved, Resolution::Local(vec![alice]));
        for _ in 0..2 {
            let wrong = login(&h, "alice@example.test", "wrong", "192.0.2.3").await;
            assert!(matches!(wrong, Verdict::Refused), "{wrong:?}");
        }
        let mut config = h.config.clone();
        config.security.auth_failure_delay_ms = 0;
        config.security.lockout_failures = 2;
        config.security.lockout_secs = 600;
        let on_b = other
            .send(Authenticate {
                address: "alice@example.test".into(),
                password: Secret::new("password1"),
                attempt: LoginAttempt {
                    protocol: LoginProtocol::Pop3,
                    mechanism: "USER".into(),
                    client: "192.0.2.4".parse().expect("ip"),
                },
                guard: LoginGuard::from_config(&config),
            })
            .await
            .expect("actor");
        assert!(
            matches!(&on_b, Verdict::LockedOut(l) if l.scope == LockoutScope::Account),
            "{on_b:?}"
        );
    })
    .await;
}
