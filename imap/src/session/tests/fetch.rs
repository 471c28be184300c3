//! FETCH and UID FETCH (RFC 9051 §6.4.5, §6.4.9): items and macros, \Seen, sequence sets
//! (`*`, reversed ranges, duplicates, out of range, empty mailbox), rev1 vs rev2.

use super::fixture::*;

#[actix_rt::test]
async fn fetch_items() {
    let mut t = T::selected(1).await;
    let r = t
        .cmd("f FETCH 1 (UID FLAGS RFC822.SIZE INTERNALDATE)")
        .await;
    assert_eq!(
        r,
        format!(
            "* 1 FETCH (UID 1 FLAGS () RFC822.SIZE {} INTERNALDATE \"31-Jan-1994 07:06:40 +0000\")\r\nf OK FETCH completed\r\n",
            MESSAGE.len()
        )
    );
    // BODY.PEEK does not set \Seen; BODY[] does, and says so (RFC 9051 §6.4.5).
    let r = t.cmd("p FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]").await;
    assert_eq!(
        r,
        "* 1 FETCH (BODY[HEADER.FIELDS (\"SUBJECT\")] {18}\r\nSubject: hello\r\n\r\n)\r\np OK FETCH completed\r\n"
    );
    let r = t.cmd("b FETCH 1 BODY[TEXT]<6.5>").await;
    assert_eq!(
        r,
        "* 1 FETCH (BODY[TEXT]<6> {5}\r\nAlice FLAGS (\\Seen))\r\nb OK FETCH completed\r\n"
    );
    let r = t.cmd("u UID FETCH 1:* (BODY[])").await;
    assert!(
        r.starts_with(&format!(
            "* 1 FETCH (UID 1 BODY[] {{{}}}\r\n{MESSAGE})",
            MESSAGE.len()
        )),
        "{r}"
    );
    let r = t.cmd("e FETCH 1 (ENVELOPE BODYSTRUCTURE)").await;
    assert!(
        r.starts_with("* 1 FETCH (ENVELOPE (\"Mon, 7 Feb 1994 21:52:25 -0800\" \"hello\" ((\"Bob\" NIL \"bob\" \"example.test\"))"),
        "{r}"
    );
    assert!(r.contains(" BODYSTRUCTURE (\"TEXT\" \"PLAIN\""), "{r}");
    assert_eq!(
        t.cmd("x FETCH 2 FLAGS").await,
        "x BAD invalid message sequence number\r\n"
    );
    assert_eq!(
        t.cmd("y UID FETCH 5:7 FLAGS").await,
        "y OK FETCH completed\r\n"
    );
}

/// The sequence numbers of the FETCH responses in `r`.
fn seqs(r: &str) -> Vec<u32> {
    r.lines()
        .filter_map(|l| l.strip_prefix("* "))
        .filter_map(|l| l.split_once(" FETCH "))
        .filter_map(|(n, _)| n.parse().ok())
        .collect()
}

#[actix_rt::test]
async fn sequence_sets() {
    let mut t = T::selected(5).await;
    // RFC 9051 §9 seq-range: "n:m" and "m:n" are the same; "*" is the last message.
    for (set, want) in [
        ("1", vec![1]),
        ("*", vec![5]),
        ("2:4", vec![2, 3, 4]),
        ("4:2", vec![2, 3, 4]),
        ("*:4", vec![4, 5]),
        ("4:*", vec![4, 5]),
        ("*:*", vec![5]),
        ("1,1,1", vec![1]),
        ("1:3,2:4", vec![1, 2, 3, 4]),
        ("5,1,3", vec![1, 3, 5]),
        ("1:*", vec![1, 2, 3, 4, 5]),
    ] {
        let r = t.cmd(&format!("f FETCH {set} UID")).await;
        assert_eq!(seqs(&r), want, "{set}: {r}");
        assert!(r.ends_with("f OK FETCH completed\r\n"), "{set}: {r}");
    }
    // Out of range by sequence number is an error (RFC 9051 §9 seq-number).
    for set in ["6", "1:6", "6:*", "1,9"] {
        assert_eq!(
            t.cmd(&format!("x FETCH {set} UID")).await,
            "x BAD invalid message sequence number\r\n",
            "{set}"
        );
    }
    // "0" is not a sequence number at all.
    assert_eq!(t.code("y FETCH 0 UID").await.0, BAD);
    assert_eq!(t.code("y FETCH 0:1 UID").await.0, BAD);
    assert_eq!(t.code("y FETCH -1 UID").await.0, BAD);
    assert_eq!(t.code("y FETCH 1, UID").await.0, BAD);
}

