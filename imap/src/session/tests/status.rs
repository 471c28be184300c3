//! STATUS (RFC 9051 §6.3.11; RFC 8438 SIZE): every item, NONEXISTENT, the selected mailbox,
//! UTF-8 and modified UTF-7 names.

use super::fixture::*;

#[actix_rt::test]
async fn every_item() {
    let mut t = lenient().await;
    t.login().await;
    t.deliver(MESSAGE).await;
    t.deliver(MESSAGE).await;
    let r = t
        .cmd("a STATUS INBOX (MESSAGES RECENT UIDNEXT UNSEEN DELETED SIZE)")
        .await;
    assert_eq!(
        r,
        format!(
            "* STATUS \"INBOX\" (MESSAGES 2 RECENT 2 UIDNEXT 3 UNSEEN 2 DELETED 0 SIZE {})\r\na OK STATUS completed\r\n",
            2 * MESSAGE.len()
        )
    );
    let r = t.cmd("b STATUS inbox (UIDVALIDITY)").await;
    assert!(r.starts_with("* STATUS \"INBOX\" (UIDVALIDITY "), "{r}");
}

#[actix_rt::test]
async fn status_of_the_selected_mailbox_and_after_changes() {
    let mut t = T::selected(2).await;
    t.cmd("a STORE 1 +FLAGS.SILENT (\\Seen \\Deleted)").await;
    let r = t.cmd("b STATUS INBOX (UNSEEN DELETED MESSAGES)").await;
    assert!(r.contains("(UNSEEN 1 DELETED 1 MESSAGES 2)"), "{r}");
}

#[actix_rt::test]
async fn errors() {
    let mut t = lenient().await;
    t.login().await;
    assert_eq!(
        t.code("a STATUS nosuch (MESSAGES)").await,
        (NO, "NONEXISTENT".into())
    );
    for line in [
        "b STATUS INBOX",
        "b STATUS INBOX ()",
        "b STATUS INBOX (BOGUS)",
        "b STATUS INBOX MESSAGES",
        "b STATUS (MESSAGES)",
    ] {
        assert_eq!(t.code(line).await.0, BAD, "{line}");
    }
    // RFC 3501 §5.1.3: a well-formed command naming invalid modified UTF-7 is NO, not BAD.
    assert_eq!(
        t.code("c STATUS &Jjo (MESSAGES)").await,
        (NO, "CANNOT".into())
    );
}

#[actix_rt::test]
async fn names_follow_the_session_encoding() {
    let mut t = lenient().await;
    t.login().await;
    t.cmd("a CREATE Entw&APw-rfe").await;
    assert_eq!(
        t.cmd("b STATUS Entw&APw-rfe (MESSAGES)").await,
        "* STATUS \"Entw&APw-rfe\" (MESSAGES 0)\r\nb OK STATUS completed\r\n"
    );
    t.cmd("c ENABLE IMAP4rev2").await;
    // RFC 9051 §9: UTF-8 only in quoted strings (and literals), never in an atom.
    assert_eq!(t.code("d STATUS Entwürfe (MESSAGES)").await.0, BAD);
    assert_eq!(
        t.cmd("d STATUS \"Entwürfe\" (MESSAGES)").await,
        "* STATUS \"Entwürfe\" (MESSAGES 0)\r\nd OK STATUS completed\r\n"
    );
}

#[actix_rt::test]
async fn recent_counts_what_no_session_has_claimed() {
    let mut a = lenient().await;
    a.login().await;
    a.deliver(MESSAGE).await;
    a.deliver(MESSAGE).await;
    let mut b = a.other().await;
    let status = "t STATUS INBOX (RECENT MESSAGES)";
    let reply =
        |n: u32| format!("* STATUS \"INBOX\" (RECENT {n} MESSAGES 2)\r\nt OK STATUS completed\r\n");
    // RFC 3501 §6.3.10, §2.3.2: both messages are recent until a session takes them; EXAMINE
    // does not (RFC 3501 §6.3.2), SELECT in another session does.
    assert_eq!(b.cmd(status).await, reply(2));
    a.cmd("e EXAMINE INBOX").await;
    assert_eq!(b.cmd(status).await, reply(2));
    a.cmd("s SELECT INBOX").await;
    assert_eq!(b.cmd(status).await, reply(0));
    a.deliver(MESSAGE).await;
    let r = b.cmd("u STATUS INBOX (RECENT)").await;
    assert_eq!(
        r,
        "* STATUS \"INBOX\" (RECENT 1)\r\nu OK STATUS completed\r\n"
    );
}
