//! The login guard end to end: password guessing on SMTP AUTH, IMAP LOGIN, IMAP
//! AUTHENTICATE, POP3 USER/PASS, POP3 AUTH, the panel's sign-in and the API's Basic auth is
//! locked out after `[security] lockout_failures` on each, the lockout holds on every other
//! protocol (locked via IMAP ⇒ refused on submission, and the other way round), the locked
//! answer is the same for the right and a wrong password, and `mailroom lockout clear` (or
//! the API) lifts it everywhere.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use mailroom_tests::{LineClient, Server, http_request};
use std::time::{Duration, Instant};

const PASSWORD: &str = "password-1";
const ADMIN_PASSWORD: &str = "admin-password-1";
/// `[security] lockout_failures`.
const FAILURES: usize = 3;
/// `[security] auth_failure_delay_ms`.
const DELAY: Duration = Duration::from_millis(150);

/// Users for each path (password `password-1`), three admins, and a guard that locks an
/// account after three failures (the client's limit is out of reach: every test client is
/// 127.0.0.1) and waits 150 ms before each refusal. Plain-text ports, so that every protocol
/// is one socket away.
fn guarded_server() -> Server {
    let s = crate::server_with(&format!(
        "[security]\nallow_plaintext_auth = true\nauth_failure_delay_ms = {}\n\
         lockout_failures = {FAILURES}\nlockout_failures_per_ip = 1000\nlockout_secs = 600\n",
        DELAY.as_millis()
    ));
    s.add_users(
        "example.test",
        &[
            "smtp@example.test",
            "imap@example.test",
            "sasl@example.test",
            "pop@example.test",
            "popsasl@example.test",
            "other@example.test",
        ],
    )
    .expect("users");
    for admin in [
        "panel@example.test",
        "api@example.test",
        "boss@example.test",
    ] {
        s.add_admin(admin, ADMIN_PASSWORD).expect("admin");
    }
    s
}

fn plain_ir(user: &str, password: &str) -> String {
    BASE64.encode(format!("\0{user}\0{password}"))
}

/// SMTP AUTH PLAIN on the submission port: the reply line.
fn smtp_auth(s: &Server, user: &str, password: &str) -> String {
    let mut c = LineClient::connect(s.ports.submission).expect("submission");
    c.read_until(|l| l.len() < 4 || l.as_bytes()[3] == b' ')
        .expect("greeting");
    c.reply("EHLO client.example.org").expect("EHLO");
    c.cmd(&format!("AUTH PLAIN {}", plain_ir(user, password)))
        .expect("AUTH")
}

