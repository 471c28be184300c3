//! The envelope's edge cases against the real binary: sizes too large for any number (MAIL
//! SIZE, BDAT), the bare `<Postmaster>`, and internationalised domains under SMTPUTF8.

use crate::{server, users};
use mailroom_tests::{LineClient, Server, http_request};

/// A connection to the MX listener past the greeting and EHLO.
fn mx(s: &Server) -> LineClient {
    let mut c = LineClient::connect(s.ports.smtp).expect("connect");
    assert!(c.read_line().expect("greeting").starts_with("220 "));
    let ehlo = c.reply("EHLO client.example.org").expect("ehlo");
    assert!(ehlo.contains("250-SMTPUTF8"), "{ehlo}");
    c
}

/// RCPT TO `rcpt` (accepted), DATA `message`: the reply to the data.
fn deliver(c: &mut LineClient, rcpt: &str, message: &str) -> String {
    let r = c.cmd(&format!("RCPT TO:<{rcpt}>")).expect("rcpt");
    assert_eq!(r, "250 2.1.5 recipient OK\r\n", "RCPT TO:<{rcpt}>");
    assert!(c.cmd("DATA").expect("data").starts_with("354 "));
    c.send_raw(message.as_bytes()).expect("message");
    c.cmd(".").expect("end of data")
}

fn ok(out: std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sizes_past_any_number_are_refused_not_wrapped() {
    let s = users();
    let mut c = mx(&s);
    // RFC 1870 §6.2: a declared size over the limit gets 552 at MAIL, however many digits.
    let r = c
        .cmd("MAIL FROM:<a@example.org> SIZE=99999999999999999999999")
        .expect("mail");
    assert!(
        r.starts_with("552 5.3.4 message size exceeds the fixed maximum"),
        "{r}"
    );
    assert_eq!(
        c.cmd("MAIL FROM:<a@example.org> SIZE=100").expect("mail"),
        "250 2.1.0 sender OK\r\n"
    );
    assert_eq!(
        c.cmd("RCPT TO:<alice@example.test>").expect("rcpt"),
        "250 2.1.5 recipient OK\r\n"
    );
    // RFC 3030 §2: a chunk size past any number cannot be read through; its "octets" (here a
    // transaction) must not run as commands: refused and closed.
    c.send_raw(b"BDAT 99999999999999999999999 LAST\r\nRSET\r\nMAIL FROM:<b@example.org>\r\n")
        .expect("bdat");
    let r = c.read_line().expect("bdat reply");
    assert!(
        r.starts_with("552 5.3.4 chunk size exceeds the fixed maximum")
            && r.ends_with("; closing connection\r\n"),
        "{r}"
    );
    assert_eq!(c.read_line().expect("end"), "", "nothing after the refusal");
    assert!(s.inbox("alice@example.test").expect("inbox").is_empty());
}

#[test]
fn bare_postmaster_reaches_the_first_domains_postmaster() {
    let s = server();
    ok(s.cli(&["domain", "add", "example.test"], None)
        .expect("domain"));
    // The first admin account: example.test's postmaster@ and abuse@ become its aliases.
    s.add_admin("admin@example.test", "password-1")
        .expect("admin");
    let mut c = mx(&s);
    assert_eq!(
        c.cmd("MAIL FROM:<reporter@example.org>").expect("mail"),
        "250 2.1.0 sender OK\r\n"
    );
    // RFC 5321 §4.1.1.3: <Postmaster> with no domain, in any case, must be accepted.
    let r = deliver(
        &mut c,
        "PostMaster",
        "Subject: to the postmaster\r\n\r\nhello\r\n",
    );
    assert!(r.starts_with("250 2.0.0 OK"), "{r}");
    let inbox = s.inbox("admin@example.test").expect("inbox");
    assert_eq!(inbox.len(), 1);
    assert!(
        String::from_utf8_lossy(&inbox[0]).ends_with("Subject: to the postmaster\r\n\r\nhello\r\n")
    );
    // abuse@ too (RFC 2142 §2).
    assert_eq!(
        c.cmd("MAIL FROM:<reporter@example.org>").expect("mail"),
        "250 2.1.0 sender OK\r\n"
    );
    let r = deliver(
        &mut c,
        "abuse@example.test",
        "Subject: abuse\r\n\r\nreport\r\n",
    );
    assert!(r.starts_with("250 2.0.0 OK"), "{r}");
    assert_eq!(s.inbox("admin@example.test").expect("inbox").len(), 2);
}

#[test]
fn a_u_label_and_its_a_label_reach_the_same_mailbox() {
    let s = server();
    // Added with a U-label, kept as the A-label.
    let out = s
        .cli(&["domain", "add", "exämple.org"], None)
        .expect("domain");
    ok(out.clone());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "added domain xn--exmple-cua.org\n"
    );
    ok(s.cli(
        &["user", "add", "jöran@exämple.org", "--password-stdin"],
        Some("password-1\n"),
    )
    .expect("user"));
    let mut c = mx(&s);
    // RFC 6531 §3.3: under SMTPUTF8 the domain may be a U-label, in MAIL and in RCPT.
    assert_eq!(
        c.cmd("MAIL FROM:<sender@exämple.org> SMTPUTF8")
            .expect("mail"),
        "250 2.1.0 sender OK\r\n"
    );
    let r = deliver(
        &mut c,
        "jöran@exämple.org",
        "Subject: one\r\n\r\nU-label\r\n",
    );
    assert!(r.starts_with("250 2.0.0 OK"), "{r}");
    assert_eq!(
        c.cmd("MAIL FROM:<sender@example.org> SMTPUTF8")
            .expect("mail"),
        "250 2.1.0 sender OK\r\n"
    );
    let r = deliver(
        &mut c,
        "jöran@XN--EXMPLE-CUA.org",
        "Subject: two\r\n\r\nA-label\r\n",
    );
    assert!(r.starts_with("250 2.0.0 OK"), "{r}");
    // RFC 6531 §3.4: without SMTPUTF8, no U-label.
    assert_eq!(
        c.cmd("MAIL FROM:<sender@exämple.org>").expect("mail"),
        "553 5.6.7 non-ASCII address needs the SMTPUTF8 parameter\r\n"
    );
    // Read as the account is stored, its domain an A-label.
    s.remember_password("jöran@xn--exmple-cua.org", "password-1");
    let inbox = s.inbox("jöran@xn--exmple-cua.org").expect("inbox");
    assert_eq!(inbox.len(), 2, "both forms reach one mailbox");
    let first = String::from_utf8_lossy(&inbox[0]).into_owned();
    assert!(
        first.starts_with("Return-Path: <sender@xn--exmple-cua.org>\r\n"),
        "{first}"
    );
    assert!(String::from_utf8_lossy(&inbox[1]).ends_with("A-label\r\n"));
}

