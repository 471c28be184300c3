//! EXPUNGE and UID EXPUNGE (RFC 9051 §6.4.3, RFC 4315 §2.1): renumbering, READ-ONLY, empty
//! results, and when another session hears of them.

use super::fixture::*;

#[actix_rt::test]
async fn store_expunge_and_renumbering() {
    let mut t = T::selected(3).await;
    let r = t.cmd("a STORE 1:2 +FLAGS (\\Deleted $Work)").await;
    assert_eq!(
        r,
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)\r\n\
         * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work \\*)] flags you can change\r\n\
         * 1 FETCH (FLAGS (\\Deleted $Work))\r\n* 2 FETCH (FLAGS (\\Deleted $Work))\r\na OK STORE completed\r\n"
    );
    assert_eq!(
        t.cmd("b UID STORE 2 -FLAGS.SILENT ($Work)").await,
        "b OK STORE completed\r\n"
    );
    let r = t.cmd("c FETCH 1:* FLAGS").await;
    assert!(r.contains("* 2 FETCH (FLAGS (\\Deleted))"), "{r}");
    // RFC 9051 §7.5.1: each EXPUNGE renumbers at once, so both are "1".
    assert_eq!(
        t.cmd("d EXPUNGE").await,
        "* 1 EXPUNGE\r\n* 1 EXPUNGE\r\nd OK EXPUNGE completed\r\n"
    );
    assert_eq!(
        t.cmd("e FETCH 1 UID").await,
        "* 1 FETCH (UID 3)\r\ne OK FETCH completed\r\n"
    );
    // UID EXPUNGE only removes the named \Deleted messages (RFC 4315 §2.1).
    t.deliver(MESSAGE).await;
    t.s.mailbox_changed();
    let r = t.cmd("n NOOP").await;
    assert_eq!(r, "* 2 EXISTS\r\n* 1 RECENT\r\nn OK NOOP completed\r\n");
    t.cmd("f STORE 1:2 +FLAGS.SILENT (\\Deleted)").await;
    assert_eq!(
        t.cmd("g UID EXPUNGE 4").await,
        "* 2 EXPUNGE\r\ng OK EXPUNGE completed\r\n"
    );
}

#[actix_rt::test]
async fn expunge_of_nothing_and_in_an_empty_mailbox() {
    let mut t = T::selected(2).await;
    assert_eq!(t.cmd("a EXPUNGE").await, "a OK EXPUNGE completed\r\n");
    // UID EXPUNGE of messages not \Deleted removes nothing.
    assert_eq!(
        t.cmd("b UID EXPUNGE 1:*").await,
        "b OK EXPUNGE completed\r\n"
    );
    let mut t = T::selected(0).await;
    assert_eq!(t.cmd("c EXPUNGE").await, "c OK EXPUNGE completed\r\n");
    assert_eq!(
        t.cmd("d UID EXPUNGE 1:*").await,
        "d OK EXPUNGE completed\r\n"
    );
}

#[actix_rt::test]
async fn expunge_descending_positions() {
    let mut t = T::selected(5).await;
    t.cmd("a STORE 2,4,5 +FLAGS.SILENT (\\Deleted)").await;
    // Ascending UIDs, each renumbering the rest: 2, then 3 (was 4), then 3 (was 5).
    assert_eq!(
        t.cmd("b EXPUNGE").await,
        "* 2 EXPUNGE\r\n* 3 EXPUNGE\r\n* 3 EXPUNGE\r\nb OK EXPUNGE completed\r\n"
    );
    let r = t.cmd("c FETCH 1:* UID").await;
    assert_eq!(
        r,
        "* 1 FETCH (UID 1)\r\n* 2 FETCH (UID 3)\r\nc OK FETCH completed\r\n"
    );
}

#[actix_rt::test]
async fn read_only_and_syntax() {
    let mut t = T::selected(1).await;
    t.cmd("a STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    t.cmd("e EXAMINE INBOX").await;
    assert_eq!(t.code("b EXPUNGE").await, (NO, "READ-ONLY".into()));
    assert_eq!(t.code("c UID EXPUNGE 1").await, (NO, "READ-ONLY".into()));
    assert_eq!(t.code("d EXPUNGE 1").await.0, BAD);
    assert_eq!(t.code("f UID EXPUNGE").await.0, BAD);
    assert_eq!(t.code("g UID EXPUNGE x").await.0, BAD);
}

#[actix_rt::test]
async fn expunges_wait_for_a_command_that_allows_them() {
    let mut a = T::selected(3).await;
    let mut b = a.other().await;
    b.cmd("s SELECT INBOX").await;
    b.cmd("x STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    b.cmd("y EXPUNGE").await;
    a.s.mailbox_changed();
    // RFC 9051 §7.5.1: not during FETCH, STORE or SEARCH by sequence number.
    assert_eq!(
        a.cmd("f FETCH 1 UID").await,
        "* 1 FETCH (UID 1)\r\nf OK FETCH completed\r\n"
    );
    // Message 1 is gone from the store: the STORE cannot change it, and the answer shows
    // the flags it last had (RFC 9051 §7.5.1 lets the server keep it addressable).
    assert_eq!(
        a.cmd("g STORE 1 +FLAGS (\\Seen)").await,
        "* 1 FETCH (FLAGS ())\r\ng OK STORE completed\r\n"
    );
    assert_eq!(
        a.cmd("h SEARCH ALL").await,
        "* SEARCH 1 2 3\r\nh OK SEARCH completed\r\n"
    );
    // A UID command may have them (RFC 9051 §7.5.1).
    assert_eq!(
        a.cmd("i UID SEARCH ALL").await,
        "* 1 EXPUNGE\r\n* SEARCH 2 3\r\ni OK SEARCH completed\r\n"
    );
    assert_eq!(a.cmd("j NOOP").await, "j OK NOOP completed\r\n");
}

#[actix_rt::test]
async fn expunge_announces_what_others_removed_first() {
    let mut a = T::selected(2).await;
    let mut b = a.other().await;
    b.cmd("s SELECT INBOX").await;
    b.cmd("x STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    b.cmd("y EXPUNGE").await;
    a.s.mailbox_changed();
    assert_eq!(
        a.cmd("e EXPUNGE").await,
        "* 2 EXPUNGE\r\ne OK EXPUNGE completed\r\n"
    );
}
