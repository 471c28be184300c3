//! Every command in every state (RFC 9051 §3, §6): BAD for a command the state does not
//! allow, garbage and bad tags, and the error budget that ends a session.

use super::fixture::*;
use crate::session::Flow;

#[actix_rt::test]
async fn commands_out_of_state_and_garbage() {
    let mut t = session().await;
    assert_eq!(
        t.cmd("a SELECT INBOX").await,
        "a BAD SELECT is not allowed in this state\r\n"
    );
    assert_eq!(
        t.cmd("a FROBNICATE").await,
        "a BAD syntax error in command or arguments\r\n"
    );
    assert_eq!(t.cmd("+++").await, "* BAD missing or invalid tag\r\n");
    t.login().await;
    assert_eq!(
        t.cmd("b FETCH 1 FLAGS").await,
        "b BAD FETCH is not allowed in this state\r\n"
    );
    // The error limit ends the session: 8 in these tests, 4 of them spent above.
    for _ in 0..3 {
        assert_eq!(
            t.cmd("x NOPE").await,
            "x BAD syntax error in command or arguments\r\n"
        );
    }
    let last = t.cmd("x NOPE").await;
    assert_eq!(
        last,
        "x BAD syntax error in command or arguments\r\n* BYE too many errors\r\n"
    );
    let (_, flow) = t.raw(b"y NOOP\r\n").await;
    assert_eq!(flow, Flow::Close);
}

/// Valid commands that need the authenticated state at least.
const AUTHENTICATED: &[&str] = &[
    "SELECT INBOX",
    "EXAMINE INBOX",
    "CREATE Foo",
    "DELETE Foo",
    "RENAME Foo Bar",
    "SUBSCRIBE INBOX",
    "UNSUBSCRIBE INBOX",
    "LIST \"\" *",
    "LSUB \"\" *",
    "NAMESPACE",
    "STATUS INBOX (MESSAGES)",
    "IDLE",
];

/// Valid commands that need a selected mailbox.
const SELECTED: &[&str] = &[
    "CHECK",
    "CLOSE",
    "UNSELECT",
    "EXPUNGE",
    "UID EXPUNGE 1",
    "SEARCH ALL",
    "UID SEARCH ALL",
    "FETCH 1 FLAGS",
    "UID FETCH 1 FLAGS",
    "STORE 1 +FLAGS (\\Seen)",
    "UID STORE 1 +FLAGS (\\Seen)",
    "COPY 1 INBOX",
    "UID COPY 1 INBOX",
    "MOVE 1 INBOX",
    "UID MOVE 1 INBOX",
];

fn name_of(line: &str) -> String {
    let words: Vec<&str> = line.split(' ').collect();
    match words.as_slice() {
        ["UID", "EXPUNGE", ..] => "EXPUNGE".into(),
        ["UID", w, ..] => (*w).to_string(),
        [w, ..] => (*w).to_string(),
        [] => String::new(),
    }
}

#[actix_rt::test]
async fn not_authenticated_refuses_the_rest() {
    let mut t = lenient().await;
    for cmd in AUTHENTICATED.iter().chain(SELECTED) {
        let r = t.cmd(&format!("t {cmd}")).await;
        // RFC 9051 §6: a command not valid in this state is a protocol error: BAD.
        assert_eq!(
            r,
            format!("t BAD {} is not allowed in this state\r\n", name_of(cmd)),
            "{cmd}"
        );
    }
    // RFC 5161 §3.1: ENABLE only once authenticated.
    assert_eq!(t.code("e ENABLE IMAP4rev2").await, (BAD, String::new()));
    assert_eq!(t.s.account_id(), None);
    // What any state allows.
    for cmd in ["CAPABILITY", "NOOP", "ID NIL"] {
        assert_eq!(
            t.code(&format!("t {cmd}")).await,
            (OK, String::new()),
            "{cmd}"
        );
    }
}

#[actix_rt::test]
async fn authenticated_refuses_selected_commands() {
    let mut t = lenient().await;
    t.login().await;
    for cmd in SELECTED {
        let r = t.cmd(&format!("t {cmd}")).await;
        assert_eq!(
            r,
            format!("t BAD {} is not allowed in this state\r\n", name_of(cmd)),
            "{cmd}"
        );
    }
    for cmd in [
        "CAPABILITY",
        "NOOP",
        "ID NIL",
        "NAMESPACE",
        "ENABLE UTF8=ACCEPT",
    ] {
        assert_eq!(
            t.code(&format!("t {cmd}")).await,
            (OK, String::new()),
            "{cmd}"
        );
    }
}

#[actix_rt::test]
async fn selected_allows_everything_but_authentication_and_enable() {
    let mut t = T::selected(2).await;
    for cmd in [
        "CHECK",
        "NOOP",
        "SEARCH ALL",
        "FETCH 1:* FLAGS",
        "STATUS INBOX (MESSAGES)",
    ] {
        assert_eq!(t.code(&format!("t {cmd}")).await.0, OK, "{cmd}");
    }
    // RFC 5161 §3.1: ENABLE in the selected state is an error.
    assert_eq!(t.code("e ENABLE IMAP4rev2").await, (BAD, String::new()));
}

#[actix_rt::test]
async fn tags_and_garbage() {
    let mut t = lenient().await;
    // RFC 9051 §9: tag = 1*<any ASTRING-CHAR except "+">.
    for (line, answer) in [
        ("", "* BAD missing or invalid tag\r\n"),
        // "NOOP" alone is a valid tag without a command.
        ("NOOP", "NOOP BAD syntax error in command or arguments\r\n"),
        ("+ NOOP", "* BAD missing or invalid tag\r\n"),
        ("a{ NOOP", "* BAD missing or invalid tag\r\n"),
        ("a* NOOP", "* BAD missing or invalid tag\r\n"),
        (
            "a NOOP extra",
            "a BAD syntax error in command or arguments\r\n",
        ),
        ("a  NOOP", "a BAD syntax error in command or arguments\r\n"),
        ("a XYZZY", "a BAD syntax error in command or arguments\r\n"),
        ("a.1 NOOP", "a.1 OK NOOP completed\r\n"),
        ("A]1 NOOP", "A]1 OK NOOP completed\r\n"),
    ] {
        assert_eq!(t.cmd(line).await, answer, "{line:?}");
    }
    // Hostile bytes must not panic and must get a well-formed BAD.
    for bytes in [
        &b"\r\n"[..],
        b"\xff\xfe NOOP\r\n",
        b"a \xff\r\n",
        b"a LOGIN {999999999999}\r\n",
        b"a FETCH 1:* (((((((((((((((((((\r\n",
        b"a SEARCH (((((((((((((((((((((((((((((((((((((((((((((((((ALL\r\n",
        b"a\0 NOOP\r\n",
    ] {
        let (r, _) = t.raw(bytes).await;
        assert!(r.contains(" BAD "), "{bytes:?}: {r}");
    }
}
