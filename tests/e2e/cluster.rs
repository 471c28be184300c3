//! Two nodes on one PostgreSQL database and one Redis, end to end against the real binary:
//! mail delivered over SMTP on node A wakes an IMAP IDLE session on node B; a POP3 deletion
//! on node B reaches an IMAP IDLE session on node A as EXPUNGE; a lockout earned on node A
//! holds on node B; an account removed through node A ends its session on node B.
//!
//! Needs `TEST_MAILROOM_POSTGRES` (a server where the test may create a database) and
//! `TEST_MAILROOM_REDIS`; skipped, with a printed line, without them
//! (`eval "$(scripts/services)"` starts both).

use mailroom_tests::{LineClient, Server};
use std::process::Command;
use std::time::{Duration, Instant};

/// What a wake-up across nodes may take here: the goal is 100 ms (the figure seen is
/// printed); the bound leaves room for a loaded test machine.
const CROSS_NODE: Duration = Duration::from_secs(2);

/// The PostgreSQL and Redis to use, or `None` (and a printed line) to skip.
fn services() -> Option<(String, String)> {
    match (
        std::env::var("TEST_MAILROOM_POSTGRES"),
        std::env::var("TEST_MAILROOM_REDIS"),
    ) {
        (Ok(pg), Ok(redis)) => Some((pg, redis)),
        _ => {
            println!(
                "skipped: two-node tests need TEST_MAILROOM_POSTGRES and TEST_MAILROOM_REDIS \
                 (eval \"$(scripts/services)\" starts both)"
            );
            None
        }
    }
}

/// A database of the test's own, dropped at the end.
struct Database {
    admin_url: String,
    name: String,
}

impl Database {
    fn create(admin_url: &str, test: &str) -> Database {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("mailroom_e2e_{test}_{}_{nanos}", std::process::id());
        psql(admin_url, &format!("CREATE DATABASE {name}"));
        Database {
            admin_url: admin_url.into(),
            name,
        }
    }

    /// The URL of this database on the same server.
    fn url(&self) -> String {
        let base = self.admin_url.split('?').next().unwrap_or(&self.admin_url);
        let server = base
            .rsplit_once('/')
            .filter(|(s, _)| s.contains("//") && !s.ends_with('/'))
            .map_or(base, |(s, _)| s);
        format!("{server}/{}", self.name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .arg(&self.admin_url)
            .args(["-q", "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .output();
    }
}

fn psql(url: &str, sql: &str) {
    let out = Command::new("psql")
        .arg(url)
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two nodes sharing `db` and a Redis database picked for this process (channels and keys
/// of other test runs stay apart), each with its own ports and data directory; alice@ and
/// bob@example.test (password `password-1`) made through node A. `security` is more keys of
/// the nodes' `[security]` section.
struct Cluster {
    a: Server,
    b: Server,
    _db: Database,
}

fn cluster(test: &str, security: &str) -> Option<Cluster> {
    let (pg, redis) = services()?;
    let db = Database::create(&pg, test);
    let redis = format!(
        "{}/{}",
        redis.trim_end_matches('/'),
        1 + std::process::id() % 15
    );
    let node = |name: &str| {
        crate::server_with(&format!(
            "[store]\nengine = \"postgres\"\nurl = \"{}\"\n\n\
             [cluster]\nredis = \"{redis}\"\nnode_name = \"{name}\"\n\n\
             [security]\nallow_plaintext_auth = true\n{security}\n",
            db.url()
        ))
    };
    let a = node("a");
    let b = node("b");
    a.add_users("example.test", &["alice@example.test", "bob@example.test"])
        .expect("users");
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
        assert!(
            r.lines().last().unwrap_or_default().starts_with(code),
            "{line}: {r}"
        );
    }
    c.send("Subject: across\r\n\r\nhello from node A\r\n.")
        .expect("data");
    let r = c.read_line().expect("250");
    assert!(r.starts_with("250"), "{r}");
}

#[test]
fn a_delivery_on_node_a_wakes_idle_on_node_b() {
    let Some(c) = cluster("idle", "") else { return };
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
    let Some(c) = cluster("expunge", "") else {
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
    let Some(c) = cluster("removal", "") else {
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
