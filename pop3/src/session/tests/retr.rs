//! RETR and TOP (RFC 1939 §5, §7): dot-stuffed, terminated, header/body split for TOP, and
//! large bodies streamed with bounded buffering.

use super::fixture::*;
use crate::proto::stuff::unstuff;
use crate::session::Output;
use mailroom_store::actor::RemoveMessages;

/// The multi-line answer's first line and its body with the stuffing undone.
fn split(r: &str) -> (&str, Vec<u8>) {
    let (first, rest) = r.split_once("\r\n").expect("first line");
    (
        first,
        unstuff(rest.as_bytes()).expect("terminated by .CRLF"),
    )
}

#[actix_rt::test]
async fn retr_sends_the_message_dot_stuffed() {
    let mut t = session().await;
    t.deliver(MESSAGE).await;
    t.login().await;
    let r = t.cmd("RETR 1").await;
    assert!(r.contains("\r\n..this line starts with a dot\r\n"), "{r}");
    let (first, body) = split(&r);
    assert_eq!(first, format!("+OK {} octets", MESSAGE.len()));
    assert_eq!(body, MESSAGE.as_bytes());
    assert_eq!(t.cmd("RETR 2").await, "-ERR no such message\r\n");
    // RETR does not mark anything.
    assert_eq!(t.cmd("STAT").await, format!("+OK 1 {}\r\n", MESSAGE.len()));
}

#[actix_rt::test]
async fn top_splits_header_and_body() {
    let mut t = session().await;
    t.deliver(MESSAGE).await;
    t.login().await;
    let header = "From: Bob <bob@example.test>\r\nTo: alice@example.test\r\nSubject: hello\r\n\r\n";
    let cases = [
        (0, header.to_string()),
        (1, format!("{header}Hello Alice,\r\n")),
        (
            2,
            format!("{header}Hello Alice,\r\n.this line starts with a dot\r\n"),
        ),
        (100, MESSAGE.to_string()),
    ];
    for (n, want) in cases {
        let r = t.cmd(&format!("TOP 1 {n}")).await;
        let (first, body) = split(&r);
        assert_eq!(first, "+OK top of message follows");
        assert_eq!(String::from_utf8_lossy(&body), want, "TOP 1 {n}");
    }
}

/// A body far over the store's inline limit, with dots at line starts throughout.
fn big_message(lines: usize) -> String {
    let mut m = String::from("Subject: big\r\n\r\n");
    for i in 0..lines {
        if i.is_multiple_of(3) {
            m.push('.');
        }
        m.push_str(&format!(
            "line {i} of a message large enough to be a file\r\n"
        ));
    }
    m
}

#[actix_rt::test]
async fn a_large_message_is_streamed_in_pieces() {
    let mut t = session().await;
    let m = big_message(40_000); // about 2 MiB
    t.deliver(&m).await;
    t.login().await;
    let mut out = Recorder::default();
    t.s.line(b"RETR 1", &mut out).await.expect("retr");
    out.flush().await.expect("flush");
    let r = String::from_utf8(out.written).expect("utf8");
    let (first, body) = split(&r);
    assert_eq!(first, format!("+OK {} octets", m.len()));
    assert_eq!(body, m.as_bytes());
    assert!(out.flushes > 10, "only {} flushes", out.flushes);
    // Never more than about one piece (stuffed) waiting to be written.
    let bound = 2 * crate::session::retr::PIECE;
    assert!(out.most_held <= bound, "held {} octets", out.most_held);

    // TOP on a large message stops early.
    let mut out = Recorder::default();
    t.s.line(b"TOP 1 2", &mut out).await.expect("top");
    out.flush().await.expect("flush");
    let r = String::from_utf8(out.written).expect("utf8");
    assert_eq!(
        r,
        "+OK top of message follows\r\nSubject: big\r\n\r\n..line 0 of a message large enough \
         to be a file\r\nline 1 of a message large enough to be a file\r\n.\r\n"
    );
}

#[actix_rt::test]
async fn a_message_expunged_by_imap_meanwhile_is_an_error_not_a_crash() {
    let mut t = logged_in(2).await;
    let (inbox, messages) = t.inbox().await;
    t.store
        .send(RemoveMessages {
            account_id: t.alice,
            mailbox_id: inbox.id,
            uids: vec![messages[0].uid],
        })
        .await
        .expect("mailbox")
        .expect("remove");
    assert_eq!(
        t.cmd("RETR 1").await,
        "-ERR message 1 was removed by another session\r\n"
    );
    let r = t.cmd("RETR 2").await;
    assert!(r.starts_with("+OK"), "{r}");
}

#[actix_rt::test]
async fn a_store_failure_at_retr_is_sys_temp() {
    let mut t = logged_in(1).await;
    t.store
        .send(mailroom_store::actor::Flush)
        .await
        .expect("mailbox")
        .expect("flush");
    assert_eq!(
        t.cmd("RETR 1").await,
        "-ERR [SYS/TEMP] cannot read the message now, try again later\r\n"
    );
}
