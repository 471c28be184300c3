//! Email authentication end to end: the server's resolver points at the harness's loopback
//! DNS server, messages are signed (DKIM) and sealed (ARC) here with mail-auth, and the
//! `Authentication-Results:` field is read back from the stored message. Covers SPF, DKIM,
//! ARC and DMARC pass/fail/none, forged results of ours removed, each DMARC outcome, an SPF
//! refusal at MAIL, DNSBL at connect, and SIGHUP reloads of `[dns]`, `[dmarc]`, `[dnsbl]`.

use crate::{server_with, users};
use base64::Engine as _;
use mail_auth::arc::ArcSealer;
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use mail_auth::{ArcOutput, AuthenticatedMessage, AuthenticationResults};
use mailroom_tests::{DnsServer, LineClient, Server, wait_until};
use std::time::Duration;

/// An Ed25519 DKIM key, published as `selector._domainkey.domain`.
struct Key {
    pkcs8: Vec<u8>,
    domain: &'static str,
    selector: &'static str,
}

impl Key {
    fn new(dns: &DnsServer, domain: &'static str, selector: &'static str) -> Self {
        let pkcs8 = Ed25519Key::generate_pkcs8().expect("generate");
        let key = Ed25519Key::from_pkcs8_der(&pkcs8).expect("key");
        let public = base64::engine::general_purpose::STANDARD.encode(key.public_key());
        dns.txt(
            &format!("{selector}._domainkey.{domain}"),
            &format!("v=DKIM1; k=ed25519; p={public}"),
        );
        Self {
            pkcs8,
            domain,
            selector,
        }
    }

    fn key(&self) -> Ed25519Key {
        Ed25519Key::from_pkcs8_der(&self.pkcs8).expect("key")
    }

    /// `msg` with a DKIM-Signature of this key in front.
    fn sign(&self, msg: &str) -> String {
        let signature = DkimSigner::from_key(self.key())
            .domain(self.domain)
            .selector(self.selector)
            .headers(["From", "To", "Subject"])
            .sign(msg.as_bytes())
            .expect("sign");
        format!("{}{msg}", signature.to_header())
    }

    /// `msg` with an ARC set of this key in front (the first hop: no chain before it).
    fn seal(&self, msg: &str) -> String {
        let parsed = AuthenticatedMessage::parse(msg.as_bytes()).expect("parse");
        let results = AuthenticationResults::new("relay.example.net");
        let set = ArcSealer::<Ed25519Key, _>::from_key(self.key())
            .domain(self.domain)
            .selector(self.selector)
            .headers(["From", "To", "Subject", "DKIM-Signature"])
            .seal(&parsed, &results, &ArcOutput::default())
            .expect("seal");
        format!("{}{msg}", set.to_header())
    }
}

/// The first 8 base64 characters of the `b=` tag of the first DKIM-Signature in `signed`,
/// as RFC 8601 `header.b` shows it.
fn header_b(signed: &str) -> String {
    let at = if signed.starts_with("DKIM-Signature:") {
        0
    } else {
        signed.find("\nDKIM-Signature:").expect("signed") + 1
    };
    let dkim = &signed[at..];
    // The `b=` tag: after `;` or folding whitespace, not the `b` of `bh=`.
    let start = dkim
        .match_indices("b=")
        .map(|(i, _)| i)
        .find(|&i| i > 0 && matches!(dkim.as_bytes()[i - 1], b' ' | b'\t' | b';'))
        .expect("b=")
        + 2;
    dkim[start..]
        .chars()
        .filter(|c| !c.is_whitespace())
        .take(8)
        .collect()
}

fn message(from: &str, subject: &str) -> String {
    format!(
        "From: <{from}>\r\nTo: <alice@example.test>\r\nSubject: {subject}\r\nMessage-ID: <{subject}@test>\r\n\r\nHello, {subject}.\r\n"
    )
}

