//! CREATE, DELETE, RENAME, SUBSCRIBE and UNSUBSCRIBE (RFC 9051 §6.3.4–§6.3.8): ALREADYEXISTS,
//! NONEXISTENT, CANNOT, hierarchy, INBOX rules, OVERQUOTA-free and state checks.

use super::fixture::*;

#[actix_rt::test]
async fn mailbox_management() {
    let mut t = session().await;
    t.login().await;
    assert_eq!(
        t.cmd("a CREATE Projects/2024/").await,
        "a OK CREATE completed\r\n"
    );
    assert!(
        t.cmd("b CREATE Projects")
            .await
            .starts_with("b NO [ALREADYEXISTS]")
    );
    assert_eq!(
        t.cmd("c RENAME Projects Work").await,
        "c OK RENAME completed\r\n"
    );
    assert_eq!(
        t.cmd("d SUBSCRIBE Work/2024").await,
        "d OK SUBSCRIBE completed\r\n"
    );
    assert!(t.cmd("h DELETE INBOX").await.starts_with("h NO [CANNOT]"));
    assert_eq!(
        t.cmd("i DELETE Work/2024").await,
        "i OK DELETE completed\r\n"
    );
    assert!(
        t.cmd("j DELETE Work/2024")
            .await
            .starts_with("j NO [NONEXISTENT]")
    );
}

#[actix_rt::test]
async fn response_codes() {
    let mut t = lenient().await;
    t.login().await;
    assert_eq!(t.code("a CREATE Foo").await, (OK, String::new()));
    // RFC 9051 §7.1: ALREADYEXISTS, NONEXISTENT, CANNOT.
    assert_eq!(t.code("b CREATE Foo").await, (NO, "ALREADYEXISTS".into()));
    assert_eq!(t.code("c CREATE INBOX").await, (NO, "ALREADYEXISTS".into()));
    assert_eq!(t.code("c CREATE inbox").await, (NO, "ALREADYEXISTS".into()));
    assert_eq!(t.code("d DELETE Nope").await, (NO, "NONEXISTENT".into()));
    assert_eq!(
        t.code("e RENAME Nope Other").await,
        (NO, "NONEXISTENT".into())
    );
    assert_eq!(
        t.code("f RENAME Foo Sent").await,
        (NO, "ALREADYEXISTS".into())
    );
    assert_eq!(t.code("g DELETE INBOX").await, (NO, "CANNOT".into()));
    assert_eq!(t.code("h SUBSCRIBE Nope").await.0, NO);
}

#[actix_rt::test]
async fn create_makes_the_superiors() {
    let mut t = T::selected(0).await;
    // RFC 9051 §6.3.4: creating a/b/c creates a and a/b as needed; a trailing
    // delimiter only says the client wants children.
    assert_eq!(t.code("a CREATE a/b/c").await.0, OK);
    let r = t.cmd("b LIST \"\" a*").await;
    for name in ["\"a\"", "\"a/b\"", "\"a/b/c\""] {
        assert!(r.contains(&format!("\"/\" {name}\r\n")), "{name} in {r}");
    }
    assert_eq!(t.code("c CREATE d/").await.0, OK);
    assert!(t.cmd("d LIST \"\" d").await.contains("\"/\" \"d\"\r\n"));
}

#[actix_rt::test]
async fn rename_inbox_moves_its_messages() {
    let mut t = T::selected(2).await;
    t.cmd("u UNSELECT").await;
    // RFC 9051 §6.3.6: renaming INBOX moves its messages, INBOX stays, empty.
    assert_eq!(t.code("a RENAME INBOX Old").await.0, OK);
    let r = t.cmd("b STATUS INBOX (MESSAGES)").await;
    assert!(r.contains("(MESSAGES 0)"), "{r}");
    let r = t.cmd("c STATUS Old (MESSAGES)").await;
    assert!(r.contains("(MESSAGES 2)"), "{r}");
}

#[actix_rt::test]
async fn rename_carries_the_children() {
    let mut t = T::selected(0).await;
    t.cmd("a CREATE p/q/r").await;
    assert_eq!(t.code("b RENAME p z").await.0, OK);
    let r = t.cmd("c LIST \"\" *").await;
    assert!(r.contains("\"z/q/r\"") && !r.contains("\"p/"), "{r}");
}

#[actix_rt::test]
async fn subscribe_and_unsubscribe() {
    let mut t = T::selected(0).await;
    t.cmd("a CREATE Lists").await;
    assert_eq!(t.code("b SUBSCRIBE Lists").await.0, OK);
    assert!(t.cmd("c LSUB \"\" Lists").await.contains("\"Lists\"\r\n"));
    assert_eq!(t.code("d UNSUBSCRIBE Lists").await.0, OK);
    assert_eq!(t.cmd("e LSUB \"\" Lists").await, "e OK LSUB completed\r\n");
    // RFC 9051 §6.3.8: UNSUBSCRIBE of a name not subscribed may be OK or NO, never BAD.
    assert_ne!(t.code("f UNSUBSCRIBE Lists").await.0, BAD);
}

#[actix_rt::test]
async fn delete_of_the_selected_mailbox_is_seen_by_its_session() {
    let mut a = T::selected(0).await;
    a.cmd("a CREATE Box").await;
    a.cmd("b SELECT Box").await;
    let mut b = a.other().await;
    assert_eq!(b.code("c DELETE Box").await.0, OK);
    a.s.mailbox_changed();
    let r = a.cmd("d NOOP").await;
    assert!(r.starts_with("* NO [NONEXISTENT] "), "{r}");
    assert!(r.ends_with("d OK NOOP completed\r\n"), "{r}");
    // Back in the authenticated state.
    assert_eq!(a.code("e FETCH 1 FLAGS").await.0, BAD);
}

#[actix_rt::test]
async fn syntax_errors_are_bad() {
    let mut t = lenient().await;
    t.login().await;
    for line in [
        "a CREATE",
        "a CREATE a b",
        "a DELETE",
        "a RENAME a",
        "a RENAME a b c",
        "a SUBSCRIBE",
        "a UNSUBSCRIBE",
        "a CREATE (x)",
    ] {
        assert_eq!(t.code(line).await.0, BAD, "{line}");
    }
    // RFC 3501 §5.1.3: "&" must start a valid modified UTF-7 run; a name that breaks the
    // rule is well-formed syntax naming a mailbox we cannot have, so NO [CANNOT], not BAD.
    for line in [
        "a CREATE &AB",
        "a RENAME Sent &-&",
        "a RENAME &AB Sent",
        "a RENAME &AB &-&",
        "a DELETE &AB",
        "a SUBSCRIBE &AB",
        "a UNSUBSCRIBE &AB",
    ] {
        let r = t.cmd(line).await;
        assert_eq!(tagged_code(&r), (NO, "CANNOT".into()), "{line}");
        assert_eq!(r.matches("\r\n").count(), 1, "one tagged answer: {r}");
    }
}
