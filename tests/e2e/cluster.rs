//! Two nodes on one PostgreSQL database and one Redis, end to end against the real binary:
//! mail delivered over SMTP on node A wakes an IMAP IDLE session on node B; a POP3 deletion
//! on node B reaches an IMAP IDLE session on node A as EXPUNGE; a lockout earned on node A
//! holds on node B; an account removed through node A ends its session on node B.
//!
//! Needs `TEST_MAILROOM_POSTGRES` (a server where the test may create a database) and
//! `TEST_MAILROOM_REDIS`; skipped, with a printed line, without them
//! (`eval "$(scripts/services)"` starts both).

use crate::outbound::{Script, alice_submits, point_mx_at_loopback, queued_rows, scripted};
use crate::webhooks::{Receiver, hook_config, ids};
use mailroom_tests::services::{self, Database};
use mailroom_tests::{LineClient, Server, free_port, wait_until};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a wake-up across nodes may take here: the goal is 100 ms (the figure seen is
/// printed; `bench/engines.sh` measures it from the SMTP 250); the bound leaves room for a
/// loaded test machine.
const CROSS_NODE: Duration = Duration::from_secs(2);
const WAIT: Duration = Duration::from_secs(30);

/// A Redis database for this process (channels and keys of other test runs stay apart).
fn redis_database(redis: &str) -> String {
    format!(
        "{}/{}",
        redis.trim_end_matches('/'),
        1 + std::process::id() % 15
    )
}

/// One node on `db_url` and `redis`; `security` is more keys of its `[security]` section,
/// `extra` more sections.
fn node(db_url: &str, redis: &str, name: &str, security: &str, extra: &str) -> Server {
    crate::server_with(&format!(
        "[store]\nengine = \"postgres\"\nurl = \"{db_url}\"\npool_size = 8\n\n\
         [cluster]\nredis = \"{redis}\"\nnode_name = \"{name}\"\n\n\
         [security]\nallow_plaintext_auth = true\n{security}\n\n{extra}\n"
    ))
}

/// Two nodes sharing a database of the test's own and the process's Redis database, each
/// with its own ports and data directory; alice@ and bob@example.test (password
/// `password-1`) made through node A.
struct Cluster {
    a: Server,
    b: Server,
    _db: Database,
}

fn cluster(test: &str, security: &str, extra: &str) -> Option<Cluster> {
    let (pg, redis) = services::postgres_and_redis(test)?;
    let db = Database::create(&pg, test);
    let redis = redis_database(&redis);
    let a = node(&db.url(), &redis, "a", security, extra);
    let b = node(&db.url(), &redis, "b", security, extra);
    a.add_users("example.test", &["alice@example.test", "bob@example.test"])
        .expect("users");
    for user in ["alice@example.test", "bob@example.test"] {
        b.remember_password(user, "password-1");
    }
    Some(Cluster { a, b, _db: db })
}

/// An IMAP session logged in as `user` with INBOX selected, idling.
fn idle(s: &Server, user: &str) -> LineClient {
    let mut c = LineClient::connect(s.ports.imap).expect("imap");
    c.read_line().expect("greeting");
    let login = c.cmd(&format!("a LOGIN {user} password-1")).expect("LOGIN");
    assert!(login.contains("a OK"), "{login}");
    c.send("b SELECT INBOX").expect("SELECT");
    let selected = c.read_until(|l| l.starts_with("b ")).expect("SELECT");
    assert!(selected.contains("b OK"), "{selected}");
    let idling = c.cmd("c IDLE").expect("IDLE");
    assert!(idling.starts_with("+ "), "{idling}");
    c
}

/// Deliver a message to `rcpt` over SMTP on `s`; returns when the server said 250.
fn deliver(s: &Server, rcpt: &str) {
    let end = try_deliver(s, rcpt);
    assert!(end.starts_with("250"), "{end}");
}

#[test]
fn a_delivery_on_node_a_wakes_idle_on_node_b() {
    let Some(c) = cluster("idle", "", "") else {
        return;
    };
    let mut watcher = idle(&c.b, "alice@example.test");
    deliver(&c.a, "alice@example.test");
    let t0 = Instant::now();
    let heard = watcher.read_line().expect("an untagged update");
    let took = t0.elapsed();
    println!("cross-node IDLE: EXISTS {took:?} after the SMTP 250 on the other node");
    assert_eq!(heard, "* 1 EXISTS\r\n");
    assert!(took < CROSS_NODE, "took {took:?}");
    watcher.send("DONE").expect("DONE");
    let done = watcher.read_until(|l| l.starts_with("c ")).expect("done");
    assert!(done.contains("c OK"), "{done}");
}

#[test]
fn a_pop3_deletion_on_node_b_reaches_idle_on_node_a() {
    let Some(c) = cluster("expunge", "", "") else {
        return;
    };
    deliver(&c.a, "bob@example.test");
    let mut watcher = idle(&c.a, "bob@example.test");
    let mut pop = LineClient::connect(c.b.ports.pop3).expect("pop3");
    pop.read_line().expect("greeting");
    for line in ["USER bob@example.test", "PASS password-1", "DELE 1"] {
        let r = pop.cmd(line).expect("POP3");
        assert!(r.starts_with("+OK"), "{line}: {r}");
    }
    let r = pop.cmd("QUIT").expect("QUIT");
    assert!(r.starts_with("+OK"), "{r}");
    let t0 = Instant::now();
    let heard = watcher
        .read_until(|l| l.contains("EXPUNGE"))
        .expect("EXPUNGE");
    let took = t0.elapsed();
    println!("cross-node IDLE: EXPUNGE {took:?} after POP3 QUIT on the other node");
    assert!(heard.ends_with("* 1 EXPUNGE\r\n"), "{heard}");
    assert!(took < CROSS_NODE, "took {took:?}");
}

#[test]
fn a_lockout_earned_on_node_a_holds_on_node_b() {
    let Some(c) = cluster(
        "lockout",
        "auth_failure_delay_ms = 0\nlockout_failures = 3\nlockout_failures_per_ip = 1000\n\
         lockout_secs = 600\n",
        "",
    ) else {
        return;
    };
    let login = |s: &Server, password: &str| {
        let mut c = LineClient::connect(s.ports.imap).expect("imap");
        c.read_line().expect("greeting");
        c.cmd(&format!("a LOGIN alice@example.test {password}"))
            .expect("LOGIN")
    };
    for _ in 0..3 {
        let r = login(&c.a, "wrong");
        assert!(r.starts_with("a NO"), "{r}");
    }
    let r = login(&c.b, "password-1");
    assert!(
        r.starts_with("a NO") && r.contains("locked out"),
        "the right password on node B: {r}"
    );
    let r = login(&c.b, "wrong");
    assert!(r.contains("locked out"), "{r}");
}

#[test]
fn an_account_removed_through_node_a_ends_its_session_on_node_b() {
    let Some(c) = cluster("removal", "", "") else {
        return;
    };
    let mut session = idle(&c.b, "bob@example.test");
    let out =
        c.a.cli(&["user", "remove", "bob@example.test"], None)
            .expect("cli");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t0 = Instant::now();
    let bye = session.read_until(|l| l.starts_with("* BYE") || l.is_empty());
    let took = t0.elapsed();
    let bye = bye.expect("BYE");
    assert!(bye.contains("* BYE"), "{bye}");
    assert!(took < CROSS_NODE, "took {took:?}");
}

/// A greylist triplet that node A has seen is known to node B: the first try on A is
/// deferred, an early retry on B is deferred too, the retry after the delay passes on B
/// (RFC 6647 §2.1: the retry of a deferred triplet is accepted), and later mail of the
/// triplet passes at once on A.
#[test]
fn greylisting_on_node_a_holds_on_node_b() {
    let Some(c) = cluster(
        "greylist",
        "",
        "[greylist]\nenabled = true\ndelay_secs = 2\n",
    ) else {
        return;
    };
    let (from, to) = ("sender@remote.test", "alice@example.test");
    let first = crate::greylist::attempt(&c.a, from, to);
    assert!(first.starts_with("451 4.7.1 "), "{first}");
    let early = crate::greylist::attempt(&c.b, from, to);
    assert!(
        early.starts_with("451 4.7.1 "),
        "B knows the first try: {early}"
    );
    std::thread::sleep(Duration::from_millis(2200));
    let retry = crate::greylist::attempt(&c.b, from, to);
    assert!(retry.starts_with("250 "), "the retry on B passes: {retry}");
    let again = crate::greylist::attempt(&c.a, from, to);
    assert!(again.starts_with("250 "), "A knows it passed: {again}");
}

/// kill -9 of the node in the middle of an outbound delivery (its destination has the whole
/// message but has not answered the end of DATA): the other node takes the recipient over
/// once the dead node's lease (`outbound.lease_secs`) runs out and delivers it, once. The
/// dead node's transaction never completed (RFC 5321 §4.1.1.4: without the reply the
/// message is not the destination's), so exactly one accepted copy arrives.
#[test]
fn a_node_killed_mid_delivery_leaves_its_recipient_to_the_other_once() {
    let Some((pg, redis)) = services::postgres_and_redis("outbound takeover") else {
        return;
    };
    let db = Database::create(&pg, "takeover");
    let redis = redis_database(&redis);
    let script = Arc::new(Mutex::new(Script {
        hold: true,
        ..Script::default()
    }));
    let port = scripted(script.clone());
    let outbound = format!(
        "[outbound]\nmx_port = {port}\nretry_schedule_secs = [1]\njitter_percent = 0\n\
         lease_secs = 5\n"
    );
    let mut a = node(&db.url(), &redis, "a", "", &outbound);
    a.add_users("example.test", &["alice@example.test"])
        .expect("users");
    point_mx_at_loopback(&a);
    assert!(alice_submits(&a, &["bob@remote.test"]).starts_with("250"));
    assert!(
        wait_until(WAIT, || script.lock().expect("lock").held == 1),
        "A reached the end of DATA; log:\n{}",
        a.log()
    );
    // B starts while A is in the middle of the transaction.
    let b = node(&db.url(), &redis, "b", "", &outbound);
    point_mx_at_loopback(&b);
    a.signal("KILL").expect("kill -9");
    assert!(a.wait_exit(WAIT).is_some());
    // The held connection is gone with A; let the destination answer what comes next.
    script.lock().expect("lock").hold = false;
    assert!(
        wait_until(WAIT, || script.lock().expect("lock").accepted.len() == 1),
        "B delivers it after A's lease; log B:\n{}",
        b.log()
    );
    assert!(wait_until(WAIT, || queued_rows(&b) == 0), "{:?}", b.queue());
    // Two more scan periods: nothing is sent again.
    std::thread::sleep(Duration::from_secs(3));
    let s = script.lock().expect("lock");
    assert_eq!(s.accepted.len(), 1, "{:?}", s.accepted);
    assert_eq!(s.accepted[0].0, ["bob@remote.test"]);
}

/// Every event is posted once, whichever node logged it: the webhook target is leased to one
/// node at a time, which reads the shared event log.
#[test]
fn webhooks_fire_once_per_event_across_both_nodes() {
    let receiver = Receiver::start(free_port());
    let Some(c) = cluster(
        "webhooks",
        "",
        &hook_config(receiver.port, "shared-secret", "\"delivered\""),
    ) else {
        return;
    };
    for _ in 0..3 {
        deliver(&c.a, "alice@example.test");
        deliver(&c.b, "bob@example.test");
    }
    let got = receiver.wait_for(6, &c.a);
    // More scan periods of both nodes: no event comes again.
    std::thread::sleep(Duration::from_secs(3));
    let got_later = receiver.requests();
    assert_eq!(got_later.len(), 6, "{got_later:#?}");
    let mut seen = ids(&got);
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 6, "six distinct events: {:?}", ids(&got_later));
}

