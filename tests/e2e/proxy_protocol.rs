//! PROXY protocol end to end: on a listener named in `[proxy_protocol]`, a trusted peer's v1
//! or v2 header (haproxy's proxy-protocol.txt §2.1, §2.2) replaces the socket's peer for the
//! login guard, the session list and SMTP's `Received:` field; an untrusted peer, or a trusted one without a valid
//! header, is closed without a greeting; other listeners greet at once.

use mailroom_tests::{LineClient, Server};
use serde_json::Value;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const PASSWORD: &str = "password-1";

/// A server whose IMAP and IMAPS listeners take PROXY headers from `trusted`.
fn proxied_server(trusted: &str) -> Server {
    let s = crate::server_with(&format!(
        "[security]\nallow_plaintext_auth = true\nauth_failure_delay_ms = 10\n\
         lockout_failures = 100\nlockout_failures_per_ip = 2\nlockout_secs = 600\n\
         [proxy_protocol]\nlisteners = [\"imap\", \"imaps\"]\ntrusted = [{trusted}]\n"
    ));
    s.add_users("example.test", &["alice@example.test", "bob@example.test"])
        .expect("users");
    s
}

/// §2.1: a v1 line for a TCP4 client.
fn v1(client: &str, client_port: u16, server_port: u16) -> Vec<u8> {
    format!("PROXY TCP4 {client} 127.0.0.1 {client_port} {server_port}\r\n").into_bytes()
}

/// §2.2: a v2 PROXY/TCP4 header with one TLV (PP2_TYPE_UNIQUE_ID) the server must skip.
fn v2(client: [u8; 4], client_port: u16, server_port: u16) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0x00, 12 + 6]);
    h.extend_from_slice(&client);
    h.extend_from_slice(&[127, 0, 0, 1]);
    h.extend_from_slice(&client_port.to_be_bytes());
    h.extend_from_slice(&server_port.to_be_bytes());
    h.extend_from_slice(&[0x05, 0x00, 0x03, b'i', b'd', b'1']);
    h
}

/// Connect to `port`, send `header`, and hand over a line client.
fn connect_with(port: u16, header: &[u8]) -> TcpStream {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    tcp.write_all(header).expect("header");
    tcp
}

fn imap_login(c: &mut LineClient, user: &str, password: &str) -> String {
    let greeting = c.read_line().expect("greeting");
    assert!(greeting.starts_with("* OK"), "{greeting}");
    c.send(&format!("a LOGIN {user} {password}"))
        .expect("LOGIN");
    c.read_until(|l| l.starts_with("a "))
        .expect("answer")
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

/// The connection ends (EOF, or a reset because the server left our bytes unread) without
/// the server having sent one octet, and well before the read timeout.
fn assert_closed_without_a_word(mut tcp: TcpStream) {
    let started = Instant::now();
    let mut got = Vec::new();
    match tcp.read_to_end(&mut got) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("not closed: {e} after {:?}", started.elapsed()),
    }
    assert!(
        got.is_empty(),
        "the server spoke: {:?}",
        String::from_utf8_lossy(&got)
    );
}

fn sessions(s: &Server) -> Vec<Value> {
    match s.api_get("/api/v1/sessions").expect("sessions") {
        Value::Array(list) => list,
        other => panic!("not a list: {other}"),
    }
}

#[test]
fn a_v1_header_names_the_client_to_the_login_guard() {
    let s = proxied_server("\"127.0.0.1/32\"");
    for port in [40001, 40002] {
        let tcp = connect_with(s.ports.imap, &v1("203.0.113.7", port, s.ports.imap));
        let mut c = LineClient::from_tcp(tcp);
        let answer = imap_login(&mut c, "bob@example.test", "wrong-password");
        assert!(answer.starts_with("a NO"), "{answer}");
    }
    // Two failures from 203.0.113.7 lock that address (lockout_failures_per_ip = 2); the
    // socket's own address, 127.0.0.1, was never counted.
    let lockouts = s.api_get("/api/v1/lockouts").expect("lockouts");
    let rows = lockouts.as_array().expect("array");
    let ip = rows
        .iter()
        .find(|r| r["scope"] == "ip" && r["target"] == "203.0.113.7")
        .unwrap_or_else(|| panic!("no lockout of 203.0.113.7: {lockouts}"));
    assert_eq!(ip["failures"], 2, "{ip}");
    assert_eq!(ip["locked"], true, "{ip}");
    assert!(
        !rows.iter().any(|r| r["target"] == "127.0.0.1"),
        "{lockouts}"
    );
    // Locked out as 203.0.113.7, even with the right password; as another client, not.
    let tcp = connect_with(s.ports.imap, &v1("203.0.113.7", 40003, s.ports.imap));
    let answer = imap_login(
        &mut LineClient::from_tcp(tcp),
        "alice@example.test",
        PASSWORD,
    );
    assert!(answer.starts_with("a NO"), "{answer}");
    let tcp = connect_with(s.ports.imap, &v1("198.51.100.20", 40004, s.ports.imap));
    let answer = imap_login(
        &mut LineClient::from_tcp(tcp),
        "alice@example.test",
        PASSWORD,
    );
    assert!(answer.starts_with("a OK"), "{answer}");
}

