//! Two mailroom nodes on one PostgreSQL database and one Redis, end to end against the real
//! binary: what one node does, the other sees — mail, expunges, greylisting, lockouts, the
//! outbound queue and webhooks — and an engine that goes away is a temporary failure, not
//! lost mail. Skipped (saying so) unless `TEST_MAILROOM_POSTGRES` and `TEST_MAILROOM_REDIS`
//! name servers (`eval "$(scripts/services)"`, which scripts/test runs).

use mailroom_tests::{LineClient, Server, wait_until};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

/// A database of its own on the test PostgreSQL, dropped with the value.
pub(crate) struct Database {
    admin_url: String,
    name: String,
    pub url: String,
}

impl Database {
    /// A fresh database, or `None` (with a line saying how to run these tests) when no
    /// server is named.
    pub(crate) fn create(test: &str) -> Option<Database> {
        let (Ok(pg), Ok(_)) = (
            std::env::var("TEST_MAILROOM_POSTGRES"),
            std::env::var("TEST_MAILROOM_REDIS"),
        ) else {
            let _ = writeln!(
                std::io::stderr(),
                "skipped {test}: set TEST_MAILROOM_POSTGRES and TEST_MAILROOM_REDIS \
                 (`eval \"$(scripts/services)\"` starts both) to run it"
            );
            return None;
        };
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "mr_e2e_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        psql(&pg, &format!("CREATE DATABASE {name}"));
        let server = pg.rsplit_once('/').map_or(pg.as_str(), |(s, _)| s);
        Some(Database {
            url: format!("{server}/{name}"),
            admin_url: pg.clone(),
            name,
        })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                "-q",
                &self.admin_url,
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

fn psql(url: &str, sql: &str) {
    let out = Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `[store]` and `[cluster]` sections of node `name`, plus `extra`.
fn node_config(db_url: &str, redis: &str, name: &str, extra: &str) -> String {
    format!(
        "[store]\nengine = \"postgres\"\nurl = \"{db_url}\"\npool_size = 8\n\n\
         [cluster]\nredis = \"{redis}\"\nnode_name = \"{name}\"\n\n{extra}\n"
    )
}

/// Two nodes, A and B, sharing a fresh database and the test Redis; alice@ and
/// bob@example.test (`password-1`) added through A.
pub(crate) struct Pair {
    pub a: Server,
    pub b: Server,
    _db: Database,
}

impl Pair {
    pub(crate) fn start(test: &str, extra: &str) -> Option<Pair> {
        let db = Database::create(test)?;
        let redis = std::env::var("TEST_MAILROOM_REDIS").expect("checked");
        Self::start_on(db, &redis, &redis, extra)
    }

    /// Like [`Pair::start`] with each node's own PostgreSQL and Redis address (e.g. through
    /// a [`Cuttable`] link).
    fn start_on(db: Database, redis_a: &str, redis_b: &str, extra: &str) -> Option<Pair> {
        Self::start_with_urls(db, None, redis_a, redis_b, extra)
    }

    fn start_with_urls(
        db: Database,
        db_url_b: Option<&str>,
        redis_a: &str,
        redis_b: &str,
        extra: &str,
    ) -> Option<Pair> {
        let a = Server::start(crate::BIN, &node_config(&db.url, redis_a, "node-a", extra))
            .unwrap_or_else(|e| panic!("node A: {e:#}"));
        let b = Server::start(
            crate::BIN,
            &node_config(db_url_b.unwrap_or(&db.url), redis_b, "node-b", extra),
        )
        .unwrap_or_else(|e| panic!("node B: {e:#}"));
        a.add_users("example.test", &["alice@example.test", "bob@example.test"])
            .expect("users");
        for address in ["alice@example.test", "bob@example.test"] {
            b.remember_password(address, "password-1");
        }
        Some(Pair { a, b, _db: db })
    }
}

/// An IMAP session on `s` over implicit TLS, logged in as alice, INBOX selected; the SELECT
/// answer.
fn imap_alice(s: &Server) -> (LineClient, String) {
    let ca = crate::pop3::ca(s);
    let mut c = LineClient::connect_tls(s.ports.imaps, &s.hostname, &ca).expect("imaps");
    assert!(c.read_line().expect("greeting").starts_with("* OK"));
    let ok = tagged(&mut c, "l", "LOGIN alice@example.test password-1");
    assert!(ok.contains("l OK"), "{ok}");
    let selected = tagged(&mut c, "s", "SELECT INBOX");
    assert!(selected.contains("s OK"), "{selected}");
    (c, selected)
}

fn tagged(c: &mut LineClient, tag: &str, command: &str) -> String {
    c.send(&format!("{tag} {command}")).expect("send");
    c.read_until(|l| l.starts_with(&format!("{tag} ")))
        .expect("answer")
}

/// Enter IDLE on `c` and wait for its continuation.
fn idle(c: &mut LineClient) {
    c.send("i IDLE").expect("idle");
    let go = c.read_line().expect("continuation");
    assert!(go.starts_with("+ "), "{go}");
}

/// The next untagged line that contains `what`, within `limit`; how long it took.
fn wait_line(c: &mut LineClient, what: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        // A read times out after the client's 10 s: then give up.
        let line = c
            .read_line()
            .unwrap_or_else(|e| panic!("no `{what}` within {limit:?}: {e}"));
        if line.contains(what) {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "no `{what}` within {limit:?}");
    }
}

/// RFC 9051 §7.3.1 EXISTS and RFC 2177 IDLE: mail delivered over SMTP to node A reaches an
/// IMAP client idling on node B, through PostgreSQL and the Redis notification.
#[test]
fn mail_delivered_on_a_wakes_idle_on_b() {
    let Some(p) = Pair::start("mail_delivered_on_a_wakes_idle_on_b", "") else {
        return;
    };
    let (mut b, selected) = imap_alice(&p.b);
    assert!(selected.contains("* 0 EXISTS"), "{selected}");
    idle(&mut b);
    let mut slowest = Duration::ZERO;
    for n in 1..=5 {
        let started = Instant::now();
        crate::pop3::deliver(&p.a, &format!("cross-node {n}"));
        wait_line(&mut b, &format!("* {n} EXISTS"), Duration::from_secs(5));
        slowest = slowest.max(started.elapsed());
    }
    b.send("DONE").expect("done");
    let done = b.read_until(|l| l.starts_with("i ")).expect("idle end");
    assert!(done.contains("i OK"), "{done}");
    // The 100 ms bound is the issue's; it is measured from the SMTP 250 by the benchmark.
    // Here it includes the SMTP session, so the check is looser but still far below any
    // polling interval.
    assert!(
        slowest < Duration::from_secs(2),
        "slowest delivery-to-EXISTS {slowest:?}"
    );
    // Node B serves the message itself, from the shared store.
    let got = tagged(&mut b, "f", "FETCH 5 BODY.PEEK[HEADER.FIELDS (SUBJECT)]");
    assert!(got.contains("cross-node 5"), "{got}");
}

/// RFC 1939 §5 DELE + QUIT (the UPDATE state) on node B reaches an IMAP client idling on
/// node A as EXPUNGE (RFC 9051 §7.5.1).
#[test]
fn pop3_delete_on_b_is_an_expunge_on_a() {
    let Some(p) = Pair::start("pop3_delete_on_b_is_an_expunge_on_a", "") else {
        return;
    };
    for n in 1..=2 {
        crate::pop3::deliver(&p.a, &format!("to delete {n}"));
    }
    let (mut a, selected) = imap_alice(&p.a);
    assert!(selected.contains("* 2 EXISTS"), "{selected}");
    idle(&mut a);
    let mut pop = crate::pop3::alice(&p.b);
    assert!(pop.cmd("DELE 1").expect("dele").starts_with("+OK"));
    assert!(pop.cmd("QUIT").expect("quit").starts_with("+OK"));
    let took = wait_line(&mut a, "* 1 EXPUNGE", Duration::from_secs(5));
    assert!(took < Duration::from_secs(2), "EXPUNGE after {took:?}");
    a.send("DONE").expect("done");
    a.read_until(|l| l.starts_with("i ")).expect("idle end");
    let left = tagged(
        &mut a,
        "f",
        "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
    );
    assert!(
        left.contains("to delete 2") && !left.contains("to delete 1"),
        "{left}"
    );
}

/// A greylist triplet that node A has seen is known to node B: the first try on A is
/// deferred, the retry after the delay passes on B (postgrey's semantics, RFC 6647 §2.2),
/// and later mail of the triplet passes at once on both.
#[test]
fn greylisting_on_a_holds_on_b() {
    let Some(p) = Pair::start(
        "greylisting_on_a_holds_on_b",
        "[greylist]\nenabled = true\ndelay_secs = 2\n",
    ) else {
        return;
    };
    let (from, to) = ("sender@remote.test", "alice@example.test");
    let first = crate::greylist::attempt(&p.a, from, to);
    assert!(first.starts_with("451 4.7.1 "), "{first}");
    let early = crate::greylist::attempt(&p.b, from, to);
    assert!(
        early.starts_with("451 4.7.1 "),
        "B defers an early retry too (it knows the first try): {early}"
    );
    std::thread::sleep(Duration::from_millis(2200));
    let retry = crate::greylist::attempt(&p.b, from, to);
    assert!(retry.starts_with("250 "), "the retry on B passes: {retry}");
    let again = crate::greylist::attempt(&p.a, from, to);
    assert!(again.starts_with("250 "), "and A knows it passed: {again}");
}

/// The login guard's lockout (after `lockout_failures` wrong passwords on node A) holds on
/// node B, on another protocol, until it is cleared.
#[test]
fn a_lockout_on_a_holds_on_b() {
    let Some(p) = Pair::start(
        "a_lockout_on_a_holds_on_b",
        "[security]\nallow_plaintext_auth = true\nauth_failure_delay_ms = 10\n\
         lockout_failures = 3\nlockout_failures_per_ip = 1000\nlockout_secs = 600\n",
    ) else {
        return;
    };
    assert!(crate::lockout::pop_pass(&p.b, "bob@example.test", "password-1").starts_with("+OK"));
    for i in 0..3 {
        let r = crate::lockout::imap_login(&p.a, "bob@example.test", &format!("wrong-{i}"));
        assert!(r.contains("NO"), "{r}");
    }
    let locked = crate::lockout::pop_pass(&p.b, "bob@example.test", "password-1");
    assert_eq!(
        locked.trim_end(),
        "-ERR [SYS/TEMP] too many failed logins: this account is locked out"
    );
    let out =
        p.b.cli(&["lockout", "clear", "bob@example.test"], None)
            .expect("cli");
    assert!(out.status.success(), "{out:?}");
    let a_again = crate::lockout::imap_login(&p.a, "bob@example.test", "password-1");
    assert!(
        a_again.contains("OK"),
        "cleared on B, A lets bob in: {a_again}"
    );
}

/// A TCP link to a server that the test can cut (every connection closed, new ones refused
/// at once) and restore, to play a database or Redis that goes away.
pub(crate) struct Cuttable {
    pub port: u16,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Cuttable {
    pub(crate) fn to(target_port: u16) -> Cuttable {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let cut = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (c, o) = (cut.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if c.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)) else {
                    continue;
                };
                for s in [&client, &server] {
                    if let Ok(s) = s.try_clone() {
                        o.lock().expect("lock").push(s);
                    }
                }
                pipe(&client, &server);
                pipe(&server, &client);
            }
        });
        Cuttable { port, cut, open }
    }

    pub(crate) fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for s in self.open.lock().expect("lock").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    pub(crate) fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

