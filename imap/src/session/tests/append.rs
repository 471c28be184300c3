//! APPEND (RFC 9051 §6.3.12; RFC 4315 APPENDUID): flags and date, TRYCREATE, TOOBIG and the
//! literal limits, OVERQUOTA for a user with a quota, the selected mailbox's own update.

use super::fixture::*;

fn append(mailbox: &str, extra: &str, body: &str) -> Vec<u8> {
    format!("a APPEND {mailbox}{extra} {{{}}}\r\n{body}\r\n", body.len()).into_bytes()
}

#[actix_rt::test]
async fn append_with_flags_and_date() {
    let mut t = T::selected(1).await;
    let r = t
        .raw(
            format!(
                "a APPEND Drafts (\\Draft) \"14-Jul-2024 10:00:00 +0200\" {{{}}}\r\n{MESSAGE}\r\n",
                MESSAGE.len()
            )
            .as_bytes(),
        )
        .await
        .0;
    assert!(
        r.starts_with("a OK [APPENDUID ") && r.ends_with(" 1] APPEND completed\r\n"),
        "{r}"
    );
    let r = t.raw(b"b APPEND Nowhere {3}\r\nabc\r\n").await.0;
    assert_eq!(r, "b NO [TRYCREATE] no such mailbox\r\n");
    assert_eq!(tagged_code(&r), (NO, "TRYCREATE".into()));
    t.cmd("c SELECT Drafts").await;
    let r = t.cmd("d FETCH 1 (FLAGS INTERNALDATE)").await;
    assert!(
        // RFC 3501 §6.3.11: an appended message is \Recent, here in the first session to
        // select its mailbox.
        r.starts_with(
            "* 1 FETCH (FLAGS (\\Draft \\Recent) INTERNALDATE \"14-Jul-2024 08:00:00 +0000\")"
        ),
        "{r}"
    );
}

#[actix_rt::test]
async fn literal_limits() {
    let mut t = session().await;
    // Before login only short strings: LOGIN and AUTHENTICATE need no more, and nobody
    // unknown may make the server hold more (RFC 7888 §4 allows LITERAL- clients 4096).
    let pre = u64::from(crate::proto::MAX_PRE_AUTH_LITERAL);
    assert_eq!(t.s.literal_limit(b"a LOGIN {5}"), pre);
    // Not authenticated yet: an APPEND literal is as small as any other.
    assert_eq!(t.s.literal_limit(b"a APPEND INBOX {5}"), pre);
    assert!(!t.s.spools_literal(b"a APPEND INBOX {5}", 1 << 20));
    // The whole command is bounded too, not only each literal.
    let long = vec![b'x'; crate::proto::MAX_PRE_AUTH_MESSAGE - 100];
    assert_eq!(t.s.literal_limit(&long), 100);
    assert_eq!(t.s.literal_limit(&vec![b'x'; 20_000]), 0);
    t.login().await;
    assert_eq!(
        t.s.literal_limit(b"a LOGIN {5}"),
        u64::from(crate::proto::MAX_SMALL_LITERAL)
    );
    assert_eq!(
        t.s.literal_limit(b"a APPEND INBOX {5}"),
        limits().max_message_size
    );
    // Big messages go to a spool; small ones and other commands stay in the buffer.
    let spool_max = mailroom_shared::spool::MEMORY_MAX as u64;
    assert!(t.s.spools_literal(b"a APPEND INBOX {5}", spool_max + 1));
    assert!(!t.s.spools_literal(b"a APPEND INBOX {5}", spool_max));
    assert!(!t.s.spools_literal(b"a SEARCH TEXT {5}", spool_max + 1));
    let mut out = Vec::new();
    t.s.literal_refused(b"a APPEND INBOX {99999999}\r\n", &mut out);
    assert_eq!(
        String::from_utf8_lossy(&out),
        "a NO [TOOBIG] message too big\r\n"
    );
    assert_eq!(
        tagged_code(&String::from_utf8_lossy(&out)),
        (NO, "TOOBIG".into())
    );
    // RFC 9051 §7.1 TOOBIG; RFC 7888 §4: an over-long non-synchronizing literal gets a BAD.
    let mut out = Vec::new();
    t.s.literal_refused(b"b LOGIN {99999999}\r\n", &mut out);
    assert_eq!(
        String::from_utf8_lossy(&out),
        "b BAD [TOOBIG] literal too big for this command\r\n"
    );
    let mut out = Vec::new();
    t.s.message_too_long(Some("c"), &mut out);
    check(&out);
    assert_eq!(out, b"c BAD [TOOBIG] command too long\r\n");
    // RFC 5530 §3: LIMIT when the server's budget for message data is used up.
    let mut out = Vec::new();
    t.s.no_room(b"d APPEND INBOX {300000}\r\n", &mut out);
    check(&out);
    assert_eq!(
        tagged_code(&String::from_utf8_lossy(&out)),
        (NO, "LIMIT".into())
    );
}

#[actix_rt::test]
async fn a_spooled_literal_is_the_message() {
    let mut t = T::selected(1).await;
    let mut body = b"Subject: big\r\n\r\n".to_vec();
    while body.len() < 300_000 {
        body.extend_from_slice(
            b"0123456789012345678901234567890123456789012345678901234567890123456789\r\n",
        );
    }
    let mut spool = mailroom_shared::spool::Spool::with(1024, None);
    spool.write(&body).expect("spool");
    assert!(spool.on_disk());
    // The driver replaced the literal by an empty one and attached the spool.
    t.s.attach_literal(spool);
    let r = t.raw(b"a APPEND INBOX {0+}\r\n\r\n").await.0;
    assert!(r.contains("a OK [APPENDUID "), "{r}");
    let r = t.cmd("b FETCH 2 RFC822.SIZE").await;
    assert!(r.contains(&format!("RFC822.SIZE {}", body.len())), "{r}");
    // A spool belongs to one message: the next empty APPEND is refused as empty.
    let r = t.raw(b"c APPEND INBOX {0+}\r\n\r\n").await.0;
    assert!(r.starts_with("c NO "), "{r}");
}

