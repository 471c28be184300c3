//! IDLE (RFC 2177, RFC 9051 §6.3.13): the continuation, updates pushed on wakeup (expunges
//! included), DONE in any case, anything else BAD, IDLE without a selected mailbox.

use super::fixture::*;
use crate::session::Flow;

#[actix_rt::test]
async fn idle_pushes_updates_on_wakeup() {
    let mut a = T::selected(1).await;
    let (r, flow) = a.raw(b"i IDLE\r\n").await;
    assert_eq!((r.as_str(), flow), ("+ idling\r\n", Flow::Idle));
    assert!(a.s.idling());
    // Nothing changed: a wakeup writes nothing.
    assert_eq!(a.wakeup().await, "");
    a.deliver(MESSAGE).await;
    assert_eq!(a.wakeup().await, "* 2 EXISTS\r\n* 1 RECENT\r\n");
    // Another session's expunge and flags arrive at once: IDLE allows EXPUNGE.
    let mut b = a.other().await;
    b.cmd("s SELECT INBOX").await;
    b.cmd("x STORE 2 +FLAGS.SILENT (\\Seen)").await;
    assert_eq!(
        a.wakeup().await,
        "* 2 FETCH (UID 2 FLAGS (\\Seen \\Recent))\r\n"
    );
    b.cmd("y STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    b.cmd("z EXPUNGE").await;
    assert_eq!(a.wakeup().await, "* 1 EXPUNGE\r\n");
    // RFC 2177: DONE (any case) ends it.
    assert_eq!(a.cmd("done").await, "i OK IDLE terminated\r\n");
    assert!(!a.s.idling());
    assert_eq!(a.cmd("n NOOP").await, "n OK NOOP completed\r\n");
}

#[actix_rt::test]
async fn rev2_idle_has_no_recent() {
    let mut a = T::selected_rev2(0).await;
    a.raw(b"i IDLE\r\n").await;
    a.deliver(MESSAGE).await;
    assert_eq!(a.wakeup().await, "* 1 EXISTS\r\n");
    assert_eq!(a.cmd("DONE").await, "i OK IDLE terminated\r\n");
}

#[actix_rt::test]
async fn idle_reports_what_waited_before_it() {
    let mut a = T::selected(1).await;
    a.deliver(MESSAGE).await;
    a.s.mailbox_changed();
    let (r, flow) = a.raw(b"i IDLE\r\n").await;
    assert_eq!(
        (r.as_str(), flow),
        ("+ idling\r\n* 2 EXISTS\r\n* 1 RECENT\r\n", Flow::Idle)
    );
    assert_eq!(a.cmd("DONE").await, "i OK IDLE terminated\r\n");
}

#[actix_rt::test]
async fn anything_but_done_is_bad() {
    let mut a = T::selected(0).await;
    a.raw(b"i IDLE\r\n").await;
    assert_eq!(a.cmd("j NOOP").await, "i BAD expected DONE\r\n");
    // The IDLE is over after the error.
    assert!(!a.s.idling());
    assert_eq!(a.cmd("k NOOP").await, "k OK NOOP completed\r\n");
}

#[actix_rt::test]
async fn idle_in_the_authenticated_state() {
    let mut t = lenient().await;
    t.login().await;
    let (r, flow) = t.raw(b"i IDLE\r\n").await;
    assert_eq!((r.as_str(), flow), ("+ idling\r\n", Flow::Idle));
    assert_eq!(t.wakeup().await, "");
    assert_eq!(t.cmd("DONE").await, "i OK IDLE terminated\r\n");
    assert_eq!(t.code("j IDLE now").await.0, BAD);
}