/// A TCP link to a server that the test can cut (every connection closed, new ones closed
/// at once) and restore, to play a PostgreSQL or Redis that goes away.
struct Cuttable {
    port: u16,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Cuttable {
    fn to(target_port: u16) -> Cuttable {
        let listener = mailroom_tests::listen_on_free_port();
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

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for s in self.open.lock().expect("lock").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }

    /// `url` with its port replaced by this link's.
    fn in_url(&self, url: &str) -> String {
        let after = url.split("//").nth(1).expect("authority");
        let authority = after.split('/').next().expect("host:port");
        let port = authority.rsplit(':').next().expect("a port in the URL");
        url.replacen(&format!(":{port}"), &format!(":{}", self.port), 1)
    }
}

fn pipe(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

fn port_of(url: &str) -> u16 {
    let after = url.split("//").nth(1).expect("authority");
    let authority = after.split('/').next().expect("host:port");
    authority
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port in the URL")
}

/// One SMTP transaction to `rcpt` on `s`: the first reply that is not a success, or the
/// final 250.
fn try_deliver(s: &Server, rcpt: &str) -> String {
    let mut c = LineClient::connect(s.ports.smtp).expect("smtp");
    c.read_until(|l| l.len() < 4 || l.as_bytes()[3] == b' ')
        .expect("greeting");
    for (line, code) in [
        ("EHLO client.example.org", "250"),
        ("MAIL FROM:<sender@example.org>", "250"),
        (&format!("RCPT TO:<{rcpt}>") as &str, "250"),
        ("DATA", "354"),
    ] {
        c.send(line).expect("send");
        let r = c
            .read_until(|l| l.len() < 4 || l.as_bytes()[3] == b' ')
            .expect("reply");
        let last = r.lines().last().unwrap_or_default().to_string();
        if !last.starts_with(code) {
            return last;
        }
    }
    c.send("Subject: link\r\n\r\nhello\r\n.").expect("data");
    c.read_line().expect("end of data").trim_end().to_string()
}

/// What happens when PostgreSQL or Redis goes away (README, "Running several nodes"):
/// without PostgreSQL, node A defers mail (RFC 5321 §4.2.1: 451, the sender retries) and
/// refuses logins with NO [UNAVAILABLE] (RFC 5530 §3), nothing is lost, and both work again
/// once it is back; without Redis both nodes go on taking and serving mail, and IDLE on B
/// hears of A's deliveries again once Redis is back.
#[test]
fn postgres_or_redis_away_is_a_temporary_failure_and_nothing_is_lost() {
    let Some((pg, redis)) = services::postgres_and_redis("engines away") else {
        return;
    };
    let db = Database::create(&pg, "away");
    let redis = redis_database(&redis);
    let pg_link = Cuttable::to(port_of(&db.url()));
    let redis_link = Cuttable::to(port_of(&redis));
    // A reaches PostgreSQL and Redis through the links; B directly.
    let a = node(
        &pg_link.in_url(&db.url()),
        &redis_link.in_url(&redis),
        "a",
        "",
        "",
    );
    let b = node(&db.url(), &redis, "b", "", "");
    a.add_users("example.test", &["alice@example.test"])
        .expect("users");
    b.remember_password("alice@example.test", "password-1");
    assert!(try_deliver(&a, "alice@example.test").starts_with("250"));

    pg_link.cut();
    let deferred = try_deliver(&a, "alice@example.test");
    assert!(
        deferred.starts_with("451 4.3.0"),
        "a delivery without the database is deferred: {deferred}"
    );
    let mut imap = LineClient::connect(a.ports.imap).expect("imap");
    imap.read_line().expect("greeting");
    let login = imap
        .cmd("l LOGIN alice@example.test password-1")
        .expect("LOGIN");
    assert!(
        login.starts_with("l NO [UNAVAILABLE]"),
        "a login without the database: {login}"
    );
    // B is untouched and serves the message taken before.
    assert!(b.inbox_reaches("alice@example.test", 1, WAIT));
    pg_link.restore();
    assert!(
        wait_until(WAIT, || try_deliver(&a, "alice@example.test")
            .starts_with("250")),
        "A takes mail again once PostgreSQL is back; log:\n{}",
        a.log()
    );
    assert!(b.inbox_reaches("alice@example.test", 2, WAIT));

    redis_link.cut();
    assert!(try_deliver(&a, "alice@example.test").starts_with("250"));
    assert!(
        b.inbox_reaches("alice@example.test", 3, WAIT),
        "nothing lost"
    );
    redis_link.restore();
    let mut watcher = idle(&b, "alice@example.test");
    // The bridge reconnects with back-off: deliver until B hears one.
    let started = Instant::now();
    let mut heard = false;
    while !heard && started.elapsed() < WAIT {
        assert!(try_deliver(&a, "alice@example.test").starts_with("250"));
        // Until the next EXISTS or the client's read timeout (10 s).
        while let Ok(line) = watcher.read_line() {
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
        "IDLE on B hears A's deliveries once Redis is back; log A:\n{}",
        a.log()
    );
}