#[test]
fn a_v2_header_before_tls_names_the_client_in_the_session_list() {
    let s = proxied_server("\"127.0.0.1/32\"");
    // The TLS ClientHello follows the header at once: the server must read the header and
    // not one octet more.
    let tcp = connect_with(s.ports.imaps, &v2([198, 51, 100, 9], 41000, s.ports.imaps));
    let mut c =
        LineClient::tls_over(tcp, &s.hostname, &crate::pop3::ca(&s)).expect("TLS after header");
    let answer = imap_login(&mut c, "alice@example.test", PASSWORD);
    assert!(answer.starts_with("a OK"), "{answer}");
    let listed = sessions(&s);
    let mine = listed
        .iter()
        .find(|x| x["account"] == "alice@example.test")
        .unwrap_or_else(|| panic!("the IMAPS session is not listed: {listed:?}"));
    assert_eq!(mine["kind"], "imaps", "{mine}");
    assert_eq!(mine["peer"], "198.51.100.9:41000", "{mine}");
}

#[test]
fn a_trusted_peer_without_a_valid_header_gets_no_greeting() {
    let s = proxied_server("\"127.0.0.1/32\"");
    // A client that talks IMAP directly.
    assert_closed_without_a_word(connect_with(s.ports.imap, b"a LOGIN x y\r\n"));
    // A v1 line with an address of the wrong family (§2.1).
    assert_closed_without_a_word(connect_with(
        s.ports.imap,
        b"PROXY TCP4 2001:db8::1 127.0.0.1 1 2\r\n",
    ));
    // A header that stops halfway: closed at the deadline.
    assert_closed_without_a_word(connect_with(s.ports.imap, b"PROXY TCP4 203.0.113.7"));
    // A v1 line that does not end within 107 octets (§2.1).
    let mut long = b"PROXY TCP4 ".to_vec();
    long.resize(300, b'1');
    assert_closed_without_a_word(connect_with(s.ports.imap, &long));
    // LOCAL (§2.2, a proxy's health check) keeps the socket's address: a normal session.
    let local = [&b"\r\n\r\n\0\r\nQUIT\n"[..], &[0x20, 0x00, 0x00, 0x00]].concat();
    // (The client stays open so that its session is listed.)
    let mut c = LineClient::from_tcp(connect_with(s.ports.imap, &local));
    let answer = imap_login(&mut c, "alice@example.test", PASSWORD);
    assert!(answer.starts_with("a OK"), "{answer}");
    let listed = sessions(&s);
    let peer = listed
        .iter()
        .find(|x| x["account"] == "alice@example.test")
        .map(|x| x["peer"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    assert!(peer.starts_with("127.0.0.1:"), "{listed:?}");
    let log = s.log();
    assert!(log.contains("no PROXY protocol signature"), "{log}");
}

#[test]
fn an_untrusted_peer_is_closed_and_other_listeners_greet_at_once() {
    let s = proxied_server("\"10.0.0.0/8\", \"::1\"");
    // 127.0.0.1 is not trusted: closed without a greeting, header or not.
    assert_closed_without_a_word(connect_with(s.ports.imap, b""));
    assert_closed_without_a_word(connect_with(
        s.ports.imap,
        &v1("203.0.113.7", 40001, s.ports.imap),
    ));
    let log = s.log();
    assert!(log.contains("proxy_protocol.trusted"), "{log}");
    // POP3 is not in proxy_protocol.listeners: it greets as ever, without a header.
    let mut pop = LineClient::connect(s.ports.pop3).expect("pop3");
    let greeting = pop.read_line().expect("greeting");
    assert!(greeting.starts_with("+OK"), "{greeting}");
}

#[test]
fn an_smtp_client_behind_the_proxy_is_the_one_named_in_received() {
    let s = crate::server_with(
        "[proxy_protocol]\nlisteners = [\"smtp\"]\ntrusted = [\"127.0.0.0/8\"]\n",
    );
    s.add_users("example.test", &["alice@example.test"])
        .expect("users");
    let tcp = connect_with(s.ports.smtp, &v1("203.0.113.7", 40001, s.ports.smtp));
    let mut c = LineClient::from_tcp(tcp);
    let greeting = c
        .read_until(|l| l.len() < 4 || l.as_bytes()[3] == b' ')
        .expect("greeting");
    assert!(greeting.starts_with("220"), "{greeting}");
    for (line, code) in [
        ("EHLO client.example.org", "250"),
        ("MAIL FROM:<sender@example.org>", "250"),
        ("RCPT TO:<alice@example.test>", "250"),
        ("DATA", "354"),
    ] {
        let reply = c.reply(line).expect(line);
        assert!(reply.starts_with(code), "{line}: {reply}");
    }
    let reply = c
        .reply("Subject: via the proxy\r\n\r\nhello\r\n.")
        .expect("data");
    assert!(reply.starts_with("250"), "{reply}");
    assert!(
        s.inbox_reaches("alice@example.test", 1, Duration::from_secs(10)),
        "not delivered"
    );
    let message =
        String::from_utf8_lossy(&s.inbox("alice@example.test").expect("inbox")[0]).into_owned();
    assert!(
        message.contains("Received: from client.example.org ([203.0.113.7])"),
        "{message}"
    );
}
