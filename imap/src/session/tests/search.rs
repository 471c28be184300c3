//! SEARCH and UID SEARCH (RFC 9051 §6.4.4; RFC 4731 ESEARCH): keys, sets, CHARSET and
//! BADCHARSET, rev1 SEARCH vs rev2 ESEARCH answers. ESEARCH lines are compared exactly,
//! imap-codec alpha.10 cannot decode them.

use super::fixture::*;

#[actix_rt::test]
async fn search_and_esearch() {
    let mut t = T::selected(3).await;
    t.cmd("a STORE 2 +FLAGS (\\Flagged)").await;
    assert_eq!(
        t.cmd("b SEARCH FLAGGED").await,
        "* SEARCH 2\r\nb OK SEARCH completed\r\n"
    );
    assert_eq!(
        t.cmd("c UID SEARCH UNFLAGGED SUBJECT hello").await,
        "* SEARCH 1 3\r\nc OK SEARCH completed\r\n"
    );
    assert_eq!(
        t.cmd("d SEARCH BODY nothere").await,
        "* SEARCH\r\nd OK SEARCH completed\r\n"
    );
    t.exact(
        "e SEARCH RETURN (MIN MAX COUNT) ALL",
        "* ESEARCH (TAG \"e\") MIN 1 MAX 3 COUNT 3\r\ne OK SEARCH completed\r\n",
    )
    .await;
    assert!(
        t.cmd("f SEARCH CHARSET KOI8-R ALL")
            .await
            .starts_with("f NO [BADCHARSET")
    );
}

#[actix_rt::test]
async fn charsets() {
    let mut t = T::selected(1).await;
    // RFC 9051 §6.4.4: an unknown charset is NO [BADCHARSET (list)].
    let r = t.cmd("a SEARCH CHARSET KOI8-R ALL").await;
    assert_eq!(tagged_code(&r), (NO, "BADCHARSET".into()));
    assert!(r.starts_with("a NO [BADCHARSET (UTF-8 US-ASCII)] "), "{r}");
    assert_eq!(
        t.cmd("b SEARCH CHARSET UTF-8 SUBJECT hello").await,
        "* SEARCH 1\r\nb OK SEARCH completed\r\n"
    );
    assert_eq!(
        t.cmd("c SEARCH CHARSET us-ascii ALL").await,
        "* SEARCH 1\r\nc OK SEARCH completed\r\n"
    );
}

#[actix_rt::test]
async fn sets_as_keys() {
    let mut t = T::selected(4).await;
    for (key, want) in [
        ("2:3", "* SEARCH 2 3"),
        ("3:2", "* SEARCH 2 3"),
        ("*", "* SEARCH 4"),
        ("*:3", "* SEARCH 3 4"),
        ("1,1,4", "* SEARCH 1 4"),
        ("NOT 1:2", "* SEARCH 3 4"),
        ("OR 1 4", "* SEARCH 1 4"),
        ("UID 2:*", "* SEARCH 2 3 4"),
        ("UID 9", "* SEARCH"),
        // Out of range in a search key just matches nothing.
        ("7:9", "* SEARCH"),
    ] {
        let r = t.cmd(&format!("s SEARCH {key}")).await;
        assert_eq!(r, format!("{want}\r\ns OK SEARCH completed\r\n"), "{key}");
    }
}

#[actix_rt::test]
async fn keys_on_flags_sizes_and_headers() {
    let mut t = T::selected(2).await;
    t.cmd("a STORE 1 +FLAGS.SILENT (\\Seen $Work)").await;
    for (key, want) in [
        ("SEEN", "1"),
        ("UNSEEN", "2"),
        ("KEYWORD $Work", "1"),
        ("UNKEYWORD $Work", "2"),
        ("LARGER 10", "1 2"),
        ("SMALLER 10", ""),
        ("FROM bob", "1 2"),
        ("TO nobody", ""),
        ("HEADER Message-ID <1@example.test>", "1 2"),
        ("BODY Alice", "1 2"),
        ("TEXT Subject", "1 2"),
        ("BEFORE 1-Jan-1990", ""),
        ("SINCE 1-Jan-1990", "1 2"),
        // RFC 3501 §6.4.4: the Date: "Mon, 7 Feb 1994 21:52:25 -0800" is the 7th in its own
        // zone, although that instant is the 8th in UTC.
        ("SENTON 7-Feb-1994", "1 2"),
        ("SENTON 8-Feb-1994", ""),
        ("NEW", ""),
        ("OLD", "1 2"),
        ("DELETED", ""),
        ("(SEEN UNSEEN)", ""),
    ] {
        let r = t.cmd(&format!("s SEARCH {key}")).await;
        let sep = if want.is_empty() { "" } else { " " };
        assert_eq!(
            r,
            format!("* SEARCH{sep}{want}\r\ns OK SEARCH completed\r\n"),
            "{key}"
        );
    }
}

#[actix_rt::test]
async fn rev2_answers_esearch() {
    let mut t = T::selected_rev2(3).await;
    // RFC 9051 §6.4.4: ESEARCH ALL without RETURN for an IMAP4rev2 client.
    t.exact(
        "a SEARCH ALL",
        "* ESEARCH (TAG \"a\") ALL 1:3\r\na OK SEARCH completed\r\n",
    )
    .await;
    t.exact(
        "b UID SEARCH 2:3",
        "* ESEARCH (TAG \"b\") UID ALL 2:3\r\nb OK SEARCH completed\r\n",
    )
    .await;
    // Nothing found: no ALL (RFC 4731 §3.1).
    t.exact(
        "c SEARCH DELETED",
        "* ESEARCH (TAG \"c\")\r\nc OK SEARCH completed\r\n",
    )
    .await;
    t.exact(
        "d SEARCH RETURN () ALL",
        "* ESEARCH (TAG \"d\") ALL 1:3\r\nd OK SEARCH completed\r\n",
    )
    .await;
    t.exact(
        "e UID SEARCH RETURN (COUNT) ALL",
        "* ESEARCH (TAG \"e\") UID COUNT 3\r\ne OK SEARCH completed\r\n",
    )
    .await;
}

