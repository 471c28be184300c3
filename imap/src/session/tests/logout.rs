//! LOGOUT (RFC 9051 §6.1.3) in every state, and what comes after it.

use super::fixture::*;
use crate::session::Flow;

#[actix_rt::test]
async fn logout() {
    let mut t = session().await;
    let (r, flow) = t.raw(b"z LOGOUT\r\n").await;
    assert_eq!(
        r,
        "* BYE imap.example.test logging out\r\nz OK LOGOUT completed\r\n"
    );
    assert_eq!(flow, Flow::Close);
}

#[actix_rt::test]
async fn logout_in_authenticated_and_selected_states() {
    let mut t = session().await;
    t.login().await;
    let (r, flow) = t.raw(b"z LOGOUT\r\n").await;
    assert_eq!(
        (r.as_str(), flow),
        (
            "* BYE imap.example.test logging out\r\nz OK LOGOUT completed\r\n",
            Flow::Close
        )
    );
    let mut t = T::selected(1).await;
    let (r, flow) = t.raw(b"z logout\r\n").await;
    // RFC 9051 §6.1.3: BYE first, then the tagged OK.
    assert!(
        r.starts_with("* BYE ") && r.ends_with("z OK LOGOUT completed\r\n"),
        "{r}"
    );
    assert_eq!(flow, Flow::Close);
}

#[actix_rt::test]
async fn nothing_after_logout() {
    let mut t = T::selected(1).await;
    t.raw(b"z LOGOUT\r\n").await;
    for line in ["a NOOP", "b FETCH 1 FLAGS", "c LOGIN x y", "DONE"] {
        let (r, flow) = t.raw(format!("{line}\r\n").as_bytes()).await;
        assert_eq!((r.as_str(), flow), ("", Flow::Close), "{line}");
    }
}

#[actix_rt::test]
async fn logout_takes_no_arguments() {
    let mut t = session().await;
    let (r, flow) = t.raw(b"z LOGOUT now\r\n").await;
    assert_eq!(tagged_code(&r), (BAD, String::new()));
    assert_eq!(flow, Flow::Continue);
}

#[actix_rt::test]
async fn timeout_and_shutdown_say_bye() {
    let mut t = session().await;
    let bye = String::from_utf8_lossy(&t.s.timed_out()).into_owned();
    check(bye.as_bytes());
    assert_eq!(bye, "* BYE autologout; idle for too long\r\n");
    let mut t = T::selected(0).await;
    let bye = t.s.shutting_down();
    check(&bye);
    assert_eq!(bye, b"* BYE imap.example.test shutting down\r\n");
    let (r, flow) = t.raw(b"a NOOP\r\n").await;
    assert_eq!((r.as_str(), flow), ("", Flow::Close));
}

#[actix_rt::test]
async fn ended_by_the_administrator_says_bye_and_takes_no_more_commands() {
    let mut t = T::selected(0).await;
    assert!(t.s.account_address().is_some_and(|a| a.contains('@')));
    let bye = t.s.ended();
    check(&bye);
    assert_eq!(
        bye,
        b"* BYE imap.example.test session ended by the administrator\r\n"
    );
    let (r, flow) = t.raw(b"a NOOP\r\n").await;
    assert_eq!((r.as_str(), flow), ("", Flow::Close));
}
