//! LIST and LSUB (RFC 9051 §6.3.9; RFC 3501 §6.3.9): wildcards, the empty pattern, LIST-
//! EXTENDED selection and return options (RFC 5258), SPECIAL-USE (RFC 6154), LIST-STATUS
//! (RFC 5819), several patterns, modified UTF-7 for rev1 and UTF-8 for rev2.

use super::fixture::*;

#[actix_rt::test]
async fn mailbox_management_and_list() {
    let mut t = session().await;
    t.login().await;
    assert_eq!(
        t.cmd("a CREATE Projects/2024/").await,
        "a OK CREATE completed\r\n"
    );
    assert_eq!(
        t.cmd("c RENAME Projects Work").await,
        "c OK RENAME completed\r\n"
    );
    assert_eq!(
        t.cmd("d SUBSCRIBE Work/2024").await,
        "d OK SUBSCRIBE completed\r\n"
    );
    let r = t.cmd("e LIST \"\" *").await;
    for line in [
        "* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\n",
        "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\"\r\n",
        "* LIST (\\HasChildren) \"/\" \"Work\"\r\n",
        "* LIST (\\HasNoChildren) \"/\" \"Work/2024\"\r\n",
    ] {
        assert!(r.contains(line), "{line:?} missing in {r}");
    }
    assert_eq!(
        t.cmd("f LIST \"\" \"\"").await,
        "* LIST (\\Noselect) \"/\" \"\"\r\nf OK LIST completed\r\n"
    );
    let r = t.cmd("g LSUB \"\" Work/*").await;
    assert_eq!(
        r,
        "* LSUB () \"/\" \"Work/2024\"\r\ng OK LSUB completed\r\n"
    );
    assert_eq!(
        t.cmd("i DELETE Work/2024").await,
        "i OK DELETE completed\r\n"
    );
    // RFC 3501 §5.1.3: IMAP4rev1 names are modified UTF-7; after ENABLE IMAP4rev2, UTF-8.
    assert_eq!(
        t.cmd("k CREATE Entw&APw-rfe").await,
        "k OK CREATE completed\r\n"
    );
    assert!(
        t.cmd("l LIST \"\" Entw*")
            .await
            .contains("\"/\" \"Entw&APw-rfe\"\r\n")
    );
    assert_eq!(
        t.cmd("m ENABLE IMAP4rev2").await,
        "* ENABLED IMAP4rev2\r\nm OK ENABLE completed\r\n"
    );
    assert!(
        t.cmd("n LIST \"\" Entw*")
            .await
            .contains("\"/\" \"Entwürfe\"\r\n")
    );
}

async fn tree() -> T {
    let mut t = T::selected(0).await;
    for name in ["a/b/c", "a/x", "lone"] {
        assert_eq!(t.code(&format!("c CREATE {name}")).await.0, OK);
    }
    t.cmd("s SUBSCRIBE a/b/c").await;
    t
}

#[actix_rt::test]
async fn percent_stops_at_the_delimiter() {
    let mut t = tree().await;
    // RFC 9051 §6.3.9: "%" does not match the hierarchy delimiter, "*" does.
    t.exact(
        "l LIST \"\" a/%",
        "* LIST (\\HasChildren) \"/\" \"a/b\"\r\n* LIST (\\HasNoChildren) \"/\" \"a/x\"\r\nl OK LIST completed\r\n",
    )
    .await;
    let r = t.cmd("m LIST a/ *").await;
    assert!(r.contains("\"a/b/c\"") && r.contains("\"a/x\""), "{r}");
    assert_eq!(
        t.cmd("n LIST \"\" nomatch*").await,
        "n OK LIST completed\r\n"
    );
    // Reference "a/" and pattern "b" means a/b.
    assert_eq!(
        t.cmd("o LIST a/ b").await,
        "* LIST (\\HasChildren) \"/\" \"a/b\"\r\no OK LIST completed\r\n"
    );
}

#[actix_rt::test]
async fn inbox_is_case_insensitive() {
    let mut t = tree().await;
    let r = t.cmd("l LIST \"\" inbox").await;
    assert_eq!(
        r,
        "* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\nl OK LIST completed\r\n"
    );
}

