//! The admin panel: in headless Chromium (tests/browser/panel.mjs, Playwright) an admin signs
//! in, creates a domain and an account and sees the domain's DNS records, and that account
//! then logs in over IMAP; plus the panel's sign-in and CSRF rules over plain HTTP.

use mailroom_tests::{LineClient, Server, http_request};
use std::path::Path;
use std::process::Command;

const ADMIN: &str = "admin@example.test";
const ADMIN_PASSWORD: &str = "admin-password-1";

/// Where the panel's webhook target points: a loopback port nothing listens on, so a test
/// event from the Webhooks page fails with a connection error.
fn dead_hook() -> String {
    format!("http://127.0.0.1:{}/hook", mailroom_tests::free_port())
}

fn panel_server() -> Server {
    panel_server_with_hook(&dead_hook())
}

fn panel_server_with_hook(url: &str) -> Server {
    let s = crate::server_with(&format!(
        "[security]\nauth_failure_delay_ms = 10\n\n[[webhooks]]\nurl = \"{url}\"\nsecret = \"panel-secret\"\nevents = [\"delivered\"]\n"
    ));
    s.add_users("example.test", &[]).expect("domain");
    s.add_admin(ADMIN, ADMIN_PASSWORD).expect("admin");
    s
}

/// Sign in over HTTP: the session cookie (`name=value`) and the whole Set-Cookie line.
pub(crate) fn sign_in(s: &Server) -> (String, String) {
    sign_in_as(s, ADMIN, ADMIN_PASSWORD)
}

/// Sign in over HTTP as `admin` with `password`: as [`sign_in`].
pub(crate) fn sign_in_as(s: &Server, admin: &str, password: &str) -> (String, String) {
    let body = format!("address={}&password={password}", admin.replace('@', "%40"));
    let a = http_request(
        s.ports.admin,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(&body),
    )
    .expect("HTTP");
    assert_eq!(a.status, 303, "{a:?}");
    let set = a.header("set-cookie").expect("a cookie").to_string();
    let pair = set.split(';').next().unwrap_or_default().to_string();
    (pair, set)
}

#[test]
fn the_panel_requires_a_session_and_a_csrf_token() {
    let s = panel_server();
    let port = s.ports.admin;
    let anon = http_request(port, "GET", "/accounts", &[], None).expect("HTTP");
    assert_eq!(anon.status, 303);
    assert_eq!(anon.header("location"), Some("/login"));

    let (cookie, set) = sign_in(&s);
    let lower = set.to_lowercase();
    assert!(
        lower.contains("httponly") && lower.contains("samesite=strict"),
        "{set}"
    );
    assert!(
        !lower.contains("secure"),
        "no Secure flag without TLS: {set}"
    );
    let page = http_request(port, "GET", "/accounts", &[("Cookie", &cookie)], None).expect("HTTP");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("name=\"csrf\""), "forms carry the token");

    // A form post with a wrong token is refused and creates nothing.
    let forged = "csrf=wrong&address=eve%40example.test&password=eve-password-1&quota=&role=admin";
    let refused = http_request(
        port,
        "POST",
        "/accounts",
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Some(forged),
    )
    .expect("HTTP");
    assert_eq!(refused.status, 403, "{refused:?}");
    assert!(refused.body.contains("CSRF"));
    let no_cookie = http_request(
        port,
        "POST",
        "/accounts",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(forged),
    )
    .expect("HTTP");
    assert_eq!(no_cookie.status, 403);
    // Neither made the account.
    let eve = crate::api::call(&s, "GET", "/api/v1/accounts/eve@example.test", None);
    assert_eq!(eve.status, 404, "{eve:?}");

    // The API accepts the session only with its CSRF header for changes.
    let api = http_request(
        port,
        "POST",
        "/api/v1/domains",
        &[("Cookie", &cookie), ("Content-Type", "application/json")],
        Some(r#"{"name":"x.test"}"#),
    )
    .expect("HTTP");
    assert_eq!(api.status, 403, "{api:?}");
    assert!(api.body.contains("CSRF"));
    let read =
        http_request(port, "GET", "/api/v1/domains", &[("Cookie", &cookie)], None).expect("HTTP");
    assert_eq!(read.status, 200, "{read:?}");

    // An IMAP session is listed with its account and ended from its page.
    let mut imap =
        LineClient::connect_tls(s.ports.imaps, &s.hostname, &crate::pop3::ca(&s)).expect("imaps");
    imap.read_line().expect("greeting");
    imap.send(&format!("a LOGIN {ADMIN} {ADMIN_PASSWORD}"))
        .expect("LOGIN");
    imap.read_until(|l| l.starts_with("a ")).expect("answer");
    let listed =
        http_request(port, "GET", "/sessions", &[("Cookie", &cookie)], None).expect("HTTP");
    assert!(listed.body.contains(ADMIN), "{}", listed.body);
    let csrf = page
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("csrf")
        .to_string();
    let id = listed
        .body
        .split("action=\"/sessions/")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .expect("session id")
        .to_string();
    let ended = http_request(
        port,
        "POST",
        &format!("/sessions/{id}/end"),
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Some(&format!("csrf={csrf}")),
    )
    .expect("HTTP");
    assert_eq!(ended.status, 303, "{ended:?}");
    assert!(
        imap.read_until(|l| l.starts_with("* BYE"))
            .expect("BYE")
            .contains("* BYE")
    );

    // A wrong password shows the sign-in page again with the reason.
    let wrong = http_request(
        port,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some("address=admin%40example.test&password=nope-nope"),
    )
    .expect("HTTP");
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("wrong address or password"));
}

