//! USER/PASS, APOP, AUTH PLAIN/LOGIN and STLS (RFC 1939 §7, RFC 5034, RFC 2595 §4): the
//! plain-text rule, [AUTH] and [IN-USE] codes, the SASL exchanges with and without initial
//! responses, cancelling, and what STLS makes the session forget.

use super::fixture::*;
use crate::session::Flow;

/// base64 of "\0alice@example.test\0password-1".
const PLAIN_IR: &str = "AGFsaWNlQGV4YW1wbGUudGVzdABwYXNzd29yZC0x";
/// base64 of "alice@example.test" and of "password-1".
const LOGIN_USER: &str = "YWxpY2VAZXhhbXBsZS50ZXN0";
const LOGIN_PASS: &str = "cGFzc3dvcmQtMQ==";

const TLS_NEEDED: &str = "-ERR [AUTH] authentication needs TLS: use STLS or the pop3s port\r\n";

#[actix_rt::test]
async fn user_pass_logs_in_and_opens_the_maildrop() {
    let mut t = session().await;
    t.deliver(&numbered(1)).await;
    t.deliver(&numbered(2)).await;
    assert_eq!(t.cmd("USER alice@example.test").await, "+OK send PASS\r\n");
    let total = numbered(1).len() + numbered(2).len();
    assert_eq!(
        t.cmd("PASS password-1").await,
        format!("+OK maildrop has 2 messages ({total} octets)\r\n")
    );
    assert!(t.s.in_transaction());
}

#[actix_rt::test]
async fn wrong_passwords_and_a_pass_out_of_turn() {
    let mut t = session().await;
    // RFC 1939 §7: USER never tells whether the name exists.
    assert_eq!(t.cmd("USER nobody@example.test").await, "+OK send PASS\r\n");
    assert_eq!(
        t.cmd("PASS password-1").await,
        "-ERR [AUTH] invalid credentials\r\n"
    );
    assert_eq!(t.cmd("USER alice@example.test").await, "+OK send PASS\r\n");
    assert_eq!(
        t.cmd("PASS wrong").await,
        "-ERR [AUTH] invalid credentials\r\n"
    );
    // RFC 1939 §7: PASS only right after USER: a failed PASS, or any other command between
    // them, leaves no USER to continue.
    assert_eq!(
        t.cmd("PASS password-1").await,
        "-ERR PASS must follow USER\r\n"
    );
    assert_eq!(t.cmd("USER alice@example.test").await, "+OK send PASS\r\n");
    assert!(t.cmd("CAPA").await.starts_with("+OK"));
    assert_eq!(
        t.cmd("PASS password-1").await,
        "-ERR PASS must follow USER\r\n"
    );
    assert!(!t.s.in_transaction());
    t.login().await;
}

#[actix_rt::test]
async fn passwords_may_hold_spaces() {
    let mut t = session().await;
    let admin = mailroom_store::StoreAdmin::new(t.store.clone());
    admin
        .user_add(
            "spaced@example.test",
            &mailroom_shared::Secret::new("two words here"),
            mailroom_store::Role::User,
            None,
        )
        .await
        .expect("user");
    t.cmd("USER spaced@example.test").await;
    let r = t.cmd("PASS two words here").await;
    assert!(r.starts_with("+OK maildrop has 0 messages"), "{r}");
}

#[actix_rt::test]
async fn credentials_need_tls_unless_plaintext_is_allowed() {
    let mut t = plain().await;
    assert_eq!(t.cmd("USER alice@example.test").await, TLS_NEEDED);
    assert_eq!(t.cmd("PASS password-1").await, TLS_NEEDED);
    assert_eq!(t.cmd(&format!("AUTH PLAIN {PLAIN_IR}")).await, TLS_NEEDED);
    assert_eq!(t.cmd("AUTH LOGIN").await, TLS_NEEDED);
    // Bare AUTH lists no mechanism before TLS.
    assert_eq!(t.cmd("AUTH").await, "+OK mechanisms follow\r\n.\r\n");

    let mut c = ctx(false);
    c.allow_plaintext_auth = true;
    let mut t = t_with_ctx(c).await;
    t.login().await;
}

#[actix_rt::test]
async fn stls_then_login_and_the_session_forgets_what_came_before() {
    let mut c = ctx(false);
    c.allow_plaintext_auth = true;
    let mut t = t_with_ctx(c).await;
    assert_eq!(t.cmd("USER alice@example.test").await, "+OK send PASS\r\n");
    let (r, flow) = t.raw(b"STLS").await;
    assert_eq!(
        (r.as_str(), flow),
        ("+OK begin TLS negotiation now\r\n", Flow::StartTls)
    );
    t.s.tls_started();
    // RFC 2595 §4: the USER given in clear text is forgotten.
    assert_eq!(
        t.cmd("PASS password-1").await,
        "-ERR PASS must follow USER\r\n"
    );
    assert_eq!(t.cmd("STLS").await, "-ERR TLS is already active\r\n");
    t.login().await;
}

