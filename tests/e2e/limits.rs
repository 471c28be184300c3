//! Connection limits across listeners.

use crate::server_with;
use mailroom_tests::{LineClient, wait_until};
use std::time::Duration;

#[test]
fn connections_over_the_per_ip_limit_are_refused_with_a_reason() {
    let s = server_with("[limits]\nmax_connections = 10\nmax_connections_per_ip = 2\n");
    // The harness's readiness probes hold places until their sessions notice the close.
    let mut a = greeted(s.ports.smtp, "220 ");
    let b = greeted(s.ports.imap, "* OK ");
    let mut c = LineClient::connect(s.ports.smtp).expect("c");
    assert_eq!(
        c.read_line().expect("refusal"),
        "421 4.7.0 mail.example.test too many connections, try again later\r\n"
    );
    let mut d = LineClient::connect(s.ports.pop3).expect("d");
    assert_eq!(
        d.read_line().expect("refusal"),
        "-ERR [IN-USE] too many connections, try again later\r\n"
    );

    // A place frees when a session ends.
    assert!(a.cmd("QUIT").expect("quit").starts_with("221 "));
    assert!(a.closed());
    let _e = greeted(s.ports.smtp, "220 ");
    drop(b);
}

/// A client that got a greeting starting with `want`, retrying while places are taken.
fn greeted(port: u16, want: &str) -> LineClient {
    let mut client = None;
    let ok = wait_until(Duration::from_secs(5), || {
        let Ok(mut c) = LineClient::connect(port) else {
            return false;
        };
        let greeted = c.read_line().is_ok_and(|l| l.starts_with(want));
        if greeted {
            client = Some(c);
        }
        greeted
    });
    match client {
        Some(c) if ok => c,
        _ => panic!("no {want:?} greeting on port {port}"),
    }
}

#[test]
fn overlong_lines_and_idle_clients_get_a_clear_answer() {
    let s = server_with("[limits]\ncommand_timeout_secs = 1\n");
    let mut smtp = LineClient::connect(s.ports.smtp).expect("smtp");
    smtp.read_line().expect("greeting");
    smtp.send(&"X".repeat(5000)).expect("send");
    assert_eq!(
        smtp.read_line().expect("reply"),
        "500 5.5.6 command line too long\r\n"
    );
    // Still usable after the bad line.
    assert_eq!(smtp.cmd("NOOP").expect("noop"), "250 2.0.0 OK\r\n");
    // Then silence: the timeout closes the session with a 421.
    assert_eq!(
        smtp.read_line().expect("timeout"),
        "421 4.4.2 mail.example.test timeout waiting for a command, closing connection\r\n"
    );
    assert!(smtp.closed());
}
