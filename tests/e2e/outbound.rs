//! The outbound queue end to end: a client submits to instance A, which delivers by MX
//! lookup (the harness DNS server) or through a relay to instance B or to a scripted SMTP
//! listener on 127.0.0.1. Mail enters the queue as users send it: submitted over 587
//! (`submit`); the queue is watched through the admin API (`GET /api/v1/queue`).

use crate::server_with;
use mailroom_tests::{Server, after_trace, submit, wait_until};
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const WAIT: Duration = Duration::from_secs(30);
pub(crate) const MESSAGE: &str = "From: alice@example.test\r\nTo: bob@remote.test\r\nSubject: outbound\r\nMessage-ID: <o1@example.test>\r\nDate: Wed, 2 Dec 2026 05:00:00 +0000\r\n\r\nHello Bob,\r\n.a dotted line\r\n";

/// Fast retries for tests.
const FAST: &str = "retry_schedule_secs = [1]\njitter_percent = 0\n";

pub(crate) fn ca(s: &Server) -> std::path::PathBuf {
    s.data_dir()
        .join(format!("tls/{}.selfsigned.crt", s.hostname))
}

/// Instance A with alice@example.test, delivering to `port` for MX lookups of remote.test.
fn sender(outbound: &str) -> Server {
    let a = server_with(&format!("[outbound]\n{outbound}\n"));
    a.add_users("example.test", &["alice@example.test"])
        .expect("users");
    a
}

pub(crate) fn point_mx_at_loopback(a: &Server) {
    a.dns.mx("remote.test", 10, "mx.remote.test").expect("mx");
    a.dns.ip("mx.remote.test", LOOPBACK);
}

pub(crate) fn alice_submits(a: &Server, to: &[&str]) -> String {
    submit(
        a.ports.submission,
        &a.hostname,
        &ca(a),
        "alice@example.test",
        "password-1",
        "alice@example.test",
        to,
        MESSAGE,
    )
    .expect("submission")
}

/// A scripted SMTP server: RCPT codes per address in turn (then 250), end-of-DATA codes in
/// turn (then 250); records what it accepted. While `hold` is set it answers no end of
/// DATA (counting them in `held`), as a destination that is slow to take a message.
#[derive(Default)]
pub(crate) struct Script {
    pub(crate) rcpt: HashMap<String, VecDeque<u16>>,
    pub(crate) data_end: VecDeque<u16>,
    pub(crate) accepted: Vec<(Vec<String>, String)>,
    pub(crate) hold: bool,
    pub(crate) held: usize,
}