#[test]
fn the_domain_page_warns_when_postmaster_or_abuse_reach_nobody() {
    let s = crate::server_with("[admin]\nlogin_failure_delay_ms = 10\n");
    s.add_users("example.test", &[]).expect("domain");
    // The first admin: example.test, made before it, gets its role aliases now.
    s.add_admin("admin@example.test", "admin-password-1")
        .expect("admin");
    let (cookie, _) = crate::panel::sign_in(&s);
    let get = |path: &str| {
        let a =
            http_request(s.ports.admin, "GET", path, &[("Cookie", &cookie)], None).expect("HTTP");
        assert_eq!(a.status, 200, "{path}: {a:?}");
        a.body
    };
    let page = get("/domains/example.test");
    assert!(!page.contains("id=\"role-addresses\""), "{page}");
    ok(s.cli(&["alias", "remove", "abuse@example.test"], None)
        .expect("remove"));
    let page = get("/domains/example.test");
    let warning = page
        .split("id=\"role-addresses\">")
        .nth(1)
        .and_then(|w| w.split("</p>").next())
        .unwrap_or_else(|| panic!("no warning: {page}"));
    // RFC 2142 §2: abuse@ is missing; postmaster@ (RFC 5321 §4.5.1) is still there.
    assert!(
        warning.contains("<code>abuse@example.test</code>"),
        "{warning}"
    );
    assert!(!warning.contains("postmaster@example.test"), "{warning}");

    // A domain added in the panel (with a U-label) gets both at once.
    let csrf = crate::panel::csrf_of(&get("/domains"));
    let added = crate::panel::post_form(
        &s,
        &cookie,
        "/domains",
        &format!("csrf={csrf}&name=ex%C3%A4mple.org"),
    );
    assert_eq!(added.status, 303, "{added:?}");
    assert!(
        added
            .header("location")
            .is_some_and(|l| l.starts_with("/domains/xn--exmple-cua.org?")),
        "{added:?}"
    );
    let page = get("/domains/xn--exmple-cua.org");
    assert!(!page.contains("id=\"role-addresses\""), "{page}");
}
