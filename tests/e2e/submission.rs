//! Submission (587 STARTTLS, 465 implicit TLS) against the real binary: Python's smtplib and
//! swaks log in and send; AUTH before TLS, MAIL before AUTH, a foreign sender or From:, and a
//! locked-out account or client are refused with their own codes; an admin lifts a lockout.

use crate::{python, server_with};
use mailroom_tests::{LineClient, Server};
use std::net::TcpStream;

/// A server with alice@ and bob@example.test (password `password-1`), failures answered at
/// once and locked after three.
fn submission_server() -> Server {
    let s = server_with(
        "[security]\nauth_failure_delay_ms = 0\nlockout_failures = 3\nlockout_failures_per_ip = 6\nlockout_secs = 600\n",
    );
    s.add_users("example.test", &["alice@example.test", "bob@example.test"])
        .expect("users");
    s
}

fn ca(s: &Server) -> std::path::PathBuf {
    s.data_dir().join("tls/mail.example.test.selfsigned.crt")
}

/// A connection to the submission port past STARTTLS and the second EHLO.
fn starttls(s: &Server) -> LineClient {
    use std::io::{BufRead, BufReader, Write};
    let tcp = TcpStream::connect(("127.0.0.1", s.ports.submission)).expect("connect");
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    // The plain-text part; the server sends nothing after its 220 to STARTTLS, so this
    // reader holds no TLS bytes when the handshake starts.
    let mut plain = BufReader::new(tcp.try_clone().expect("clone"));
    let reply = |plain: &mut BufReader<TcpStream>| {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            plain.read_line(&mut line).expect("reply");
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] == b' ' {
                return all;
            }
        }
    };
    assert!(reply(&mut plain).starts_with("220 "));
    let mut w = tcp.try_clone().expect("clone");
    w.write_all(b"EHLO client.example.org\r\n").expect("ehlo");
    reply(&mut plain);
    w.write_all(b"STARTTLS\r\n").expect("starttls");
    assert!(reply(&mut plain).starts_with("220 "));
    let mut c = LineClient::tls_over(tcp, "mail.example.test", &ca(s)).expect("tls");
    let ehlo = c.reply("EHLO client.example.org").expect("ehlo");
    assert!(ehlo.contains("AUTH PLAIN LOGIN"), "{ehlo}");
    c
}

/// MAIL FROM `from` (which must be accepted), RCPT TO bob, DATA `message`: the reply to the
/// data.
fn transaction(c: &mut LineClient, from: &str, message: &str) -> String {
    let r = c.cmd(&format!("MAIL FROM:<{from}>")).expect("mail");
    assert!(r.starts_with("250 "), "{r}");
    let r = c.cmd("RCPT TO:<bob@example.test>").expect("rcpt");
    assert!(r.starts_with("250 "), "{r}");
    assert!(c.cmd("DATA").expect("data").starts_with("354 "));
    c.send_raw(format!("{message}.\r\n").as_bytes())
        .expect("send");
    c.read_line().expect("reply")
}

fn plain_auth(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
    format!("AUTH PLAIN {token}")
}

