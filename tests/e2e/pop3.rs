//! POP3 end to end over sockets against the built binary: the plain-text rule and STLS
//! (with an injection attempt), pipelined commands in one packet, IN-USE, a dropped
//! connection deleting nothing, UIDL against IMAP, an IMAP session seeing POP3's removals,
//! the idle timeout, and the memory of a 30 MiB RETR.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use crate::{python, server_with, users};
use mailroom_tests::{LineClient, Server, wait_until};

/// Deliver a message with `subject` to alice over SMTP (smtplib).
pub(crate) fn deliver(s: &Server, subject: &str) -> String {
    let msg = format!(
        "From: sender@example.org\r\nTo: alice@example.test\r\nSubject: {subject}\r\n\r\n\
         body of {subject}\r\n.a line with a dot\r\n"
    );
    python(&format!(
        "import smtplib\nc = smtplib.SMTP('127.0.0.1', {})\n\
         c.sendmail('sender@example.org', ['alice@example.test'], {msg:?}.encode())\nc.quit()\n",
        s.ports.smtp
    ));
    msg
}

pub(crate) fn ca(s: &Server) -> PathBuf {
    s.data_dir()
        .join(format!("tls/{}.selfsigned.crt", s.hostname))
}

/// A pop3s client that read the greeting.
fn pop3s(s: &Server) -> LineClient {
    let mut c = LineClient::connect_tls(s.ports.pop3s, &s.hostname, &ca(s)).expect("pop3s");
    assert!(c.read_line().expect("greeting").starts_with("+OK "));
    c
}

/// A pop3s client logged in as alice.
pub(crate) fn alice(s: &Server) -> LineClient {
    let mut c = pop3s(s);
    assert_eq!(
        c.cmd("USER alice@example.test").expect("user"),
        "+OK send PASS\r\n"
    );
    let r = c.cmd("PASS password-1").expect("pass");
    assert!(r.starts_with("+OK maildrop has "), "{r}");
    c
}

/// Read a multi-line answer to its `.` line.
fn multi(c: &mut LineClient) -> String {
    c.read_until(|l| l == ".\r\n").expect("multi-line answer")
}

/// One line from a raw socket, octet by octet (nothing past the LF is consumed).
fn raw_line(tcp: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while tcp.read(&mut b).expect("read") == 1 {
        line.push(b[0]);
        if b[0] == b'\n' {
            break;
        }
    }
    String::from_utf8_lossy(&line).into_owned()
}

#[test]
fn plain_port_refuses_credentials_until_stls_and_drops_injected_lines() {
    let s = users();
    deliver(&s, "one");
    let mut tcp = TcpStream::connect(("127.0.0.1", s.ports.pop3)).expect("pop3");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    assert!(raw_line(&mut tcp).starts_with("+OK mail.example.test POP3"));
    tcp.write_all(b"CAPA\r\n").expect("capa");
    let mut capa = String::new();
    while !capa.ends_with("\r\n.\r\n") {
        capa.push_str(&raw_line(&mut tcp));
    }
    assert!(
        capa.contains("\r\nSTLS\r\n") && !capa.contains("\r\nUSER\r\n"),
        "{capa}"
    );
    tcp.write_all(b"USER alice@example.test\r\n").expect("user");
    assert_eq!(
        raw_line(&mut tcp),
        "-ERR [AUTH] authentication needs TLS: use STLS or the pop3s port\r\n"
    );
    // STLS with a USER in the same packet: the USER must not survive into TLS.
    tcp.write_all(b"STLS\r\nUSER alice@example.test\r\n")
        .expect("stls");
    assert_eq!(raw_line(&mut tcp), "+OK begin TLS negotiation now\r\n");
    let mut c = LineClient::tls_over(tcp, &s.hostname, &ca(&s)).expect("tls");
    assert_eq!(
        c.cmd("PASS password-1").expect("pass"),
        "-ERR PASS must follow USER\r\n"
    );
    let capa = {
        c.send("CAPA").expect("capa");
        multi(&mut c)
    };
    assert!(
        capa.contains("\r\nUSER\r\n") && !capa.contains("STLS"),
        "{capa}"
    );
    c.send("USER alice@example.test").expect("user");
    assert_eq!(c.read_line().expect("user"), "+OK send PASS\r\n");
    assert!(
        c.cmd("PASS password-1")
            .expect("pass")
            .starts_with("+OK maildrop has 1 ")
    );
}