/// Whether the other end of `stream` has closed it (a read would say end of stream now).
fn peer_closed(stream: &std::net::TcpStream) -> bool {
    let mut probe = [0u8; 1];
    let _ = stream.set_nonblocking(true);
    let closed = match stream.peek(&mut probe) {
        Ok(n) => n == 0,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    let _ = stream.set_nonblocking(false);
    closed
}

pub(crate) fn scripted(script: Arc<Mutex<Script>>) -> u16 {
    let listener = mailroom_tests::listen_on_free_port();
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let script = script.clone();
            std::thread::spawn(move || {
                let mut w = stream.try_clone().expect("clone");
                let mut r = BufReader::new(stream);
                let _ = w.write_all(b"220 scripted ESMTP\r\n");
                let mut rcpts = Vec::new();
                let mut line = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let cmd = line.to_ascii_uppercase();
                    let reply = if cmd.starts_with("EHLO") {
                        "250-scripted\r\n250 SIZE 1000000\r\n".to_string()
                    } else if cmd.starts_with("RCPT") {
                        let addr = line[line.find('<').map_or(0, |i| i + 1)
                            ..line.find('>').unwrap_or(line.len())]
                            .to_string();
                        let code = script
                            .lock()
                            .expect("lock")
                            .rcpt
                            .get_mut(&addr)
                            .and_then(VecDeque::pop_front)
                            .unwrap_or(250);
                        if code == 250 {
                            rcpts.push(addr);
                        }
                        format!("{code} rcpt\r\n")
                    } else if cmd.starts_with("DATA") {
                        let _ = w.write_all(b"354 go\r\n");
                        let mut body = String::new();
                        loop {
                            line.clear();
                            if r.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line == ".\r\n" {
                                break;
                            }
                            body.push_str(&line);
                        }
                        let mut counted = false;
                        while script.lock().expect("lock").hold {
                            if !counted {
                                script.lock().expect("lock").held += 1;
                                counted = true;
                            }
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        // A client that went away while held never hears the answer: the
                        // message is not taken (RFC 5321 §4.1.1.4).
                        if counted && peer_closed(r.get_ref()) {
                            return;
                        }
                        let mut s = script.lock().expect("lock");
                        let code = s.data_end.pop_front().unwrap_or(250);
                        if code == 250 {
                            s.accepted.push((std::mem::take(&mut rcpts), body));
                        }
                        format!("{code} data\r\n")
                    } else if cmd.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n");
                        return;
                    } else {
                        "250 ok\r\n".into()
                    };
                    if w.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[test]

fn submission_is_delivered_by_mx_to_another_instance() {
    let b = server_with("");
    b.add_users("remote.test", &["bob@remote.test"])
        .expect("users");
    let a = sender(&format!("mx_port = {}\n", b.ports.smtp));
    point_mx_at_loopback(&a);
    assert!(alice_submits(&a, &["bob@remote.test"]).starts_with("250"));
    assert!(
        b.inbox_reaches("bob@remote.test", 1, WAIT),
        "B got it; A's log:\n{}",
        a.log()
    );
    let stored = b.inbox("bob@remote.test").expect("inbox").remove(0);
    assert_eq!(
        String::from_utf8_lossy(after_signature(&stored)),
        MESSAGE,
        "byte-identical apart from B's trace fields and A's signature and trace"
    );
    // Opportunistic STARTTLS (RFC 3207) to B's self-signed certificate: B saw TLS.
    let head = String::from_utf8_lossy(&stored[..stored.len().min(400)]).into_owned();
    assert!(head.contains("with ESMTPS"), "{head}");
    assert!(wait_until(WAIT, || queued_rows(&a) == 0));
    assert!(a.dns.queries() > 0, "delivery asked the DNS server");
}

#[test]

fn a_4xx_destination_is_retried_and_delivered_when_it_recovers() {
    let script = Arc::new(Mutex::new(Script::default()));
    script.lock().expect("lock").data_end.extend([451, 451]);
    let port = scripted(script.clone());
    let a = sender(&format!("mx_port = {port}\n{FAST}"));
    point_mx_at_loopback(&a);
    assert!(alice_submits(&a, &["bob@remote.test"]).starts_with("250"));
    // Deferred with the destination's answer, then delivered on schedule.
    assert!(
        wait_until(WAIT, || rows_where(&a, |r| r["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("451")))
            == 1),
        "log:\n{}",
        a.log()
    );
    assert!(
        wait_until(WAIT, || script.lock().expect("lock").accepted.len() == 1),
        "log:\n{}",
        a.log()
    );
    assert!(wait_until(WAIT, || queued_rows(&a) == 0));
    assert_eq!(
        script.lock().expect("lock").accepted.len(),
        1,
        "delivered once"
    );
    assert!(
        a.inbox("alice@example.test").expect("inbox").is_empty(),
        "no DSN"
    );
    // Two deferred attempts, then one delivered; the queue is empty again.
    let metrics = crate::metrics::scrape(&a);
    let get = |key: &str| metrics.get(key).copied().unwrap_or(-1.0);
    assert_eq!(
        get(r#"mailroom_delivery_attempts_total{"result": "deferred"}"#),
        2.0
    );
    assert_eq!(
        get(r#"mailroom_delivery_attempts_total{"result": "delivered"}"#),
        1.0
    );
    assert_eq!(
        get(r#"mailroom_delivery_attempts_total{"result": "failed"}"#),
        0.0
    );
    assert_eq!(
        get(r#"mailroom_messages_received_total{"listener": "submission"}"#),
        1.0
    );
    assert!(wait_until(WAIT, || crate::metrics::scrape(&a)
        .get("mailroom_queue_messages{}")
        .copied()
        == Some(0.0)));
}

#[test]

fn a_5xx_produces_a_dsn_in_the_senders_inbox() {
    let b = server_with("");
    b.add_users("remote.test", &["bob@remote.test"])
        .expect("users");
    let a = sender(&format!("mx_port = {}\n", b.ports.smtp));
    point_mx_at_loopback(&a);
    assert!(alice_submits(&a, &["nobody@remote.test"]).starts_with("250"));
    assert!(
        a.inbox_reaches("alice@example.test", 1, WAIT),
        "log:\n{}",
        a.log()
    );
    let dsn =
        String::from_utf8_lossy(&a.inbox("alice@example.test").expect("inbox")[0]).into_owned();
    for field in [
        "multipart/report",
        "delivery-status",
        "Final-Recipient: rfc822;nobody@remote.test",
        "Action: failed",
        "Status: 5.",
    ] {
        assert!(dsn.contains(field), "missing {field}: {dsn}");
    }
    assert!(
        dsn.contains("Subject: outbound"),
        "the original comes back: {dsn}"
    );
    assert_eq!(queued_rows(&a), 0, "failed recipients leave the queue");
    // That a null sender's message is never bounced (RFC 3461 §6.2) is tested on the queue
    // actor (smtp/src/outbound/tests.rs): submission refuses MAIL FROM:<>, so no message with
    // a null sender can be queued from outside.
}

#[test]

fn kill_9_between_attempts_loses_nothing_and_resends_nothing() {
    let script = Arc::new(Mutex::new(Script::default()));
    script
        .lock()
        .expect("lock")
        .rcpt
        .insert("later@remote.test".into(), VecDeque::from([451; 50]));
    let port = scripted(script.clone());
    let mut a = sender(&format!(
        "mx_port = {port}\nretry_schedule_secs = [2]\njitter_percent = 0\n"
    ));
    point_mx_at_loopback(&a);
    assert!(alice_submits(&a, &["now@remote.test", "later@remote.test"]).starts_with("250"));
    assert!(wait_until(WAIT, || script
        .lock()
        .expect("lock")
        .accepted
        .len()
        == 1));
    assert!(wait_until(WAIT, || rows_where(&a, |r| r["attempts"]
        .as_i64()
        .is_some_and(|n| n >= 1))
        == 1));
    a.signal("KILL").expect("kill");
    assert!(a.wait_exit(WAIT).is_some());
    script.lock().expect("lock").rcpt.clear();
    a.spawn().expect("restart");
    assert!(
        wait_until(WAIT, || script.lock().expect("lock").accepted.len() == 2),
        "log:\n{}",
        a.log()
    );
    assert!(wait_until(WAIT, || queued_rows(&a) == 0));
    let s = script.lock().expect("lock");
    assert_eq!(s.accepted[0].0, ["now@remote.test"]);
    assert_eq!(
        s.accepted[1].0,
        ["later@remote.test"],
        "the accepted recipient was not sent twice"
    );
}

#[test]

fn relay_mode_sends_everything_to_the_smarthost() {
    let b = server_with("");
    b.add_users("remote.test", &["bob@remote.test"])
        .expect("users");
    // No DNS records at all: only the relay can be reached.
    let a = sender(&format!("relay = \"127.0.0.1:{}\"\n", b.ports.smtp));
    assert!(alice_submits(&a, &["bob@remote.test"]).starts_with("250"));
    assert!(
        b.inbox_reaches("bob@remote.test", 1, WAIT),
        "log:\n{}",
        a.log()
    );
}

#[test]
fn the_queue_cli_lists_and_refuses_unknown_ids() {
    let a = sender("");
    let out = a.cli(&["queue", "list"], None).expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("the queue is empty"));
    for verb in ["retry", "delete", "hold", "release"] {
        let out = a.cli(&["queue", verb, "42"], None).expect("run");
        assert!(!out.status.success(), "{verb}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("no queued message 42"),
            "{verb}"
        );
    }
}

/// How many recipients are still queued or held (-1 if the API did not answer).
pub(crate) fn queued_rows(a: &Server) -> i64 {
    a.queue().map_or(-1, |rows| rows.len() as i64)
}

/// How many queued recipients pass `test` (-1 if the API did not answer).
fn rows_where(a: &Server, test: impl Fn(&serde_json::Value) -> bool) -> i64 {
    a.queue()
        .map_or(-1, |rows| rows.iter().filter(|r| test(r)).count() as i64)
}

/// A message as B stored it without B's trace fields, then A's DKIM-Signature and A's own
/// trace (its submission `Received:`): what alice wrote.
fn after_signature(stored: &[u8]) -> &[u8] {
    let mut rest = after_trace(stored);
    while rest.starts_with(b"DKIM-Signature:") {
        // Past the signature field and its folded lines, to the trace under it.
        let mut end = 0;
        loop {
            let line_end = rest[end..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .map_or(rest.len(), |i| end + i + 2);
            end = line_end;
            if end >= rest.len() || !matches!(rest[end], b' ' | b'\t') {
                break;
            }
        }
        rest = after_trace(&rest[end..]);
    }
    rest
}

#[test]
fn a_domain_without_mx_is_reached_at_its_address() {
    let b = server_with("");
    b.add_users("remote.test", &["bob@remote.test"])
        .expect("users");
    let a = sender(&format!("mx_port = {}\n", b.ports.smtp));
    // RFC 5321 §5.1: no MX, so the domain's own A record.
    a.dns.ip("remote.test", LOOPBACK);
    assert!(alice_submits(&a, &["bob@remote.test"]).starts_with("250"));
    assert!(
        b.inbox_reaches("bob@remote.test", 1, WAIT),
        "log:\n{}",
        a.log()
    );
}

/// A loopback HTTPS server for MTA-STS policies (RFC 8461 §3.3): a certificate for
/// `mta-sts.<domain>` of each domain in `policies` (whose PEM is returned), serving each
/// domain's policy by the Host header; records the hosts it served.
fn policy_server(policies: &[(&str, &str)]) -> (u16, String, Arc<Mutex<Vec<String>>>) {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let names: Vec<String> = policies
        .iter()
        .map(|(d, _)| format!("mta-sts.{d}"))
        .collect();
    let made = rcgen::generate_simple_self_signed(names).expect("certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![made.cert.der().clone()], key)
    .expect("server config");
    let config = Arc::new(config);
    let bodies: HashMap<String, String> = policies
        .iter()
        .map(|(d, p)| (format!("mta-sts.{d}"), p.to_string()))
        .collect();
    let served = Arc::new(Mutex::new(Vec::new()));
    let listener = mailroom_tests::listen_on_free_port();
    let port = listener.local_addr().expect("addr").port();
    let log = served.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                continue;
            };
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match std::io::Read::read(&mut tls, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let request = String::from_utf8_lossy(&request).into_owned();
            let host = request
                .lines()
                .find_map(|l| l.strip_prefix("Host: "))
                .unwrap_or_default()
                .trim()
                .to_string();
            let response = match bodies.get(&host) {
                Some(body) if request.starts_with("GET /.well-known/mta-sts.txt ") => format!(
                    "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                ),
                _ => "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_string(),
            };
            log.lock().expect("lock").push(host);
            let _ = tls.write_all(response.as_bytes());
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    (port, made.cert.pem(), served)
}

#[test]
fn mta_sts_enforce_delivers_to_listed_mx_with_verified_tls_and_holds_unlisted() {
    // B takes mail for both domains; its certificate is for mail.example.test.
    let b = server_with("");
    b.add_users("remote.test", &["bob@remote.test"])
        .expect("users");
    b.add_users("strict.test", &["carol@strict.test"])
        .expect("users");
    let (policy_port, policy_ca, served) = policy_server(&[
        (
            "remote.test",
            "version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\nmax_age: 86400\r\n",
        ),
        (
            "strict.test",
            "version: STSv1\r\nmode: enforce\r\nmx: other.example.test\r\nmax_age: 86400\r\n",
        ),
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let roots = dir.path().join("roots.pem");
    let b_cert = std::fs::read_to_string(ca(&b)).expect("B's certificate");
    std::fs::write(&roots, format!("{b_cert}\n{policy_ca}")).expect("write roots");
    let a = sender(&format!(
        "mx_port = {}\nmta_sts_port = {policy_port}\nextra_ca_file = \"{}\"\n{FAST}",
        b.ports.smtp,
        roots.display()
    ));
    for domain in ["remote.test", "strict.test"] {
        a.dns.mx(domain, 10, "mail.example.test").expect("mx");
        a.dns
            .txt(&format!("_mta-sts.{domain}"), "v=STSv1; id=20261202T1;");
        a.dns.ip(&format!("mta-sts.{domain}"), LOOPBACK);
    }
    a.dns.ip("mail.example.test", LOOPBACK);
    for to in ["bob@remote.test", "carol@strict.test"] {
        assert!(alice_submits(&a, &[to]).starts_with("250"));
    }
    // The policy matches: delivered, over TLS that verified against B's certificate.
    assert!(
        b.inbox_reaches("bob@remote.test", 1, WAIT),
        "B never got bob's; A's log:\n{}",
        a.log()
    );
    let stored = b.inbox("bob@remote.test").expect("inbox").remove(0);
    let head = String::from_utf8_lossy(&stored[..stored.len().min(400)]).into_owned();
    assert!(head.contains("with ESMTPS"), "{head}");
    // The policy names another MX: not tried, queued with an MTA-STS error (RFC 8461 §5).
    let listed = || {
        a.cli(&["queue", "list"], None)
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    assert!(
        wait_until(WAIT, || {
            let out = listed();
            out.contains("carol@strict.test") && out.contains("MTA-STS")
        }),
        "queue:\n{}\nA's log:\n{}",
        listed(),
        a.log()
    );
    let out = listed();
    assert!(!out.contains("bob@remote.test"), "{out}");
    assert!(out.contains("other.example.test"), "{out}");
    assert_eq!(queued_rows(&a), 1);
    assert!(
        b.inbox("carol@strict.test").expect("inbox").is_empty(),
        "never delivered"
    );
    let served = served.lock().expect("lock").clone();
    assert!(
        served.iter().any(|h| h == "mta-sts.strict.test"),
        "{served:?}"
    );
    // Cached by id: retries do not fetch again.
    assert_eq!(
        served
            .iter()
            .filter(|h| *h == "mta-sts.strict.test")
            .count(),
        1,
        "{served:?}"
    );
}

#[test]
fn mta_sts_enforce_never_sends_in_clear_and_testing_changes_nothing() {
    // The scripted server offers no STARTTLS.
    let script = Arc::new(Mutex::new(Script::default()));
    let port = scripted(script.clone());
    let (policy_port, policy_ca, _served) = policy_server(&[
        (
            "remote.test",
            "version: STSv1\nmode: testing\nmx: mx.remote.test\nmax_age: 86400\n",
        ),
        (
            "strict.test",
            "version: STSv1\nmode: enforce\nmx: *.strict.test\nmax_age: 86400\n",
        ),
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let roots = dir.path().join("roots.pem");
    std::fs::write(&roots, policy_ca).expect("write roots");
    let a = sender(&format!(
        "mx_port = {port}\nmta_sts_port = {policy_port}\nextra_ca_file = \"{}\"\n{FAST}",
        roots.display()
    ));
    for domain in ["remote.test", "strict.test"] {
        a.dns.mx(domain, 10, &format!("mx.{domain}")).expect("mx");
        a.dns.ip(&format!("mx.{domain}"), LOOPBACK);
        a.dns.txt(&format!("_mta-sts.{domain}"), "v=STSv1; id=1;");
        a.dns.ip(&format!("mta-sts.{domain}"), LOOPBACK);
    }
    for to in ["bob@remote.test", "carol@strict.test"] {
        assert!(alice_submits(&a, &[to]).starts_with("250"));
    }
    // testing: delivered as without a policy (here in clear text, RFC 7435).
    assert!(
        wait_until(WAIT, || script.lock().expect("lock").accepted.len() == 1),
        "log:\n{}",
        a.log()
    );
    // enforce: the listed host without STARTTLS is a temporary failure (RFC 8461 §5).
    assert!(
        wait_until(WAIT, || {
            rows_where(&a, |r| {
                r["last_error"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("MTA-STS:") && e.contains("STARTTLS"))
            }) == 1
        }),
        "log:\n{}",
        a.log()
    );
    assert_eq!(queued_rows(&a), 1);
    let accepted = script.lock().expect("lock").accepted.clone();
    assert_eq!(accepted.len(), 1, "carol's never sent");
    assert_eq!(accepted[0].0, ["bob@remote.test"]);
}