#[test]
fn an_admin_sets_up_a_domain_and_account_in_chromium_and_it_logs_in_over_imap() {
    let hook = dead_hook();
    let s = panel_server_with_hook(&hook);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests/browser/panel.mjs");
    assert!(
        root.join("tests/browser/node_modules/playwright-core")
            .is_dir(),
        "playwright-core is missing: run `npm ci --prefix tests/browser` (.ci/run does)"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: apt-get install chromium (.ci/run does)"
    );
    let shots = root.join("target/browser-screenshots");
    // Screenshots of an earlier run must not stand in for this one's.
    let _ = std::fs::remove_dir_all(&shots);
    let out = Command::new("node")
        .arg(&script)
        .env("PANEL_URL", format!("http://127.0.0.1:{}", s.ports.admin))
        .env("ADMIN_ADDRESS", ADMIN)
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("NEW_DOMAIN", "panel.test")
        .env("NEW_ACCOUNT", "carol@panel.test")
        .env("NEW_PASSWORD", "carol-password-1")
        .env("WEBHOOK_URL", &hook)
        .env("SCREENSHOTS", &shots)
        .output()
        .expect("node must be installed");
    assert!(
        out.status.success(),
        "browser test failed:\n{}{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    for page in [
        "login",
        "dashboard",
        "domains",
        "domain",
        "accounts",
        "account",
        "aliases",
        "queue",
        "policy",
        "webhooks",
        "webhook-tested",
        "sessions",
        "api-tokens",
        "api-token-made",
        "config",
    ] {
        assert!(
            shots.join(format!("{page}.png")).is_file(),
            "no screenshot of {page}"
        );
    }
    let mut c =
        LineClient::connect_tls(s.ports.imaps, &s.hostname, &crate::pop3::ca(&s)).expect("imaps");
    c.read_line().expect("greeting");
    c.send("a LOGIN carol@panel.test carol-password-1")
        .expect("LOGIN");
    let answer = c.read_until(|l| l.starts_with("a ")).expect("answer");
    assert!(
        answer
            .lines()
            .last()
            .unwrap_or_default()
            .starts_with("a OK"),
        "{answer}"
    );
}

/// The CSRF token a page's forms carry.
pub(crate) fn csrf_of(body: &str) -> String {
    body.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a CSRF field")
        .to_string()
}

