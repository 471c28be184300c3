//! SMTP receiving (MX role) end to end: real clients deliver over real sockets, and the stored
//! message is checked byte for byte.

use crate::{python, users};
use mailroom_tests::{LineClient, after_trace};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const MESSAGE: &str = "From: Sender <sender@example.org>\r\nTo: alice@example.test\r\nSubject: smtplib test\r\nMessage-ID: <1@example.org>\r\n\r\nHello Alice,\r\n.a line starting with a dot\r\n\r\nbye\r\n";

#[test]
fn python_smtplib_delivers_byte_identical() {
    let s = users();
    let script = format!(
        "import smtplib\nmsg = {MESSAGE:?}.encode()\n\
         with smtplib.SMTP('127.0.0.1', {port}, local_hostname='client.example.org') as c:\n\
         \x20   refused = c.sendmail('sender@example.org', ['alice@example.test', 'bob@example.test'], msg)\n\
         \x20   print(refused)\n",
        port = s.ports.smtp
    );
    assert_eq!(python(&script).trim(), "{}");
    for who in ["alice@example.test", "bob@example.test"] {
        let inbox = s.inbox(who).expect("inbox");
        assert_eq!(inbox.len(), 1, "{who}");
        assert_eq!(
            String::from_utf8_lossy(after_trace(&inbox[0])),
            MESSAGE,
            "{who}'s copy differs"
        );
        let head = String::from_utf8_lossy(&inbox[0][..200]).into_owned();
        assert!(head.starts_with("Return-Path: <sender@example.org>\r\nReceived: from client.example.org ([127.0.0.1])\r\n\tby mail.example.test (mailroom) with ESMTP id "), "{head}");
    }
    // That the body is stored once for both is the store's own property, tested there
    // (store/src/sqlite/tests.rs: same_body_to_three_recipients_is_one_blob_with_refcount_three).
}

#[test]
fn python_smtplib_with_starttls() {
    let s = users();
    let ca = s.data_dir().join("tls/mail.example.test.selfsigned.crt");
    let script = format!(
        "import smtplib, ssl\nctx = ssl.create_default_context(cafile={ca:?})\n\
         with smtplib.SMTP('127.0.0.1', {port}, local_hostname='client.example.org') as c:\n\
         \x20   c.ehlo()\n\
         \x20   c._host = 'mail.example.test'\n\
         \x20   c.starttls(context=ctx)\n\
         \x20   c.ehlo()\n\
         \x20   print('STARTTLS' in c.esmtp_features and 'advertised again' or 'ok')\n\
         \x20   c.sendmail('sender@example.org', ['alice@example.test'], b'Subject: tls\\r\\n\\r\\nover TLS\\r\\n')\n",
        ca = ca.display().to_string(),
        port = s.ports.smtp
    );
    assert_eq!(python(&script).trim(), "ok");
    let inbox = s.inbox("alice@example.test").expect("inbox");
    let text = String::from_utf8_lossy(&inbox[0]).into_owned();
    assert!(text.contains(" with ESMTPS id "), "{text}");
    assert!(text.ends_with("Subject: tls\r\n\r\nover TLS\r\n"), "{text}");
}

#[test]
fn unknown_users_and_relaying_are_refused_at_rcpt() {
    let s = users();
    let mut c = LineClient::connect(s.ports.smtp).expect("connect");
    c.read_line().expect("greeting");
    c.send("EHLO c.example.org").expect("ehlo");
    c.read_until(|l| l.starts_with("250 ")).expect("ehlo reply");
    assert_eq!(
        c.cmd("MAIL FROM:<x@example.org>").expect("mail"),
        "250 2.1.0 sender OK\r\n"
    );
    assert_eq!(
        c.cmd("RCPT TO:<nobody@example.test>").expect("rcpt"),
        "550 5.1.1 <nobody@example.test>: no such user here\r\n"
    );
    assert_eq!(
        c.cmd("RCPT TO:<victim@elsewhere.example>").expect("rcpt"),
        "550 5.7.1 <victim@elsewhere.example>: relaying denied\r\n"
    );
    assert_eq!(
        c.cmd("DATA").expect("data"),
        "554 5.5.1 no valid recipients\r\n"
    );
    // An alias and sub-addressing resolve to alice.
    let out = s
        .cli(
            &[
                "alias",
                "add",
                "postmaster@example.test",
                "alice@example.test",
            ],
            None,
        )
        .expect("alias");
    assert!(out.status.success());
    assert_eq!(
        c.cmd("RCPT TO:<postmaster@example.test>").expect("rcpt"),
        "250 2.1.5 recipient OK\r\n"
    );
    assert_eq!(
        c.cmd("RCPT TO:<alice+lists@example.test>").expect("rcpt"),
        "250 2.1.5 recipient OK\r\n"
    );
    assert_eq!(
        c.cmd("DATA").expect("data"),
        "354 end data with <CR><LF>.<CR><LF>\r\n"
    );
    assert!(
        c.cmd("Subject: x\r\n\r\nhi\r\n.")
            .expect("end")
            .starts_with("250 2.0.0 OK")
    );
    assert_eq!(
        s.inbox("alice@example.test").expect("inbox").len(),
        1,
        "stored once for two RCPTs to alice"
    );
}

