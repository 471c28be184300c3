//! Submission session tests (RFC 6409, RFC 4954): AUTH only over TLS, MAIL only after AUTH,
//! the sender and `From:` owned by the account, remote recipients handed to the queue. The
//! scripted store of `tests.rs`: `alice@example.test` / `secret` is account 1 and owns
//! `alice@`, `alice+tag@` and `team@example.test`.

use super::tests::{T, ctx, with};
use super::*;
use base64::Engine as _;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn plain(user: &str, password: &str) -> String {
    b64(&format!("\0{user}\0{password}"))
}

/// A submission session past STARTTLS and EHLO.
fn tls() -> T {
    let mut t = with(ctx(Role::Submission));
    t.cmd("EHLO client.example.org");
    assert!(t.cmd("STARTTLS").starts_with("220 2.0.0"));
    t.cmd("EHLO client.example.org");
    t
}

/// …and logged in as alice.
fn logged_in() -> T {
    let mut t = tls();
    let r = t.cmd(&format!(
        "AUTH PLAIN {}",
        plain("alice@example.test", "secret")
    ));
    assert_eq!(r, "235 2.7.0 authentication succeeded\r\n");
    t
}

#[test]
fn the_mx_listener_offers_no_auth() {
    let mut t = with(ctx(Role::Mx));
    assert!(!t.cmd("EHLO c.example.org").contains("AUTH"));
    assert!(t.cmd("STARTTLS").starts_with("220"));
    assert!(!t.cmd("EHLO c.example.org").contains("AUTH"));
    let r = t.cmd(&format!(
        "AUTH PLAIN {}",
        plain("alice@example.test", "secret")
    ));
    assert!(r.starts_with("502 5.5.1"), "{r}");
    assert!(t.logins.is_empty());
}

#[test]
fn before_tls_auth_gets_538_and_mail_530() {
    let mut t = with(ctx(Role::Submission));
    let ehlo = t.cmd("EHLO client.example.org");
    assert!(
        ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"),
        "{ehlo}"
    );
    // RFC 4954 §6: 538 5.7.11 encryption required.
    let r = t.cmd(&format!(
        "AUTH PLAIN {}",
        plain("alice@example.test", "secret")
    ));
    assert!(r.starts_with("538 5.7.11 "), "{r}");
    assert!(t.logins.is_empty(), "the password was never checked");
    let r = t.cmd("MAIL FROM:<alice@example.test>");
    assert_eq!(r, "530 5.7.0 authentication required\r\n");
}

#[test]
fn plaintext_auth_when_the_configuration_allows_it() {
    let mut t = with(Context {
        allow_plaintext_auth: true,
        ..ctx(Role::Submission)
    });
    assert!(t.cmd("EHLO c.example.org").contains("AUTH PLAIN LOGIN"));
    let r = t.cmd(&format!(
        "AUTH PLAIN {}",
        plain("alice@example.test", "secret")
    ));
    assert!(r.starts_with("235 "), "{r}");
}

#[test]
fn auth_plain_with_and_without_initial_response() {
    let mut t = tls();
    assert!(t.cmd("EHLO again.example.org").contains("AUTH PLAIN LOGIN"));
    // RFC 4954 §4: no initial response: an empty 334, then the response on its own line.
    assert_eq!(t.cmd("AUTH PLAIN"), "334 \r\n");
    let r = t.cmd(&plain("alice@example.test", "secret"));
    assert_eq!(r, "235 2.7.0 authentication succeeded\r\n");
    assert_eq!(t.logins, [("PLAIN", "alice@example.test".to_string())]);
    assert_eq!(t.s.login().map(|l| l.account_id), Some(1));
    // RFC 4954 §4: once only; and EHLO no longer offers it.
    assert!(t.cmd("AUTH PLAIN").starts_with("503 5.5.1"));
    assert!(!t.cmd("EHLO again.example.org").contains("AUTH"));
}

#[test]
fn auth_login_asks_for_user_name_and_password() {
    let mut t = tls();
    assert_eq!(t.cmd("AUTH LOGIN"), format!("334 {}\r\n", b64("Username:")));
    assert_eq!(
        t.cmd(&b64("alice@example.test")),
        format!("334 {}\r\n", b64("Password:"))
    );
    assert!(t.cmd(&b64("secret")).starts_with("235 2.7.0"));
    assert_eq!(t.logins, [("LOGIN", "alice@example.test".to_string())]);
}

#[test]
fn auth_login_with_the_user_name_as_initial_response() {
    let mut t = tls();
    let r = t.cmd(&format!("AUTH LOGIN {}", b64("alice@example.test")));
    assert_eq!(r, format!("334 {}\r\n", b64("Password:")));
    assert!(t.cmd(&b64("secret")).starts_with("235 "));
}

