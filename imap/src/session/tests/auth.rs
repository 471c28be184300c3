//! STARTTLS, LOGIN and AUTHENTICATE (RFC 9051 §6.2; RFC 4959 SASL-IR): in every state,
//! PRIVACYREQUIRED before TLS, AUTHENTICATIONFAILED, cancelled and malformed exchanges.

use super::fixture::*;
use crate::session::Flow;

/// base64 of "\0alice@example.test\0password-1".
const PLAIN_IR: &str = "AGFsaWNlQGV4YW1wbGUudGVzdABwYXNzd29yZC0x";

#[actix_rt::test]
async fn greeting_and_capabilities_follow_tls() {
    let mut plain = t_with(false).await;
    let g = plain.greeting();
    assert!(
        g.starts_with("* OK [CAPABILITY IMAP4rev1 IMAP4rev2 STARTTLS LOGINDISABLED "),
        "{g}"
    );
    // RFC 9051 §6.2.3: no LOGIN before TLS when LOGINDISABLED is advertised.
    let r = plain.cmd("a LOGIN alice@example.test password-1").await;
    assert_eq!(
        r,
        "a NO [PRIVACYREQUIRED] authentication needs TLS: use STARTTLS or the imaps port\r\n"
    );
    let r = plain
        .cmd("b AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABwYXNzd29yZC0x")
        .await;
    assert!(r.starts_with("b NO [PRIVACYREQUIRED]"), "{r}");
    let (r, flow) = plain.raw(b"c STARTTLS\r\n").await;
    assert_eq!(
        (r.as_str(), flow),
        ("c OK begin TLS negotiation now\r\n", Flow::StartTls)
    );
    plain.s.tls_started();
    let r = plain.cmd("d CAPABILITY").await;
    assert!(
        r.contains(" AUTH=PLAIN AUTH=LOGIN ") && !r.contains("STARTTLS"),
        "{r}"
    );
    let r = plain.cmd("e STARTTLS").await;
    assert_eq!(r, "e BAD TLS is already active\r\n");
}

#[actix_rt::test]
async fn login_and_authenticate() {
    let mut t = session().await;
    let r = t.cmd("a LOGIN alice@example.test wrong").await;
    assert_eq!(r, "a NO [AUTHENTICATIONFAILED] invalid credentials\r\n");
    // RFC 4959 SASL-IR: PLAIN with the initial response in the command.
    let r = t
        .cmd("b AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABwYXNzd29yZC0x")
        .await;
    assert!(
        r.starts_with("b OK [CAPABILITY IMAP4rev1 IMAP4rev2 SASL-IR"),
        "{r}"
    );
    let r = t.cmd("c LOGIN alice@example.test password-1").await;
    assert_eq!(r, "c BAD LOGIN is not allowed in this state\r\n");

    // PLAIN in two steps, LOGIN in three, `*` cancels (RFC 9051 §6.2.2).
    let mut t = session().await;
    assert_eq!(t.cmd("a AUTHENTICATE PLAIN").await, "+ \r\n");
    let r = t.cmd("*").await;
    assert_eq!(r, "a BAD authentication cancelled\r\n");
    assert_eq!(t.cmd("b AUTHENTICATE LOGIN").await, "+ VXNlcm5hbWU6\r\n");
    assert_eq!(
        t.cmd("YWxpY2VAZXhhbXBsZS50ZXN0").await,
        "+ UGFzc3dvcmQ6\r\n"
    );
    let r = t.cmd("cGFzc3dvcmQtMQ==").await;
    assert!(r.starts_with("b OK [CAPABILITY "), "{r}");
    assert_eq!(t.s.account_id(), Some(t.alice));
}