#[actix_rt::test]
async fn stls_on_pop3s_is_refused() {
    let mut t = session().await;
    let (r, flow) = t.raw(b"STLS").await;
    assert_eq!(
        (r.as_str(), flow),
        ("-ERR TLS is already active\r\n", Flow::Continue)
    );
}

#[actix_rt::test]
async fn auth_plain_with_and_without_initial_response() {
    // RFC 5034 §4: the initial response on the AUTH line.
    let mut t = session().await;
    let r = t.cmd(&format!("AUTH PLAIN {PLAIN_IR}")).await;
    assert!(r.starts_with("+OK maildrop has 0 messages"), "{r}");

    // An empty challenge `+ `, then the response on its own line.
    let mut t = session().await;
    assert_eq!(t.cmd("auth plain").await, "+ \r\n");
    assert_eq!(t.s.max_line(), crate::proto::MAX_SASL_LINE);
    let r = t.cmd(PLAIN_IR).await;
    assert!(r.starts_with("+OK maildrop has"), "{r}");
    assert_eq!(t.s.max_line(), crate::proto::MAX_LINE);

    // `=` is an empty initial response (RFC 5034 §4): PLAIN cannot decode it.
    let mut t = session().await;
    assert_eq!(
        t.cmd("AUTH PLAIN =").await,
        "-ERR the PLAIN response is malformed\r\n"
    );
}

#[actix_rt::test]
async fn auth_login_in_steps_and_with_initial_response() {
    let mut t = session().await;
    assert_eq!(t.cmd("AUTH LOGIN").await, "+ VXNlcm5hbWU6\r\n");
    assert_eq!(t.cmd(LOGIN_USER).await, "+ UGFzc3dvcmQ6\r\n");
    let r = t.cmd(LOGIN_PASS).await;
    assert!(r.starts_with("+OK maildrop has"), "{r}");

    let mut t = session().await;
    assert_eq!(
        t.cmd(&format!("AUTH LOGIN {LOGIN_USER}")).await,
        "+ UGFzc3dvcmQ6\r\n"
    );
    assert_eq!(
        t.cmd("d3Jvbmc=").await,
        "-ERR [AUTH] invalid credentials\r\n"
    );
    assert!(!t.s.in_transaction());
}

#[actix_rt::test]
async fn sasl_exchanges_can_be_cancelled_or_fail() {
    let mut t = session().await;
    assert_eq!(t.cmd("AUTH PLAIN").await, "+ \r\n");
    // RFC 5034 §4: `*` cancels; the server answers -ERR.
    assert_eq!(t.cmd("*").await, "-ERR authentication cancelled\r\n");
    assert_eq!(t.cmd("AUTH LOGIN").await, "+ VXNlcm5hbWU6\r\n");
    assert_eq!(
        t.cmd("not base64!").await,
        "-ERR the response is not valid base64\r\n"
    );
    // The exchange is over: the next line is a command again.
    assert_eq!(t.cmd(LOGIN_USER).await, "-ERR unknown command\r\n");
    assert_eq!(
        t.cmd("AUTH CRAM-MD5").await,
        "-ERR unsupported mechanism: PLAIN and LOGIN are offered\r\n"
    );
    assert_eq!(
        t.cmd("AUTH PLAIN !!!").await,
        "-ERR the response is not valid base64\r\n"
    );
    assert_eq!(
        t.cmd("AUTH PLAIN AGJvYgB4").await, // "\0bob\0x"
        "-ERR [AUTH] invalid credentials\r\n"
    );
    assert_eq!(
        t.cmd("AUTH").await,
        "+OK mechanisms follow\r\nPLAIN\r\nLOGIN\r\n.\r\n"
    );
}

#[actix_rt::test]
async fn apop_is_never_offered() {
    let mut t = session().await;
    let greeting = String::from_utf8(t.s.greeting()).expect("utf8");
    // RFC 1939 §7: a server offering APOP puts a timestamp in the greeting; we have none.
    assert!(!greeting.contains('<'), "{greeting}");
    assert_eq!(
        t.cmd("APOP alice@example.test c4c9334bac560ecc979e58001b3e22fb")
            .await,
        "-ERR APOP is not offered: use USER/PASS or AUTH\r\n"
    );
}

#[actix_rt::test]
async fn a_second_pop3_session_gets_in_use_until_the_first_ends() {
    let mut t = logged_in(1).await;
    let mut other = t.another();
    on(&mut other, "USER alice@example.test").await;
    // RFC 2449 §8.1.1: [IN-USE]; the second session stays in AUTHORIZATION.
    assert_eq!(
        on(&mut other, "PASS password-1").await,
        "-ERR [IN-USE] the maildrop is in use by another POP3 session\r\n"
    );
    assert!(!other.in_transaction());
    // Bob's maildrop is another lock.
    on(&mut other, "USER bob@example.test").await;
    assert!(on(&mut other, "PASS password-1").await.starts_with("+OK"));
    drop(other);
    // Ending the first session any way at all releases the lock.
    assert!(t.maildrops.is_held(t.alice));
    let fresh = t.another();
    drop(std::mem::replace(&mut t.s, fresh));
    assert!(!t.maildrops.is_held(t.alice));
    t.login().await;
}