#[actix_rt::test]
async fn special_use_attributes() {
    let mut t = tree().await;
    let r = t.cmd("l LIST \"\" %").await;
    // RFC 6154 §2: the special-use attributes of the default mailboxes.
    for (name, attr) in [
        ("Sent", "\\Sent"),
        ("Drafts", "\\Drafts"),
        ("Junk", "\\Junk"),
        ("Trash", "\\Trash"),
        ("Archive", "\\Archive"),
    ] {
        assert!(
            r.contains(&format!(" {attr}) \"/\" \"{name}\"\r\n")),
            "{name} in {r}"
        );
    }
    // RFC 6154 §5.1: the SPECIAL-USE selection option lists only those.
    let r = t.cmd("m LIST (SPECIAL-USE) \"\" *").await;
    assert!(!r.contains("\"INBOX\"") && !r.contains("\"lone\""), "{r}");
    assert!(r.contains("\"Trash\""), "{r}");
}

#[actix_rt::test]
async fn subscribed_selection_and_childinfo() {
    let mut t = tree().await;
    let r = t.cmd("l LIST (SUBSCRIBED) \"\" *").await;
    assert!(r.contains("\\Subscribed") && r.contains("\"a/b/c\""), "{r}");
    assert!(!r.contains("\"lone\""), "{r}");
    // RFC 5258 §4: with RECURSIVEMATCH a parent of a subscribed mailbox is listed with
    // CHILDINFO; imap-codec does not decode this extended data, so the line is exact.
    t.exact(
        "m LIST (SUBSCRIBED RECURSIVEMATCH) \"\" a/%",
        "* LIST (\\HasChildren) \"/\" \"a/b\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\nm OK LIST completed\r\n",
    )
    .await;
    // RFC 5258 §3: RECURSIVEMATCH alone is an error.
    assert_eq!(t.code("n LIST (RECURSIVEMATCH) \"\" *").await.0, BAD);
    assert_eq!(t.code("o LIST (NOSUCHOPTION) \"\" *").await.0, BAD);
}

#[actix_rt::test]
async fn return_options() {
    let mut t = tree().await;
    let r = t.cmd("l LIST \"\" lone RETURN (CHILDREN SUBSCRIBED)").await;
    assert_eq!(
        r,
        "* LIST (\\HasNoChildren) \"/\" \"lone\"\r\nl OK LIST completed\r\n"
    );
    let r = t.cmd("m LIST \"\" a/b/c RETURN (SUBSCRIBED)").await;
    assert!(r.contains("\\Subscribed"), "{r}");
    assert_eq!(t.code("n LIST \"\" * RETURN (BOGUS)").await.0, BAD);
}

#[actix_rt::test]
async fn list_status() {
    let mut t = tree().await;
    t.deliver(MESSAGE).await;
    // RFC 5819: a STATUS after each LIST line that matches.
    let r = t
        .cmd("l LIST \"\" (INBOX lone) RETURN (STATUS (MESSAGES UNSEEN))")
        .await;
    assert_eq!(
        r,
        "* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\n* STATUS \"INBOX\" (MESSAGES 1 UNSEEN 1)\r\n\
         * LIST (\\HasNoChildren) \"/\" \"lone\"\r\n* STATUS \"lone\" (MESSAGES 0 UNSEEN 0)\r\n\
         l OK LIST completed\r\n"
    );
}

#[actix_rt::test]
async fn several_patterns_list_each_name_once() {
    let mut t = tree().await;
    // RFC 5258 §3: a pattern list; a name matched by two is listed once.
    let r = t.cmd("l LIST \"\" (lone l* a)").await;
    assert_eq!(r.matches("\"lone\"").count(), 1, "{r}");
    assert!(r.contains("\"a\"\r\n"), "{r}");
    assert_eq!(t.code("m LIST \"\" ()").await.0, BAD);
}

