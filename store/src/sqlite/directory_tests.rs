//! Tests of the directory's writes and reads: their errors, and recipient resolution order.

use mailroom_shared::Secret;

use super::Admin;
use crate::error::StoreError;
use crate::types::{Resolution, Role};

fn pw() -> Secret {
    Secret::new("password1")
}

fn admin() -> (tempfile::TempDir, Admin) {
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = Admin::open(&dir.path().join("data")).expect("open creates the directory");
    (dir, admin)
}

fn targets(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn domain_errors() {
    let (_dir, a) = admin();
    let d = a.domain_add("Example.TEST.").expect("add");
    assert_eq!(d.name, "example.test");
    assert_eq!(
        a.domain_add("example.test"),
        Err(StoreError::Exists("domain example.test".into()))
    );
    assert!(matches!(
        a.domain_add("bad domain"),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        a.domain_remove("other.test"),
        Err(StoreError::NotFound(_))
    ));
    a.user_add("u@example.test", &pw(), Role::User, None)
        .expect("user");
    let refused = a.domain_remove("example.test");
    assert_eq!(
        refused,
        Err(StoreError::Invalid(
            "domain example.test still has 1 accounts; remove them first".into()
        ))
    );
    a.user_remove("U@example.test").expect("remove user");
    a.domain_remove("example.test").expect("now empty");
    assert_eq!(a.domain_list().expect("list"), []);
}

#[test]
fn user_errors() {
    let (_dir, a) = admin();
    a.domain_add("example.test").expect("domain");
    let alice = a
        .user_add("Alice@example.test", &pw(), Role::Admin, Some(5000))
        .expect("add");
    assert_eq!(
        (alice.address.as_str(), alice.role, alice.quota_bytes),
        ("Alice@example.test", Role::Admin, 5000)
    );
    assert_eq!(
        a.user_add("bob@elsewhere.test", &pw(), Role::User, None),
        Err(StoreError::UnknownDomain("elsewhere.test".into()))
    );
    assert_eq!(
        a.user_add("ALICE@example.test", &pw(), Role::User, None),
        Err(StoreError::Exists("account ALICE@example.test".into()))
    );
    for bad in ["not-an-address", "a b@example.test", "@example.test", ""] {
        let r = a.user_add(bad, &pw(), Role::User, None);
        assert!(matches!(r, Err(StoreError::Invalid(_))), "{bad:?}: {r:?}");
    }
    let short = a.user_add(
        "carol@example.test",
        &Secret::new("short"),
        Role::User,
        None,
    );
    assert!(matches!(short, Err(StoreError::Invalid(_))), "{short:?}");
    assert!(matches!(
        a.user_passwd("nobody@example.test", &pw()),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        a.user_remove("nobody@example.test"),
        Err(StoreError::NotFound(_))
    ));

    a.user_passwd("alice@example.test", &Secret::new("new password"))
        .expect("passwd");
    // Straight at the password check (the server's logins go through the login guard).
    let check = |address: &str, password: &str| {
        let found =
            super::reads::account_with_hash(&a.conn, &super::address_key(address)).expect("read");
        crate::common::directory::check_password(found, &Secret::new(password)).map(|x| x.id)
    };
    assert_eq!(check("alice@example.test", "password1"), None);
    assert_eq!(check("alice@EXAMPLE.test", "new password"), Some(alice.id));
    assert_eq!(a.user_list().expect("list").len(), 1);
}

#[test]
fn every_mailbox_gets_its_own_uidvalidity() {
    let (dir, a) = admin();
    a.domain_add("example.test").expect("domain");
    a.user_add("a@example.test", &pw(), Role::User, None)
        .expect("a");
    a.user_add("b@example.test", &pw(), Role::User, None)
        .expect("b");
    let conn =
        rusqlite::Connection::open(dir.path().join("data").join(super::DB_FILE)).expect("db");
    let (n, distinct): (i64, i64) = conn
        .query_row(
            "SELECT count(*), count(DISTINCT uidvalidity) FROM mailboxes",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("count");
    assert_eq!((n, distinct), (12, 12));
    let special: i64 = conn
        .query_row(
            "SELECT count(*) FROM mailboxes WHERE special_use IS NOT NULL AND subscribed = 1",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(special, 10);
}

#[test]
fn alias_errors() {
    let (_dir, a) = admin();
    a.domain_add("example.test").expect("domain");
    a.user_add("alice@example.test", &pw(), Role::User, None)
        .expect("alice");
    let alias = a
        .alias_add(
            "Team@example.test",
            &targets(&["x@remote.test", "alice@example.test"]),
        )
        .expect("alias");
    assert_eq!(alias.targets, ["alice@example.test", "x@remote.test"]);
    assert_eq!(
        a.alias_add("team@example.test", &targets(&["alice@example.test"])),
        Err(StoreError::Exists("alias team@example.test".into()))
    );
    assert_eq!(
        a.alias_add("alice@example.test", &targets(&["x@remote.test"])),
        Err(StoreError::Exists("account alice@example.test".into()))
    );
    assert_eq!(
        a.alias_add("x@other.test", &targets(&["alice@example.test"])),
        Err(StoreError::UnknownDomain("other.test".into()))
    );
    for bad in [
        vec![],
        targets(&["not an address"]),
        targets(&["loop@example.test"]),
    ] {
        let r = a.alias_add("loop@example.test", &bad);
        assert!(matches!(r, Err(StoreError::Invalid(_))), "{bad:?}: {r:?}");
    }
    assert!(matches!(
        a.alias_add("bad source", &targets(&["alice@example.test"])),
        Err(StoreError::Invalid(_))
    ));
    a.alias_add("@example.test", &targets(&["alice@example.test"]))
        .expect("catch-all");
    let list = a.alias_list().expect("list");
    assert_eq!(
        list.iter().map(|x| x.source.as_str()).collect::<Vec<_>>(),
        ["@example.test", "Team@example.test"]
    );
    a.alias_remove("TEAM@example.test").expect("remove");
    assert_eq!(
        a.alias_remove("team@example.test"),
        Err(StoreError::NotFound("alias team@example.test".into()))
    );
}

#[test]
fn resolution_order() {
    let (_dir, a) = admin();
    a.domain_add("example.test").expect("domain");
    a.domain_add("other.test").expect("domain");
    let alice = a
        .user_add("alice@example.test", &pw(), Role::User, None)
        .expect("a")
        .id;
    let bob = a
        .user_add("bob@example.test", &pw(), Role::User, None)
        .expect("b")
        .id;
    let resolve = |s: &str| a.resolve_recipient(s).expect("resolve");

    // 1. exact account, case-insensitive.
    assert_eq!(
        resolve("ALICE@Example.Test"),
        Resolution::Local(vec![alice])
    );
    // 2. exact alias, targets resolved, remote ones skipped, deduplicated.
    a.alias_add(
        "team@example.test",
        &targets(&[
            "alice@example.test",
            "bob+x@example.test",
            "far@remote.test",
        ]),
    )
    .expect("team");
    a.alias_add(
        "all@example.test",
        &targets(&["team@example.test", "alice@example.test"]),
    )
    .expect("all");
    assert_eq!(
        resolve("all@example.test"),
        Resolution::Local(vec![alice, bob])
    );
    // 3. +tag falls back to the base address, for accounts and aliases.
    assert_eq!(
        resolve("bob+lists@example.test"),
        Resolution::Local(vec![bob])
    );
    assert_eq!(
        resolve("team+x@example.test"),
        Resolution::Local(vec![alice, bob])
    );
    // An alias on the tagged address itself wins over the base.
    a.alias_add("bob+spam@example.test", &targets(&["alice@example.test"]))
        .expect("tagged alias");
    assert_eq!(
        resolve("bob+spam@example.test"),
        Resolution::Local(vec![alice])
    );
    // 5. domain ours, nothing matches; not ours; not an address.
    assert_eq!(resolve("nobody@example.test"), Resolution::UnknownUser);
    assert_eq!(resolve("nobody@other.test"), Resolution::UnknownUser);
    assert_eq!(resolve("alice@remote.test"), Resolution::NotOurDomain);
    assert!(matches!(resolve("no at sign"), Resolution::Invalid(_)));
    // 4. catch-all, after everything else.
    a.alias_add("@example.test", &targets(&["bob@example.test"]))
        .expect("catch-all");
    assert_eq!(resolve("nobody@example.test"), Resolution::Local(vec![bob]));
    assert_eq!(
        resolve("alice@example.test"),
        Resolution::Local(vec![alice])
    );
    // An alias with only remote targets delivers to nobody here.
    a.alias_add("fwd@other.test", &targets(&["x@remote.test"]))
        .expect("fwd");
    assert_eq!(resolve("fwd@other.test"), Resolution::UnknownUser);
}

#[test]
fn alias_cycles_and_depth_end() {
    let (_dir, a) = admin();
    a.domain_add("example.test").expect("domain");
    let alice = a
        .user_add("alice@example.test", &pw(), Role::User, None)
        .expect("a")
        .id;
    let resolve = |s: &str| a.resolve_recipient(s).expect("resolve");
    // A cycle that also reaches alice.
    a.alias_add("x@example.test", &targets(&["y@example.test"]))
        .expect("x");
    a.alias_add(
        "y@example.test",
        &targets(&["x@example.test", "alice@example.test"]),
    )
    .expect("y");
    assert_eq!(resolve("x@example.test"), Resolution::Local(vec![alice]));
    // A pure cycle reaches nobody.
    a.alias_add("p@example.test", &targets(&["q@example.test"]))
        .expect("p");
    a.alias_add("q@example.test", &targets(&["p@example.test"]))
        .expect("q");
    assert_eq!(resolve("p@example.test"), Resolution::UnknownUser);
    // A chain: c0 -> c1 -> ... -> c6 -> alice. Five hops are followed, no more.
    for i in 0..7 {
        let next = if i == 6 {
            "alice@example.test".to_string()
        } else {
            format!("c{}@example.test", i + 1)
        };
        a.alias_add(&format!("c{i}@example.test"), &[next])
            .expect("chain");
    }
    assert_eq!(resolve("c2@example.test"), Resolution::Local(vec![alice]));
    assert_eq!(resolve("c0@example.test"), Resolution::UnknownUser);
}

#[test]
fn an_account_owns_its_address_its_tags_and_its_aliases_but_not_catch_alls() {
    let (_dir, a) = admin();
    a.domain_add("example.test").expect("domain");
    let alice = a
        .user_add("alice@example.test", &pw(), Role::User, None)
        .expect("alice");
    a.user_add("bob@example.test", &pw(), Role::User, None)
        .expect("bob");
    a.alias_add(
        "team@example.test",
        &targets(&["alice@example.test", "bob@example.test"]),
    )
    .expect("team");
    a.alias_add("chain@example.test", &targets(&["team@example.test"]))
        .expect("chain");
    a.alias_add("@example.test", &targets(&["alice@example.test"]))
        .expect("catch-all");
    let owns =
        |address: &str| super::reads::owns_address(&a.conn, alice.id, address).expect("read");
    assert!(owns("alice@example.test"));
    assert!(owns("Alice+lists@Example.TEST"));
    assert!(owns("team@example.test"));
    assert!(owns("chain@example.test"));
    assert!(!owns("bob@example.test"));
    assert!(
        !owns("anything@example.test"),
        "a catch-all lets nobody send as everyone"
    );
    assert!(!owns("alice@other.test"));
    assert!(!owns("not an address"));
}

#[test]
fn failed_logins_lock_after_the_threshold_and_are_forgotten_later() {
    use super::logins;
    use crate::types::{LockoutPolicy, LockoutScope};
    let (_dir, a) = admin();
    let policy = LockoutPolicy {
        account_failures: 2,
        ip_failures: 3,
        secs: 100,
    };
    let c = &a.conn;
    logins::record_failure(c, "a@x.test", "192.0.2.1", 1000, 100).expect("1");
    assert_eq!(
        logins::locked(c, "a@x.test", "192.0.2.1", 1001, &policy),
        Ok(None)
    );
    logins::record_failure(c, "a@x.test", "192.0.2.1", 1010, 100).expect("2");
    let l = logins::locked(c, "a@x.test", "192.0.2.9", 1011, &policy)
        .expect("read")
        .expect("locked");
    assert_eq!(
        (l.scope, l.failures, l.until),
        (LockoutScope::Account, 2, 1110)
    );
    assert_eq!(
        logins::locked(c, "a@x.test", "192.0.2.9", 1110, &policy),
        Ok(None),
        "over"
    );
    // Another account from the same client: the client's third failure locks it.
    logins::record_failure(c, "b@x.test", "192.0.2.1", 1020, 100).expect("3");
    let l = logins::locked(c, "c@x.test", "192.0.2.1", 1021, &policy)
        .expect("read")
        .expect("locked");
    assert_eq!(l.scope, LockoutScope::Ip);
    // A failure long after the last starts a new run.
    logins::record_failure(c, "a@x.test", "192.0.2.2", 5000, 100).expect("late");
    assert_eq!(
        logins::locked(c, "a@x.test", "192.0.2.2", 5001, &policy),
        Ok(None)
    );
    assert!(logins::clear(c, LockoutScope::Account, "a@x.test").expect("clear"));
    assert!(!logins::clear(c, LockoutScope::Account, "a@x.test").expect("again"));
}

#[test]
fn a_new_domain_gets_postmaster_and_abuse_aliases_to_the_first_admin() {
    let (_dir, a) = admin();
    // No admin yet: nothing to point them at, and both are reported missing.
    a.domain_add("example.test").expect("domain");
    a.domain_add("old.test").expect("domain");
    assert_eq!(
        a.missing_role_addresses("example.test").expect("missing"),
        ["postmaster@example.test", "abuse@example.test"]
    );
    // An existing alias is kept as it is.
    a.user_add("user@example.test", &pw(), Role::User, None)
        .expect("user");
    a.alias_add("abuse@old.test", &targets(&["user@example.test"]))
        .expect("abuse alias");
    let user = a.resolve_recipient("user@example.test").expect("user");
    // The first admin account: the domains made before it get theirs now (RFC 5321 §4.5.1
    // postmaster, RFC 2142 §2 abuse).
    let root = a
        .user_add("root@example.test", &pw(), Role::Admin, None)
        .expect("admin")
        .id;
    a.user_add("second@example.test", &pw(), Role::Admin, None)
        .expect("second admin");
    a.domain_add("new.test").expect("domain");
    let resolve = |s: &str| a.resolve_recipient(s).expect("resolve");
    for address in [
        "postmaster@example.test",
        "abuse@example.test",
        "postmaster@old.test",
        "postmaster@new.test",
        "Abuse@New.test",
    ] {
        assert_eq!(resolve(address), Resolution::Local(vec![root]), "{address}");
    }
    assert_eq!(resolve("abuse@old.test"), user);
    for domain in ["example.test", "old.test", "new.test"] {
        assert_eq!(
            a.missing_role_addresses(domain).expect("missing"),
            Vec::<String>::new(),
            "{domain}"
        );
    }
    let new_aliases: Vec<(String, Vec<String>)> = a
        .alias_list()
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
    a.alias_remove("abuse@new.test").expect("remove");
    assert_eq!(
        a.missing_role_addresses("new.test").expect("missing"),
        ["abuse@new.test"]
    );
}

#[test]
fn bare_postmaster_is_the_first_domains_postmaster() {
    let (_dir, a) = admin();
    let resolve = |s: &str| a.resolve_recipient(s).expect("resolve");
    // RFC 5321 §4.1.1.3: <Postmaster> with no domain; with no domain hosted, nobody.
    assert_eq!(resolve("postmaster"), Resolution::UnknownUser);
    a.domain_add("first.test").expect("domain");
    a.domain_add("a-second.test").expect("domain");
    let pm = a
        .user_add("postmaster@first.test", &pw(), Role::User, None)
        .expect("postmaster")
        .id;
    a.user_add("postmaster@a-second.test", &pw(), Role::User, None)
        .expect("other postmaster");
    assert_eq!(resolve("postmaster"), Resolution::Local(vec![pm]));
    assert_eq!(resolve("PostMaster"), Resolution::Local(vec![pm]));
}

#[test]
fn internationalised_domains_are_one_domain_in_either_form() {
    let (_dir, a) = admin();
    // RFC 5890 §2.3.2.1: the U-label and the A-label are the same name; stored as A-label.
    let d = a.domain_add("Exämple.org").expect("U-label");
    assert_eq!(d.name, "xn--exmple-cua.org");
    assert_eq!(
        a.domain_add("xn--exmple-cua.org"),
        Err(StoreError::Exists("domain xn--exmple-cua.org".into()))
    );
    let jo = a
        .user_add("jöran@exämple.org", &pw(), Role::User, None)
        .expect("user")
        .id;
    a.alias_add("info@xn--exmple-cua.org", &targets(&["jöran@exämple.org"]))
        .expect("alias");
    let resolve = |s: &str| a.resolve_recipient(s).expect("resolve");
    for address in [
        "jöran@exämple.org",
        "JÖRAN@EXÄMPLE.ORG",
        "jöran@xn--exmple-cua.org",
        "info@exämple.org",
        "info@XN--EXMPLE-CUA.ORG",
    ] {
        assert_eq!(resolve(address), Resolution::Local(vec![jo]), "{address}");
    }
    assert_eq!(
        a.alias_add("info@exämple.org", &targets(&["jöran@exämple.org"])),
        Err(StoreError::Exists("alias info@xn--exmple-cua.org".into()))
    );
    // An account name in either form finds the account (logins look it up the same way).
    for address in ["jöran@exämple.org", "jöran@xn--exmple-cua.org"] {
        assert_eq!(a.user_get(address).expect("user").id, jo, "{address}");
    }
}