#[actix_rt::test]
async fn appends_to_the_selected_mailbox_announce_exists() {
    let mut t = T::selected(1).await;
    let (r, _) = t.raw(&append("INBOX", " (\\Seen $Label)", MESSAGE)).await;
    // Our own APPEND shows up as EXISTS before the tagged OK (RFC 9051 §6.3.12), after the
    // FLAGS that lists its new keyword (RFC 3501 §7.2.6).
    assert!(
        r.starts_with("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label)\r\n"),
        "{r}"
    );
    assert!(
        r.contains("\\*)] flags you can change\r\n* 2 EXISTS\r\n* 1 RECENT\r\n"),
        "{r}"
    );
    assert!(r.ends_with(" 2] APPEND completed\r\n"), "{r}");
    let r = t.cmd("f FETCH 2 FLAGS").await;
    assert!(r.starts_with("* 2 FETCH (FLAGS (\\Seen $Label"), "{r}");
}

#[actix_rt::test]
async fn append_errors() {
    let mut t = lenient().await;
    t.login().await;
    // RFC 9051 §2.3.2: \Recent cannot be set by a client.
    assert_eq!(
        tagged_code(&t.raw(&append("INBOX", " (\\Recent)", MESSAGE)).await.0).0,
        BAD
    );
    assert_eq!(
        tagged_code(&t.raw(&append("INBOX", " (\\Bogus)", MESSAGE)).await.0).0,
        BAD
    );
    assert_eq!(
        tagged_code(
            &t.raw(&append("INBOX", " \"99-Foo-2024 10:00:00 +0000\"", MESSAGE))
                .await
                .0
        )
        .0,
        BAD
    );
    assert_eq!(t.code("b APPEND INBOX").await.0, BAD);
    assert_eq!(t.code("c APPEND INBOX hello").await.0, BAD);
    assert_eq!(
        tagged_code(&t.raw(b"d APPEND INBOX {0}\r\n\r\n").await.0).0,
        NO
    );
    // RFC 3501 §5.1.3: a name that is not valid modified UTF-7 is refused with NO.
    assert_eq!(
        tagged_code(&t.raw(&append("&Jjo", "", MESSAGE)).await.0),
        (NO, "CANNOT".into())
    );
}

#[actix_rt::test]
async fn append_over_quota() {
    let mut t = t_with_ctx(ctx(true), Some(MESSAGE.len() as u64 + 10)).await;
    let r = t.cmd("a LOGIN bob@example.test password-1").await;
    assert!(r.starts_with("a OK "), "{r}");
    let (r, _) = t.raw(&append("INBOX", "", MESSAGE)).await;
    assert_eq!(tagged_code(&r), (OK, "APPENDUID".into()));
    // RFC 9051 §7.1: OVERQUOTA once the user's quota is spent.
    let (r, _) = t.raw(&append("INBOX", "", MESSAGE)).await;
    assert_eq!(tagged_code(&r), (NO, "OVERQUOTA".into()));
}

#[actix_rt::test]
async fn append_too_big_by_config() {
    let mut c = ctx(true);
    c.limits.max_message_size = 16;
    let mut t = t_with_ctx(c, None).await;
    t.login().await;
    let (r, _) = t.raw(&append("INBOX", "", MESSAGE)).await;
    assert_eq!(tagged_code(&r), (NO, "TOOBIG".into()));
}

#[actix_rt::test]
async fn append_with_literal_plus_and_utf8_names() {
    let mut t = lenient().await;
    t.login().await;
    let msg = format!("a APPEND INBOX {{{}+}}\r\n{MESSAGE}\r\n", MESSAGE.len());
    let (r, _) = t.raw(msg.as_bytes()).await;
    assert_eq!(tagged_code(&r), (OK, "APPENDUID".into()));
    t.cmd("b ENABLE IMAP4rev2").await;
    t.cmd("c CREATE \"Entwürfe\"").await;
    let (r, _) = t.raw(&append("\"Entwürfe\"", "", MESSAGE)).await;
    assert_eq!(tagged_code(&r), (OK, "APPENDUID".into()));
}

#[actix_rt::test]
async fn an_appended_keyword_is_in_flags_before_the_other_session_fetches_it() {
    let mut a = T::selected(1).await;
    let mut b = a.other().await;
    b.cmd("s SELECT INBOX").await;
    let (r, _) = b.raw(&append("INBOX", " ($Project)", MESSAGE)).await;
    // The appending session learns of the keyword with its own new message (RFC 3501
    // §7.2.6): FLAGS before the EXISTS that makes it fetchable.
    let system = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";
    let flags = format!(
        "* FLAGS ({system} $Project)\r\n\
         * OK [PERMANENTFLAGS ({system} $Project \\*)] flags you can change\r\n"
    );
    assert!(r.starts_with(&format!("{flags}* 2 EXISTS\r\n")), "{r}");
    // The other session too, before it can FETCH the message (RFC 9051 §7.3.5); the
    // appending session was told of the message first, so it is not \Recent here.
    a.s.mailbox_changed();
    let r = a.cmd("f FETCH 2 FLAGS").await;
    assert!(r.starts_with(&format!("{flags}* 2 EXISTS\r\n")), "{r}");
    assert!(
        r.ends_with("* 2 FETCH (FLAGS ($Project))\r\nf OK FETCH completed\r\n"),
        "{r}"
    );
}