/// Say EHLO as `helo`, send `data` from `mail_from` to alice; the MAIL reply and (when MAIL
/// was accepted) the end-of-data reply.
fn send(s: &Server, helo: &str, mail_from: &str, data: &str) -> (String, String) {
    let mut c = LineClient::connect(s.ports.smtp).expect("connect");
    assert!(c.read_line().expect("greeting").starts_with("220 "));
    c.send(&format!("EHLO {helo}")).expect("ehlo");
    c.read_until(|l| l.as_bytes().get(3) == Some(&b' '))
        .expect("ehlo reply");
    let mail = c.cmd(&format!("MAIL FROM:<{mail_from}>")).expect("mail");
    if !mail.starts_with("250") {
        return (mail, String::new());
    }
    assert!(
        c.cmd("RCPT TO:<alice@example.test>")
            .expect("rcpt")
            .starts_with("250")
    );
    assert!(c.cmd("DATA").expect("data").starts_with("354"));
    c.send_raw(data.as_bytes()).expect("body");
    let done = c.cmd(".").expect("end of data");
    let _ = c.cmd("QUIT");
    (mail, done)
}

/// Our `Authentication-Results:` field of a stored message (with its folded lines).
fn our_results(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let start = text
        .find("Authentication-Results: mail.example.test")
        .expect("our field");
    let end = text[start..]
        .match_indices("\r\n")
        .map(|(i, _)| start + i + 2)
        .find(|&i| !text[i..].starts_with('\t'))
        .expect("end of field");
    text[start..end].to_string()
}

fn last(s: &Server, mailbox: &str) -> Vec<u8> {
    s.mailbox("alice@example.test", mailbox)
        .expect("mailbox")
        .pop()
        .expect("a message")
}

fn spf_comment(result: &str, who: &str, designates: &str) -> String {
    format!(
        "{result} (mail.example.test: domain of {who} {designates} 127.0.0.1 as permitted sender)"
    )
}

#[test]
fn all_pass_gives_the_exact_header_and_forged_results_of_ours_are_removed() {
    let s = users();
    let dns = &s.dns;
    dns.txt("client.example.org", "v=spf1 ip4:127.0.0.1 -all");
    dns.txt("example.org", "v=spf1 ip4:127.0.0.1 -all");
    dns.txt("_dmarc.example.org", "v=DMARC1; p=reject");
    let dkim = Key::new(dns, "example.org", "s1");
    let arc = Key::new(dns, "relay.example.net", "arc");
    let body = format!(
        "Authentication-Results: mail.example.test; dkim=pass (forged)\r\n\
         Authentication-Results: relay.example.net; spf=pass smtp.mailfrom=example.org\r\n{}",
        message("sender@example.org", "pass")
    );
    let signed = dkim.sign(&body);
    let sealed = arc.seal(&signed);
    let (mail, done) = send(&s, "client.example.org", "sender@example.org", &sealed);
    assert!(mail.starts_with("250 "), "{mail}");
    assert!(done.starts_with("250 "), "{done}");
    let raw = last(&s, "INBOX");
    let want = format!(
        "Authentication-Results: mail.example.test;\r\n\
         \tspf={} smtp.helo=client.example.org;\r\n\
         \tspf={} smtp.mailfrom=sender@example.org;\r\n\
         \tdkim=pass header.d=example.org header.s=s1 header.b={};\r\n\
         \tarc=pass smtp.remote-ip=127.0.0.1;\r\n\
         \tdmarc=pass header.from=example.org policy.dmarc=reject\r\n",
        spf_comment("pass", "postmaster@client.example.org", "designates"),
        spf_comment("pass", "sender@example.org", "designates"),
        header_b(&signed),
    );
    assert_eq!(our_results(&raw), want);
    let text = String::from_utf8_lossy(&raw);
    // Right after the trace fields; the forged one is gone, the relay's kept.
    let received_end = text.find(&want).expect("field");
    assert!(text[..received_end].starts_with("Return-Path: <sender@example.org>\r\nReceived: "));
    assert!(!text[..received_end].contains("\r\n\r\n"));
    assert_eq!(
        text.matches("Authentication-Results: mail.example.test")
            .count(),
        1
    );
    assert!(!text.contains("(forged)"), "{text}");
    assert!(text.contains("Authentication-Results: relay.example.net; spf=pass"));
    // The rest is exactly what the client sent, minus the forged field.
    assert!(text.ends_with(&sealed.replace(
        "Authentication-Results: mail.example.test; dkim=pass (forged)\r\n",
        ""
    )));
    // The Delivered event carries the same results, unfolded onto one line.
    let value = want["Authentication-Results: ".len()..]
        .trim_end()
        .replace("\r\n\t", " ");
    assert!(
        wait_until(Duration::from_secs(5), || {
            s.events_of("delivered").is_ok_and(|e| {
                e.last()
                    .is_some_and(|e| e["auth_results"] == value.as_str())
            })
        }),
        "{:?}",
        s.events_of("delivered")
    );
}