#[test]
fn auth_failures_have_their_own_replies() {
    let mut t = tls();
    let r = t.cmd(&format!(
        "AUTH PLAIN {}",
        plain("alice@example.test", "wrong")
    ));
    assert_eq!(r, "535 5.7.8 authentication credentials invalid\r\n");
    let r = t.cmd(&format!("AUTH PLAIN {}", plain("locked@example.test", "x")));
    assert!(
        r.starts_with("454 4.7.0 this account is locked out until later"),
        "{r}"
    );
    let r = t.cmd(&format!("AUTH PLAIN {}", plain("broken@example.test", "x")));
    assert!(r.starts_with("454 4.7.0 temporary"), "{r}");
    // RFC 4422 §3.7 / RFC 4954 §4: "*" cancels with 501.
    assert_eq!(t.cmd("AUTH PLAIN"), "334 \r\n");
    assert_eq!(t.cmd("*"), "501 5.0.0 authentication cancelled\r\n");
    let r = t.cmd("AUTH PLAIN !!!notbase64");
    assert!(
        r.starts_with("501 5.5.2 the response is not valid base64"),
        "{r}"
    );
    let r = t.cmd(&format!("AUTH PLAIN {}", b64("no-nul-here")));
    assert!(r.starts_with("501 5.5.2 "), "{r}");
    let r = t.cmd("AUTH CRAM-MD5");
    assert!(r.starts_with("504 5.5.4 "), "{r}");
    // After all that the session still works, and MAIL still needs AUTH.
    assert!(
        t.cmd("MAIL FROM:<alice@example.test>")
            .starts_with("530 5.7.0")
    );
    assert!(
        t.cmd(&format!(
            "AUTH PLAIN {}",
            plain("alice@example.test", "secret")
        ))
        .starts_with("235")
    );
}

#[test]
fn auth_is_refused_inside_a_transaction() {
    let mut t = logged_in();
    assert!(t.cmd("MAIL FROM:<alice@example.test>").starts_with("250"));
    // Already logged in: 503 either way; the transaction is untouched.
    assert!(t.cmd("AUTH PLAIN").starts_with("503 5.5.1"));
    assert!(t.cmd("RCPT TO:<bob@example.test>").starts_with("250"));
}

#[test]
fn the_sender_must_be_the_accounts() {
    let mut t = logged_in();
    let r = t.cmd("MAIL FROM:<bob@example.test>");
    assert_eq!(
        r,
        "550 5.7.1 sender address is not owned by the authenticated account\r\n"
    );
    assert!(
        t.cmd("RCPT TO:<bob@example.test>").starts_with("503"),
        "no transaction"
    );
    let r = t.cmd("MAIL FROM:<>");
    assert!(r.starts_with("553 5.7.1 "), "{r}");
    assert!(
        t.cmd("MAIL FROM:<alice+tag@example.test>")
            .starts_with("250 2.1.0")
    );
    t.cmd("RSET");
    assert!(
        t.cmd("MAIL FROM:<team@example.test>")
            .starts_with("250 2.1.0")
    );
}

#[test]
fn over_the_sending_rate_mail_gets_450() {
    let mut t = logged_in();
    t.over_rate = true;
    let r = t.cmd("MAIL FROM:<alice@example.test>");
    assert!(
        r.starts_with("450 4.7.1 sending rate limit reached (10 messages per hour)"),
        "{r}"
    );
}

fn message(from: &str) -> String {
    format!("From: Alice <{from}>\r\nTo: x@remote.example\r\nSubject: hi\r\n\r\nHello.\r\n.\r\n")
}

#[test]
fn a_submission_goes_to_local_accounts_and_the_queue() {
    let mut t = logged_in();
    let r = t.send(
        b"MAIL FROM:<alice@example.test> RET=HDRS ENVID=QQ314159\r\n\
          RCPT TO:<x@remote.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@remote.example\r\n\
          RCPT TO:<bob@example.test>\r\n\
          RCPT TO:<nobody@example.test>\r\n\
          DATA\r\n",
    );
    assert_eq!(
        r,
        "250 2.1.0 sender OK\r\n\
         250 2.1.5 recipient OK, will be relayed\r\n\
         250 2.1.5 recipient OK\r\n\
         550 5.1.1 <nobody@example.test>: no such user here\r\n\
         354 end data with <CR><LF>.<CR><LF>\r\n"
    );
    let r = t.send(message("alice@example.test").as_bytes());
    assert!(r.starts_with("250 2.0.0 OK"), "{r}");
    let [sub] = t.submitted.as_slice() else {
        panic!("one submission: {:?}", t.submitted);
    };
    assert_eq!(sub.account_id, 1);
    assert_eq!(sub.sender, "alice@example.test");
    assert_eq!(sub.local, [2]);
    assert_eq!(sub.from_domain, "example.test");
    assert_eq!(
        sub.remote,
        [RemoteRcpt {
            address: "x@remote.example".into(),
            notify: smtp_proto::RCPT_NOTIFY_SUCCESS | smtp_proto::RCPT_NOTIFY_FAILURE,
            orcpt: Some("x@remote.example".into()),
        }]
    );
    assert_eq!(sub.ret, smtp_proto::MAIL_RET_HDRS);
    assert_eq!(sub.envid.as_deref(), Some("QQ314159"));
    let raw = String::from_utf8_lossy(&sub.raw);
    // RFC 3848: ESMTPSA; RFC 5321 §4.4: no Return-Path before final delivery.
    assert!(raw.starts_with("Received: from client.example.org ([192.0.2.7])\r\n\tby mx.example.test (mailroom) with ESMTPSA id "), "{raw}");
    assert!(!raw.contains("Return-Path:"), "{raw}");
    // RFC 6409 §8.2, §8.3: the MSA adds the missing Date and Message-ID.
    let header = &raw[..raw.find("\r\n\r\n").expect("header end")];
    assert_eq!(header.matches("\r\nDate: ").count(), 1, "{raw}");
    assert_eq!(header.matches("\r\nMessage-ID: <").count(), 1, "{raw}");
    assert!(raw.ends_with("From: Alice <alice@example.test>\r\nTo: x@remote.example\r\nSubject: hi\r\n\r\nHello.\r\n"), "{raw}");
    assert_eq!(
        sub.event.envelope.rcpt_to,
        ["bob@example.test", "x@remote.example"]
    );
}

