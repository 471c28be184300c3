//! What a client can make the server hold in memory: literals refused before login are
//! dropped as they stream, big messages go through a spool, and the server-wide budget for
//! message data (`[limits] max_inflight_bytes`) turns new transactions away when it is used up.
//! Memory is read from the server's /proc/PID/status.

use crate::server_with;
use mailroom_tests::{LineClient, Server};

const MIB: u64 = 1024 * 1024;

/// The server's resident memory, in octets.
fn rss(s: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid())).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

fn imap(s: &Server) -> LineClient {
    let mut c = LineClient::connect(s.ports.imap).expect("imap");
    assert!(c.read_line().expect("greeting").starts_with("* OK "));
    c
}

fn login(s: &Server) -> LineClient {
    let mut c = imap(s);
    let r = c
        .cmd("a LOGIN alice@example.test password-1")
        .expect("login");
    assert!(r.starts_with("a OK "), "{r}");
    c
}

fn with_users(extra: &str) -> Server {
    let s = server_with(&format!(
        "[security]\nallow_plaintext_auth = true\n\n{extra}"
    ));
    s.add_users("example.test", &["alice@example.test"])
        .expect("users");
    s
}

/// Stream `total` octets of `line`s (76 characters and CRLF) in 64 KiB writes.
fn stream_lines(c: &mut LineClient, total: usize) -> Vec<u8> {
    let line = format!("{}\r\n", "y".repeat(76));
    let mut chunk = Vec::new();
    while chunk.len() + line.len() <= 64 * 1024 {
        chunk.extend_from_slice(line.as_bytes());
    }
    let mut sent = Vec::with_capacity(total);
    while sent.len() + chunk.len() <= total {
        c.send_raw(&chunk).expect("stream");
        sent.extend_from_slice(&chunk);
    }
    sent
}

#[test]
fn a_huge_literal_before_login_is_refused_and_not_held() {
    let s = server_with("");
    let mut c = imap(&s);
    let before = rss(&s);
    // RFC 7888 §4: a non-synchronizing literal over the server's limit is refused with a
    // tagged BAD (RFC 9051 §7.1 TOOBIG) and its octets are read and dropped, not kept.
    c.send_raw(b"a LOGIN {999999999+}\r\n").expect("announce");
    let r = c.read_line().expect("refusal");
    assert!(r.starts_with("a BAD [TOOBIG] "), "{r}");
    stream_lines(&mut c, 30 * 1024 * 1024);
    let grown = rss(&s).saturating_sub(before);
    assert!(grown < 16 * MIB, "the server grew by {grown} octets");
    // Newcomers are served meanwhile.
    let mut fresh = imap(&s);
    assert!(fresh.cmd("b NOOP").expect("noop").starts_with("b OK "));
}

#[test]
fn refused_literals_leave_the_session_usable() {
    let s = server_with("");
    let mut c = imap(&s);
    // RFC 9051 §7.5: a synchronizing literal over the limit gets its refusal instead of the
    // "+", and the client does not send it.
    let r = c.cmd("a LOGIN {99999}").expect("refusal");
    assert!(r.starts_with("a BAD [TOOBIG] "), "{r}");
    assert!(c.cmd("b NOOP").expect("noop").starts_with("b OK "));
    // RFC 7888 §4: a non-synchronizing one is read and dropped with the rest of its command;
    // the next command is answered as usual.
    let mut bytes = b"c LOGIN {20000+}\r\n".to_vec();
    bytes.extend_from_slice(&[b'z'; 20000]);
    bytes.extend_from_slice(b" {3+}\r\nabc\r\nd NOOP\r\n");
    c.send_raw(&bytes).expect("send");
    let r = c.read_line().expect("refusal");
    assert!(r.starts_with("c BAD [TOOBIG] "), "{r}");
    let r = c.read_line().expect("noop");
    assert!(r.starts_with("d OK "), "{r}");
    // Before login a whole command stays small, even made of small literals.
    let mut bytes = b"e LOGIN {6000+}\r\n".to_vec();
    bytes.extend_from_slice(&[b'u'; 6000]);
    bytes.extend_from_slice(b" {6000+}\r\n");
    bytes.extend_from_slice(&[b'p'; 6000]);
    bytes.extend_from_slice(b" {6000+}\r\n");
    bytes.extend_from_slice(&[b'q'; 6000]);
    bytes.extend_from_slice(b"\r\nf NOOP\r\n");
    c.send_raw(&bytes).expect("send");
    let r = c.read_line().expect("refusal");
    assert!(r.starts_with("e BAD [TOOBIG] "), "{r}");
    let r = c.read_line().expect("noop");
    assert!(r.starts_with("f OK "), "{r}");
}