#[test]
fn pipelined_commands_in_one_packet_are_answered_in_order() {
    let s = users();
    let m1 = deliver(&s, "first");
    let m2 = deliver(&s, "second");
    let stored = s.inbox("alice@example.test").expect("inbox");
    let mut c = pop3s(&s);
    c.send_raw(
        b"CAPA\r\nUSER alice@example.test\r\nPASS password-1\r\nSTAT\r\nLIST 2\r\nRETR 1\r\n\
          DELE 1\r\nNOOP\r\nQUIT\r\n",
    )
    .expect("pipeline");
    let capa = multi(&mut c);
    assert!(capa.contains("PIPELINING"), "{capa}");
    assert_eq!(c.read_line().expect("user"), "+OK send PASS\r\n");
    let total = stored[0].len() + stored[1].len();
    assert_eq!(
        c.read_line().expect("pass"),
        format!("+OK maildrop has 2 messages ({total} octets)\r\n")
    );
    assert_eq!(c.read_line().expect("stat"), format!("+OK 2 {total}\r\n"));
    assert_eq!(
        c.read_line().expect("list"),
        format!("+OK 2 {}\r\n", stored[1].len())
    );
    let retr = multi(&mut c);
    assert!(retr.starts_with(&format!("+OK {} octets\r\n", stored[0].len())));
    assert!(retr.contains("\r\n..a line with a dot\r\n"), "{retr}");
    assert!(retr.ends_with(&(m1.replace("\r\n.a", "\r\n..a") + ".\r\n")));
    assert_eq!(c.read_line().expect("dele"), "+OK message 1 deleted\r\n");
    assert_eq!(c.read_line().expect("noop"), "+OK nothing to do\r\n");
    assert_eq!(
        c.read_line().expect("quit"),
        "+OK mail.example.test signing off (1 messages left)\r\n"
    );
    assert!(c.closed());
    let left = s.inbox("alice@example.test").expect("inbox");
    assert_eq!(left.len(), 1);
    assert!(left[0].ends_with(m2.as_bytes()));
}

#[test]
fn a_dropped_connection_deletes_nothing_and_releases_the_maildrop() {
    let s = users();
    deliver(&s, "keep me");
    deliver(&s, "and me");
    let mut first = alice(&s);
    // A second POP3 session is refused while the first holds the maildrop.
    let mut second = pop3s(&s);
    second.cmd("USER alice@example.test").expect("user");
    assert_eq!(
        second.cmd("PASS password-1").expect("pass"),
        "-ERR [IN-USE] the maildrop is in use by another POP3 session\r\n"
    );
    assert_eq!(
        first.cmd("DELE 1").expect("dele"),
        "+OK message 1 deleted\r\n"
    );
    assert_eq!(
        first.cmd("DELE 2").expect("dele"),
        "+OK message 2 deleted\r\n"
    );
    drop(first);
    // Once the server has seen the drop, the maildrop is free again and still full.
    let freed = wait_until(Duration::from_secs(5), || {
        second.cmd("USER alice@example.test").is_ok()
            && second
                .cmd("PASS password-1")
                .is_ok_and(|r| r.starts_with("+OK maildrop has 2 messages"))
    });
    assert!(freed, "the dropped session kept the maildrop");
    assert_eq!(s.inbox("alice@example.test").expect("inbox").len(), 2);
}

/// An IMAP client over imaps, logged in as alice, INBOX selected.
fn imap(s: &Server) -> LineClient {
    let mut c = LineClient::connect_tls(s.ports.imaps, &s.hostname, &ca(s)).expect("imaps");
    c.read_line().expect("greeting");
    let r = c
        .cmd("a LOGIN alice@example.test password-1")
        .expect("login");
    assert!(r.starts_with("a OK"), "{r}");
    c.send("b SELECT INBOX").expect("select");
    c.read_until(|l| l.starts_with("b ")).expect("selected");
    c
}

#[test]
fn uidl_is_the_imap_identity_and_imap_sees_pop3_removals() {
    let s = users();
    for i in 1..=3 {
        deliver(&s, &format!("m{i}"));
    }
    let mut i = imap(&s);
    i.send("c STATUS INBOX (UIDVALIDITY)").expect("status");
    let status = i.read_until(|l| l.starts_with("c ")).expect("status");
    let validity: String = status
        .split("UIDVALIDITY ")
        .nth(1)
        .unwrap_or_default()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    i.send("d UID FETCH 1:* (UID)").expect("fetch");
    let fetched = i.read_until(|l| l.starts_with("d ")).expect("fetch");
    let uids: Vec<String> = fetched
        .lines()
        .filter_map(|l| l.split("(UID ").nth(1))
        .map(|u| u.trim_end_matches(')').to_string())
        .collect();
    assert_eq!(uids.len(), 3, "{fetched}");

    let listing = |c: &mut LineClient| {
        c.send("UIDL").expect("uidl");
        multi(c)
    };
    let mut p = alice(&s);
    let want: String = uids
        .iter()
        .enumerate()
        .map(|(n, uid)| format!("{} {validity}.{uid}\r\n", n + 1))
        .collect();
    assert_eq!(
        listing(&mut p),
        format!("+OK unique-id listing follows\r\n{want}.\r\n")
    );
    p.cmd("DELE 2").expect("dele");
    assert!(p.cmd("QUIT").expect("quit").starts_with("+OK "));

    // The IMAP session hears of the removal as an EXPUNGE of sequence number 2.
    let heard = wait_until(Duration::from_secs(5), || {
        i.send("e NOOP").is_ok()
            && i.read_until(|l| l.starts_with("e "))
                .is_ok_and(|r| r.contains("* 2 EXPUNGE"))
    });
    assert!(heard, "IMAP did not see the POP3 removal");

    // A later session: the same ids for the messages that stayed.
    let mut p = alice(&s);
    let want = format!("1 {validity}.{}\r\n2 {validity}.{}\r\n", uids[0], uids[2]);
    assert_eq!(
        listing(&mut p),
        format!("+OK unique-id listing follows\r\n{want}.\r\n")
    );
}