#[test]
fn smtplib_submits_over_starttls_and_implicit_tls() {
    let s = submission_server();
    let ca = ca(&s);
    let out = python(&format!(
        r#"
import smtplib, ssl
ctx = ssl.create_default_context(cafile="{ca}")
# The certificate is for mail.example.test and smtplib checks it against the host it dials
# (127.0.0.1): the chain is still verified against our CA.
ctx.check_hostname = False
msg = b"From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nSubject: over 587\r\n\r\nHello Bob.\r\n"
with smtplib.SMTP("127.0.0.1", {sub}, local_hostname="client.example.org") as c:
    c.starttls(context=ctx)
    c.login("alice@example.test", "password-1")
    c.sendmail("alice@example.test", ["bob@example.test"], msg)
msg2 = b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <two@client>\r\nFrom: alice@example.test\r\nTo: bob@example.test\r\nSubject: over 465\r\n\r\nAgain.\r\n"
with smtplib.SMTP_SSL("127.0.0.1", {subs}, local_hostname="client.example.org", context=ctx) as c:
    c.login("alice@example.test", "password-1")
    c.sendmail("alice@example.test", ["bob@example.test"], msg2)
print("sent")
"#,
        ca = ca.display(),
        sub = s.ports.submission,
        subs = s.ports.submissions,
    ));
    assert_eq!(out.trim(), "sent");
    let inbox = s.inbox("bob@example.test").expect("inbox");
    assert_eq!(inbox.len(), 2);
    let whole = String::from_utf8_lossy(&inbox[0]).into_owned();
    // Signed by example.test's two keys (RSA, Ed25519), then our trace field: RFC 3848
    // ESMTPSA; RFC 6409 §8: the MSA added Date and Message-ID, before the client's header,
    // which follows byte for byte.
    let received = whole.find("Received: ").expect("Received");
    let signatures = &whole[..received];
    assert_eq!(signatures.matches("DKIM-Signature: ").count(), 2, "{whole}");
    assert!(signatures.starts_with("DKIM-Signature: "), "{whole}");
    assert!(signatures.contains("d=example.test"), "{signatures}");
    let first = &whole[received..];
    assert!(first.starts_with("Received: from client.example.org ([127.0.0.1])\r\n\tby mail.example.test (mailroom) with ESMTPSA id "), "{first}");
    let added = &first[first.find(";\r\n\t").expect("date of Received")..];
    let client_part = "From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nSubject: over 587\r\n\r\nHello Bob.\r\n";
    assert!(added.ends_with(client_part), "{first}");
    assert!(
        added.contains("\r\nDate: ") && added.contains("\r\nMessage-ID: <"),
        "{first}"
    );
    let second = String::from_utf8_lossy(&inbox[1]).into_owned();
    assert!(second.ends_with("Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <two@client>\r\nFrom: alice@example.test\r\nTo: bob@example.test\r\nSubject: over 465\r\n\r\nAgain.\r\n"), "{second}");
    assert_eq!(second.matches("\r\nMessage-ID:").count(), 1, "{second}");
}

#[test]
fn swaks_submits_with_auth_login() {
    let s = submission_server();
    let out = std::process::Command::new("swaks")
        .args(["--server", &format!("127.0.0.1:{}", s.ports.submission)])
        .args(["--helo", "client.example.org", "-tls", "--auth", "LOGIN"])
        .args([
            "--auth-user",
            "alice@example.test",
            "--auth-password",
            "password-1",
        ])
        .args(["--from", "alice@example.test", "--to", "bob@example.test"])
        .args(["--header", "Subject: swaks submission", "--body", "hi"])
        .output()
        .expect("swaks (installed by .ci/run)");
    let transcript = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{transcript}");
    assert!(transcript.contains("235 2.7.0"), "{transcript}");
    let inbox = s.inbox("bob@example.test").expect("inbox");
    assert_eq!(inbox.len(), 1);
    assert!(String::from_utf8_lossy(&inbox[0]).contains("Subject: swaks submission\r\n"));
}

#[test]
fn submission_refuses_auth_before_tls_and_mail_before_auth() {
    let s = submission_server();
    let mut c = LineClient::connect(s.ports.submission).expect("connect");
    assert!(c.read_line().expect("greeting").starts_with("220 "));
    let ehlo = c.reply("EHLO client.example.org").expect("ehlo");
    assert!(
        ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"),
        "{ehlo}"
    );
    let r = c
        .cmd(&plain_auth("alice@example.test", "password-1"))
        .expect("auth");
    assert!(r.starts_with("538 5.7.11 "), "{r}");
    let r = c.cmd("MAIL FROM:<alice@example.test>").expect("mail");
    assert_eq!(r, "530 5.7.0 authentication required\r\n");
    // Over TLS but not logged in: still 530.
    let mut t = starttls(&s);
    let r = t.cmd("MAIL FROM:<alice@example.test>").expect("mail");
    assert_eq!(r, "530 5.7.0 authentication required\r\n");
    // No login was tried, so the login guard remembers no failure.
    assert_eq!(
        s.api_get("/api/v1/lockouts").expect("lockouts"),
        serde_json::json!([])
    );
}