#[actix_rt::test]
async fn utf8_and_modified_utf7_names() {
    let mut t = T::selected(0).await;
    // rev1: the client writes modified UTF-7, the server answers the same way.
    assert_eq!(t.code("a CREATE &ZeVnLIqe-").await.0, OK);
    t.exact(
        "b LIST \"\" &ZeVnLIqe-",
        "* LIST (\\HasNoChildren) \"/\" \"&ZeVnLIqe-\"\r\nb OK LIST completed\r\n",
    )
    .await;
    let mut u = t.other().await;
    // RFC 6855 §3: after UTF8=ACCEPT, names go as UTF-8 quoted strings.
    assert_eq!(
        u.cmd("e ENABLE UTF8=ACCEPT").await,
        "* ENABLED UTF8=ACCEPT\r\ne OK ENABLE completed\r\n"
    );
    assert_eq!(u.code("f LIST \"\" 日本*").await.0, BAD);
    let r = u.cmd("f LIST \"\" \"日本*\"").await;
    assert_eq!(
        r,
        "* LIST (\\HasNoChildren) \"/\" \"日本語\"\r\nf OK LIST completed\r\n"
    );
    // A UTF-8 session takes "&" literally.
    assert_eq!(u.code("g CREATE R&D").await.0, OK);
    let r = t.cmd("h LIST \"\" R*").await;
    assert!(r.contains("\"R&-D\"\r\n"), "{r}");
}

#[actix_rt::test]
async fn lsub_lists_subscribed_only() {
    let mut t = tree().await;
    let r = t.cmd("l LSUB \"\" *").await;
    assert!(r.contains("* LSUB () \"/\" \"a/b/c\"\r\n"), "{r}");
    assert!(!r.contains("\"lone\""), "{r}");
    // RFC 3501 §6.3.9: "%" matching a parent of a subscribed name lists it \Noselect.
    let r = t.cmd("m LSUB \"\" a/%").await;
    assert!(r.contains("\"a/b\""), "{r}");
}

#[actix_rt::test]
async fn list_syntax_errors() {
    let mut t = lenient().await;
    t.login().await;
    for line in [
        "a LIST",
        "a LIST \"\"",
        "a LIST \"\" * extra",
        "a LSUB \"\"",
        "a LIST (SUBSCRIBED \"\" *",
    ] {
        assert_eq!(t.code(line).await.0, BAD, "{line}");
    }
}

/// Printable ASCII without the list wildcards and the quoted-specials, in order: as a name
/// it is not valid modified UTF-7 ("&'+,-" is no encoded run).
const NOT_MUTF7: &str =
    "!#$&'+,-.0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~";

#[actix_rt::test]
async fn names_that_are_not_modified_utf7() {
    // The default error budget (8): refusing such names must not spend it.
    let mut t = session().await;
    t.login().await;
    let q = format!("\"{NOT_MUTF7}\"");
    // RFC 3501 §5.1.3: the name is well-formed syntax but not valid modified UTF-7, so
    // commands naming it are refused with NO (the server may refuse such a name), not BAD.
    for _ in 0..3 {
        for cmd in [
            format!("a SELECT {q}"),
            format!("a EXAMINE {q}"),
            format!("a STATUS {q} (MESSAGES)"),
            format!("a CREATE {q}"),
            format!("a DELETE {q}"),
            format!("a RENAME INBOX {q}"),
            format!("a SUBSCRIBE {q}"),
            format!("a APPEND {q} {{1}}\r\nx"),
        ] {
            let r = t.cmd(&cmd).await;
            assert_eq!(tagged_code(&r), (NO, "CANNOT".into()), "{cmd}");
            assert!(r.contains("not valid modified UTF-7"), "{r}");
        }
    }
    // RFC 3501 §6.3.8: LIST (and LSUB) with such a pattern or reference is still a valid
    // command. No name we hold has that wire form, so nothing matches: OK, no lines, and
    // the session goes on.
    for cmd in [
        format!("l LIST \"\" {q}"),
        format!("l LIST \"\" \"{NOT_MUTF7}*\""),
        format!("l LIST {q} *"),
        format!("l LIST \"\" (INBOX {q})"),
        format!("l LIST (SUBSCRIBED) \"\" {q} RETURN (CHILDREN)"),
        format!("l LSUB \"\" {q}"),
    ] {
        let r = t.cmd(&cmd).await;
        let kind = if cmd.starts_with("l LSUB") {
            "LSUB"
        } else {
            "LIST"
        };
        if cmd.contains("(INBOX ") {
            assert_eq!(
                r,
                "* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\nl OK LIST completed\r\n"
            );
        } else {
            assert_eq!(r, format!("l OK {kind} completed\r\n"), "{cmd}");
        }
    }
    let (r, flow) = t.raw(b"n NOOP\r\n").await;
    assert_eq!(r, "n OK NOOP completed\r\n");
    assert!(matches!(flow, crate::session::Flow::Continue));
    // A valid name still works after all that.
    assert_eq!(t.code("s SELECT INBOX").await.0, OK);
}