#[actix_rt::test]
async fn response_codes_decode_as_such() {
    let mut plain = t_with(false).await;
    // RFC 9051 §7.1: PRIVACYREQUIRED, AUTHENTICATIONFAILED.
    assert_eq!(
        plain.code("a LOGIN alice@example.test password-1").await,
        (NO, "PRIVACYREQUIRED".into())
    );
    assert_eq!(
        plain
            .code(&format!("b AUTHENTICATE PLAIN {PLAIN_IR}"))
            .await,
        (NO, "PRIVACYREQUIRED".into())
    );
    assert_eq!(
        plain.code("c AUTHENTICATE LOGIN").await,
        (NO, "PRIVACYREQUIRED".into())
    );
    assert_eq!(plain.s.account_id(), None);
    let mut t = session().await;
    assert_eq!(
        t.code("a LOGIN alice@example.test nope").await,
        (NO, "AUTHENTICATIONFAILED".into())
    );
    assert_eq!(
        t.code("b LOGIN nobody@example.test password-1").await,
        (NO, "AUTHENTICATIONFAILED".into())
    );
    assert_eq!(t.code(LOGIN).await, (OK, "CAPABILITY".into()));
}

#[actix_rt::test]
async fn login_with_quoted_strings_and_a_literal() {
    let mut t = session().await;
    let (r, _) = t
        .raw(b"a LOGIN \"alice@example.test\" {10}\r\npassword-1\r\n")
        .await;
    assert!(r.starts_with("a OK [CAPABILITY "), "{r}");
    assert_eq!(t.s.account_id(), Some(t.alice));
}

#[actix_rt::test]
async fn login_syntax_errors_are_bad() {
    let mut t = lenient().await;
    for line in [
        "a LOGIN",
        "a LOGIN alice@example.test",
        "a LOGIN alice@example.test password-1 extra",
        "a LOGIN (alice) password",
        "a AUTHENTICATE",
        "a STARTTLS now",
    ] {
        assert_eq!(t.code(line).await.0, BAD, "{line}");
    }
    assert_eq!(t.s.account_id(), None);
}

#[actix_rt::test]
async fn unknown_mechanism_is_refused() {
    let mut t = session().await;
    // RFC 9051 §6.2.2: an unsupported mechanism gets a tagged NO.
    assert_eq!(
        t.code("a AUTHENTICATE CRAM-MD5").await,
        (NO, "CANNOT".into())
    );
    assert_eq!(t.code("b AUTHENTICATE XOAUTH2 abcd").await.0, NO);
    t.login().await;
}

#[actix_rt::test]
async fn authenticate_plain_failures() {
    let mut t = session().await;
    // base64 of "\0alice@example.test\0wrong".
    assert_eq!(
        t.code("a AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUudGVzdAB3cm9uZw==")
            .await,
        (NO, "AUTHENTICATIONFAILED".into())
    );
    // Not base64 at all: rejected, and the session is back to commands.
    assert_eq!(t.cmd("b AUTHENTICATE PLAIN").await, "+ \r\n");
    let (kind, _) = t.code("!!!").await;
    assert!(kind == NO || kind == BAD, "{kind:?}");
    // Base64 of something that is not a PLAIN message (no NULs).
    assert_eq!(t.code("c AUTHENTICATE PLAIN aGVsbG8=").await.0, NO);
    assert_eq!(t.s.account_id(), None);
    assert!(t.cmd("d NOOP").await.ends_with("d OK NOOP completed\r\n"));
}

#[actix_rt::test]
async fn authenticate_login_with_initial_response_and_cancel() {
    let mut t = session().await;
    // RFC 4959: the initial response of LOGIN is the user name.
    assert_eq!(
        t.cmd("a AUTHENTICATE LOGIN YWxpY2VAZXhhbXBsZS50ZXN0").await,
        "+ UGFzc3dvcmQ6\r\n"
    );
    // RFC 9051 §6.2.2: "*" cancels with a tagged BAD.
    assert_eq!(t.cmd("*").await, "a BAD authentication cancelled\r\n");
    assert_eq!(t.cmd("b authenticate plain").await, "+ \r\n");
    let r = t.cmd(PLAIN_IR).await;
    assert!(r.starts_with("b OK [CAPABILITY "), "{r}");
}

#[actix_rt::test]
async fn auth_commands_after_login_are_bad() {
    let mut t = T::selected(0).await;
    for line in [
        "a LOGIN alice@example.test password-1",
        "b AUTHENTICATE PLAIN",
        "c STARTTLS",
    ] {
        let r = t.cmd(line).await;
        assert!(
            r.contains(" BAD ") && r.contains("not allowed in this state"),
            "{r}"
        );
    }
    let mut t = lenient().await;
    t.login().await;
    assert_eq!(t.code("d STARTTLS").await, (BAD, String::new()));
    assert_eq!(
        t.code(&format!("e AUTHENTICATE PLAIN {PLAIN_IR}")).await.0,
        BAD
    );
}