fn pipe(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// The port of a `scheme://host:port/…` URL.
fn port_of(url: &str) -> u16 {
    let after = url.split("//").nth(1).expect("authority");
    let authority = after.split('/').next().expect("host:port");
    authority
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port in the URL")
}

fn through(url: &str, link: &Cuttable) -> String {
    url.replacen(&format!(":{}", port_of(url)), &format!(":{}", link.port), 1)
}

/// What happens when PostgreSQL or Redis goes away (README, "Running several nodes"):
/// without PostgreSQL a delivery is refused with a temporary failure (RFC 5321 §4.2.1:
/// 451, the sender retries) and IMAP says NO [UNAVAILABLE] (RFC 5530 §3), nothing is lost,
/// and both work again once it is back; without Redis each node goes on serving from the
/// database, and cross-node notifications resume when Redis returns.
#[test]
fn postgres_or_redis_away_is_a_temporary_failure_and_nothing_is_lost() {
    let Some(db) = Database::create("postgres_or_redis_away_is_a_temporary_failure") else {
        return;
    };
    let redis = std::env::var("TEST_MAILROOM_REDIS").expect("checked");
    let pg_link = Cuttable::to(port_of(&db.url));
    let redis_link = Cuttable::to(port_of(&redis));
    let db_url_a = through(&db.url, &pg_link);
    let redis_a = through(&redis, &redis_link);
    // Node A reaches PostgreSQL and Redis through the links; node B directly.
    let a = Server::start(crate::BIN, &node_config(&db_url_a, &redis_a, "node-a", ""))
        .unwrap_or_else(|e| panic!("node A: {e:#}"));
    let b = Server::start(crate::BIN, &node_config(&db.url, &redis, "node-b", ""))
        .unwrap_or_else(|e| panic!("node B: {e:#}"));
    a.add_users("example.test", &["alice@example.test"])
        .expect("users");
    b.remember_password("alice@example.test", "password-1");

    crate::pop3::deliver(&a, "before");
    // PostgreSQL away from A: a temporary failure on SMTP and on IMAP.
    pg_link.cut();
    let mut c = LineClient::connect(a.ports.smtp).expect("connect");
    c.read_line().expect("greeting");
    c.send("EHLO client.example.org").expect("ehlo");
    c.read_until(|l| l.as_bytes().get(3) == Some(&b' '))
        .expect("ehlo reply");
    let mail = c.cmd("MAIL FROM:<x@remote.test>").expect("mail");
    let rcpt = if mail.starts_with("250") {
        c.cmd("RCPT TO:<alice@example.test>").expect("rcpt")
    } else {
        mail.clone()
    };
    assert!(
        rcpt.starts_with("451 4.3.0") || rcpt.starts_with("450 4.3.0"),
        "a delivery without the database is deferred: {rcpt}"
    );
    let ca = crate::pop3::ca(&a);
    let mut imap = LineClient::connect_tls(a.ports.imaps, &a.hostname, &ca).expect("imaps");
    imap.read_line().expect("greeting");
    let login = tagged(&mut imap, "l", "LOGIN alice@example.test password-1");
    assert!(
        login.contains("l NO [UNAVAILABLE]"),
        "a login without the database: {login}"
    );
    // Node B is untouched and has the message delivered before.
    assert!(b.inbox_reaches("alice@example.test", 1, WAIT));
    pg_link.restore();
    assert!(
        wait_until(WAIT, || crate::greylist::attempt(
            &a,
            "x@remote.test",
            "alice@example.test"
        )
        .starts_with("250")),
        "A delivers again once PostgreSQL is back; log:\n{}",
        a.log()
    );
    assert!(b.inbox_reaches("alice@example.test", 2, WAIT));

    // Redis away from A: both nodes go on taking and serving mail; IDLE on B hears of A's
    // deliveries again once Redis is back.
    redis_link.cut();
    crate::pop3::deliver(&a, "while redis is away");
    assert!(
        b.inbox_reaches("alice@example.test", 3, WAIT),
        "nothing lost"
    );
    redis_link.restore();
    let (mut idle_b, selected) = imap_alice(&b);
    assert!(selected.contains("* 3 EXISTS"), "{selected}");
    idle(&mut idle_b);
    let started = Instant::now();
    let mut heard = false;
    // The bridge reconnects with back-off: deliver until B hears one.
    let mut n = 3;
    while !heard && started.elapsed() < WAIT {
        n += 1;
        crate::pop3::deliver(&a, &format!("after redis {n}"));
        // Until the client's read timeout (10 s) or the next EXISTS.
        while let Ok(line) = idle_b.read_line() {
            if line.is_empty() {
                break;
            }
            if line.contains(" EXISTS") {
                heard = true;
                break;
            }
        }
    }
    assert!(
        heard,
        "B's IDLE hears A's deliveries once Redis is back; log A:\n{}",
        a.log()
    );
}
