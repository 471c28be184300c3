//! CAPABILITY and the greeting (RFC 9051 §6.1.1, §7.1.1, §7.2.2): in every state.

use super::fixture::*;

#[actix_rt::test]
async fn greeting_decodes_and_lists_what_this_state_offers() {
    let plain = t_with(false).await;
    let g = plain.greeting();
    // RFC 9051 §6.2.3: LOGINDISABLED before TLS when plaintext auth is off.
    assert!(
        g.starts_with("* OK [CAPABILITY IMAP4rev1 IMAP4rev2 STARTTLS LOGINDISABLED "),
        "{g}"
    );
    assert!(!g.contains("AUTH="), "{g}");
    let tls = session().await;
    let g = tls.greeting();
    assert!(
        g.starts_with("* OK [CAPABILITY IMAP4rev1 IMAP4rev2 AUTH=PLAIN AUTH=LOGIN SASL-IR "),
        "{g}"
    );
    assert!(g.ends_with("] imap.example.test mailroom ready\r\n"), "{g}");
    assert!(
        !g.contains("STARTTLS") && !g.contains("LOGINDISABLED"),
        "{g}"
    );
}

#[actix_rt::test]
async fn plaintext_allowed_offers_auth_and_starttls_together() {
    let mut c = ctx(false);
    c.allow_plaintext_auth = true;
    let t = t_with_ctx(c, None).await;
    let g = t.greeting();
    assert!(g.contains(" STARTTLS AUTH=PLAIN AUTH=LOGIN "), "{g}");
    assert!(!g.contains("LOGINDISABLED"), "{g}");
}

fn caps_of(r: &str) -> &str {
    r.lines()
        .find_map(|l| l.strip_prefix("* CAPABILITY "))
        .unwrap_or("")
}

#[actix_rt::test]
async fn capability_in_every_state() {
    let mut t = session().await;
    let r = t.cmd("a CAPABILITY").await;
    assert!(r.ends_with("a OK CAPABILITY completed\r\n"), "{r}");
    assert!(caps_of(&r).contains("AUTH=PLAIN"), "{r}");
    t.login().await;
    let r = t.cmd("b CAPABILITY").await;
    // RFC 9051 §7.2.2: after login no AUTH= (and no STARTTLS) any more.
    let caps = caps_of(&r);
    assert!(caps.starts_with("IMAP4rev1 IMAP4rev2 SASL-IR"), "{r}");
    assert!(!caps.contains("AUTH=") && !caps.contains("STARTTLS"), "{r}");
    for cap in [
        "IDLE",
        "NAMESPACE",
        "UIDPLUS",
        "MOVE",
        "UNSELECT",
        "LIST-EXTENDED",
        "LIST-STATUS",
        "ESEARCH",
        "ENABLE",
        "LITERAL+",
        "STATUS=SIZE",
    ] {
        assert!(caps.split(' ').any(|c| c == cap), "{cap} missing in {r}");
    }
    t.cmd("s SELECT INBOX").await;
    let r = t.cmd("c CAPABILITY").await;
    assert_eq!(caps_of(&r), caps);
    assert!(r.ends_with("c OK CAPABILITY completed\r\n"), "{r}");
}

#[actix_rt::test]
async fn capability_takes_no_arguments() {
    let mut t = session().await;
    assert_eq!(t.code("a CAPABILITY IMAP4rev2").await, (BAD, String::new()));
    assert_eq!(
        t.cmd("b capability").await.lines().last(),
        Some("b OK CAPABILITY completed")
    );
}

#[actix_rt::test]
async fn capability_in_selected_state_reports_pending_updates() {
    let mut t = T::selected(1).await;
    t.deliver(MESSAGE).await;
    t.s.mailbox_changed();
    let r = t.cmd("c CAPABILITY").await;
    assert!(r.contains("* 2 EXISTS\r\n"), "{r}");
}
