//! The command line beside a running server: its changes go through the server (its control
//! listener, authenticated by the secret the server leaves in the data directory), so that
//! they take effect at once and the server logs them; with the server stopped, or killed so
//! that its control file is stale, the command line opens the store itself.

use mailroom_tests::{LineClient, Server, http_request};
use std::os::unix::fs::PermissionsExt;
use std::process::Output;
use std::time::Duration;

fn guarded() -> Server {
    let s = crate::server_with(
        "[security]\nallow_plaintext_auth = true\nauth_failure_delay_ms = 10\n\
         lockout_failures = 2\nlockout_failures_per_ip = 1000\nlockout_secs = 600\n",
    );
    s.add_users("example.test", &["alice@example.test"])
        .expect("users");
    s
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// IMAP LOGIN on a fresh connection: the tagged answer.
fn imap_login(s: &Server, user: &str, password: &str) -> String {
    let mut c = LineClient::connect(s.ports.imap).expect("imap");
    c.read_line().expect("greeting");
    c.send(&format!("a LOGIN {user} {password}"))
        .expect("login");
    c.read_until(|l| l.starts_with("a "))
        .unwrap_or_else(|e| panic!("{e:#}; log:\n{}", s.log()))
}

/// `(url, secret)` of the control file.
fn control_file(s: &Server) -> Option<(String, String)> {
    let text = std::fs::read_to_string(s.data_dir().join("control.secret")).ok()?;
    let value = |key: &str| {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().to_string())
    };
    Some((value("url")?, value("secret")?))
}

#[test]
fn user_add_goes_through_the_running_server_and_the_account_logs_in_at_once() {
    let s = guarded();
    let (url, _) = control_file(&s).expect("the running server left its control file");
    let mode = std::fs::metadata(s.data_dir().join("control.secret"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the secret is the owner's alone");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let out = s
        .cli(
            &["user", "add", "carol@example.test", "--password-stdin"],
            Some("carol-password-1\n"),
        )
        .expect("cli");
    assert_eq!(ok(out), "added user account carol@example.test\n");
    // Made by the server itself, not beside it.
    assert!(
        s.log()
            .lines()
            .any(|l| l.contains("account created") && l.contains("carol@example.test")),
        "the server did not make the account:\n{}",
        s.log()
    );
    let answer = imap_login(&s, "carol@example.test", "carol-password-1");
    assert!(answer.starts_with("a OK"), "{answer}");
    let listed = ok(s.cli(&["user", "list"], None).expect("cli"));
    assert!(
        listed.contains("carol@example.test\tuser\tquota=unlimited\tused=0\n"),
        "{listed}"
    );
}

#[test]
fn lockout_clear_through_the_running_server_lifts_a_lockout_made_over_imap() {
    let s = guarded();
    for _ in 0..2 {
        let refused = imap_login(&s, "alice@example.test", "wrong-password");
        assert!(refused.starts_with("a NO"), "{refused}");
    }
    let locked = imap_login(&s, "alice@example.test", "password-1");
    assert!(locked.starts_with("a NO"), "locked out: {locked}");
    let listed = ok(s.cli(&["lockout", "list"], None).expect("cli"));
    assert!(
        listed.contains("account\talice@example.test\tfailures=2\tLOCKED until "),
        "{listed}"
    );

    let out = s
        .cli(&["lockout", "clear", "alice@example.test"], None)
        .expect("cli");
    assert_eq!(ok(out), "lifted the lockout of alice@example.test\n");
    assert!(
        s.log().contains("an admin lifted a lockout"),
        "lifted by the server:\n{}",
        s.log()
    );
    let answer = imap_login(&s, "alice@example.test", "password-1");
    assert!(answer.starts_with("a OK"), "{answer}");
}

/// The port of the control file's url.
fn control_port(s: &Server) -> u16 {
    let (url, _) = control_file(s).expect("control file");
    url.trim_start_matches("http://127.0.0.1:")
        .trim_end_matches('/')
        .parse()
        .expect("port")
}

#[test]
fn a_plain_loopback_admin_listener_serves_the_cli_and_takes_the_secret_from_loopback() {
    let s = guarded();
    assert_eq!(control_port(&s), s.ports.admin, "no port of its own");
    let (_, secret) = control_file(&s).expect("control file");
    let get = |auth: &str| {
        http_request(
            s.ports.admin,
            "GET",
            "/api/v1/domains",
            &[("Authorization", auth)],
            None,
        )
        .expect("http")
    };
    let answer = get(&format!("Bearer {secret}"));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.contains("example.test"), "{}", answer.body);
    let mut wrong = secret.clone();
    wrong.pop();
    wrong.push(if secret.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(get(&format!("Bearer {wrong}")).status, 401);
}

#[test]
fn behind_a_tls_admin_listener_a_control_listener_takes_only_the_secret() {
    let s = crate::server_with("[admin]\ntls = true\n");
    s.add_users("example.test", &["alice@example.test"])
        .expect("users through the control listener");
    let port = control_port(&s);
    assert_ne!(port, s.ports.admin);
    assert!(
        s.log()
            .lines()
            .any(|l| l.contains("account created") && l.contains("alice@example.test")),
        "the server made the account:\n{}",
        s.log()
    );
    let (_, secret) = control_file(&s).expect("control file");
    let get = |auth: &str| {
        http_request(
            port,
            "GET",
            "/api/v1/accounts",
            &[("Authorization", auth)],
            None,
        )
        .expect("http")
    };
    let answer = get(&format!("Bearer {secret}"));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.body.contains("alice@example.test"),
        "{}",
        answer.body
    );
    // An admin's own password is for the admin listener, not this one.
    s.add_admin("boss@example.test", "boss-password-1")
        .expect("admin");
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "boss@example.test:boss-password-1",
    );
    assert_eq!(get(&format!("Basic {basic}")).status, 401);
    assert_eq!(get("Bearer not-the-secret").status, 401);
}

#[test]
fn with_the_server_stopped_or_killed_the_cli_opens_the_store_itself() {
    let mut s = guarded();
    s.signal("TERM").expect("SIGTERM");
    assert_eq!(
        s.wait_exit(Duration::from_secs(15))
            .and_then(|st| st.code()),
        Some(0)
    );
    assert!(
        control_file(&s).is_none(),
        "a cleanly stopped server leaves no control file"
    );
    let out = s
        .cli(
            &["user", "add", "dave@example.test", "--password-stdin"],
            Some("dave-password-1\n"),
        )
        .expect("cli");
    assert_eq!(ok(out), "added user account dave@example.test\n");

    s.spawn().expect("restart");
    let answer = imap_login(&s, "dave@example.test", "dave-password-1");
    assert!(answer.starts_with("a OK"), "{answer}");

    // Killed: the control file stays behind, but nothing answers at its address.
    s.signal("KILL").expect("SIGKILL");
    s.wait_exit(Duration::from_secs(15)).expect("killed");
    assert!(
        control_file(&s).is_some(),
        "a killed server cannot clean up"
    );
    let out = s
        .cli(
            &["alias", "add", "info@example.test", "dave@example.test"],
            None,
        )
        .expect("cli");
    assert_eq!(
        ok(out),
        "added alias info@example.test -> dave@example.test\n"
    );
    let aliases = ok(s.cli(&["alias", "list"], None).expect("cli"));
    assert!(
        aliases.contains("info@example.test\tdave@example.test\n"),
        "{aliases}"
    );
}