/// A TLS session under a login guard locking an account after `failures` failed logins,
/// waiting `delay_ms` before each refusal.
async fn guarded(failures: u32, delay_ms: u64) -> T {
    let mut c = ctx(true);
    c.login_guard = guard(failures, delay_ms);
    t_with_ctx(c).await
}

#[actix_rt::test]
async fn a_failed_login_and_a_lockout_wait_the_guard_delay() {
    let mut t = guarded(1, 300).await;
    t.cmd("USER alice@example.test").await;
    let started = std::time::Instant::now();
    assert_eq!(
        t.cmd("PASS nope").await,
        "-ERR [AUTH] invalid credentials\r\n"
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    // Locked now: the refusal waits as long, so timing tells nothing more.
    t.cmd("USER alice@example.test").await;
    let started = std::time::Instant::now();
    let r = t.cmd("PASS password-1").await;
    assert!(
        r.starts_with("-ERR [SYS/TEMP] too many failed logins"),
        "{r}"
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
}

/// The answer with the end of the lockout cut off (it depends on the clock).
fn locked_text(r: &str) -> &str {
    r.split(" until ").next().unwrap_or(r)
}

#[actix_rt::test]
async fn a_locked_account_gets_sys_temp_whatever_the_password() {
    let mut t = guarded(2, 0).await;
    for _ in 0..2 {
        t.cmd("USER alice@example.test").await;
        assert_eq!(
            t.cmd("PASS nope").await,
            "-ERR [AUTH] invalid credentials\r\n"
        );
    }
    // RFC 3206 §5 SYS/TEMP: a temporary problem, not [AUTH] (RFC 3206 §4), since the
    // credentials were not checked: right and wrong passwords get the same answer.
    t.cmd("USER alice@example.test").await;
    let right = t.cmd("PASS password-1").await;
    t.cmd("USER alice@example.test").await;
    let wrong = t.cmd("PASS nope").await;
    assert_eq!(
        locked_text(&right),
        "-ERR [SYS/TEMP] too many failed logins: this account is locked out"
    );
    assert!(right.ends_with("Z; try later\r\n"), "{right}");
    assert_eq!(right, wrong);
    // AUTH PLAIN (RFC 5034) is the same account, refused alike; base64 of
    // "\0alice@example.test\0password-1".
    let sasl = t
        .cmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABwYXNzd29yZC0x")
        .await;
    assert_eq!(sasl, right);
    assert!(t.s.login().is_none());
}

#[actix_rt::test]
async fn auth_failures_lock_user_pass_too() {
    let mut t = guarded(2, 0).await;
    // base64 of "\0alice@example.test\0nope".
    let r = t.cmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABub3Bl").await;
    assert_eq!(r, "-ERR [AUTH] invalid credentials\r\n");
    // AUTH LOGIN in steps (RFC 5034 §4).
    assert_eq!(t.cmd("AUTH LOGIN").await, "+ VXNlcm5hbWU6\r\n");
    t.cmd("YWxpY2VAZXhhbXBsZS50ZXN0").await;
    assert_eq!(
        t.cmd("bm9wZQ==").await,
        "-ERR [AUTH] invalid credentials\r\n"
    );
    t.cmd("USER alice@example.test").await;
    let r = t.cmd("PASS password-1").await;
    assert!(
        r.starts_with("-ERR [SYS/TEMP] too many failed logins"),
        "{r}"
    );
}

#[actix_rt::test]
async fn a_store_failure_at_login_is_sys_temp() {
    let mut t = session().await;
    t.store
        .send(mailroom_store::actor::Flush)
        .await
        .expect("mailbox")
        .expect("flush");
    t.cmd("USER alice@example.test").await;
    assert_eq!(
        t.cmd("PASS password-1").await,
        "-ERR [SYS/TEMP] cannot check credentials now, try again later\r\n"
    );
}

#[actix_rt::test]
async fn failed_logins_are_logged_as_auth_failed_without_the_password() {
    use mailroom_shared::events::EventData;
    use mailroom_store::actor::ReadEvents;
    let mut t = session().await;
    t.cmd("USER alice@example.test").await;
    assert!(t.cmd("PASS wrong-secret").await.starts_with("-ERR [AUTH]"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let events = loop {
        let events = t
            .store
            .send(ReadEvents {
                after: 0,
                limit: 100,
            })
            .await
            .expect("mailbox")
            .expect("read events");
        if !events.is_empty() || std::time::Instant::now() > deadline {
            break events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(events.len(), 1, "{events:?}");
    let EventData::AuthFailed(a) = &events[0].data else {
        panic!("{events:?}");
    };
    assert_eq!(
        (
            a.protocol.as_str(),
            a.mechanism.as_str(),
            a.username.as_str()
        ),
        ("pop3", "USER", "alice@example.test")
    );
    assert_eq!(
        a.client,
        "192.0.2.9".parse::<std::net::IpAddr>().expect("ip")
    );
    assert!(!format!("{events:?}").contains("wrong-secret"));
}
