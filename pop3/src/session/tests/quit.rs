//! QUIT and the UPDATE state (RFC 1939 §6): marked messages are removed in one store
//! transaction at QUIT, and only then; a session that ends any other way removes nothing.

use super::fixture::*;
use crate::session::Flow;
use mailroom_store::actor::Changes;

#[actix_rt::test]
async fn quit_in_authorization_just_closes() {
    let mut t = session().await;
    let (r, flow) = t.raw(b"QUIT").await;
    assert_eq!(
        (r.as_str(), flow),
        ("+OK pop.example.test signing off\r\n", Flow::Close)
    );
}

#[actix_rt::test]
async fn quit_removes_the_marked_messages_and_imap_hears_of_it() {
    let mut t = logged_in(3).await;
    let (before, messages) = t.inbox().await;
    t.cmd("DELE 1").await;
    t.cmd("DELE 3").await;
    let (r, flow) = t.raw(b"QUIT").await;
    assert_eq!(
        (r.as_str(), flow),
        (
            "+OK pop.example.test signing off (1 messages left)\r\n",
            Flow::Close
        )
    );
    let (after, left) = t.inbox().await;
    assert_eq!(
        left.iter().map(|m| m.uid).collect::<Vec<_>>(),
        [messages[1].uid]
    );
    // What an IMAP session with INBOX selected learns: both UIDs expunged.
    let changes = t
        .store
        .send(Changes {
            account_id: t.alice,
            mailbox_id: before.id,
            since_modseq: before.highestmodseq,
        })
        .await
        .expect("mailbox")
        .expect("changes");
    assert_eq!(changes.expunged, [messages[0].uid, messages[2].uid]);
    assert_eq!(after.exists, 1);
    assert!(!t.maildrops.is_held(t.alice), "the lock is released");
}

#[actix_rt::test]
async fn ending_without_quit_removes_nothing() {
    // A dropped connection, a timeout, a shutdown and the administrator ending it: each
    // leaves the maildrop as it was.
    for end in ["drop", "timeout", "shutdown", "ended"] {
        let mut t = logged_in(2).await;
        t.cmd("DELE 1").await;
        t.cmd("DELE 2").await;
        match end {
            "drop" => {}
            "timeout" => {
                let r = String::from_utf8(t.s.timed_out()).expect("utf8");
                assert_eq!(r, "-ERR idle for too long, closing connection\r\n");
            }
            "ended" => {
                assert!(t.s.login().is_some_and(|a| a.contains('@')));
                let r = String::from_utf8(t.s.ended()).expect("utf8");
                assert_eq!(
                    r,
                    "-ERR pop.example.test session ended by the administrator\r\n"
                );
            }
            _ => {
                let r = String::from_utf8(t.s.shutting_down()).expect("utf8");
                assert_eq!(r, "-ERR pop.example.test shutting down\r\n");
            }
        }
        let fresh = t.another();
        drop(std::mem::replace(&mut t.s, fresh));
        assert_eq!(t.inbox().await.1.len(), 2, "{end} removed messages");
        assert!(!t.maildrops.is_held(t.alice), "{end} kept the lock");
    }
}

#[actix_rt::test]
async fn quit_without_marks_touches_nothing() {
    let mut t = logged_in(1).await;
    let (before, _) = t.inbox().await;
    assert_eq!(
        t.cmd("QUIT").await,
        "+OK pop.example.test signing off (1 messages left)\r\n"
    );
    let (after, _) = t.inbox().await;
    assert_eq!(after.highestmodseq, before.highestmodseq);
}

#[actix_rt::test]
async fn a_failed_update_says_so_and_removes_nothing() {
    let mut t = logged_in(1).await;
    t.cmd("DELE 1").await;
    t.store
        .send(mailroom_store::actor::Flush)
        .await
        .expect("mailbox")
        .expect("flush");
    let (r, flow) = t.raw(b"QUIT").await;
    assert_eq!(
        (r.as_str(), flow),
        (
            "-ERR [SYS/TEMP] some deleted messages not removed, try again later\r\n",
            Flow::Close
        )
    );
}