#[test]
fn an_idle_client_is_logged_out_and_errors_are_limited() {
    let s = server_with("[limits]\ncommand_timeout_secs = 1\nmax_errors_per_session = 3\n");
    let mut c = pop3s(&s);
    assert_eq!(c.cmd("FROB").expect("frob"), "-ERR unknown command\r\n");
    // RFC 2449 §4: a command over 255 octets is refused; the session stays usable.
    assert_eq!(
        c.cmd(&"N".repeat(300)).expect("long"),
        "-ERR command line too long\r\n"
    );
    assert!(c.cmd("CAPA").expect("capa").starts_with("+OK"));
    multi(&mut c);
    assert_eq!(
        c.read_line().expect("timeout"),
        "-ERR idle for too long, closing connection\r\n"
    );
    assert!(c.closed());

    let mut c = pop3s(&s);
    c.send_raw(b"A\r\nB\r\nC\r\nD\r\n").expect("errors");
    assert_eq!(c.read_line().expect("1"), "-ERR unknown command\r\n");
    assert_eq!(c.read_line().expect("2"), "-ERR unknown command\r\n");
    assert_eq!(c.read_line().expect("3"), "-ERR unknown command\r\n");
    assert_eq!(
        c.read_line().expect("close"),
        "-ERR too many errors, closing connection\r\n"
    );
    assert!(c.closed());
}

/// VmRSS of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_30_mib_retr_streams_without_growing_the_server() {
    let mut s = server_with("[limits]\nmax_message_size = 40000000\n");
    s.add_users("example.test", &["alice@example.test"])
        .expect("users");
    // 30 MiB of short lines, every fifth starting with a dot.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("big.eml");
    let mut msg =
        b"From: big@example.org\r\nTo: alice@example.test\r\nSubject: big\r\n\r\n".to_vec();
    let mut n = 0u64;
    while msg.len() < 30 * 1024 * 1024 {
        if n.is_multiple_of(5) {
            msg.push(b'.');
        }
        msg.extend_from_slice(
            format!("line {n} of the big message, padded out a bit\r\n").as_bytes(),
        );
        n += 1;
    }
    std::fs::write(&file, &msg).expect("write");
    python(&format!(
        "import smtplib\nc = smtplib.SMTP('127.0.0.1', {})\n\
         c.sendmail('big@example.org', ['alice@example.test'], open({:?}, 'rb').read())\nc.quit()\n",
        s.ports.smtp,
        file.display()
    ));
    let stored = s.inbox("alice@example.test").expect("inbox").remove(0);
    // Restart, so the memory the delivery used is not there to be reused.
    s.signal("TERM").expect("term");
    s.wait_exit(Duration::from_secs(15)).expect("exited");
    s.spawn().expect("restart");

    let mut c = alice(&s);
    let pid = s.pid();
    let before = rss_kib(pid);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut most = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                most = most.max(rss_kib(pid));
                std::thread::sleep(Duration::from_millis(5));
            }
            most
        })
    };
    c.send("RETR 1").expect("retr");
    let first = c.read_line().expect("+OK");
    assert_eq!(first, format!("+OK {} octets\r\n", stored.len()));
    let mut got = Vec::with_capacity(stored.len());
    loop {
        let line = c.read_line().expect("line");
        assert!(!line.is_empty(), "closed mid-message");
        if line == ".\r\n" {
            break;
        }
        got.extend_from_slice(line.strip_prefix('.').unwrap_or(&line).as_bytes());
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.join().expect("sampler");
    assert!(got == stored, "RETR differs from the stored message");
    let grown_mib = peak.saturating_sub(before) as f64 / 1024.0;
    eprintln!(
        "RETR of {} MiB: server RSS {before} KiB before, peak {peak} KiB",
        stored.len() >> 20
    );
    assert!(
        grown_mib < 8.0,
        "the server grew by {grown_mib:.1} MiB during RETR"
    );
}