#[test]
fn failures_and_absences_are_reported_per_method() {
    let s = users();
    let dns = &s.dns;
    // SPF fail for the sender, none for the HELO name; DMARC p=none, so all is delivered.
    dns.txt("bad.example", "v=spf1 ip4:192.0.2.1 -all");
    dns.txt("_dmarc.bad.example", "v=DMARC1; p=none");
    let dkim = Key::new(dns, "bad.example", "s1");
    let arc = Key::new(dns, "relay.example.net", "arc");

    // DKIM and ARC fail: the body changed after signing and sealing.
    let sealed = arc.seal(&dkim.sign(&message("x@bad.example", "tampered")));
    let tampered = sealed.replace("Hello, tampered.", "Hello, changed.");
    let (_, done) = send(&s, "client.example.org", "x@bad.example", &tampered);
    assert!(done.starts_with("250 "), "{done}");
    let results = our_results(&last(&s, "INBOX"));
    assert!(
        results.contains(&format!(
            "\tdkim=fail (body hash did not verify) header.d=bad.example header.s=s1 header.b={};\r\n",
            header_b(&tampered)
        )),
        "{results}"
    );
    assert!(
        results.contains("\tarc=fail (body hash did not verify) smtp.remote-ip=127.0.0.1;\r\n"),
        "{results}"
    );
    assert!(results.contains("\tspf=none (mail.example.test: no SPF records found for postmaster@client.example.org) smtp.helo=client.example.org;\r\n"), "{results}");
    assert!(
        results.contains(&format!(
            "\tspf={} smtp.mailfrom=x@bad.example;\r\n",
            spf_comment("fail", "x@bad.example", "does not designate")
        )),
        "{results}"
    );
    assert!(results.contains("\tdkim=fail ("), "{results}");
    assert!(results.contains("\tarc=fail ("), "{results}");
    assert!(results.contains("\tdmarc=fail ("), "{results}");
    assert!(
        results.ends_with(
            "\tdmarc=fail (policy not aligned) header.from=bad.example policy.dmarc=none\r\n"
        ),
        "{results}"
    );

    // A signed header changed: the signatures themselves fail.
    let sealed = arc.seal(&dkim.sign(&message("x@bad.example", "header")));
    let tampered = sealed.replace("Subject: header", "Subject: changed");
    let (_, done) = send(&s, "client.example.org", "x@bad.example", &tampered);
    assert!(done.starts_with("250 "), "{done}");
    let results = our_results(&last(&s, "INBOX"));
    assert!(results.contains("\tdkim=fail ("), "{results}");
    assert!(results.contains("\tarc=fail ("), "{results}");

    // Nothing to check: no SPF, no signature, no seal, no DMARC record.
    let (_, done) = send(
        &s,
        "[127.0.0.1]",
        "x@plain.example",
        &message("x@plain.example", "plain"),
    );
    assert!(done.starts_with("250 "), "{done}");
    let results = our_results(&last(&s, "INBOX"));
    assert_eq!(
        results,
        "Authentication-Results: mail.example.test;\r\n\
         \tspf=none (mail.example.test: no SPF records found for x@plain.example) smtp.mailfrom=x@plain.example;\r\n\
         \tdkim=none;\r\n\
         \tarc=none smtp.remote-ip=127.0.0.1;\r\n\
         \tdmarc=none header.from=plain.example policy.dmarc=none\r\n"
    );
}

/// Wait until the log shows `n` successful reloads.
fn wait_reloads(s: &Server, n: usize) {
    assert!(
        wait_until(Duration::from_secs(10), || s
            .log()
            .matches("configuration reloaded")
            .count()
            >= n),
        "reload {n} not seen; log:\n{}",
        s.log()
    );
}

