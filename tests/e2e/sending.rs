//! Sending end to end on loopback: a client submits to instance A over 587 (STARTTLS + AUTH);
//! A signs the message with its domain's DKIM keys and delivers it by MX lookup (its test DNS
//! server) to instance B; B verifies the signatures against the records `mailroom domain dkim`
//! printed on A, and a client reading the message over IMAP from B sees `dkim=pass` and the
//! message as submitted, apart from trace and signature fields.

use crate::{python, server_with};
use mailroom_tests::{Server, wait_until};
use std::time::Duration;

/// `mailroom domain dkim` output: `(name, value)` for each record, the quoted strings of
/// the value joined (RFC 6376 §3.6.2.2: they are concatenated).
fn dkim_records(a: &Server, domain: &str) -> Vec<(String, String)> {
    let out = a.cli(&["domain", "dkim", domain], None).expect("dkim");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut records = Vec::new();
    for line in text.lines().filter(|l| l.contains(" IN TXT ")) {
        let name = line.split_whitespace().next().expect("name");
        let value: String = line
            .split('"')
            .skip(1)
            .step_by(2)
            .collect::<Vec<_>>()
            .concat();
        records.push((name.trim_end_matches('.').to_string(), value));
    }
    assert_eq!(records.len(), 2, "an RSA and an Ed25519 record: {text}");
    records
}

/// Strip the leading fields a server adds in transit: trace fields, signatures, results.
fn strip_added(raw: &str) -> &str {
    let mut rest = raw;
    loop {
        let end = rest.find("\r\n").map_or(rest.len(), |i| i + 2);
        let line = &rest[..end];
        let added = [
            "Return-Path:",
            "Received:",
            "Authentication-Results:",
            "DKIM-Signature:",
            "\t",
            " ",
        ]
        .iter()
        .any(|p| line.starts_with(p));
        if !added || end == 0 {
            return rest;
        }
        rest = &rest[end..];
    }
}

#[test]
fn a_submitted_message_is_signed_by_a_and_verified_by_b() {
    let b = server_with("");
    b.add_users("remote.test", &["carol@remote.test"])
        .expect("users on B");
    let a = server_with(&format!(
        "[outbound]\nmx_port = {}\n[security]\nauth_failure_delay_ms = 0\n",
        b.ports.smtp
    ));
    a.add_users("example.test", &["alice@example.test"])
        .expect("users on A");
    a.dns.mx("remote.test", 10, "mx.remote.test").expect("mx");
    a.dns.ip("mx.remote.test", "127.0.0.1".parse().expect("ip"));
    for (name, value) in dkim_records(&a, "example.test") {
        b.dns.txt(&name, &value);
    }
    b.dns.txt("example.test", "v=spf1 ip4:127.0.0.1 -all");
    b.dns.txt("_dmarc.example.test", "v=DMARC1; p=reject");
    let message = "From: Alice <alice@example.test>\r\nTo: Carol <carol@remote.test>\r\nSubject: signed on A\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <signed-1@client>\r\n\r\nHello Carol,\r\nthis went through A's queue.\r\n";
    let ca = a.data_dir().join("tls/mail.example.test.selfsigned.crt");
    python(&format!(
        r#"
import smtplib, ssl
ctx = ssl.create_default_context(cafile="{ca}")
ctx.check_hostname = False
with smtplib.SMTP("127.0.0.1", {port}, local_hostname="client.example.org") as c:
    c.starttls(context=ctx)
    c.login("alice@example.test", "password-1")
    c.sendmail("alice@example.test", ["carol@remote.test"], {message:?}.encode())
"#,
        ca = ca.display(),
        port = a.ports.submission,
    ));
    assert!(
        wait_until(Duration::from_secs(30), || b
            .inbox("carol@remote.test")
            .map(|m| !m.is_empty())
            .unwrap_or(false)),
        "B never got the message; A's log:\n{}",
        a.log()
    );
    let b_ca = b.data_dir().join("tls/mail.example.test.selfsigned.crt");
    let out = python(&format!(
        r#"
import imaplib, ssl
ctx = ssl.create_default_context(cafile="{ca}")
ctx.check_hostname = False
c = imaplib.IMAP4_SSL("127.0.0.1", {port}, ssl_context=ctx)
c.login("carol@remote.test", "password-1")
c.select("INBOX")
typ, data = c.fetch("1", "(BODY.PEEK[])")
print(data[0][1].hex())
c.logout()
"#,
        ca = b_ca.display(),
        port = b.ports.imaps,
    ));
    let bytes: Vec<u8> = (0..out.trim().len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&out.trim()[i..i + 2], 16).expect("hex"))
        .collect();
    let raw = String::from_utf8(bytes).expect("utf-8");
    let results = raw
        .split("\r\n")
        .skip_while(|l| !l.starts_with("Authentication-Results:"))
        .take_while(|l| {
            l.starts_with("Authentication-Results:") || l.starts_with('\t') || l.starts_with(' ')
        })
        .collect::<Vec<_>>()
        .join(" ");
    assert!(results.contains("dkim=pass"), "{raw}");
    assert!(results.contains("header.d=example.test"), "{results}");
    assert!(results.contains("dmarc=pass"), "{results}");
    assert!(
        !results.contains("dkim=fail"),
        "both signatures verify: {results}"
    );
    assert_eq!(raw.matches("DKIM-Signature:").count(), 2, "{raw}");
    assert_eq!(strip_added(&raw), message, "{raw}");
}