/// A form post with the session `cookie`.
pub(crate) fn post_form(
    s: &Server,
    cookie: &str,
    path: &str,
    form: &str,
) -> mailroom_tests::HttpAnswer {
    http_request(
        s.ports.admin,
        "POST",
        path,
        &[
            ("Cookie", cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Some(form),
    )
    .expect("HTTP")
}

#[test]
fn greylist_entries_and_api_tokens_are_managed_from_their_pages() {
    let s = crate::server_with(
        "[security]\nauth_failure_delay_ms = 10\n[greylist]\nenabled = true\ndelay_secs = 300\n",
    );
    s.add_users("example.test", &["user@example.test"])
        .expect("domain");
    s.add_admin(ADMIN, ADMIN_PASSWORD).expect("admin");
    let (cookie, _) = sign_in(&s);
    let get = |path: &str| {
        http_request(s.ports.admin, "GET", path, &[("Cookie", &cookie)], None).expect("HTTP")
    };
    let mut smtp = LineClient::connect(s.ports.smtp).expect("smtp");
    smtp.read_line().expect("greeting");
    smtp.reply("EHLO client.test").expect("EHLO");
    smtp.reply("MAIL FROM:<a@remote.test>").expect("MAIL");
    let deferred = smtp.reply("RCPT TO:<user@example.test>").expect("RCPT");
    assert!(deferred.starts_with("451 4.7.1"), "{deferred}");
    smtp.reply("QUIT").expect("QUIT");

    let policy = get("/policy?q=remote.test");
    assert_eq!(policy.status, 200);
    assert!(policy.body.contains("a@remote.test") && policy.body.contains("pending"));
    assert!(policy.body.contains("Recent rejections") && policy.body.contains("Spam decisions"));
    let csrf = csrf_of(&policy.body);
    let entry = "net=127.0.0.0%2F24&sender=a%40remote.test&recipient=user%40example.test\
                 &back=%2Fpolicy%3Fq%3Dremote.test";
    let forged = post_form(
        &s,
        &cookie,
        "/policy/greylist/whitelist",
        &format!("csrf=x&{entry}"),
    );
    assert_eq!(forged.status, 403);
    assert!(get("/policy?q=remote.test").body.contains("pending"));
    let whitelisted = post_form(
        &s,
        &cookie,
        "/policy/greylist/whitelist",
        &format!("csrf={csrf}&{entry}"),
    );
    assert_eq!(whitelisted.status, 303, "{whitelisted:?}");
    let to = whitelisted
        .header("location")
        .expect("location")
        .to_string();
    assert!(to.starts_with("/policy?q=remote.test&ok="), "{to}");
    let after = get(&to);
    assert!(after.body.contains("whitelisted") && !after.body.contains("pending"));
    let deleted = post_form(
        &s,
        &cookie,
        "/policy/greylist/delete",
        &format!("csrf={csrf}&{entry}"),
    );
    assert_eq!(deleted.status, 303);
    assert!(!get("/policy?q=remote.test").body.contains("a@remote.test"));

    // A token made on its page works once as a Bearer token, and not after it is revoked.
    let made = post_form(
        &s,
        &cookie,
        "/tokens",
        &format!("csrf={csrf}&name=backup+script"),
    );
    assert_eq!(made.status, 200, "{made:?}");
    let secret = made
        .body
        .split("<code id=\"new-token\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("the new token shown")
        .to_string();
    assert!(secret.starts_with("mrt_"), "{secret}");
    let bearer = format!("Bearer {secret}");
    let stats = |auth: &str| {
        http_request(
            s.ports.admin,
            "GET",
            "/api/v1/stats",
            &[("Authorization", auth)],
            None,
        )
        .expect("HTTP")
        .status
    };
    assert_eq!(stats(&bearer), 200);
    let listed = get("/tokens");
    assert!(listed.body.contains("backup script") && !listed.body.contains(&secret));
    let id = listed
        .body
        .split("action=\"/tokens/")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .expect("a token id")
        .to_string();
    let revoked = post_form(
        &s,
        &cookie,
        &format!("/tokens/{id}/delete"),
        &format!("csrf={csrf}"),
    );
    assert_eq!(revoked.status, 303, "{revoked:?}");
    assert_eq!(stats(&bearer), 401);
}
