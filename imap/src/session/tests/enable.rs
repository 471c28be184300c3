//! ENABLE (RFC 5161; RFC 9051 §6.3.1): IMAP4rev2 and UTF8=ACCEPT, only once authenticated,
//! ENABLED lists only what is newly enabled.

use super::fixture::*;

#[actix_rt::test]
async fn enable_reports_only_what_changed() {
    let mut t = lenient().await;
    t.login().await;
    assert_eq!(
        t.cmd("a ENABLE IMAP4rev2").await,
        "* ENABLED IMAP4rev2\r\na OK ENABLE completed\r\n"
    );
    // RFC 5161 §3.1: ENABLED only names extensions newly enabled by this command.
    assert_eq!(
        t.cmd("b ENABLE IMAP4rev2").await,
        "b OK ENABLE completed\r\n"
    );
    // IMAP4rev2 already implies UTF-8 names.
    assert_eq!(
        t.cmd("c ENABLE UTF8=ACCEPT").await,
        "c OK ENABLE completed\r\n"
    );
}

#[actix_rt::test]
async fn unknown_extensions_are_ignored() {
    let mut t = lenient().await;
    t.login().await;
    // RFC 5161 §3.1: unknown names are ignored, the command still succeeds.
    assert_eq!(
        t.cmd("a ENABLE X-UNKNOWN CONDSTORE UTF8=ACCEPT").await,
        "* ENABLED UTF8=ACCEPT\r\na OK ENABLE completed\r\n"
    );
    assert_eq!(
        t.cmd("b ENABLE X-UNKNOWN").await,
        "b OK ENABLE completed\r\n"
    );
    assert_eq!(
        t.cmd("c enable imap4rev2").await,
        "* ENABLED IMAP4rev2\r\nc OK ENABLE completed\r\n"
    );
}

#[actix_rt::test]
async fn enable_needs_an_argument_and_the_authenticated_state() {
    let mut t = lenient().await;
    assert_eq!(t.code("a ENABLE IMAP4rev2").await.0, BAD);
    t.login().await;
    assert_eq!(t.code("b ENABLE").await.0, BAD);
    t.cmd("s SELECT INBOX").await;
    assert_eq!(t.code("c ENABLE IMAP4rev2").await.0, BAD);
    // Still IMAP4rev1: SEARCH answers SEARCH, not ESEARCH.
    assert_eq!(
        t.cmd("d SEARCH ALL").await,
        "* SEARCH\r\nd OK SEARCH completed\r\n"
    );
}
