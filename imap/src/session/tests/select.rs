//! SELECT, EXAMINE, CLOSE and UNSELECT (RFC 9051 §6.3.2, §6.3.3, §6.4.1; RFC 3691): the
//! untagged data for rev1 and rev2, READ-ONLY, NONEXISTENT, CLOSED, CLOSE's silent expunge.

use super::fixture::*;

#[actix_rt::test]
async fn select_reports_the_mailbox() {
    let mut t = session().await;
    t.login().await;
    t.deliver(MESSAGE).await;
    t.deliver(MESSAGE).await;
    let r = t.cmd("s SELECT inbox").await;
    // RFC 3501 §6.3.1 for an IMAP4rev1 session.
    for line in [
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n",
        "* 2 EXISTS\r\n",
        // RFC 3501 §2.3.2: the first session to select the mailbox has them as \Recent.
        "* 2 RECENT\r\n",
        "* OK [UNSEEN 1] first unseen\r\n",
        "* OK [UIDNEXT 3] predicted next UID\r\n",
        "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] flags you can change\r\n",
        "s OK [READ-WRITE] SELECT completed\r\n",
    ] {
        assert!(r.contains(line), "{line:?} missing in {r}");
    }
    assert!(r.contains("* OK [UIDVALIDITY "), "{r}");
    let r = t.cmd("e EXAMINE INBOX").await;
    assert!(
        r.contains("* OK [PERMANENTFLAGS ()]")
            && r.ends_with("e OK [READ-ONLY] EXAMINE completed\r\n"),
        "{r}"
    );
    assert!(
        t.cmd("f STORE 1 +FLAGS (\\Seen)")
            .await
            .starts_with("f NO [READ-ONLY]")
    );
    let r = t.cmd("g SELECT nosuch").await;
    assert!(r.starts_with("g NO [NONEXISTENT]"), "{r}");
    // A failed SELECT leaves no mailbox selected (RFC 9051 §6.3.2).
    assert_eq!(
        t.cmd("h FETCH 1 FLAGS").await,
        "h BAD FETCH is not allowed in this state\r\n"
    );
}

#[actix_rt::test]
async fn rev2_select_has_no_recent_and_a_list_response() {
    let mut t = lenient().await;
    t.login().await;
    t.cmd("e ENABLE IMAP4rev2").await;
    t.deliver(MESSAGE).await;
    let r = t.cmd("s SELECT INBOX").await;
    // RFC 9051 §6.3.2: no RECENT, no UNSEEN; a LIST with the mailbox name.
    assert!(!r.contains("RECENT") && !r.contains("UNSEEN"), "{r}");
    assert!(r.contains("* 1 EXISTS\r\n"), "{r}");
    assert!(r.contains("* LIST () \"/\" \"INBOX\"\r\n"), "{r}");
    assert!(r.ends_with("s OK [READ-WRITE] SELECT completed\r\n"), "{r}");
    // Selecting again closes the first mailbox with CLOSED (RFC 9051 §7.1).
    let r = t.cmd("x EXAMINE INBOX").await;
    assert!(r.starts_with("* OK [CLOSED] "), "{r}");
    let r = t.cmd("y SELECT nosuch").await;
    assert!(r.starts_with("* OK [CLOSED] "), "{r}");
    assert_eq!(tagged_code(&r), (NO, "NONEXISTENT".into()));
    assert_eq!(t.code("z FETCH 1 FLAGS").await, (BAD, String::new()));
}

#[actix_rt::test]
async fn rev1_reselect_has_no_closed_code() {
    let mut t = T::selected(1).await;
    let r = t.cmd("x SELECT INBOX").await;
    assert!(!r.contains("CLOSED"), "{r}");
    assert!(r.starts_with("* FLAGS "), "{r}");
}

#[actix_rt::test]
async fn empty_mailbox_and_keywords_in_flags() {
    let mut t = lenient().await;
    t.login().await;
    let r = t.cmd("s SELECT INBOX").await;
    assert!(r.contains("* 0 EXISTS\r\n") && !r.contains("UNSEEN"), "{r}");
    assert!(r.contains("* OK [UIDNEXT 1] "), "{r}");
    t.deliver(MESSAGE).await;
    t.s.mailbox_changed();
    t.cmd("a STORE 1 +FLAGS ($Work \\Seen)").await;
    let r = t.cmd("b SELECT INBOX").await;
    // RFC 9051 §7.3.5: FLAGS lists the keywords in use too; nothing is unseen.
    assert!(
        r.contains("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)\r\n"),
        "{r}"
    );
    assert!(!r.contains("UNSEEN"), "{r}");
}

#[actix_rt::test]
async fn select_syntax_and_names() {
    let mut t = lenient().await;
    t.login().await;
    assert_eq!(t.code("a SELECT").await.0, BAD);
    assert_eq!(t.code("b SELECT INBOX extra").await.0, BAD);
    // RFC 3501 §5.1.3: a name that is not valid modified UTF-7 is refused with NO: the
    // command's syntax is fine, only no mailbox can have that name.
    assert_eq!(t.code("c SELECT &Jjo").await, (NO, "CANNOT".into()));
    assert_eq!(t.code("c EXAMINE &Jjo").await, (NO, "CANNOT".into()));
    assert_eq!(t.code("d SELECT \"Sent\"").await.0, OK);
    // A literal name is as good as an atom.
    assert_eq!(
        t.code("e EXAMINE {5}\r\nTrash").await,
        (OK, "READ-ONLY".into())
    );
    assert_eq!(t.code("f SELECT nosuch").await, (NO, "NONEXISTENT".into()));
    assert_eq!(t.code("g EXAMINE nosuch").await, (NO, "NONEXISTENT".into()));
    assert_eq!(t.code("h EXAMINE Trash").await, (OK, "READ-ONLY".into()));
}

