//! STAT, LIST and UIDL (RFC 1939 §5, §7): numbers fixed at login, deleted messages left
//! out, UIDL as `<UIDVALIDITY>.<UID>` stable across sessions and equal to the IMAP identity.

use super::fixture::*;

#[actix_rt::test]
async fn stat_and_list_follow_the_marks() {
    let mut t = logged_in(3).await;
    let size = |i: usize| numbered(i).len();
    let all = size(1) + size(2) + size(3);
    assert_eq!(t.cmd("STAT").await, format!("+OK 3 {all}\r\n"));
    assert_eq!(
        t.cmd("LIST").await,
        format!(
            "+OK 3 messages ({all} octets)\r\n1 {}\r\n2 {}\r\n3 {}\r\n.\r\n",
            size(1),
            size(2),
            size(3)
        )
    );
    assert_eq!(t.cmd("LIST 2").await, format!("+OK 2 {}\r\n", size(2)));
    assert_eq!(t.cmd("DELE 2").await, "+OK message 2 deleted\r\n");
    // RFC 1939 §5: deleted messages are not counted, listed, or addressable.
    assert_eq!(
        t.cmd("STAT").await,
        format!("+OK 2 {}\r\n", size(1) + size(3))
    );
    assert_eq!(
        t.cmd("LIST").await,
        format!(
            "+OK 2 messages ({} octets)\r\n1 {}\r\n3 {}\r\n.\r\n",
            size(1) + size(3),
            size(1),
            size(3)
        )
    );
    for line in [
        "LIST 2",
        "LIST 0",
        "LIST 4",
        "UIDL 2",
        "UIDL 0",
        "UIDL 4294967295",
    ] {
        assert_eq!(t.cmd(line).await, "-ERR no such message\r\n", "{line}");
    }
}

#[actix_rt::test]
async fn new_deliveries_do_not_change_the_numbers() {
    let mut t = logged_in(1).await;
    t.deliver(&numbered(9)).await;
    assert_eq!(
        t.cmd("STAT").await,
        format!("+OK 1 {}\r\n", numbered(1).len())
    );
    assert_eq!(t.cmd("LIST 2").await, "-ERR no such message\r\n");
}

#[actix_rt::test]
async fn uidl_is_the_imap_identity_and_stable_across_sessions() {
    let mut t = logged_in(2).await;
    let (inbox, messages) = t.inbox().await;
    let v = inbox.uidvalidity;
    let want = format!(
        "+OK unique-id listing follows\r\n1 {v}.{}\r\n2 {v}.{}\r\n.\r\n",
        messages[0].uid, messages[1].uid
    );
    assert_eq!(t.cmd("UIDL").await, want);
    assert_eq!(
        t.cmd("UIDL 2").await,
        format!("+OK 2 {v}.{}\r\n", messages[1].uid)
    );
    // RFC 1939 §7: unique ids are 1 to 70 octets in 0x21..0x7E.
    let id = format!("{v}.{}", messages[1].uid);
    assert!((1..=70).contains(&id.len()) && id.bytes().all(|b| (0x21..=0x7e).contains(&b)));

    // Delete the first, QUIT; a new session numbers what is left from 1, same ids.
    t.cmd("DELE 1").await;
    t.cmd("QUIT").await;
    t.deliver(&numbered(3)).await;
    let mut s = t.another();
    on(&mut s, "USER alice@example.test").await;
    on(&mut s, "PASS password-1").await;
    let (_, now) = t.inbox().await;
    assert_eq!(
        on(&mut s, "UIDL").await,
        format!(
            "+OK unique-id listing follows\r\n1 {v}.{}\r\n2 {v}.{}\r\n.\r\n",
            messages[1].uid, now[1].uid
        )
    );
}
