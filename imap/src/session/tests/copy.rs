//! COPY, MOVE and their UID forms (RFC 9051 §6.4.7, §6.4.8; RFC 6851; RFC 4315 COPYUID):
//! TRYCREATE, READ-ONLY, sequence sets, what another session sees.

use super::fixture::*;

#[actix_rt::test]
async fn copy_and_move() {
    let mut t = T::selected(1).await;
    let r = t.cmd("c COPY 1 Archive").await;
    assert!(
        r.starts_with("c OK [COPYUID ") && r.ends_with(" 1 1] COPY completed\r\n"),
        "{r}"
    );
    assert_eq!(
        t.cmd("d COPY 1 Nowhere").await,
        "d NO [TRYCREATE] no such mailbox\r\n"
    );
    // RFC 6851 §4.3: COPYUID in an untagged OK, then the EXPUNGE, then the tagged OK.
    let r = t.cmd("e MOVE 1 Trash").await;
    assert!(r.starts_with("* OK [COPYUID "), "{r}");
    assert!(
        r.ends_with(" 1 1] moved\r\n* 1 EXPUNGE\r\ne OK MOVE completed\r\n"),
        "{r}"
    );
    let r = t.cmd("f STATUS Trash (MESSAGES UIDNEXT UNSEEN)").await;
    assert_eq!(
        r,
        "* STATUS \"Trash\" (MESSAGES 1 UIDNEXT 2 UNSEEN 1)\r\nf OK STATUS completed\r\n"
    );
}

#[actix_rt::test]
async fn copyuid_sets() {
    let mut t = T::selected(4).await;
    let r = t.cmd("a COPY 4:2,1 Archive").await;
    assert!(r.ends_with(" 1:4 1:4] COPY completed\r\n"), "{r}");
    let r = t.cmd("b UID COPY 1,3 Archive").await;
    assert!(r.ends_with(" 1,3 5:6] COPY completed\r\n"), "{r}");
    // Only UIDs that do not exist: nothing copied, no COPYUID.
    assert_eq!(
        t.cmd("c UID COPY 50:60 Archive").await,
        "c OK COPY completed\r\n"
    );
    assert_eq!(t.code("d COPY 5 Archive").await.0, BAD);
    assert_eq!(t.code("e COPY 1 nowhere").await, (NO, "TRYCREATE".into()));
    assert_eq!(t.code("f MOVE 1 nowhere").await, (NO, "TRYCREATE".into()));
}

#[actix_rt::test]
async fn uid_move_and_copy_to_itself() {
    let mut t = T::selected(3).await;
    let r = t.cmd("a UID MOVE 2:3 Trash").await;
    assert!(r.starts_with("* OK [COPYUID "), "{r}");
    // RFC 9051 §7.5.1: each EXPUNGE renumbers: 2 then 2.
    assert!(
        r.ends_with(" 2:3 1:2] moved\r\n* 2 EXPUNGE\r\n* 2 EXPUNGE\r\na OK MOVE completed\r\n"),
        "{r}"
    );
    let r = t.cmd("b COPY 1 INBOX").await;
    assert_eq!(tagged_code(&r), (OK, "COPYUID".into()));
    // The copy into the selected mailbox is announced before the tagged OK (RFC 3501
    // §7.3.1), and is \Recent here (RFC 3501 §6.4.7, §2.3.2).
    assert!(
        r.starts_with("* 2 EXISTS\r\n* 1 RECENT\r\nb OK [COPYUID "),
        "{r}"
    );
    assert_eq!(t.cmd("c NOOP").await, "c OK NOOP completed\r\n");
}

#[actix_rt::test]
async fn move_from_a_read_only_mailbox() {
    let mut t = T::selected(1).await;
    t.cmd("e EXAMINE INBOX").await;
    assert_eq!(t.code("a MOVE 1 Trash").await, (NO, "READ-ONLY".into()));
    // COPY only reads the source: allowed.
    assert_eq!(t.code("b COPY 1 Trash").await, (OK, "COPYUID".into()));
}