/// The body of message 1 of alice's INBOX, as FETCH BODY[TEXT] returns it.
fn fetch_text(s: &Server) -> Vec<u8> {
    let mut c = login(s);
    c.send("b SELECT INBOX").expect("select");
    c.read_until(|l| l.starts_with("b ")).expect("selected");
    c.send("c FETCH 1 BODY.PEEK[TEXT]").expect("fetch");
    let head = c.read_line().expect("fetch line");
    let n: usize = head
        .rsplit_once('{')
        .and_then(|(_, n)| n.trim_end().strip_suffix('}'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no literal in {head:?}"));
    let mut body = Vec::with_capacity(n);
    while body.len() < n {
        let line = c.read_line().expect("literal");
        assert!(!line.is_empty(), "closed inside the literal");
        body.extend_from_slice(line.as_bytes());
    }
    body.truncate(n);
    body
}

#[test]
fn a_25_mb_message_is_delivered_intact_while_the_connection_stays_small() {
    let s = with_users("");
    let mut c = LineClient::connect(s.ports.smtp).expect("smtp");
    c.read_line().expect("greeting");
    c.reply("EHLO client.example.org").expect("ehlo");
    assert!(
        c.reply("MAIL FROM:<a@example.org>")
            .expect("mail")
            .starts_with("250")
    );
    assert!(
        c.reply("RCPT TO:<alice@example.test>")
            .expect("rcpt")
            .starts_with("250")
    );
    assert!(c.reply("DATA").expect("data").starts_with("354"));
    let before = rss(&s);
    c.send_raw(b"Subject: big\r\n\r\n").expect("head");
    let body = stream_lines(&mut c, 25_000_000);
    // Everything but the end of data has arrived: the body is on disk, not in memory.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let grown = rss(&s).saturating_sub(before);
    assert!(grown < 16 * MIB, "the server grew by {grown} octets");
    let r = c.reply(".").expect("end of data");
    assert!(r.starts_with("250 "), "{r}");
    assert_eq!(fetch_text(&s), body, "delivered intact");
}

#[test]
fn a_used_up_budget_turns_new_transactions_away() {
    // Room for exactly one message being received in memory (the spool's 128 KiB).
    let s = with_users("[limits]\nmax_inflight_bytes = 131072\n");
    let mut a = LineClient::connect(s.ports.smtp).expect("a");
    a.read_line().expect("greeting");
    a.reply("EHLO a.example.org").expect("ehlo");
    a.reply("MAIL FROM:<a@example.org>").expect("mail");
    a.reply("RCPT TO:<alice@example.test>").expect("rcpt");
    assert!(a.reply("DATA").expect("data").starts_with("354"));

    let mut b = LineClient::connect(s.ports.smtp).expect("b");
    b.read_line().expect("greeting");
    b.reply("EHLO b.example.org").expect("ehlo");
    b.reply("MAIL FROM:<b@example.org>").expect("mail");
    b.reply("RCPT TO:<alice@example.test>").expect("rcpt");
    // RFC 3463 4.3.1: mail system full, for now.
    assert_eq!(
        b.reply("DATA").expect("data"),
        "452 4.3.1 insufficient system resources, try again later\r\n"
    );
    // BDAT (RFC 3030 §2): the chunk is read and dropped, then refused the same way.
    b.send_raw(b"BDAT 5 LAST\r\nhello").expect("bdat");
    let r = b.read_line().expect("bdat reply");
    assert!(r.starts_with("452 4.3.1 "), "{r}");

    // IMAP: a big APPEND gets NO [LIMIT] (RFC 5530 §3) instead of the "+".
    let mut i = login(&s);
    let r = i.cmd("b APPEND INBOX {300000}").expect("append");
    assert!(r.starts_with("b NO [LIMIT] "), "{r}");
    assert!(i.cmd("c NOOP").expect("noop").starts_with("c OK "));

    // The transaction under way finishes, and gives its room back.
    assert!(
        a.reply("Subject: a\r\n\r\nhi\r\n.")
            .expect("dot")
            .starts_with("250 ")
    );
    b.reply("RSET").expect("rset");
    b.reply("MAIL FROM:<b@example.org>").expect("mail");
    b.reply("RCPT TO:<alice@example.test>").expect("rcpt");
    let r = b.reply("DATA").expect("data");
    assert!(r.starts_with("354"), "{r}");
}
