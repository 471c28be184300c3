//! Removing an account through the API ends its sessions at once: an IMAP client in IDLE
//! gets `* BYE` and the connection closes, a POP3 client gets `-ERR` and the connection
//! closes; another account's session goes on, and the removed account cannot log in again.

use std::time::{Duration, Instant};

use mailroom_tests::{LineClient, Server};

use crate::api::{ADMIN, ADMIN_PASSWORD, call};

/// How soon after the API's answer the sessions must have heard of it.
const PROMPTLY: Duration = Duration::from_secs(2);

fn imaps(s: &Server) -> LineClient {
    let mut c =
        LineClient::connect_tls(s.ports.imaps, &s.hostname, &crate::pop3::ca(s)).expect("imaps");
    assert!(c.read_line().expect("greeting").starts_with("* OK"));
    c
}

fn imap_idle(s: &Server, address: &str) -> LineClient {
    let mut c = imaps(s);
    c.send(&format!("a LOGIN {address} password-1"))
        .expect("LOGIN");
    let login = c.read_until(|l| l.starts_with("a ")).expect("LOGIN answer");
    assert!(login.contains("a OK"), "{login}");
    c.send("b SELECT INBOX").expect("SELECT");
    let select = c
        .read_until(|l| l.starts_with("b "))
        .expect("SELECT answer");
    assert!(select.contains("b OK"), "{select}");
    c.send("c IDLE").expect("IDLE");
    let idling = c.read_line().expect("continuation");
    assert!(idling.starts_with("+ "), "{idling}");
    c
}

fn pop3_logged_in(s: &Server, address: &str) -> LineClient {
    let mut c =
        LineClient::connect_tls(s.ports.pop3s, &s.hostname, &crate::pop3::ca(s)).expect("pop3s");
    assert!(c.read_line().expect("greeting").starts_with("+OK"));
    assert!(
        c.cmd(&format!("USER {address}"))
            .expect("USER")
            .starts_with("+OK")
    );
    let pass = c.cmd("PASS password-1").expect("PASS");
    assert!(pass.starts_with("+OK maildrop has "), "{pass}");
    c
}

/// Both sessions got their goodbye (`* BYE`, `-ERR`) within [`PROMPTLY`] of `answered`, and
/// the server closed both connections.
fn assert_ended(imap: &mut LineClient, pop3: &mut LineClient, answered: Instant) {
    let bye = imap.read_until(|l| l.starts_with("* BYE")).expect("BYE");
    assert!(bye.contains("* BYE"), "{bye}");
    let err = pop3.read_line().expect("POP3 reply");
    assert!(err.starts_with("-ERR"), "{err:?}");
    assert!(
        answered.elapsed() < PROMPTLY,
        "the sessions ended {:?} after the removal",
        answered.elapsed()
    );
    assert_eq!(imap.read_line().expect("after BYE"), "", "IMAP still open");
    assert_eq!(pop3.read_line().expect("after -ERR"), "", "POP3 still open");
}

#[test]
fn removing_an_account_through_the_api_ends_its_imap_and_pop3_sessions() {
    let s = crate::server_with("[security]\nauth_failure_delay_ms = 10\n");
    s.add_users("example.test", &["gone@example.test", "stays@example.test"])
        .expect("users");
    s.add_admin(ADMIN, ADMIN_PASSWORD).expect("admin");

    let mut imap = imap_idle(&s, "gone@example.test");
    let mut pop3 = pop3_logged_in(&s, "gone@example.test");
    let mut other = imap_idle(&s, "stays@example.test");

    let removed = call(&s, "DELETE", "/api/v1/accounts/gone@example.test", None);
    assert_eq!(removed.status, 204, "{removed:?}");
    let answered = Instant::now();

    assert_ended(&mut imap, &mut pop3, answered);

    // Another account's session goes on.
    other.send("DONE").expect("DONE");
    let done = other
        .read_until(|l| l.starts_with("c "))
        .expect("IDLE ends");
    assert!(done.contains("c OK"), "{done}");
    other.send("d NOOP").expect("NOOP");
    let noop = other.read_until(|l| l.starts_with("d ")).expect("NOOP");
    assert!(noop.contains("d OK"), "{noop}");

    // The account is gone: it cannot log in again.
    let mut again = imaps(&s);
    again
        .send("e LOGIN gone@example.test password-1")
        .expect("LOGIN");
    let refused = again.read_until(|l| l.starts_with("e ")).expect("answer");
    assert!(refused.contains("e NO"), "{refused}");
}

/// The CLI case: `mailroom user remove` while the server runs goes to that server
/// (its control file, `src/remote.rs`), so the removal is the server's own write and its
/// sessions hear of it exactly as with the API.
#[test]
fn removing_an_account_through_the_cli_ends_its_imap_and_pop3_sessions() {
    let s = crate::server_with("[security]\nauth_failure_delay_ms = 10\n");
    s.add_users("example.test", &["gone@example.test"])
        .expect("users");

    let mut imap = imap_idle(&s, "gone@example.test");
    let mut pop3 = pop3_logged_in(&s, "gone@example.test");

    let out = s
        .cli(&["user", "remove", "gone@example.test"], None)
        .expect("cli");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answered = Instant::now();

    assert_ended(&mut imap, &mut pop3, answered);
}