#[actix_rt::test]
async fn uid_sets() {
    let mut t = T::selected(4).await;
    t.cmd("a STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    t.cmd("b EXPUNGE").await;
    // UIDs 1 3 4 are left. RFC 9051 §6.4.9: missing UIDs are ignored, "*" is the highest.
    for (set, want) in [
        ("2", vec![]),
        ("1:*", vec![1, 2, 3]),
        ("*", vec![3]),
        ("*:3", vec![2, 3]),
        ("4:1", vec![1, 2, 3]),
        ("100:*", vec![3]),
        ("2,2,3", vec![2]),
        ("5:9", vec![]),
    ] {
        let r = t.cmd(&format!("u UID FETCH {set} FLAGS")).await;
        assert_eq!(seqs(&r), want, "{set}: {r}");
        assert!(r.ends_with("u OK FETCH completed\r\n"), "{set}: {r}");
        // RFC 9051 §6.4.9: UID FETCH always includes the UID.
        assert!(
            r.lines()
                .filter(|l| l.starts_with("* "))
                .all(|l| l.contains("UID ")),
            "{r}"
        );
    }
}

#[actix_rt::test]
async fn empty_mailbox() {
    let mut t = T::selected(0).await;
    // "*" in an empty mailbox names no message: an error by number, nothing by UID.
    assert_eq!(t.code("a FETCH 1:* FLAGS").await.0, BAD);
    assert_eq!(t.code("b FETCH * FLAGS").await.0, BAD);
    assert_eq!(
        t.cmd("c UID FETCH 1:* FLAGS").await,
        "c OK FETCH completed\r\n"
    );
    assert_eq!(
        t.cmd("d UID FETCH * FLAGS").await,
        "d OK FETCH completed\r\n"
    );
}

#[actix_rt::test]
async fn macros_and_items() {
    let mut t = T::selected(1).await;
    let r = t.cmd("a FETCH 1 FAST").await;
    assert!(r.starts_with("* 1 FETCH (FLAGS () INTERNALDATE "), "{r}");
    assert!(r.contains(&format!("RFC822.SIZE {}", MESSAGE.len())), "{r}");
    let r = t.cmd("b FETCH 1 ALL").await;
    assert!(r.contains("ENVELOPE ("), "{r}");
    let r = t.cmd("c FETCH 1 FULL").await;
    assert!(r.contains("BODY (\"TEXT\" \"PLAIN\""), "{r}");
    let r = t.cmd("d FETCH 1 RFC822.HEADER").await;
    assert!(r.starts_with("* 1 FETCH (RFC822.HEADER {"), "{r}");
    assert!(!r.contains("\\Seen"), "{r}");
    let r = t.cmd("e FETCH 1 BINARY.SIZE[1]").await;
    assert!(r.starts_with("* 1 FETCH (BINARY.SIZE[1] "), "{r}");
    let r = t.cmd("f FETCH 1 BINARY.PEEK[1]").await;
    assert!(r.starts_with("* 1 FETCH (BINARY[1] {"), "{r}");
    // RFC822 sets \Seen (RFC 9051 §6.4.5).
    let r = t.cmd("g FETCH 1 RFC822").await;
    assert!(r.contains("FLAGS (\\Seen)"), "{r}");
    let r = t
        .cmd("h FETCH 1 BODY[HEADER.FIELDS.NOT (Subject Date)]")
        .await;
    assert!(
        !r.contains("Subject: hello") && r.contains("From: Bob"),
        "{r}"
    );
}

#[actix_rt::test]
async fn fetch_body_sets_seen_only_once() {
    let mut t = T::selected(1).await;
    let r = t.cmd("a FETCH 1 BODY[]").await;
    assert!(r.contains("FLAGS (\\Seen)"), "{r}");
    let r = t.cmd("b FETCH 1 BODY[]").await;
    // Already \Seen: no extra FLAGS item.
    assert!(!r.contains("FLAGS"), "{r}");
}

#[actix_rt::test]
async fn examine_never_sets_seen() {
    let mut t = T::selected(1).await;
    t.cmd("e EXAMINE INBOX").await;
    let r = t.cmd("a FETCH 1 BODY[TEXT]").await;
    assert!(!r.contains("\\Seen"), "{r}");
    let r = t.cmd("b FETCH 1 FLAGS").await;
    assert_eq!(r, "* 1 FETCH (FLAGS ())\r\nb OK FETCH completed\r\n");
}

#[actix_rt::test]
async fn syntax_errors() {
    let mut t = T::selected(1).await;
    for line in [
        "a FETCH",
        "a FETCH 1",
        "a FETCH 1 BOGUS",
        "a FETCH 1 (FLAGS",
        "a FETCH 1 BODY[BOGUS]",
        "a FETCH 1 BODY[]<>",
        "a FETCH * * FLAGS",
        "a UID FETCH FLAGS",
    ] {
        assert_eq!(t.code(line).await.0, BAD, "{line}");
    }
}

#[actix_rt::test]
async fn recent_in_rev1_not_in_rev2() {
    let mut t = T::selected(0).await;
    t.deliver(MESSAGE).await;
    t.s.mailbox_changed();
    t.cmd("n NOOP").await;
    let r = t.cmd("a FETCH 1 FLAGS").await;
    // RFC 3501 §2.3.2: the message arrived while we watched: \Recent.
    assert_eq!(
        r,
        "* 1 FETCH (FLAGS (\\Recent))\r\na OK FETCH completed\r\n"
    );
    let mut t = T::selected_rev2(0).await;
    t.deliver(MESSAGE).await;
    t.s.mailbox_changed();
    // RFC 9051 §7.4: no RECENT response for rev2.
    assert_eq!(
        t.cmd("n NOOP").await,
        "* 1 EXISTS\r\nn OK NOOP completed\r\n"
    );
    assert_eq!(
        t.cmd("a FETCH 1 FLAGS").await,
        "* 1 FETCH (FLAGS ())\r\na OK FETCH completed\r\n"
    );
}

#[actix_rt::test]
async fn envelope_groups_hold_no_comments() {
    let mut t = lenient().await;
    t.login().await;
    t.deliver(
        "From: bob@example.test\r\nTo: list: (nobody here) ;\r\n\
         Cc: group:;, group2: (foo) ;\r\nSubject: groups\r\n\r\nbody\r\n",
    )
    .await;
    assert_eq!(t.code("s SELECT INBOX").await.0, OK);
    let r = t.cmd("f FETCH 1 ENVELOPE").await;
    // RFC 3501 §7.4.2: a group is a start marker (NIL NIL "name" NIL) and an end marker
    // (NIL NIL NIL NIL) around its members; RFC 5322 §3.4 / §3.2.2: a comment is not a
    // member, so both groups are empty.
    let to = "((NIL NIL \"list\" NIL)(NIL NIL NIL NIL))";
    let cc = "((NIL NIL \"group\" NIL)(NIL NIL NIL NIL)(NIL NIL \"group2\" NIL)(NIL NIL NIL NIL))";
    assert!(r.contains(&format!(" {to} {cc} NIL NIL NIL)")), "{r}");
}