#[test]
fn pipelined_transaction_in_one_packet() {
    let s = users();
    let mut tcp = TcpStream::connect(("127.0.0.1", s.ports.smtp)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut reader = BufReader::new(tcp.try_clone().expect("clone"));
    let mut line = String::new();
    reader.read_line(&mut line).expect("greeting");
    tcp.write_all(b"EHLO c.example.org\r\nMAIL FROM:<x@example.org>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
        .expect("write");
    let mut codes = Vec::new();
    while codes.last().map(String::as_str) != Some("354") {
        line.clear();
        reader.read_line(&mut line).expect("reply");
        if line.as_bytes().get(3) == Some(&b' ') {
            codes.push(line[..3].to_string());
        }
    }
    assert_eq!(codes, ["250", "250", "250", "250", "354"]);
    tcp.write_all(b"Subject: pipelined\r\n\r\nbody\r\n.\r\nQUIT\r\n")
        .expect("write");
    let mut rest = String::new();
    reader.read_to_string(&mut rest).expect("rest");
    assert!(rest.starts_with("250 2.0.0 OK, stored as "), "{rest}");
    assert!(
        rest.ends_with("221 2.0.0 mail.example.test closing connection\r\n"),
        "{rest}"
    );
    assert_eq!(s.inbox("bob@example.test").expect("inbox").len(), 1);
}

#[test]
fn starttls_injection_is_not_executed() {
    let s = users();
    let ca = s.data_dir().join("tls/mail.example.test.selfsigned.crt");
    let mut tcp = TcpStream::connect(("127.0.0.1", s.ports.smtp)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut byte = [0u8; 1];
    let mut read_line = |tcp: &mut TcpStream| {
        let mut line = Vec::new();
        while !line.ends_with(b"\n") {
            tcp.read_exact(&mut byte).expect("read");
            line.push(byte[0]);
        }
        String::from_utf8_lossy(&line).into_owned()
    };
    read_line(&mut tcp);
    tcp.write_all(b"EHLO c.example.org\r\n").expect("ehlo");
    while !read_line(&mut tcp).starts_with("250 ") {}
    // The plaintext MAIL rides in the same packet as STARTTLS.
    tcp.write_all(b"STARTTLS\r\nMAIL FROM:<injected@example.org>\r\n")
        .expect("write");
    assert_eq!(read_line(&mut tcp), "220 2.0.0 ready to start TLS\r\n");
    let mut tls = LineClient::tls_over(tcp, "mail.example.test", &ca).expect("handshake");
    tls.send("EHLO c.example.org").expect("ehlo");
    let ehlo = tls.read_until(|l| l.starts_with("250 ")).expect("ehlo");
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    // Had the injected MAIL run, this RCPT would be accepted.
    assert_eq!(
        tls.cmd("RCPT TO:<alice@example.test>").expect("rcpt"),
        "503 5.5.1 need MAIL before RCPT\r\n"
    );
}

#[test]
fn a_client_that_disconnects_mid_data_leaves_nothing() {
    let s = users();
    let mut c = LineClient::connect(s.ports.smtp).expect("connect");
    c.read_line().expect("greeting");
    c.cmd("HELO c.example.org").expect("helo");
    c.cmd("MAIL FROM:<x@example.org>").expect("mail");
    c.cmd("RCPT TO:<alice@example.test>").expect("rcpt");
    assert!(c.cmd("DATA").expect("data").starts_with("354 "));
    c.send_raw(b"Subject: half\r\n\r\nonly half of it")
        .expect("half");
    drop(c);
    // A whole message from another client afterwards: once it is there, the half one had
    // long been dealt with, and must not be.
    let mut d = LineClient::connect(s.ports.smtp).expect("connect");
    assert!(d.read_line().expect("greeting").starts_with("220 "));
    d.cmd("HELO c.example.org").expect("helo");
    d.cmd("MAIL FROM:<y@example.org>").expect("mail");
    d.cmd("RCPT TO:<alice@example.test>").expect("rcpt");
    d.cmd("DATA").expect("data");
    assert!(
        d.cmd("Subject: whole\r\n\r\nall of it\r\n.")
            .expect("end")
            .starts_with("250 ")
    );
    let inbox = s.inbox("alice@example.test").expect("inbox");
    assert_eq!(inbox.len(), 1);
    assert!(inbox[0].ends_with(b"Subject: whole\r\n\r\nall of it\r\n"));
}

#[test]
fn over_quota_is_refused_at_rcpt_or_after_data() {
    let s = users();
    let out = s
        .cli(
            &[
                "user",
                "add",
                "tiny@example.test",
                "--quota",
                "100",
                "--password-stdin",
            ],
            Some("password-1\n"),
        )
        .expect("cli");
    assert!(out.status.success());
    let mut c = LineClient::connect(s.ports.smtp).expect("connect");
    c.read_line().expect("greeting");
    c.send("EHLO c.example.org").expect("ehlo");
    c.read_until(|l| l.starts_with("250 ")).expect("ehlo");
    // A declared size that cannot fit: refused at RCPT, temporarily.
    c.cmd("MAIL FROM:<x@example.org> SIZE=500").expect("mail");
    assert_eq!(
        c.cmd("RCPT TO:<tiny@example.test>").expect("rcpt"),
        "452 4.2.2 <tiny@example.test>: mailbox full\r\n"
    );
    assert_eq!(c.cmd("RSET").expect("rset"), "250 2.0.0 OK\r\n");
    // Without SIZE the RCPT passes, and the store refuses the data.
    c.cmd("MAIL FROM:<x@example.org>").expect("mail");
    assert_eq!(
        c.cmd("RCPT TO:<tiny@example.test>").expect("rcpt"),
        "250 2.1.5 recipient OK\r\n"
    );
    c.cmd("DATA").expect("data");
    let big = format!("Subject: big\r\n\r\n{}\r\n.", "y".repeat(300));
    assert_eq!(
        c.cmd(&big).expect("end"),
        "552 5.2.2 mailbox of tiny@example.test is full\r\n"
    );
    assert!(s.inbox("tiny@example.test").expect("inbox").is_empty());
}