#[test]
fn submission_refuses_a_sender_or_from_the_account_does_not_own() {
    let s = submission_server();
    let out = s
        .cli(
            &["alias", "add", "team@example.test", "alice@example.test"],
            None,
        )
        .expect("alias");
    assert!(out.status.success());
    let mut c = starttls(&s);
    assert!(
        c.cmd(&plain_auth("alice@example.test", "password-1"))
            .expect("auth")
            .starts_with("235 2.7.0")
    );
    let r = c.cmd("MAIL FROM:<bob@example.test>").expect("mail");
    assert_eq!(
        r,
        "550 5.7.1 sender address is not owned by the authenticated account\r\n"
    );
    // The alias pointing at alice is hers to send as; the From: must be hers too.
    let r = transaction(
        &mut c,
        "team@example.test",
        "From: The Boss <boss@example.test>\r\nSubject: forged\r\n\r\nx\r\n",
    );
    assert_eq!(
        r,
        "550 5.7.1 From: address is not owned by the authenticated account\r\n"
    );
    let r = transaction(
        &mut c,
        "alice+lists@example.test",
        "From: Team <team@example.test>\r\nSubject: fine\r\n\r\nx\r\n",
    );
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let inbox = s.inbox("bob@example.test").expect("inbox");
    assert_eq!(inbox.len(), 1, "only the owned From: was delivered");
    assert!(String::from_utf8_lossy(&inbox[0]).contains("Subject: fine\r\n"));
}

#[test]
fn failed_logins_lock_the_account_until_an_admin_lifts_it() {
    let s = submission_server();
    let mut c = starttls(&s);
    for _ in 0..3 {
        let r = c
            .cmd(&plain_auth("alice@example.test", "wrong"))
            .expect("auth");
        assert_eq!(r, "535 5.7.8 authentication credentials invalid\r\n");
    }
    // Locked: even the right password is not checked.
    let r = c
        .cmd(&plain_auth("alice@example.test", "password-1"))
        .expect("auth");
    assert!(
        r.starts_with("454 4.7.0 too many failed logins: this account is locked out until "),
        "{r}"
    );
    // Another connection, same account: still locked; another account is not.
    let mut d = starttls(&s);
    assert!(
        d.cmd(&plain_auth("alice@example.test", "password-1"))
            .expect("auth")
            .starts_with("454 4.7.0")
    );
    let mut e = starttls(&s);
    assert!(
        e.cmd(&plain_auth("bob@example.test", "password-1"))
            .expect("auth")
            .starts_with("235 ")
    );
    let list = s.cli(&["lockout", "list"], None).expect("list");
    let text = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(
        text.contains("account\talice@example.test\tfailures=3\tLOCKED until "),
        "{text}"
    );
    assert!(
        text.contains("ip\t127.0.0.1\tfailures=3\tremembered until "),
        "{text}"
    );
    let out = s
        .cli(&["lockout", "clear", "alice@example.test"], None)
        .expect("clear");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut f = starttls(&s);
    assert!(
        f.cmd(&plain_auth("alice@example.test", "password-1"))
            .expect("auth")
            .starts_with("235 2.7.0")
    );
    // Nothing left to lift: a clear error.
    let out = s
        .cli(&["lockout", "clear", "alice@example.test"], None)
        .expect("clear");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
    let failed = s.events_of("auth_failed").expect("events");
    assert_eq!(failed.len(), 3, "{failed:?}");
}

#[test]
fn a_guessing_client_is_locked_out_whatever_account_it_tries() {
    let s = submission_server();
    let mut c = starttls(&s);
    for i in 0..6 {
        let r = c
            .cmd(&plain_auth(&format!("guess{i}@example.test"), "x"))
            .expect("auth");
        assert!(r.starts_with("535 5.7.8"), "{r}");
    }
    let r = c
        .cmd(&plain_auth("alice@example.test", "password-1"))
        .expect("auth");
    assert!(
        r.starts_with("454 4.7.0 too many failed logins: this client address is locked out until "),
        "{r}"
    );
    let out = s
        .cli(&["lockout", "clear", "127.0.0.1"], None)
        .expect("clear");
    assert!(out.status.success());
    let r = c
        .cmd(&plain_auth("alice@example.test", "password-1"))
        .expect("auth");
    assert!(r.starts_with("235 "), "{r}");
}
