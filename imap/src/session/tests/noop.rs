//! NOOP and CHECK (RFC 9051 §6.1.2; RFC 3501 §6.4.1): untagged updates another session
//! causes, and the moments they may arrive (RFC 9051 §7.5.1).

use super::fixture::*;
use crate::session::Flow;

#[actix_rt::test]
async fn another_session_s_changes_arrive_at_the_right_moments() {
    let mut a = T::selected(2).await;
    let mut b = a.other().await;
    b.cmd("s SELECT INBOX").await;
    b.cmd("x STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    b.cmd("y EXPUNGE").await;
    a.s.mailbox_changed();
    // RFC 9051 §7.5.1: no EXPUNGE while answering FETCH by sequence number…
    let r = a.cmd("f FETCH 2 UID").await;
    assert_eq!(r, "* 2 FETCH (UID 2)\r\nf OK FETCH completed\r\n");
    // …but at the next command that allows it.
    assert_eq!(
        a.cmd("n NOOP").await,
        "* 1 EXPUNGE\r\nn OK NOOP completed\r\n"
    );
    // IDLE: the update is written as soon as the session is woken (RFC 2177).
    let (r, flow) = a.raw(b"i IDLE\r\n").await;
    assert_eq!((r.as_str(), flow), ("+ idling\r\n", Flow::Idle));
    a.deliver(MESSAGE).await;
    assert_eq!(a.wakeup().await, "* 2 EXISTS\r\n* 1 RECENT\r\n");
    assert_eq!(a.cmd("DONE").await, "i OK IDLE terminated\r\n");
}

#[actix_rt::test]
async fn noop_in_every_state() {
    let mut t = session().await;
    assert_eq!(t.cmd("a NOOP").await, "a OK NOOP completed\r\n");
    t.login().await;
    assert_eq!(t.cmd("b NOOP").await, "b OK NOOP completed\r\n");
    assert_eq!(t.code("c CHECK").await.0, BAD);
    t.cmd("s SELECT INBOX").await;
    assert_eq!(t.cmd("d NOOP").await, "d OK NOOP completed\r\n");
    assert_eq!(t.cmd("e CHECK").await, "e OK CHECK completed\r\n");
}

#[actix_rt::test]
async fn new_mail_from_delivery() {
    let mut a = T::selected(0).await;
    a.deliver(MESSAGE).await;
    a.deliver(MESSAGE).await;
    a.s.mailbox_changed();
    // RFC 3501 §7.3.1, §7.3.2: EXISTS then RECENT.
    assert_eq!(
        a.cmd("n NOOP").await,
        "* 2 EXISTS\r\n* 2 RECENT\r\nn OK NOOP completed\r\n"
    );
    // Without a change event nothing is asked of the store.
    assert_eq!(a.cmd("m NOOP").await, "m OK NOOP completed\r\n");
}

#[actix_rt::test]
async fn new_mail_is_announced_during_fetch_too() {
    let mut a = T::selected(1).await;
    a.deliver(MESSAGE).await;
    a.s.mailbox_changed();
    // RFC 9051 §7.5.1 forbids only EXPUNGE during FETCH; EXISTS may come.
    let r = a.cmd("f FETCH 1 UID").await;
    assert_eq!(
        r,
        "* 2 EXISTS\r\n* 1 RECENT\r\n* 1 FETCH (UID 1)\r\nf OK FETCH completed\r\n"
    );
}

#[actix_rt::test]
async fn flag_changes_and_expunges_together() {
    let mut a = T::selected(3).await;
    let mut b = a.other().await;
    b.cmd("s SELECT INBOX").await;
    b.cmd("x STORE 3 +FLAGS.SILENT ($Seen)").await;
    b.cmd("y STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    b.cmd("z EXPUNGE").await;
    a.s.mailbox_changed();
    // The expunge renumbers message 3 to 2 before its FETCH is written; the keyword is
    // new to the mailbox, so FLAGS lists it first (RFC 3501 §7.2.6).
    assert_eq!(
        a.cmd("n NOOP").await,
        "* 1 EXPUNGE\r\n* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Seen)\r\n\
         * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Seen \\*)] flags you can change\r\n\
         * 2 FETCH (UID 3 FLAGS ($Seen))\r\nn OK NOOP completed\r\n"
    );
}

#[actix_rt::test]
async fn rev2_sessions_get_no_recent() {
    let mut a = T::selected_rev2(1).await;
    let mut b = a.other().await;
    b.cmd("s SELECT INBOX").await;
    a.deliver(MESSAGE).await;
    a.s.mailbox_changed();
    assert_eq!(
        a.cmd("n NOOP").await,
        "* 2 EXISTS\r\nn OK NOOP completed\r\n"
    );
    // The rev2 session took neither message from the rev1 one, which has both as \Recent
    // (RFC 3501 §2.3.2).
    b.s.mailbox_changed();
    assert_eq!(
        b.cmd("n NOOP").await,
        "* 2 EXISTS\r\n* 2 RECENT\r\nn OK NOOP completed\r\n"
    );
}
