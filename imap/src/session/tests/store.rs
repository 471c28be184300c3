//! STORE and UID STORE (RFC 9051 §6.4.6): FLAGS / +FLAGS / -FLAGS, .SILENT, keywords,
//! READ-ONLY, sequence sets, what another session sees.

use super::fixture::*;

#[actix_rt::test]
async fn store_forms() {
    let mut t = T::selected(2).await;
    assert_eq!(
        t.cmd("a STORE 1 FLAGS (\\Seen \\Flagged)").await,
        "* 1 FETCH (FLAGS (\\Seen \\Flagged))\r\na OK STORE completed\r\n"
    );
    assert_eq!(
        t.cmd("b STORE 1 -FLAGS (\\Seen)").await,
        "* 1 FETCH (FLAGS (\\Flagged))\r\nb OK STORE completed\r\n"
    );
    assert_eq!(
        t.cmd("c STORE 1 FLAGS.SILENT ()").await,
        "c OK STORE completed\r\n"
    );
    // RFC 9051 §6.4.6: a single flag needs no parentheses.
    assert_eq!(
        t.cmd("d STORE 2 +FLAGS \\Answered").await,
        "* 2 FETCH (FLAGS (\\Answered))\r\nd OK STORE completed\r\n"
    );
    // UID STORE answers with the UID (RFC 9051 §6.4.9).
    assert_eq!(
        t.cmd("e UID STORE 2 +FLAGS ($Work)").await,
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)\r\n\
         * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work \\*)] flags you can change\r\n\
         * 2 FETCH (FLAGS (\\Answered $Work) UID 2)\r\ne OK STORE completed\r\n"
    );
    let r = t.cmd("f FETCH 1:* FLAGS").await;
    assert_eq!(
        r,
        "* 1 FETCH (FLAGS ())\r\n* 2 FETCH (FLAGS (\\Answered $Work))\r\nf OK FETCH completed\r\n"
    );
}

#[actix_rt::test]
async fn store_sequence_sets() {
    let mut t = T::selected(3).await;
    let r = t.cmd("a STORE *:2 +FLAGS (\\Seen)").await;
    assert_eq!(
        r,
        "* 2 FETCH (FLAGS (\\Seen))\r\n* 3 FETCH (FLAGS (\\Seen))\r\na OK STORE completed\r\n"
    );
    assert_eq!(
        t.cmd("b STORE 4 +FLAGS (\\Seen)").await,
        "b BAD invalid message sequence number\r\n"
    );
    // A UID that does not exist is no error (RFC 9051 §6.4.9).
    assert_eq!(
        t.cmd("c UID STORE 9 +FLAGS (\\Seen)").await,
        "c OK STORE completed\r\n"
    );
    let r = t.cmd("d STORE 1,1 +FLAGS (\\Draft)").await;
    assert_eq!(r, "* 1 FETCH (FLAGS (\\Draft))\r\nd OK STORE completed\r\n");
}

#[actix_rt::test]
async fn store_errors() {
    let mut t = T::selected(1).await;
    for line in [
        "a STORE 1 +FLAGS (\\Recent)",
        "a STORE 1 +FLAGS (\\Bogus)",
        "a STORE 1 FLAGS",
        "a STORE 1 BOGUS (\\Seen)",
        "a STORE (\\Seen)",
    ] {
        assert_eq!(t.code(line).await.0, BAD, "{line}");
    }
    t.cmd("e EXAMINE INBOX").await;
    // RFC 9051 §6.3.3: nothing changes in a mailbox opened with EXAMINE.
    assert_eq!(
        t.code("b STORE 1 +FLAGS (\\Seen)").await,
        (NO, "READ-ONLY".into())
    );
    assert_eq!(
        t.code("c UID STORE 1 +FLAGS (\\Seen)").await,
        (NO, "READ-ONLY".into())
    );
}

#[actix_rt::test]
async fn rev1_store_shows_recent() {
    let mut t = T::selected(0).await;
    t.deliver(MESSAGE).await;
    t.s.mailbox_changed();
    t.cmd("n NOOP").await;
    assert_eq!(
        t.cmd("a STORE 1 +FLAGS (\\Seen)").await,
        "* 1 FETCH (FLAGS (\\Seen \\Recent))\r\na OK STORE completed\r\n"
    );
}

#[actix_rt::test]
async fn another_session_sees_the_flags() {
    let mut a = T::selected(2).await;
    let mut b = a.other().await;
    b.cmd("s SELECT INBOX").await;
    b.cmd("x STORE 2 +FLAGS.SILENT (\\Flagged)").await;
    a.s.mailbox_changed();
    // RFC 9051 §7.5.2: an unsolicited FETCH with the new flags (and the UID).
    assert_eq!(
        a.cmd("n NOOP").await,
        "* 2 FETCH (UID 2 FLAGS (\\Flagged))\r\nn OK NOOP completed\r\n"
    );
    assert_eq!(a.cmd("m NOOP").await, "m OK NOOP completed\r\n");
}

/// FLAGS and PERMANENTFLAGS with the system flags and `keywords`, as a session announces a
/// new keyword.
fn flags_with(keywords: &str) -> String {
    let system = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";
    format!(
        "* FLAGS ({system} {keywords})\r\n\
         * OK [PERMANENTFLAGS ({system} {keywords} \\*)] flags you can change\r\n"
    )
}

#[actix_rt::test]
async fn a_new_keyword_is_in_flags_before_any_fetch_in_every_session() {
    let mut a = T::selected(2).await;
    let mut b = a.other().await;
    b.cmd("s SELECT INBOX").await;
    // RFC 3501 §7.2.6, RFC 9051 §7.3.5: FLAGS lists every flag a FETCH may carry, so a new
    // keyword is announced (with PERMANENTFLAGS) before the FETCH that carries it…
    assert_eq!(
        a.cmd("x STORE 1 +FLAGS ($Urgent)").await,
        format!(
            "{}* 1 FETCH (FLAGS ($Urgent))\r\nx OK STORE completed\r\n",
            flags_with("$Urgent")
        )
    );
    // …to the other session as well, before its unsolicited FETCH (RFC 9051 §7.5.2).
    b.s.mailbox_changed();
    assert_eq!(
        b.cmd("n NOOP").await,
        format!(
            "{}* 1 FETCH (UID 1 FLAGS ($Urgent))\r\nn OK NOOP completed\r\n",
            flags_with("$Urgent")
        )
    );
    // Once only; .SILENT still announces a keyword, since later FETCHes carry it.
    assert_eq!(
        a.cmd("y STORE 2 +FLAGS ($urgent)").await,
        "* 2 FETCH (FLAGS ($urgent))\r\ny OK STORE completed\r\n"
    );
    assert_eq!(
        b.cmd("z STORE 2 +FLAGS.SILENT ($Later)").await,
        format!("{}z OK STORE completed\r\n", flags_with("$Later $Urgent"))
    );
    a.s.mailbox_changed();
    assert_eq!(
        a.cmd("f FETCH 2 FLAGS").await,
        format!(
            "{}* 2 FETCH (UID 2 FLAGS ($Later $urgent))\r\n\
             * 2 FETCH (FLAGS ($Later $urgent))\r\nf OK FETCH completed\r\n",
            flags_with("$Later $Urgent")
        )
    );
}