#[actix_rt::test]
async fn close_expunges_silently_and_unselect_does_not() {
    let mut t = T::selected(3).await;
    t.cmd("a STORE 1:2 +FLAGS.SILENT (\\Deleted)").await;
    // RFC 9051 §6.4.1: CLOSE removes \Deleted messages without EXPUNGE responses.
    assert_eq!(t.cmd("b CLOSE").await, "b OK CLOSE completed\r\n");
    assert_eq!(t.code("c FETCH 1 FLAGS").await.0, BAD);
    let r = t.cmd("d SELECT INBOX").await;
    assert!(r.contains("* 1 EXISTS\r\n"), "{r}");
    t.cmd("e STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    // RFC 3691: UNSELECT leaves them.
    assert_eq!(t.cmd("f UNSELECT").await, "f OK UNSELECT completed\r\n");
    let r = t.cmd("g STATUS INBOX (MESSAGES DELETED)").await;
    assert!(r.contains("(MESSAGES 1 DELETED 1)"), "{r}");
}

#[actix_rt::test]
async fn close_after_examine_expunges_nothing() {
    let mut t = T::selected(1).await;
    t.cmd("a STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    t.cmd("b EXAMINE INBOX").await;
    assert_eq!(t.cmd("c CLOSE").await, "c OK CLOSE completed\r\n");
    let r = t.cmd("d STATUS INBOX (MESSAGES)").await;
    assert!(r.contains("(MESSAGES 1)"), "{r}");
}

#[actix_rt::test]
async fn close_and_unselect_take_no_arguments_and_need_a_mailbox() {
    let mut t = T::selected(0).await;
    assert_eq!(t.code("a CLOSE now").await.0, BAD);
    assert_eq!(t.code("b UNSELECT INBOX").await.0, BAD);
    assert_eq!(t.code("c UNSELECT").await.0, OK);
    assert_eq!(t.code("d CLOSE").await.0, BAD);
    assert_eq!(t.code("e UNSELECT").await.0, BAD);
}

#[actix_rt::test]
async fn recent_belongs_to_the_first_session_that_selects() {
    let mut a = lenient().await;
    a.login().await;
    a.deliver(MESSAGE).await;
    a.deliver(MESSAGE).await;
    let mut b = a.other().await;
    let mut c = a.other().await;
    // RFC 3501 §6.3.2: EXAMINE shows what is recent but does not take it away.
    let r = c.cmd("e EXAMINE INBOX").await;
    assert!(r.contains("* 2 RECENT\r\n"), "{r}");
    assert_eq!(
        c.cmd("f FETCH 1 FLAGS").await,
        "* 1 FETCH (FLAGS (\\Recent))\r\nf OK FETCH completed\r\n"
    );
    // RFC 3501 §2.3.2: the first session to select gets them as \Recent, no later one does.
    let r = a.cmd("s SELECT INBOX").await;
    assert!(r.contains("* 2 EXISTS\r\n* 2 RECENT\r\n"), "{r}");
    let r = b.cmd("s SELECT INBOX").await;
    assert!(r.contains("* 2 EXISTS\r\n* 0 RECENT\r\n"), "{r}");
    assert_eq!(
        a.cmd("f FETCH 1:2 FLAGS").await,
        "* 1 FETCH (FLAGS (\\Recent))\r\n* 2 FETCH (FLAGS (\\Recent))\r\nf OK FETCH completed\r\n"
    );
    assert_eq!(
        b.cmd("f FETCH 1:2 FLAGS").await,
        "* 1 FETCH (FLAGS ())\r\n* 2 FETCH (FLAGS ())\r\nf OK FETCH completed\r\n"
    );
    // A message that arrives while both have the mailbox selected is recent in the one
    // told of it first, whichever that is; the other still keeps its own.
    a.deliver(MESSAGE).await;
    b.s.mailbox_changed();
    a.s.mailbox_changed();
    assert_eq!(
        b.cmd("n NOOP").await,
        "* 3 EXISTS\r\n* 1 RECENT\r\nn OK NOOP completed\r\n"
    );
    assert_eq!(
        a.cmd("n NOOP").await,
        "* 3 EXISTS\r\n* 2 RECENT\r\nn OK NOOP completed\r\n"
    );
    // Reselecting gives nothing back: the claim is the store's, not the session's.
    let r = a.cmd("t SELECT INBOX").await;
    assert!(r.contains("* 3 EXISTS\r\n* 0 RECENT\r\n"), "{r}");
    // The read-only session keeps the two it was shown; the third was claimed before it
    // heard of it.
    c.s.mailbox_changed();
    assert_eq!(
        c.cmd("n NOOP").await,
        "* 3 EXISTS\r\n* 2 RECENT\r\nn OK NOOP completed\r\n"
    );
}