#[actix_rt::test]
async fn syntax_errors_and_empty_mailbox() {
    let mut t = T::selected(0).await;
    assert_eq!(
        t.cmd("a SEARCH ALL").await,
        "* SEARCH\r\na OK SEARCH completed\r\n"
    );
    assert_eq!(
        t.cmd("b SEARCH 1:*").await,
        "* SEARCH\r\nb OK SEARCH completed\r\n"
    );
    for line in [
        "c SEARCH",
        "c SEARCH BOGUS",
        "c SEARCH (ALL",
        "c SEARCH SINCE yesterday",
        "c SEARCH LARGER x",
        "c SEARCH RETURN (BOGUS) ALL",
        "c SEARCH RETURN ALL",
        "c SEARCH OR ALL",
    ] {
        assert_eq!(t.code(line).await.0, BAD, "{line}");
    }
}

#[actix_rt::test]
async fn recent_new_and_old_follow_the_session_that_owns_the_messages() {
    let mut a = lenient().await;
    a.login().await;
    a.deliver(MESSAGE).await;
    a.deliver(MESSAGE).await;
    let mut b = a.other().await;
    a.cmd("s SELECT INBOX").await;
    b.cmd("s SELECT INBOX").await;
    a.cmd("x STORE 1 +FLAGS.SILENT (\\Seen)").await;
    b.s.mailbox_changed();
    // RFC 3501 §6.4.4: RECENT, NEW = RECENT UNSEEN, OLD = NOT RECENT; the messages are
    // recent in the session that selected first only (RFC 3501 §2.3.2).
    for (key, in_a, in_b) in [
        ("RECENT", " 1 2", ""),
        ("NEW", " 2", ""),
        ("OLD", "", " 1 2"),
        ("NOT RECENT", "", " 1 2"),
        ("OR NEW SEEN", " 1 2", " 1"),
    ] {
        let want = |found: &str| format!("* SEARCH{found}\r\ns OK SEARCH completed\r\n");
        assert_eq!(a.cmd(&format!("s SEARCH {key}")).await, want(in_a), "{key}");
        let r = b.cmd(&format!("s SEARCH {key}")).await;
        assert!(r.ends_with(&want(in_b)), "{key}: {r}");
    }
    // IMAP4rev2 has no \Recent (RFC 9051 §2.3.2): nothing is recent to such a session.
    let mut c = T::selected_rev2(1).await;
    c.deliver(MESSAGE).await;
    c.s.mailbox_changed();
    c.cmd("n NOOP").await;
    c.exact(
        "s SEARCH RECENT",
        "* ESEARCH (TAG \"s\")\r\ns OK SEARCH completed\r\n",
    )
    .await;
}

/// A message with the given Date: line (none when empty).
fn dated(date: &str) -> String {
    let date = if date.is_empty() {
        String::new()
    } else {
        format!("Date: {date}\r\n")
    };
    format!("From: bob@example.test\r\nSubject: dated\r\n{date}\r\nbody\r\n")
}

#[actix_rt::test]
async fn sent_dates_compare_the_date_header_in_its_own_zone() {
    let mut t = lenient().await;
    t.login().await;
    for date in [
        // 1: the 1st in its zone, the 2nd in UTC.
        "Tue, 1 Feb 1994 23:30:00 -0500",
        // 2: the 2nd in its zone, the 1st in UTC.
        "Wed, 2 Feb 1994 00:30:00 +1400",
        // 3: RFC 5322 §4.3 obsolete form: two-digit year, zone name, comments.
        "(day) 1 Feb 94 12:00 EST (obsolete)",
        // 4, 5: no Date:, and one that is not a date.
        "",
        "sometime soon",
    ] {
        t.deliver(&dated(date)).await;
    }
    assert_eq!(t.code("s SELECT INBOX").await.0, OK);
    for (key, want) in [
        // RFC 3501 §6.4.4: SENT* compare "the date of the Date: header", disregarding time
        // and timezone: the date as written, in the message's own zone.
        ("SENTON 1-Feb-1994", "1 3"),
        ("SENTON 2-Feb-1994", "2"),
        // RFC 5256 §2.2: without a usable Date: the sent date is the INTERNALDATE's
        // (the fixture delivers at 1994-01-31 08:53:20 UTC).
        ("SENTON 31-Jan-1994", "4 5"),
        ("SENTBEFORE 2-Feb-1994", "1 3 4 5"),
        ("SENTBEFORE 31-Jan-1994", ""),
        ("SENTSINCE 2-Feb-1994", "2"),
        ("SENTSINCE 1-Feb-1994", "1 2 3"),
        ("SENTSINCE 3-Feb-1994", ""),
        ("NOT SENTON 1-Feb-1994", "2 4 5"),
        ("SENTSINCE 1-Feb-1994 SENTBEFORE 2-Feb-1994", "1 3"),
        ("OR SENTON 2-Feb-1994 SENTON 31-Jan-1994", "2 4 5"),
    ] {
        let r = t.cmd(&format!("s SEARCH {key}")).await;
        let sep = if want.is_empty() { "" } else { " " };
        assert_eq!(
            r,
            format!("* SEARCH{sep}{want}\r\ns OK SEARCH completed\r\n"),
            "{key}"
        );
    }
}
