//! Greylisting on the MX listener end to end: the first try and an early retry get 451, a
//! retry after the delay passes and later mail of the triplet passes at once; a restart keeps
//! both passed and pending triplets; a whitelisted network skips it; SIGHUP switches it.

use crate::server_with;
use mailroom_tests::{LineClient, Server, http_get, wait_until};
use std::time::{Duration, Instant};

/// One transaction from 127.0.0.1: the RCPT reply, and when it is 250 the message is sent
/// and must be stored.
pub(crate) fn attempt(s: &Server, from: &str, to: &str) -> String {
    let mut c = LineClient::connect(s.ports.smtp).expect("connect");
    c.read_line().expect("greeting");
    c.send("EHLO client.example.org").expect("ehlo");
    c.read_until(|l| l.as_bytes().get(3) == Some(&b' '))
        .expect("ehlo reply");
    assert_eq!(
        c.cmd(&format!("MAIL FROM:<{from}>")).expect("mail"),
        "250 2.1.0 sender OK\r\n"
    );
    let reply = c.cmd(&format!("RCPT TO:<{to}>")).expect("rcpt");
    if reply.starts_with("250 ") {
        assert!(c.cmd("DATA").expect("data").starts_with("354 "));
        c.send_raw(b"Subject: greylist\r\n\r\nhello\r\n.\r\n")
            .expect("body");
        let stored = c.read_line().expect("end of data");
        assert!(stored.starts_with("250 2.0.0 "), "{stored}");
    }
    assert!(c.cmd("QUIT").expect("quit").starts_with("221 "));
    reply
}

/// Retry every 200 ms until the RCPT passes; the time it took. Every refusal on the way must
/// be the greylist's.
fn retry_until_accepted(s: &Server, from: &str, to: &str) -> Duration {
    let start = Instant::now();
    loop {
        let reply = attempt(s, from, to);
        if reply.starts_with("250 ") {
            return start.elapsed();
        }
        assert!(reply.starts_with("451 4.7.1 "), "{reply}");
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "still greylisted: {reply}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn greylisted(to: &str, secs: u64) -> String {
    format!("451 4.7.1 <{to}>: greylisted, try again in {secs} seconds\r\n")
}

/// A server with alice@ and bob@example.test and `[greylist]` as given.
fn greylisting(section: &str) -> Server {
    let s = server_with(&format!("[greylist]\n{section}\n"));
    s.add_users("example.test", &["alice@example.test", "bob@example.test"])
        .expect("users");
    s
}

#[test]
fn first_try_and_early_retry_451_then_pass_and_a_restart_keeps_the_state() {
    let mut s = greylisting("enabled = true\ndelay_secs = 2");
    let alice = "alice@example.test";
    let bob = "bob@example.test";
    let first = Instant::now();
    assert_eq!(attempt(&s, "a@example.org", alice), greylisted(alice, 2));
    let early = attempt(&s, "a@example.org", alice);
    assert!(
        early == greylisted(alice, 2) || early == greylisted(alice, 1),
        "{early}"
    );
    assert!(s.inbox(alice).expect("inbox").is_empty());
    retry_until_accepted(&s, "a@example.org", alice);
    // Unix-second clock: a 2 s delay is over at least 1 s after the first try.
    assert!(
        first.elapsed() >= Duration::from_secs(1),
        "{:?}",
        first.elapsed()
    );
    assert_eq!(s.inbox(alice).expect("inbox").len(), 1);
    // Later mail from the passed triplet passes at once.
    assert_eq!(
        attempt(&s, "a@example.org", alice),
        "250 2.1.5 recipient OK\r\n"
    );
    // Another sender to bob: pending when the server stops.
    let pending = Instant::now();
    assert_eq!(attempt(&s, "b@example.org", bob), greylisted(bob, 2));
    // Each deferral is an event in the store's log (recorded without making the client wait).
    let deferred_bob = |s: &Server| {
        s.events_of("greylisted").is_ok_and(|events| {
            events.iter().any(|e| {
                e["mail_from"] == "b@example.org"
                    && e["rcpt_to"] == bob
                    && e["retry_after_secs"] == 2
                    && e["client"] == "127.0.0.1"
            })
        })
    };
    assert!(
        wait_until(Duration::from_secs(5), || deferred_bob(&s)),
        "{:?}",
        s.events_of("greylisted")
    );

    s.signal("TERM").expect("SIGTERM");
    assert!(
        s.wait_exit(Duration::from_secs(15))
            .is_some_and(|st| st.success())
    );
    s.spawn().expect("restart");
    assert_eq!(
        attempt(&s, "a@example.org", alice),
        "250 2.1.5 recipient OK\r\n",
        "a passed triplet still passes after a restart"
    );
    // Once the pending triplet's delay is over (counted from its first try before the
    // restart), its first retry passes; had the restart forgotten it, this would be a new 451.
    wait_until(Duration::from_secs(5), || {
        pending.elapsed() >= Duration::from_millis(3100)
    });
    assert_eq!(
        attempt(&s, "b@example.org", bob),
        "250 2.1.5 recipient OK\r\n"
    );
    assert_eq!(s.inbox(bob).expect("inbox").len(), 1);
}

/// Wait until `/healthz` reports `generation`.
fn wait_for_generation(s: &Server, generation: u64) {
    let want = format!("\"config_generation\":{generation}");
    assert!(
        wait_until(Duration::from_secs(10), || http_get(
            s.ports.admin,
            "/healthz"
        )
        .is_ok_and(|(_, body)| body.contains(&want))),
        "generation {generation} not reached; log:\n{}",
        s.log()
    );
}

#[test]
fn whitelisted_networks_skip_it_and_sighup_switches_it() {
    let s = greylisting("enabled = true\nwhitelist = [\"127.0.0.0/8\"]");
    let alice = "alice@example.test";
    assert_eq!(
        attempt(&s, "a@example.org", alice),
        "250 2.1.5 recipient OK\r\n"
    );

    // Reload without the whitelist: loopback is greylisted now.
    let reload = |section: &str, generation: u64| {
        s.write_config(&s.config_toml(&format!("[greylist]\n{section}\n")))
            .expect("write config");
        s.signal("HUP").expect("SIGHUP");
        wait_for_generation(&s, generation);
    };
    reload("enabled = true", 2);
    assert_eq!(attempt(&s, "b@example.org", alice), greylisted(alice, 300));
    // Reload with it off: a new triplet passes at once.
    reload("enabled = false", 3);
    assert_eq!(
        attempt(&s, "c@example.org", alice),
        "250 2.1.5 recipient OK\r\n"
    );
    assert_eq!(s.inbox(alice).expect("inbox").len(), 2);
}