/// IMAP LOGIN: the tagged answer.
pub(crate) fn imap_login(s: &Server, user: &str, password: &str) -> String {
    let mut c = LineClient::connect(s.ports.imap).expect("imap");
    c.read_line().expect("greeting");
    c.send(&format!("a LOGIN {user} {password}"))
        .expect("LOGIN");
    c.read_until(|l| l.starts_with("a "))
        .expect("answer")
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

/// IMAP AUTHENTICATE PLAIN with an initial response (RFC 4959): the tagged answer.
fn imap_authenticate(s: &Server, user: &str, password: &str) -> String {
    let mut c = LineClient::connect(s.ports.imap).expect("imap");
    c.read_line().expect("greeting");
    c.send(&format!(
        "a AUTHENTICATE PLAIN {}",
        plain_ir(user, password)
    ))
    .expect("AUTHENTICATE");
    c.read_until(|l| l.starts_with("a "))
        .expect("answer")
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

/// POP3 USER/PASS: the answer to PASS.
pub(crate) fn pop_pass(s: &Server, user: &str, password: &str) -> String {
    let mut c = LineClient::connect(s.ports.pop3).expect("pop3");
    c.read_line().expect("greeting");
    let r = c.cmd(&format!("USER {user}")).expect("USER");
    assert!(r.starts_with("+OK"), "{r}");
    c.cmd(&format!("PASS {password}")).expect("PASS")
}

/// POP3 AUTH PLAIN with an initial response (RFC 5034).
fn pop_auth(s: &Server, user: &str, password: &str) -> String {
    let mut c = LineClient::connect(s.ports.pop3).expect("pop3");
    c.read_line().expect("greeting");
    c.cmd(&format!("AUTH PLAIN {}", plain_ir(user, password)))
        .expect("AUTH")
}

/// The panel's sign-in form: the HTTP status (303 signed in, 401 wrong, 429 locked out).
fn panel_sign_in(s: &Server, user: &str, password: &str) -> u16 {
    let body = format!("address={}&password={password}", user.replace('@', "%40"));
    http_request(
        s.ports.admin,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(&body),
    )
    .expect("HTTP")
    .status
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", BASE64.encode(format!("{user}:{password}")))
}

/// An API call with Basic credentials: the HTTP answer.
fn api(
    s: &Server,
    method: &str,
    path: &str,
    user: &str,
    password: &str,
) -> mailroom_tests::HttpAnswer {
    let auth = basic(user, password);
    http_request(
        s.ports.admin,
        method,
        path,
        &[("Authorization", &auth)],
        None,
    )
    .expect("HTTP")
}

fn api_status(s: &Server, user: &str, password: &str) -> u16 {
    api(s, "GET", "/api/v1/domains", user, password).status
}

/// The answer with the lockout's end cut off (it depends on the clock).
fn cut(r: &str) -> &str {
    r.split(" until ").next().unwrap_or(r).trim_end()
}

const SMTP_LOCKED: &str = "454 4.7.0 too many failed logins: this account is locked out";
const IMAP_LOCKED: &str = "a NO [UNAVAILABLE] too many failed logins: this account is locked out";
const POP_LOCKED: &str = "-ERR [SYS/TEMP] too many failed logins: this account is locked out";

/// `guess` fails `FAILURES` times with a wrong password, each refusal after the guard's
/// delay; then even the `right` password is refused, exactly as a wrong one is.
fn lock_by_guessing<A: PartialEq + std::fmt::Debug>(
    what: &str,
    right: &str,
    guess: impl Fn(&str) -> A,
    refused: A,
    locked: impl Fn(&A) -> bool,
) {
    for i in 0..FAILURES {
        let started = Instant::now();
        let r = guess(&format!("wrong-{i}"));
        assert_eq!(r, refused, "{what}: failure {i}");
        assert!(
            started.elapsed() >= DELAY,
            "{what}: a failure waits the delay"
        );
    }
    let started = Instant::now();
    let right = guess(right);
    assert!(
        started.elapsed() >= DELAY,
        "{what}: a lockout waits the delay too"
    );
    assert!(locked(&right), "{what}: {right:?}");
    assert_eq!(
        guess("wrong-again"),
        right,
        "{what}: the password is not checked"
    );
}

#[test]
fn guessing_on_every_protocol_locks_the_account_on_all_of_them() {
    let s = guarded_server();
    // Sanity: every path logs in with the right password before any failure.
    assert!(smtp_auth(&s, "other@example.test", PASSWORD).starts_with("235 2.7.0"));
    assert!(imap_login(&s, "other@example.test", PASSWORD).starts_with("a OK"));
    assert!(pop_pass(&s, "other@example.test", PASSWORD).starts_with("+OK"));

    // SMTP AUTH (RFC 4954 §6: 535 5.7.8 for bad credentials, 454 4.7.0 temporary failure).
    lock_by_guessing(
        "SMTP AUTH",
        PASSWORD,
        |p| cut(&smtp_auth(&s, "smtp@example.test", p)).to_string(),
        "535 5.7.8 authentication credentials invalid".to_string(),
        |r| r == SMTP_LOCKED,
    );
    // Locked via submission ⇒ refused on IMAP (RFC 5530 §3 UNAVAILABLE) and POP3 (RFC 3206
    // §5 SYS/TEMP).
    assert_eq!(
        cut(&imap_login(&s, "smtp@example.test", PASSWORD)),
        IMAP_LOCKED
    );
    assert_eq!(
        cut(&pop_pass(&s, "smtp@example.test", PASSWORD)),
        POP_LOCKED
    );

    // IMAP LOGIN (RFC 5530 §3 AUTHENTICATIONFAILED).
    lock_by_guessing(
        "IMAP LOGIN",
        PASSWORD,
        |p| cut(&imap_login(&s, "imap@example.test", p)).to_string(),
        "a NO [AUTHENTICATIONFAILED] invalid credentials".to_string(),
        |r| r == IMAP_LOCKED,
    );
    // Locked via IMAP ⇒ refused on submission.
    assert_eq!(
        cut(&smtp_auth(&s, "imap@example.test", PASSWORD)),
        SMTP_LOCKED
    );

    // IMAP AUTHENTICATE PLAIN.
    lock_by_guessing(
        "IMAP AUTHENTICATE",
        PASSWORD,
        |p| cut(&imap_authenticate(&s, "sasl@example.test", p)).to_string(),
        "a NO [AUTHENTICATIONFAILED] invalid credentials".to_string(),
        |r| r == IMAP_LOCKED,
    );
    assert_eq!(
        cut(&pop_auth(&s, "sasl@example.test", PASSWORD)),
        POP_LOCKED
    );

    // POP3 USER/PASS (RFC 3206 §4 AUTH for bad credentials).
    lock_by_guessing(
        "POP3 USER/PASS",
        PASSWORD,
        |p| cut(&pop_pass(&s, "pop@example.test", p)).to_string(),
        "-ERR [AUTH] invalid credentials".to_string(),
        |r| r == POP_LOCKED,
    );
    assert_eq!(
        cut(&imap_authenticate(&s, "pop@example.test", PASSWORD)),
        IMAP_LOCKED
    );

    // POP3 AUTH PLAIN.
    lock_by_guessing(
        "POP3 AUTH",
        PASSWORD,
        |p| cut(&pop_auth(&s, "popsasl@example.test", p)).to_string(),
        "-ERR [AUTH] invalid credentials".to_string(),
        |r| r == POP_LOCKED,
    );
    assert_eq!(
        cut(&smtp_auth(&s, "popsasl@example.test", PASSWORD)),
        SMTP_LOCKED
    );

    // The panel's sign-in: 401, then 429 (RFC 6585 §4) for the right password too.
    lock_by_guessing(
        "panel sign-in",
        ADMIN_PASSWORD,
        |p| panel_sign_in(&s, "panel@example.test", p),
        401,
        |r| *r == 429,
    );
    assert_eq!(
        cut(&imap_login(&s, "panel@example.test", ADMIN_PASSWORD)),
        IMAP_LOCKED
    );

    // The API's Basic auth.
    lock_by_guessing(
        "API Basic",
        ADMIN_PASSWORD,
        |p| api_status(&s, "api@example.test", p),
        401,
        |r| *r == 429,
    );
    assert_eq!(
        cut(&smtp_auth(&s, "api@example.test", ADMIN_PASSWORD)),
        SMTP_LOCKED
    );
    // A mail login that fails counts for the panel too: the account is one account.
    assert_eq!(panel_sign_in(&s, "smtp@example.test", PASSWORD), 429);

    // An account nobody guessed at is untouched.
    assert!(imap_login(&s, "other@example.test", PASSWORD).starts_with("a OK"));

    // `mailroom lockout list` shows each one locked, whatever protocol locked it.
    let list = s.cli(&["lockout", "list"], None).expect("list");
    let text = String::from_utf8_lossy(&list.stdout).into_owned();
    for account in [
        "smtp@example.test",
        "imap@example.test",
        "sasl@example.test",
        "pop@example.test",
        "popsasl@example.test",
        "panel@example.test",
        "api@example.test",
    ] {
        assert!(
            text.contains(&format!(
                "account\t{account}\tfailures={FAILURES}\tLOCKED until "
            )),
            "{account}: {text}"
        );
    }

    // One event per failure, one `locked_out` event per lockout, with the protocol that
    // locked it.
    let failed = s.events_of("auth_failed").expect("events");
    assert_eq!(failed.len(), 7 * FAILURES, "{failed:?}");
    let locked = s.events_of("locked_out").expect("events");
    let mut got: Vec<(String, String)> = locked
        .iter()
        .map(|e| {
            assert_eq!(e["scope"], "account", "{e}");
            (
                e["target"].as_str().unwrap_or_default().to_string(),
                e["protocol"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    got.sort();
    let want: Vec<(String, String)> = [
        ("api@example.test", "admin"),
        ("imap@example.test", "imap"),
        ("panel@example.test", "admin"),
        ("pop@example.test", "pop3"),
        ("popsasl@example.test", "pop3"),
        ("sasl@example.test", "imap"),
        ("smtp@example.test", "smtp"),
    ]
    .iter()
    .map(|(a, p)| (a.to_string(), p.to_string()))
    .collect();
    assert_eq!(got, want);

    // `mailroom lockout clear` lifts a lockout on every protocol at once.
    for account in ["smtp@example.test", "imap@example.test"] {
        let out = s.cli(&["lockout", "clear", account], None).expect("clear");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(imap_login(&s, "smtp@example.test", PASSWORD).starts_with("a OK"));
    assert!(smtp_auth(&s, "smtp@example.test", PASSWORD).starts_with("235 2.7.0"));
    assert!(pop_pass(&s, "imap@example.test", PASSWORD).starts_with("+OK"));
    assert!(smtp_auth(&s, "imap@example.test", PASSWORD).starts_with("235 2.7.0"));
    for account in [
        "sasl@example.test",
        "pop@example.test",
        "popsasl@example.test",
    ] {
        assert!(
            s.cli(&["lockout", "clear", account], None)
                .expect("clear")
                .status
                .success()
        );
    }
    assert!(imap_authenticate(&s, "sasl@example.test", PASSWORD).starts_with("a OK"));
    assert!(pop_pass(&s, "pop@example.test", PASSWORD).starts_with("+OK"));
    assert!(pop_auth(&s, "popsasl@example.test", PASSWORD).starts_with("+OK"));

    // The API lists the lockouts and lifts one (as an admin who is not locked out).
    let list = api(
        &s,
        "GET",
        "/api/v1/lockouts",
        "boss@example.test",
        ADMIN_PASSWORD,
    );
    assert_eq!(list.status, 200, "{list:?}");
    let rows = list.json().expect("JSON");
    let row = rows
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["target"] == "api@example.test")
        .expect("api@ is listed")
        .clone();
    assert_eq!(
        (
            row["scope"].as_str(),
            row["failures"].as_u64(),
            row["locked"].as_bool()
        ),
        (Some("account"), Some(FAILURES as u64), Some(true)),
        "{row}"
    );
    let lifted = api(
        &s,
        "DELETE",
        "/api/v1/lockouts/api@example.test",
        "boss@example.test",
        ADMIN_PASSWORD,
    );
    assert_eq!(lifted.status, 204, "{lifted:?}");
    assert_eq!(api_status(&s, "api@example.test", ADMIN_PASSWORD), 200);
    assert!(smtp_auth(&s, "api@example.test", ADMIN_PASSWORD).starts_with("235 2.7.0"));
    let again = api(
        &s,
        "DELETE",
        "/api/v1/lockouts/api@example.test",
        "boss@example.test",
        ADMIN_PASSWORD,
    );
    assert_eq!(again.status, 404, "{again:?}");

    // The panel's Policy page lists it and lifts it, with the session's CSRF token only.
    let cookie = crate::panel::sign_in_as(&s, "boss@example.test", ADMIN_PASSWORD).0;
    let port = s.ports.admin;
    let page = http_request(port, "GET", "/policy", &[("Cookie", &cookie)], None).expect("HTTP");
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("<h2>Lockouts</h2>"), "{}", page.body);
    assert!(page.body.contains("panel@example.test"), "{}", page.body);
    let csrf = crate::panel::csrf_of(&page.body);
    let form = [
        ("Cookie", cookie.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let forged = http_request(
        port,
        "POST",
        "/policy/lockouts/lift",
        &form,
        Some("csrf=x&target=panel%40example.test"),
    )
    .expect("HTTP");
    assert_eq!(forged.status, 403, "{forged:?}");
    assert_eq!(panel_sign_in(&s, "panel@example.test", ADMIN_PASSWORD), 429);
    let lift = http_request(
        port,
        "POST",
        "/policy/lockouts/lift",
        &form,
        Some(&format!("csrf={csrf}&target=panel%40example.test")),
    )
    .expect("HTTP");
    assert_eq!(lift.status, 303, "{lift:?}");
    assert!(
        lift.header("location").unwrap_or_default().contains("ok="),
        "{lift:?}"
    );
    assert_eq!(panel_sign_in(&s, "panel@example.test", ADMIN_PASSWORD), 303);

    // Metrics: one lockout counted per protocol that caused one.
    let (status, metrics) = mailroom_tests::http_get(port, "/metrics").expect("metrics");
    assert_eq!(status, 200);
    for (protocol, n) in [("smtp", 1), ("imap", 2), ("pop3", 2), ("admin", 2)] {
        let line = format!(
            "mailroom_auth_lockouts_total{{protocol=\"{protocol}\",scope=\"account\"}} {n}"
        );
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
}

#[test]
fn the_old_submission_keys_still_work_with_a_deprecation_warning() {
    let s = crate::server_with(
        "[security]\nallow_plaintext_auth = true\n[submission]\nauth_failure_delay_ms = 0\nlockout_failures = 2\n",
    );
    s.add_users("example.test", &["old@example.test"])
        .expect("users");
    for _ in 0..2 {
        assert!(smtp_auth(&s, "old@example.test", "nope").starts_with("535 "));
    }
    // The old threshold applies to every protocol now.
    assert_eq!(
        cut(&imap_login(&s, "old@example.test", PASSWORD)),
        IMAP_LOCKED
    );
    let check = s
        .cli(
            &["config", "check", &s.config_path().display().to_string()],
            None,
        )
        .expect("check");
    assert!(check.status.success());
    let err = String::from_utf8_lossy(&check.stderr);
    assert!(
        err.contains(
            "warning: submission.lockout_failures: deprecated, use security.lockout_failures"
        ),
        "{err}"
    );
    assert!(
        err.contains("warning: submission.auth_failure_delay_ms: deprecated, use security.auth_failure_delay_ms"),
        "{err}"
    );
    assert!(
        s.log().contains("submission.lockout_failures: deprecated"),
        "the server warns at start"
    );
}