fn reload(s: &Server, extra: &str, n: usize) {
    s.write_config(&s.config_toml(extra)).expect("config");
    s.signal("HUP").expect("SIGHUP");
    wait_reloads(s, n);
}

#[test]
fn each_dmarc_outcome_and_an_spf_refusal() {
    let s = users();
    let dns = &s.dns;
    // Both domains fail DMARC: SPF fails and nothing is signed.
    dns.txt("reject.example", "v=spf1 ip4:192.0.2.1 -all");
    dns.txt("_dmarc.reject.example", "v=DMARC1; p=reject");
    dns.txt("quarantine.example", "v=spf1 ip4:192.0.2.1 -all");
    dns.txt("_dmarc.quarantine.example", "v=DMARC1; p=quarantine");
    let inbox = |s: &Server| {
        s.mailbox("alice@example.test", "INBOX")
            .expect("inbox")
            .len()
    };
    let junk = |s: &Server| s.mailbox("alice@example.test", "Junk").expect("junk").len();

    // p=reject under on_reject = "reject" (the default): refused, nothing stored.
    let (mail, done) = send(
        &s,
        "c.example",
        "a@reject.example",
        &message("a@reject.example", "r1"),
    );
    assert!(
        mail.starts_with("250 "),
        "SPF fail only marks by default: {mail}"
    );
    assert_eq!(
        done,
        "550 5.7.1 message refused: it fails the DMARC policy (p=reject) of reject.example\r\n"
    );
    assert_eq!((inbox(&s), junk(&s)), (0, 0));
    // A subdomain without a record of its own gets its organizational domain's policy (the
    // DNS tree walk: _dmarc.news.reject.example, then _dmarc.reject.example).
    dns.txt("news.reject.example", "v=spf1 ip4:192.0.2.1 -all");
    let (_, done) = send(
        &s,
        "c.example",
        "a@news.reject.example",
        &message("a@news.reject.example", "r0"),
    );
    assert_eq!(
        done,
        "550 5.7.1 message refused: it fails the DMARC policy (p=reject) of news.reject.example\r\n"
    );

    // p=quarantine: Junk, not INBOX.
    let (_, done) = send(
        &s,
        "c.example",
        "a@quarantine.example",
        &message("a@quarantine.example", "q1"),
    );
    assert!(done.starts_with("250 "), "{done}");
    assert_eq!((inbox(&s), junk(&s)), (0, 1));
    assert!(our_results(&last(&s, "Junk")).contains("\tdmarc=fail"));

    // on_reject = "quarantine": a p=reject failure goes to Junk.
    reload(&s, "[dmarc]\non_reject = \"quarantine\"\n", 1);
    let (_, done) = send(
        &s,
        "c.example",
        "a@reject.example",
        &message("a@reject.example", "r2"),
    );
    assert!(done.starts_with("250 "), "{done}");
    assert_eq!((inbox(&s), junk(&s)), (0, 2));

    // on_reject = "mark": INBOX, with dmarc=fail recorded.
    reload(&s, "[dmarc]\non_reject = \"mark\"\n", 2);
    let (_, done) = send(
        &s,
        "c.example",
        "a@reject.example",
        &message("a@reject.example", "r3"),
    );
    assert!(done.starts_with("250 "), "{done}");
    assert_eq!((inbox(&s), junk(&s)), (1, 2));
    let results = our_results(&last(&s, "INBOX"));
    assert!(results.contains("\tdmarc=fail ("), "{results}");
    assert!(
        results.ends_with("header.from=reject.example policy.dmarc=reject\r\n"),
        "{results}"
    );

    // [spf] reject_fail: refused at MAIL (RFC 7372: 5.7.23); a passing sender is not.
    reload(&s, "[spf]\nreject_fail = true\n", 3);
    let (mail, _) = send(
        &s,
        "c.example",
        "a@reject.example",
        &message("a@reject.example", "r4"),
    );
    assert_eq!(
        mail,
        "550 5.7.23 SPF check failed: reject.example does not designate 127.0.0.1 as a permitted sender\r\n"
    );
    dns.txt("good.example", "v=spf1 ip4:127.0.0.1 -all");
    let (mail, done) = send(
        &s,
        "c.example",
        "a@good.example",
        &message("a@good.example", "ok"),
    );
    assert!(
        mail.starts_with("250 ") && done.starts_with("250 "),
        "{mail}{done}"
    );
    assert_eq!((inbox(&s), junk(&s)), (2, 2));
}