#[actix_rt::test]
async fn copy_into_a_full_account() {
    let mut t = t_with_ctx(ctx(true), Some(MESSAGE.len() as u64 + 10)).await;
    t.cmd("a LOGIN bob@example.test password-1").await;
    let msg = format!("b APPEND INBOX {{{}}}\r\n{MESSAGE}\r\n", MESSAGE.len());
    t.raw(msg.as_bytes()).await;
    t.cmd("c SELECT INBOX").await;
    // RFC 9051 §7.1: OVERQUOTA when the copy does not fit.
    assert_eq!(t.code("d COPY 1 Archive").await, (NO, "OVERQUOTA".into()));
}

#[actix_rt::test]
async fn syntax_errors() {
    let mut t = T::selected(1).await;
    for line in [
        "a COPY",
        "a COPY 1",
        "a MOVE 1",
        "a COPY Trash",
        "a UID MOVE Trash",
        "a COPY 1 Trash x",
    ] {
        assert_eq!(t.code(line).await.0, BAD, "{line}");
    }
    // RFC 3501 §5.1.3: a target that is not valid modified UTF-7 is refused with NO.
    assert_eq!(t.code("b COPY 1 &Jjo").await, (NO, "CANNOT".into()));
}

#[actix_rt::test]
async fn another_session_sees_the_move() {
    let mut a = T::selected(2).await;
    let mut b = a.other().await;
    b.cmd("s SELECT INBOX").await;
    b.cmd("m MOVE 1 Trash").await;
    a.s.mailbox_changed();
    // No EXPUNGE while a FETCH by number runs (RFC 9051 §7.5.1) …
    assert_eq!(
        a.cmd("f FETCH 1 UID").await,
        "* 1 FETCH (UID 1)\r\nf OK FETCH completed\r\n"
    );
    // … but UID commands may have them.
    assert_eq!(
        a.cmd("u UID FETCH 2 UID").await,
        "* 1 EXPUNGE\r\n* 1 FETCH (UID 2)\r\nu OK FETCH completed\r\n"
    );
}

#[actix_rt::test]
async fn move_into_the_selected_mailbox_announces_exists() {
    let mut a = T::selected(2).await;
    let mut b = a.other().await;
    b.cmd("s SELECT INBOX").await;
    let r = a.cmd("m MOVE 1 INBOX").await;
    // RFC 6851 §3.3, §4.3: COPYUID, the EXPUNGE of the source, and the new message as
    // EXISTS (RFC 3501 §7.3.1), all before the tagged OK; the copy is \Recent here, where
    // it arrived first (RFC 3501 §2.3.2).
    assert!(r.starts_with("* OK [COPYUID "), "{r}");
    assert!(
        r.ends_with(
            " 1 3] moved\r\n* 1 EXPUNGE\r\n* 2 EXISTS\r\n* 1 RECENT\r\nm OK MOVE completed\r\n"
        ),
        "{r}"
    );
    assert_eq!(
        a.cmd("f FETCH 1:* UID").await,
        "* 1 FETCH (UID 2)\r\n* 2 FETCH (UID 3)\r\nf OK FETCH completed\r\n"
    );
    // The other session sees the same: one EXPUNGE, one EXISTS, nothing recent.
    b.s.mailbox_changed();
    assert_eq!(
        b.cmd("n NOOP").await,
        "* 1 EXPUNGE\r\n* 2 EXISTS\r\n* 0 RECENT\r\nn OK NOOP completed\r\n"
    );
}

#[actix_rt::test]
async fn a_copied_keyword_is_in_flags_before_the_target_s_sessions_fetch_it() {
    let mut a = T::selected(1).await;
    a.cmd("k STORE 1 +FLAGS.SILENT ($Invoice)").await;
    let mut b = a.other().await;
    b.cmd("s SELECT Archive").await;
    a.cmd("c COPY 1 Archive").await;
    // RFC 3501 §7.2.6: the keyword the copy brings is in FLAGS before its EXISTS and FETCH.
    b.s.mailbox_changed();
    let system = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";
    assert_eq!(
        b.cmd("f FETCH 1 FLAGS").await,
        format!(
            "* FLAGS ({system} $Invoice)\r\n\
             * OK [PERMANENTFLAGS ({system} $Invoice \\*)] flags you can change\r\n\
             * 1 EXISTS\r\n* 1 RECENT\r\n* 1 FETCH (FLAGS ($Invoice \\Recent))\r\n\
             f OK FETCH completed\r\n"
        )
    );
}
