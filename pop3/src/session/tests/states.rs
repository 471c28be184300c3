//! Every command in every state (RFC 1939 §4–§6, RFC 2449 §5, RFC 2595 §4, RFC 5034 §4):
//! what is not valid in a state gets `-ERR` and changes nothing.

use super::fixture::*;
use crate::session::Flow;

/// Valid only in the TRANSACTION state (RFC 1939 §5, §7).
const TRANSACTION_ONLY: [&str; 8] = [
    "STAT", "LIST", "LIST 1", "UIDL", "RETR 1", "DELE 1", "RSET", "TOP 1 0",
];
/// Valid only in the AUTHORIZATION state.
const AUTHORIZATION_ONLY: [&str; 6] = [
    "USER alice@example.test",
    "PASS password-1",
    "APOP alice 0123456789abcdef",
    "AUTH PLAIN",
    "AUTH LOGIN",
    "STLS",
];

#[actix_rt::test]
async fn transaction_commands_are_refused_before_login() {
    let mut t = session().await;
    t.deliver(&numbered(1)).await;
    for line in TRANSACTION_ONLY.iter().chain(&["NOOP"]) {
        let r = t.cmd(line).await;
        let name = line.split(' ').next().unwrap_or_default();
        assert_eq!(
            r,
            format!("-ERR {name} is not valid in this state\r\n"),
            "{line}"
        );
    }
    // Still usable: CAPA and QUIT work in every state.
    assert!(
        t.cmd("CAPA")
            .await
            .starts_with("+OK capability list follows\r\n")
    );
    t.login().await;
}

#[actix_rt::test]
async fn authorization_commands_are_refused_after_login() {
    let mut t = logged_in(1).await;
    for line in AUTHORIZATION_ONLY {
        let r = t.cmd(line).await;
        let name = line.split(' ').next().unwrap_or_default();
        assert_eq!(
            r,
            format!("-ERR {name} is not valid in this state\r\n"),
            "{line}"
        );
    }
    assert_eq!(
        t.cmd("STAT").await,
        format!("+OK 1 {}\r\n", numbered(1).len())
    );
    assert_eq!(t.cmd("NOOP").await, "+OK nothing to do\r\n");
}

#[actix_rt::test]
async fn unknown_and_malformed_commands() {
    let mut t = logged_in(1).await;
    let cases = [
        ("FROB", "-ERR unknown command\r\n"),
        ("", "-ERR unknown command\r\n"),
        ("RETR", "-ERR RETR needs an argument\r\n"),
        ("RETR x", "-ERR x is not a valid number\r\n"),
        ("STAT 1", "-ERR too many arguments for STAT\r\n"),
        ("TOP 1", "-ERR TOP needs an argument\r\n"),
    ];
    for (line, want) in cases {
        assert_eq!(t.cmd(line).await, want, "{line:?}");
    }
    let (r, flow) = t.raw(b"RETR \xff").await;
    let want = "-ERR \u{fffd} is not a valid number\r\n";
    assert_eq!((r.as_str(), flow), (want, Flow::Continue));
}

#[actix_rt::test]
async fn after_quit_nothing_is_read() {
    let mut t = session().await;
    let (r, flow) = t.raw(b"QUIT").await;
    assert_eq!(
        (r.as_str(), flow),
        ("+OK pop.example.test signing off\r\n", Flow::Close)
    );
    let (r, flow) = t.raw(b"CAPA").await;
    assert_eq!((r.as_str(), flow), ("", Flow::Close));
}