#[actix_rt::test]
async fn a_deleted_subscribed_mailbox_stays_subscribed() {
    let mut a = lenient().await;
    a.login().await;
    let mut b = a.other().await;
    for name in ["Fruit/Apple", "Fruit/Peach", "Tofu/Soft"] {
        assert_eq!(a.code(&format!("c CREATE {name}")).await.0, OK);
    }
    assert_eq!(a.code("s SUBSCRIBE Fruit/Peach").await.0, OK);
    // Another session deletes it.
    assert_eq!(b.code("d DELETE Fruit/Peach").await.0, OK);
    // RFC 9051 §6.3.7 / RFC 3501 §6.3.6: the subscription is not removed with the mailbox;
    // RFC 5258 §3.1 (and §5 example 2's "Fruit/Peach"): LIST (SUBSCRIBED) shows it
    // \NonExistent.
    let r = a.cmd("l LIST (SUBSCRIBED) \"\" \"Fruit/*\"").await;
    assert_eq!(
        r,
        "* LIST (\\NonExistent \\HasNoChildren \\Subscribed) \"/\" \"Fruit/Peach\"\r\n\
         l OK LIST completed\r\n"
    );
    // RFC 5258 §4: RECURSIVEMATCH gives "Fruit" CHILDINFO for its subscribed (gone) child;
    // "Tofu" has only an unsubscribed child, so it is not listed at all.
    a.exact(
        "m LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\" RETURN (CHILDREN)",
        "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\"\r\n\
         * LIST (\\HasNoChildren \\Archive \\Subscribed) \"/\" \"Archive\"\r\n\
         * LIST (\\HasNoChildren \\Drafts \\Subscribed) \"/\" \"Drafts\"\r\n\
         * LIST (\\HasChildren) \"/\" \"Fruit\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n\
         * LIST (\\HasNoChildren \\Junk \\Subscribed) \"/\" \"Junk\"\r\n\
         * LIST (\\HasNoChildren \\Sent \\Subscribed) \"/\" \"Sent\"\r\n\
         * LIST (\\HasNoChildren \\Trash \\Subscribed) \"/\" \"Trash\"\r\n\
         m OK LIST completed\r\n",
    )
    .await;
    // The return option alone lists existing mailboxes only (RFC 5258 §5 example 6).
    let r = a.cmd("r LIST \"\" \"Fruit/*\" RETURN (SUBSCRIBED)").await;
    assert_eq!(
        r,
        "* LIST (\\HasNoChildren) \"/\" \"Fruit/Apple\"\r\nr OK LIST completed\r\n"
    );
    // RFC 3501 §6.3.9: LSUB keeps the name too.
    let r = a.cmd("u LSUB \"\" \"Fruit/*\"").await;
    assert_eq!(
        r,
        "* LSUB () \"/\" \"Fruit/Peach\"\r\nu OK LSUB completed\r\n"
    );
    // A new mailbox of that name is subscribed again: subscriptions are to names.
    assert_eq!(b.code("c CREATE Fruit/Peach").await.0, OK);
    let r = a.cmd("l LIST (SUBSCRIBED) \"\" \"Fruit/*\"").await;
    assert_eq!(
        r,
        "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Fruit/Peach\"\r\nl OK LIST completed\r\n"
    );
    // Deleted again, then UNSUBSCRIBE removes the name for good (RFC 9051 §6.3.8).
    assert_eq!(b.code("d DELETE Fruit/Peach").await.0, OK);
    assert_eq!(a.code("x UNSUBSCRIBE Fruit/Peach").await.0, OK);
    assert_eq!(
        a.cmd("l LIST (SUBSCRIBED) \"\" \"Fruit/*\"").await,
        "l OK LIST completed\r\n"
    );
    assert_eq!(
        a.code("x UNSUBSCRIBE Fruit/Peach").await,
        (NO, "NONEXISTENT".into())
    );
}