#[test]
fn a_listed_client_is_refused_at_connect_naming_the_list() {
    // Listed before the server starts: the harness's readiness probes connect too, and a
    // negative answer to them would be cached.
    let dns = DnsServer::start().expect("dns");
    // RFC 5782 §2.1: 127.0.0.1 is queried as 1.0.0.127.<zone>.
    dns.ip("1.0.0.127.bl.test", "127.0.0.2".parse().expect("ip"));
    let policy = |zones: &str| {
        format!(
            "[dns]\nnameservers = [\"{}\"]\ntimeout_ms = 1000\n[dnsbl]\nzones = {zones}\n",
            dns.addr()
        )
    };
    let s = server_with(&policy("[\"clean.test\", \"bl.test\"]"));
    let mut c = LineClient::connect(s.ports.smtp).expect("connect");
    assert_eq!(
        c.read_line().expect("reply"),
        "554 5.7.1 mail.example.test refuses mail from 127.0.0.1: listed by bl.test\r\n"
    );
    assert!(c.closed());
    // Other listeners are not checked.
    let mut imap = LineClient::connect(s.ports.imap).expect("imap");
    assert!(imap.read_line().expect("greeting").starts_with("* OK"));

    // After a reload without that zone the client is greeted.
    s.write_config(&s.config_toml(&policy("[\"clean.test\"]")))
        .expect("config");
    s.signal("HUP").expect("SIGHUP");
    wait_reloads(&s, 1);
    let mut c = LineClient::connect(s.ports.smtp).expect("connect");
    assert!(c.read_line().expect("greeting").starts_with("220 "));
}

#[test]
fn a_reload_of_dns_switches_the_resolver() {
    let s = users();
    // The harness's DNS server knows nothing; the second one publishes SPF.
    let other = DnsServer::start().expect("dns");
    other.txt("example.org", "v=spf1 ip4:127.0.0.1 -all");
    let (_, done) = send(
        &s,
        "[127.0.0.1]",
        "a@example.org",
        &message("a@example.org", "one"),
    );
    assert!(done.starts_with("250 "), "{done}");
    assert!(our_results(&last(&s, "INBOX")).contains("\tspf=none "));
    reload(
        &s,
        &format!(
            "[dns]\nnameservers = [\"{}\"]\ntimeout_ms = 1000\n",
            other.addr()
        ),
        1,
    );
    let (_, done) = send(
        &s,
        "[127.0.0.1]",
        "a@example.org",
        &message("a@example.org", "two"),
    );
    assert!(done.starts_with("250 "), "{done}");
    assert!(our_results(&last(&s, "INBOX")).contains("\tspf=pass "));
    assert!(other.queries() > 0);
}

#[test]
fn unreachable_dns_gives_temperror_and_the_mail_is_accepted() {
    // Nothing listens on this port: every lookup fails.
    let dead = mailroom_tests::free_port();
    let s = server_with(&format!(
        "[dns]\nnameservers = [\"127.0.0.1:{dead}\"]\ntimeout_ms = 200\nattempts = 1\n[dnsbl]\nzones = [\"bl.test\"]\n"
    ));
    s.add_users("example.test", &["alice@example.test"])
        .expect("users");
    let started = std::time::Instant::now();
    let (mail, done) = send(
        &s,
        "client.example.org",
        "a@example.org",
        &message("a@example.org", "t"),
    );
    assert!(
        mail.starts_with("250 "),
        "DNSBL and SPF errors do not refuse: {mail}"
    );
    assert!(done.starts_with("250 "), "{done}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let results = our_results(&last(&s, "INBOX"));
    assert!(results.contains("\tspf=temperror (mail.example.test: temporary dns error validating postmaster@client.example.org) smtp.helo=client.example.org;\r\n"), "{results}");
    assert!(results.contains("\tspf=temperror (mail.example.test: temporary dns error validating a@example.org) smtp.mailfrom=a@example.org;\r\n"), "{results}");
    assert!(results.contains("\tdmarc=temperror"), "{results}");
    assert!(s.log().contains("DNSBL lookup failed"), "{}", s.log());
}
