//! `GET /metrics` end to end: the text parses with Python's Prometheus parser, and the
//! counters move by what a delivery, a refused recipient and an IMAP login add.

use crate::{python, users};
use mailroom_tests::{Server, http_get, wait_until};
use std::collections::HashMap;
use std::time::Duration;

/// Scrape `/metrics` and parse it with `prometheus_client.parser`: every sample, keyed by its
/// name and its labels as sorted JSON, e.g. `mailroom_connections_total{"listener": "smtp"}`.
pub(crate) fn scrape(s: &Server) -> HashMap<String, f64> {
    let (status, body) = http_get(s.ports.admin, "/metrics").expect("GET /metrics");
    assert_eq!(status, 200, "{body}");
    let script = format!(
        "import json\n\
         from prometheus_client.parser import text_string_to_metric_families\n\
         out = {{}}\n\
         for family in text_string_to_metric_families({body:?}):\n\
         \x20   for sample in family.samples:\n\
         \x20       out[sample.name + json.dumps(sample.labels, sort_keys=True)] = sample.value\n\
         print(json.dumps(out))\n"
    );
    serde_json::from_str(python(&script).trim()).expect("samples as JSON")
}

/// A sample's value; a series not yet created counts as 0.
fn value(samples: &HashMap<String, f64>, key: &str) -> f64 {
    samples.get(key).copied().unwrap_or(0.0)
}

#[test]
fn counters_move_when_mail_flows() {
    let s = users();
    let before = scrape(&s);
    // The fixed series are there before anything happened.
    assert!(
        before.contains_key(r#"mailroom_messages_rejected_total{"reason": "unknown_recipient"}"#),
        "{before:?}"
    );

    // One message for alice, one recipient refused as unknown, over one connection.
    let script = format!(
        "import smtplib\n\
         with smtplib.SMTP('127.0.0.1', {port}, local_hostname='client.example.org') as c:\n\
         \x20   refused = c.sendmail('sender@example.org', ['alice@example.test', 'nobody@example.test'], b'Subject: m\\r\\n\\r\\nhi\\r\\n')\n\
         \x20   print(sorted(refused))\n",
        port = s.ports.smtp
    );
    assert_eq!(python(&script).trim(), "['nobody@example.test']");
    // An IMAP login over implicit TLS, and one that fails.
    let ca = s
        .data_dir()
        .join("tls/mail.example.test.selfsigned.crt")
        .display()
        .to_string();
    let script = format!(
        "import imaplib, ssl\n\
         ctx = ssl.create_default_context(cafile={ca:?})\n\
         ctx.check_hostname = False\n\
         c = imaplib.IMAP4_SSL('127.0.0.1', {imaps}, ssl_context=ctx)\n\
         try:\n\
         \x20   c.login('alice@example.test', 'wrong-password')\n\
         except imaplib.IMAP4.error:\n\
         \x20   print('refused')\n\
         c.login('alice@example.test', 'password-1')\n\
         c.logout()\n",
        imaps = s.ports.imaps
    );
    assert_eq!(python(&script).trim(), "refused");

    // A client that speaks plain text to the implicit-TLS port fails the handshake.
    {
        use std::io::{Read, Write};
        let mut plain = std::net::TcpStream::connect(("127.0.0.1", s.ports.imaps)).expect("imaps");
        plain
            .write_all(b"a LOGIN alice@example.test password-1\r\n")
            .expect("write");
        plain
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut rest = Vec::new();
        let _ = plain.read_to_end(&mut rest);
    }

    // The sessions' gauges go back down once their connections are closed.
    let active = |listener: &str| {
        value(
            &scrape(&s),
            &format!(r#"mailroom_connections_active{{"listener": "{listener}"}}"#),
        )
    };
    assert!(
        wait_until(Duration::from_secs(10), || active("smtp") == 0.0
            && active("imaps") == 0.0),
        "sessions still counted as active"
    );

    let after = scrape(&s);
    let moved = |key: &str| value(&after, key) - value(&before, key);
    assert_eq!(
        moved(r#"mailroom_connections_total{"listener": "smtp"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"mailroom_connections_total{"listener": "imaps"}"#),
        2.0,
        "the IMAP login and the plain-text client"
    );
    assert_eq!(
        moved(r#"mailroom_messages_received_total{"listener": "smtp"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"mailroom_messages_rejected_total{"reason": "unknown_recipient"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"mailroom_messages_rejected_total{"reason": "relay_denied"}"#),
        0.0
    );
    assert_eq!(
        moved(
            r#"mailroom_auth_attempts_total{"mechanism": "LOGIN", "protocol": "imap", "result": "success"}"#
        ),
        1.0
    );
    assert_eq!(
        moved(
            r#"mailroom_auth_attempts_total{"mechanism": "LOGIN", "protocol": "imap", "result": "failure"}"#
        ),
        1.0
    );
    assert_eq!(
        moved(r#"mailroom_tls_handshakes_total{"listener": "imaps", "version": "TLSv1.3"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"mailroom_tls_handshake_failures_total{"listener": "imaps", "reason": "error"}"#),
        1.0
    );
    // Per recipient domain, never per address.
    let per_domain: Vec<_> = after.keys().filter(|k| k.contains("recipients")).collect();
    assert_eq!(
        moved(
            r#"mailroom_recipients_total{"outcome": "stored", "recipient_domain": "example.test"}"#
        ),
        1.0,
        "{per_domain:?}"
    );
    assert!(
        !after.keys().any(|k| k.contains("alice@")),
        "an address in the metrics"
    );
    // smtplib waits for each reply: EHLO, MAIL, RCPT, RCPT, DATA, the data, QUIT.
    assert_eq!(
        moved(r#"mailroom_command_seconds_count{"protocol": "smtp"}"#),
        7.0
    );
    // The delivery (and the logins' lockout bookkeeping) went through the store writer.
    assert!(
        moved("mailroom_store_commit_seconds_count{}") >= 1.0,
        "{after:?}"
    );
    assert!(moved("mailroom_store_batch_size_sum{}") >= 1.0, "{after:?}");
}