#[actix_rt::test]
async fn starttls_before_login_only_once() {
    let mut t = t_with(false).await;
    let (r, flow) = t.raw(b"a STARTTLS\r\n").await;
    assert_eq!(
        (r.as_str(), flow),
        ("a OK begin TLS negotiation now\r\n", Flow::StartTls)
    );
    t.s.tls_started();
    // RFC 9051 §6.2.1: the client must discard cached capabilities; login now works.
    t.login().await;
}

#[actix_rt::test]
async fn sessions_per_account_are_limited() {
    let mut a = session().await;
    let shared = mailroom_shared::net::AccountSessions::default();
    let limited = |store: &actix::Addr<mailroom_store::MailboxStore>| {
        let mut c = ctx(true);
        c.limits.max_sessions_per_account = 1;
        c.sessions = shared.clone();
        crate::session::Session::new(c, store.clone())
    };
    a.s = limited(&a.store);
    a.login().await;
    let mut b = T {
        s: limited(&a.store),
        store: a.store.clone(),
        alice: a.alice,
        dir: std::sync::Arc::clone(&a.dir),
    };
    // RFC 5530 LIMIT: the account already has its one session.
    let r = b.cmd("a LOGIN alice@example.test password-1").await;
    assert_eq!(
        r,
        "a NO [LIMIT] too many sessions for this account (at most 1)\r\n"
    );
    // The place comes back when the first session ends.
    drop(a.s);
    assert_eq!(shared.count(b.alice), 0);
    b.login().await;
}