#[test]
fn present_date_and_message_id_are_kept() {
    let mut t = logged_in();
    t.send(b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<x@remote.example>\r\nDATA\r\n");
    let r = t.send(
        b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <mine@client>\r\nFrom: alice@example.test\r\n\r\nx\r\n.\r\n",
    );
    assert!(r.starts_with("250 "), "{r}");
    let raw = String::from_utf8_lossy(&t.submitted[0].raw).into_owned();
    assert_eq!(raw.matches("Date:").count(), 1, "{raw}");
    assert_eq!(raw.matches("Message-ID:").count(), 1, "{raw}");
}

#[test]
fn a_from_the_account_does_not_own_is_refused() {
    let mut t = logged_in();
    t.send(b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<x@remote.example>\r\nDATA\r\n");
    let r = t.send(message("ceo@example.test").as_bytes());
    assert_eq!(
        r,
        "550 5.7.1 From: address is not owned by the authenticated account\r\n"
    );
    assert!(t.submitted.is_empty());
    // Two From addresses: every one must be owned.
    t.send(b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<x@remote.example>\r\nDATA\r\n");
    let r = t.send(b"From: alice@example.test, bob@example.test\r\n\r\nx\r\n.\r\n");
    assert!(r.starts_with("550 5.7.1 From:"), "{r}");
    // No From at all.
    t.send(b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<x@remote.example>\r\nDATA\r\n");
    let r = t.send(b"Subject: anonymous\r\n\r\nx\r\n.\r\n");
    assert_eq!(
        r,
        "550 5.6.0 the message has no From: field with an address\r\n"
    );
    assert!(t.submitted.is_empty());
    // The session goes on.
    t.send(b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<x@remote.example>\r\nDATA\r\n");
    assert!(
        t.send(message("team@example.test").as_bytes())
            .starts_with("250 ")
    );
    assert_eq!(t.submitted.len(), 1);
}

#[test]
fn bdat_submission_is_checked_the_same_way() {
    let mut t = logged_in();
    t.send(b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<x@remote.example>\r\n");
    let body = b"From: bob@example.test\r\n\r\nx\r\n";
    let mut packet = format!("BDAT {} LAST\r\n", body.len()).into_bytes();
    packet.extend_from_slice(body);
    let r = t.send(&packet);
    assert!(r.starts_with("550 5.7.1 From:"), "{r}");
    assert!(t.submitted.is_empty());
}

#[test]
fn the_relay_is_open_only_to_a_logged_in_client() {
    // The MX role never relays (see tests.rs); submission needs AUTH before MAIL at all.
    let mut t = tls();
    assert!(t.cmd("MAIL FROM:<alice@example.test>").starts_with("530"));
    assert!(t.cmd("RCPT TO:<x@remote.example>").starts_with("503"));
}

#[test]
fn a_locked_out_login_gets_454_whatever_the_password() {
    // RFC 4954 §6: 454 4.7.0 "Temporary authentication failure". The guard refuses a locked
    // login before the password is looked at, so right and wrong passwords read the same.
    let mut answers = Vec::new();
    for password in ["secret", "wrong"] {
        let mut t = tls();
        answers.push(t.cmd(&format!(
            "AUTH PLAIN {}",
            plain("locked@example.test", password)
        )));
        // The session stays usable, unauthenticated.
        assert_eq!(
            t.cmd("MAIL FROM:<alice@example.test>"),
            "530 5.7.0 authentication required\r\n"
        );
    }
    assert_eq!(
        answers[0],
        "454 4.7.0 this account is locked out until later; try later\r\n"
    );
    assert_eq!(answers[0], answers[1]);
    // A refusal for a wrong password is the permanent 535 5.7.8 (RFC 4954 §6).
    let mut t = tls();
    let r = t.cmd(&format!("AUTH PLAIN {}", plain("alice@example.test", "x")));
    assert_eq!(r, "535 5.7.8 authentication credentials invalid\r\n");
}