/// The `AuthFailed` events logged so far, as (mechanism, username), waiting until `n` are
/// there (they are logged without making the client wait).
async fn auth_failures(t: &T, n: usize) -> Vec<(String, String)> {
    use mailroom_shared::events::EventData;
    use mailroom_store::actor::ReadEvents;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let events = t
            .store
            .send(ReadEvents {
                after: 0,
                limit: 100,
            })
            .await
            .expect("mailbox")
            .expect("read events");
        if events.len() >= n || std::time::Instant::now() > deadline {
            return events
                .into_iter()
                .map(|e| match e.data {
                    EventData::AuthFailed(a) => {
                        assert_eq!((a.protocol.as_str(), a.client), ("imap", t.s.ctx.peer));
                        (a.mechanism, a.username)
                    }
                    other => panic!("unexpected {other:?}"),
                })
                .collect();
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[actix_rt::test]
async fn failed_logins_are_logged_as_auth_failed_without_the_password() {
    let mut t = session().await;
    t.cmd("a LOGIN alice@example.test wrong-secret").await;
    // base64 of "\0bob@example.test\0nope".
    t.cmd("b AUTHENTICATE PLAIN AGJvYkBleGFtcGxlLnRlc3QAbm9wZQ==")
        .await;
    let got = auth_failures(&t, 2).await;
    assert_eq!(
        got,
        [
            ("LOGIN".to_string(), "alice@example.test".to_string()),
            ("PLAIN".to_string(), "bob@example.test".to_string()),
        ]
    );
    // A successful login logs nothing more.
    let ok = t.cmd("c LOGIN alice@example.test password-1").await;
    assert!(ok.starts_with("c OK"), "{ok}");
    assert_eq!(auth_failures(&t, 3).await.len(), 2);
}

/// A TLS session under a login guard locking an account after `failures` failed logins,
/// waiting `delay_ms` before each refusal; a second session on the same store.
async fn guarded(failures: u32, delay_ms: u64) -> T {
    let mut c = ctx(true);
    c.login_guard = guard(failures, delay_ms);
    t_with_ctx(c, None).await
}

/// The tagged answer's text after its code, with the end of the lockout cut off (it
/// depends on the clock).
fn locked_text(r: &str) -> &str {
    r.split(" until ").next().unwrap_or(r)
}

#[actix_rt::test]
async fn a_locked_account_gets_unavailable_whatever_the_password() {
    let mut t = guarded(2, 0).await;
    for tag in ["a", "b"] {
        let r = t
            .cmd(&format!("{tag} LOGIN alice@example.test wrong"))
            .await;
        assert_eq!(
            r,
            format!("{tag} NO [AUTHENTICATIONFAILED] invalid credentials\r\n")
        );
    }
    // RFC 5530 §3 UNAVAILABLE: a temporary failure. The guard refuses before the password is
    // looked at, so the right password gets exactly the answer a wrong one gets.
    let right = t.cmd("c LOGIN alice@example.test password-1").await;
    let wrong = t.cmd("c LOGIN alice@example.test wrong").await;
    assert_eq!(
        locked_text(&right),
        "c NO [UNAVAILABLE] too many failed logins: this account is locked out"
    );
    assert!(right.ends_with("Z; try later\r\n"), "{right}");
    assert_eq!(right, wrong);
    assert_eq!(tagged_code(&right), (NO, "UNAVAILABLE".into()));
    // AUTHENTICATE counts on the same account: it is refused alike (RFC 4959 SASL-IR).
    let sasl = t.cmd(&format!("c AUTHENTICATE PLAIN {PLAIN_IR}")).await;
    assert_eq!(sasl, right);
    assert_eq!(t.s.account_id(), None);
}

#[actix_rt::test]
async fn authenticate_failures_lock_login_and_a_second_session() {
    let mut t = guarded(2, 0).await;
    // base64 of "\0alice@example.test\0nope".
    let bad = "AGFsaWNlQGV4YW1wbGUudGVzdABub3Bl";
    let r = t.cmd(&format!("a AUTHENTICATE PLAIN {bad}")).await;
    assert_eq!(r, "a NO [AUTHENTICATIONFAILED] invalid credentials\r\n");
    // AUTHENTICATE LOGIN in steps (RFC 9051 §6.2.2): the password line fails too.
    assert_eq!(t.cmd("b AUTHENTICATE LOGIN").await, "+ VXNlcm5hbWU6\r\n");
    t.cmd("YWxpY2VAZXhhbXBsZS50ZXN0").await;
    let r = t.cmd("bm9wZQ==").await;
    assert_eq!(r, "b NO [AUTHENTICATIONFAILED] invalid credentials\r\n");
    // Another connection is refused too: the count is the account's, not the session's.
    let mut c = ctx(true);
    c.login_guard = guard(2, 0);
    let mut other = T {
        s: crate::session::Session::new(c, t.store.clone()),
        store: t.store.clone(),
        alice: t.alice,
        dir: std::sync::Arc::clone(&t.dir),
    };
    let r = other.cmd(LOGIN).await;
    assert!(
        r.starts_with("a NO [UNAVAILABLE] too many failed logins"),
        "{r}"
    );
}

#[actix_rt::test]
async fn a_lockout_refusal_waits_the_same_delay_as_a_failure() {
    let mut t = guarded(1, 250).await;
    let started = std::time::Instant::now();
    let r = t.cmd("a LOGIN alice@example.test wrong").await;
    assert!(r.starts_with("a NO [AUTHENTICATIONFAILED]"), "{r}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(250));
    let started = std::time::Instant::now();
    let r = t.cmd(LOGIN).await;
    assert!(r.starts_with("a NO [UNAVAILABLE]"), "{r}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(250));
}

#[actix_rt::test]
async fn the_failure_that_locks_is_logged_as_locked_out() {
    use mailroom_shared::events::EventData;
    use mailroom_store::actor::ReadEvents;
    let mut t = guarded(1, 0).await;
    t.cmd("a LOGIN alice@example.test wrong").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let locked = loop {
        let events = t
            .store
            .send(ReadEvents {
                after: 0,
                limit: 100,
            })
            .await
            .expect("mailbox")
            .expect("read events");
        let locked: Vec<_> = events
            .into_iter()
            .filter_map(|e| match e.data {
                EventData::LockedOut(l) => Some(l),
                _ => None,
            })
            .collect();
        if !locked.is_empty() || std::time::Instant::now() > deadline {
            break locked;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(locked.len(), 1, "{locked:?}");
    let l = &locked[0];
    assert_eq!(
        (
            l.protocol.as_str(),
            l.scope.as_str(),
            l.target.as_str(),
            l.failures
        ),
        ("imap", "account", "alice@example.test", 1)
    );
    assert_eq!(l.client, t.s.ctx.peer);
}
