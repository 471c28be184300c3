//! The admin JSON API over real HTTP: authorization failures, every endpoint, bad input
//! (400 with a clear message and nothing changed), and schemathesis against its OpenAPI
//! document.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use mailroom_tests::{HttpAnswer, LineClient, Server, http_request};
use serde_json::{Value, json};

pub(crate) const ADMIN: &str = "admin@example.test";
pub(crate) const ADMIN_PASSWORD: &str = "admin-password-1";

/// A server with a domain, an admin and a user (`user@example.test`, `password-1`).
fn api_server() -> Server {
    api_server_with("")
}

fn api_server_with(extra: &str) -> Server {
    let s = crate::server_with(&format!("[security]\nauth_failure_delay_ms = 10\n{extra}"));
    s.add_users("example.test", &["user@example.test"])
        .expect("users");
    s.add_admin(ADMIN, ADMIN_PASSWORD).expect("admin");
    s
}

pub(crate) fn basic(address: &str, password: &str) -> String {
    format!("Basic {}", BASE64.encode(format!("{address}:{password}")))
}

/// A request as the admin (HTTP Basic), JSON in and out.
pub(crate) fn call(s: &Server, method: &str, path: &str, body: Option<Value>) -> HttpAnswer {
    call_as(s, &basic(ADMIN, ADMIN_PASSWORD), method, path, body)
}

pub(crate) fn call_as(
    s: &Server,
    auth: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> HttpAnswer {
    let text = body.map(|b| b.to_string());
    let mut headers = vec![("Authorization", auth)];
    if text.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    http_request(s.ports.admin, method, path, &headers, text.as_deref()).expect("HTTP")
}

/// `answer` is a JSON error with `status` whose text contains `words`.
pub(crate) fn assert_error(answer: &HttpAnswer, status: u16, words: &str) {
    assert_eq!(answer.status, status, "{answer:?}");
    let v = answer.json().expect("JSON error");
    let text = v["error"].as_str().expect("an error field");
    assert!(
        text.to_lowercase().contains(&words.to_lowercase()),
        "{text:?} lacks {words:?}"
    );
}

fn addresses(s: &Server) -> Vec<String> {
    let a = call(s, "GET", "/api/v1/accounts", None);
    assert_eq!(a.status, 200, "{a:?}");
    a.json()
        .expect("JSON")
        .as_array()
        .expect("array")
        .iter()
        .map(|x| x["address"].as_str().expect("address").to_string())
        .collect()
}

/// The tagged answer to an IMAP LOGIN over implicit TLS.
fn imap_login(s: &Server, address: &str, password: &str) -> String {
    let mut c =
        LineClient::connect_tls(s.ports.imaps, &s.hostname, &crate::pop3::ca(s)).expect("imaps");
    c.read_line().expect("greeting");
    c.send(&format!("a LOGIN {address} {password}"))
        .expect("LOGIN");
    let all = c.read_until(|l| l.starts_with("a ")).expect("answer");
    all.lines().last().unwrap_or_default().to_string()
}

#[test]
fn requests_without_an_admin_are_refused() {
    let s = api_server();
    let port = s.ports.admin;
    let none = http_request(port, "GET", "/api/v1/domains", &[], None).expect("HTTP");
    assert_error(&none, 401, "sign in");
    assert!(
        none.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Basic"))
    );
    assert_error(
        &call_as(
            &s,
            &basic(ADMIN, "wrong-password"),
            "GET",
            "/api/v1/domains",
            None,
        ),
        401,
        "wrong address or password",
    );
    assert_error(
        &call_as(
            &s,
            &basic("user@example.test", "password-1"),
            "GET",
            "/api/v1/domains",
            None,
        ),
        403,
        "not an admin",
    );
    assert_error(
        &call_as(
            &s,
            "Bearer mrt_not-a-real-token",
            "GET",
            "/api/v1/domains",
            None,
        ),
        401,
        "token",
    );
    assert_error(
        &call_as(&s, "Digest abc", "GET", "/api/v1/domains", None),
        401,
        "scheme",
    );
    assert_error(
        &call_as(&s, "Basic %%%", "GET", "/api/v1/domains", None),
        401,
        "malformed",
    );
    let cookie = http_request(
        port,
        "DELETE",
        "/api/v1/domains/example.test",
        &[("Cookie", "mailroom_session=forged")],
        None,
    )
    .expect("HTTP");
    assert_error(&cookie, 401, "sign in");
    // Nothing was changed by any of them.
    assert_eq!(
        call(&s, "GET", "/api/v1/domains", None)
            .json()
            .expect("JSON")[0]["name"],
        "example.test"
    );
    assert_error(
        &call(&s, "GET", "/api/v1/nothing-here", None),
        404,
        "no such API endpoint",
    );
}

#[test]
fn domains_accounts_and_aliases_round_trip() {
    let s = api_server();
    // Domains.
    let made = call(
        &s,
        "POST",
        "/api/v1/domains",
        Some(json!({ "name": "Other.Test" })),
    );
    assert_eq!(made.status, 201, "{made:?}");
    let made = made.json().expect("JSON");
    assert_eq!(made["name"], "other.test");
    assert_eq!(
        made["dkim_selectors"].as_array().expect("selectors").len(),
        2
    );
    // With an admin account, a new domain's postmaster@ and abuse@ reach it (RFC 5321
    // §4.5.1, RFC 2142); take one away and the domain says which is missing.
    assert_eq!(made["missing_role_addresses"], json!([]));
    assert_eq!(
        call(&s, "DELETE", "/api/v1/aliases/abuse@other.test", None).status,
        204
    );
    assert_eq!(
        call(&s, "GET", "/api/v1/domains/other.test", None)
            .json()
            .expect("JSON")["missing_role_addresses"],
        json!(["abuse@other.test"])
    );
    let back = call(
        &s,
        "POST",
        "/api/v1/aliases",
        Some(json!({ "source": "abuse@other.test", "targets": [ADMIN] })),
    );
    assert_eq!(back.status, 201, "{back:?}");
    let names: Vec<Value> = call(&s, "GET", "/api/v1/domains", None)
        .json()
        .expect("JSON")
        .as_array()
        .expect("array")
        .iter()
        .map(|d| d["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("example.test"), json!("other.test")]);
    assert_eq!(
        call(&s, "GET", "/api/v1/domains/other.test", None).status,
        200
    );
    assert_error(
        &call(
            &s,
            "POST",
            "/api/v1/domains",
            Some(json!({ "name": "other.test" })),
        ),
        409,
        "exists",
    );
    assert_error(
        &call(
            &s,
            "POST",
            "/api/v1/domains",
            Some(json!({ "name": "not a domain" })),
        ),
        400,
        "",
    );
    assert_error(
        &call(&s, "GET", "/api/v1/domains/absent.test", None),
        404,
        "not found",
    );

    // Accounts: create, then bad input changes nothing.
    let before = addresses(&s);
    let new = call(
        &s,
        "POST",
        "/api/v1/accounts",
        Some(json!({
        "address": "carol@other.test", "password": "carol-password", "quota": 1000000, "role": "user" })),
    );
    assert_eq!(new.status, 201, "{new:?}");
    let new = new.json().expect("JSON");
    assert_eq!(
        new,
        json!({ "address": "carol@other.test", "role": "user", "quota": 1000000, "used": 0, "disabled": false })
    );
    for (body, words) in [
        (
            json!({ "address": "dave@other.test", "password": "short" }),
            "at least 8",
        ),
        (
            json!({ "address": "dave@nowhere.test", "password": "long-enough-1" }),
            "not hosted",
        ),
        (
            json!({ "address": "dave@other.test", "password": "long-enough-1", "role": "root" }),
            "role must be",
        ),
        (
            json!({ "address": "dave@other.test", "password": "long-enough-1", "colour": "red" }),
            "unknown field",
        ),
        (json!({ "address": "dave@other.test" }), "missing field"),
        (
            json!({ "address": "carol@other.test", "password": "long-enough-1" }),
            "exists",
        ),
    ] {
        let a = call(&s, "POST", "/api/v1/accounts", Some(body));
        let status = if words == "exists" { 409 } else { 400 };
        assert_error(&a, status, words);
    }
    let raw = http_request(
        s.ports.admin,
        "POST",
        "/api/v1/accounts",
        &[
            ("Authorization", &basic(ADMIN, ADMIN_PASSWORD)),
            ("Content-Type", "application/json"),
        ],
        Some("{not json"),
    )
    .expect("HTTP");
    assert_error(&raw, 400, "bad JSON body");
    let untyped = http_request(
        s.ports.admin,
        "POST",
        "/api/v1/accounts",
        &[("Authorization", &basic(ADMIN, ADMIN_PASSWORD))],
        Some(r#"{"address":"dave@other.test","password":"long-enough-1"}"#),
    )
    .expect("HTTP");
    assert_error(&untyped, 400, "content type");
    let mut expected = before.clone();
    expected.push("carol@other.test".into());
    expected.sort();
    let mut now = addresses(&s);
    now.sort();
    assert_eq!(now, expected, "refused requests created nothing");

    // The new account works over IMAP; PATCH changes it, and a disabled one cannot log in.
    let first = imap_login(&s, "carol@other.test", "carol-password");
    assert!(first.starts_with("a OK"), "{first}\n{}", s.log());
    let patched = call(
        &s,
        "PATCH",
        "/api/v1/accounts/carol@other.test",
        Some(json!({ "quota": 5, "disabled": true })),
    );
    assert_eq!(patched.status, 200, "{patched:?}");
    assert_eq!(patched.json().expect("JSON")["disabled"], true);
    assert!(imap_login(&s, "carol@other.test", "carol-password").starts_with("a NO"));
    assert_error(
        &call(
            &s,
            "PATCH",
            "/api/v1/accounts/carol@other.test",
            Some(json!({})),
        ),
        400,
        "nothing to change",
    );
    assert_error(
        &call(
            &s,
            "PATCH",
            "/api/v1/accounts/carol@other.test",
            Some(json!({ "disabled": false, "password": "short" })),
        ),
        400,
        "at least 8",
    );
    assert_eq!(
        call(&s, "GET", "/api/v1/accounts/carol@other.test", None)
            .json()
            .expect("JSON")["disabled"],
        true,
        "a refused PATCH changed nothing"
    );
    let reset = call(
        &s,
        "PATCH",
        "/api/v1/accounts/carol@other.test",
        Some(json!({ "disabled": false, "password": "new-password-2" })),
    );
    assert_eq!(reset.status, 200, "{reset:?}");
    assert!(imap_login(&s, "carol@other.test", "new-password-2").starts_with("a OK"));
    // The last admin cannot demote itself, nor delete itself.
    assert_error(
        &call(
            &s,
            "PATCH",
            &format!("/api/v1/accounts/{ADMIN}"),
            Some(json!({ "role": "user" })),
        ),
        400,
        "last enabled admin",
    );
    assert_error(
        &call(&s, "DELETE", &format!("/api/v1/accounts/{ADMIN}"), None),
        400,
        "signed in with",
    );
    assert_error(
        &call(&s, "GET", "/api/v1/accounts/nobody@other.test", None),
        404,
        "not found",
    );

    // Aliases.
    let alias = call(
        &s,
        "POST",
        "/api/v1/aliases",
        Some(json!({ "source": "@other.test", "targets": ["carol@other.test"] })),
    );
    assert_eq!(alias.status, 201, "{alias:?}");
    assert_error(
        &call(
            &s,
            "POST",
            "/api/v1/aliases",
            Some(json!({ "source": "x@other.test", "targets": [] })),
        ),
        400,
        "at least one target",
    );
    let list = call(&s, "GET", "/api/v1/aliases", None)
        .json()
        .expect("JSON");
    // Besides the role aliases every domain gets to the first admin (RFC 5321 §4.5.1,
    // RFC 2142 §2).
    let role = |source: &str| json!({ "source": source, "targets": [ADMIN] });
    assert_eq!(
        list,
        json!([
            { "source": "@other.test", "targets": ["carol@other.test"] },
            role("abuse@example.test"),
            role("abuse@other.test"),
            role("postmaster@example.test"),
            role("postmaster@other.test"),
        ])
    );
    assert_eq!(
        call(&s, "DELETE", "/api/v1/aliases/@other.test", None).status,
        204
    );
    assert_error(
        &call(&s, "DELETE", "/api/v1/aliases/@other.test", None),
        404,
        "not found",
    );

    // Deleting: a domain with accounts is refused, then works once they are gone.
    assert_error(
        &call(&s, "DELETE", "/api/v1/domains/other.test", None),
        400,
        "",
    );
    assert_eq!(
        call(&s, "DELETE", "/api/v1/accounts/carol@other.test", None).status,
        204
    );
    assert_eq!(
        call(&s, "DELETE", "/api/v1/domains/other.test", None).status,
        204
    );
    assert!(imap_login(&s, "carol@other.test", "new-password-2").starts_with("a NO"));
}

#[test]
fn api_tokens_act_as_their_admin_until_revoked() {
    let s = api_server();
    assert_error(
        &call(&s, "POST", "/api/v1/tokens", Some(json!({ "name": "" }))),
        400,
        "token name",
    );
    let made = call(
        &s,
        "POST",
        "/api/v1/tokens",
        Some(json!({ "name": "backup script" })),
    );
    assert_eq!(made.status, 201, "{made:?}");
    let made = made.json().expect("JSON");
    let secret = made["token"].as_str().expect("secret").to_string();
    assert!(secret.starts_with("mrt_"), "{secret}");
    let bearer = format!("Bearer {secret}");
    let stats = call_as(&s, &bearer, "GET", "/api/v1/stats", None);
    assert_eq!(stats.status, 200, "{stats:?}");
    let list = call_as(&s, &bearer, "GET", "/api/v1/tokens", None);
    assert!(!list.body.contains(&secret), "the secret is never listed");
    let listed = list.json().expect("JSON");
    assert_eq!(listed[0]["name"], "backup script");
    assert_eq!(listed[0]["account"], ADMIN);
    assert!(listed[0]["last_used"].is_i64(), "{listed}");
    let id = made["id"].as_i64().expect("id");
    assert_eq!(
        call_as(&s, &bearer, "DELETE", &format!("/api/v1/tokens/{id}"), None).status,
        204
    );
    assert_error(
        &call_as(&s, &bearer, "GET", "/api/v1/stats", None),
        401,
        "revoked",
    );
    assert_error(
        &call(&s, "DELETE", "/api/v1/tokens/abc", None),
        400,
        "bad path",
    );
}

#[test]
fn the_queue_can_be_listed_held_released_retried_and_deleted() {
    // A relay that refuses connections: the message stays queued, deferred.
    let s = api_server_with("[outbound]\nrelay = \"127.0.0.1:9\"\n");
    let sent = mailroom_tests::submit(
        s.ports.submission,
        &s.hostname,
        &s.self_signed_cert(),
        "user@example.test",
        "password-1",
        "user@example.test",
        &["far@remote.invalid"],
        "From: user@example.test\r\nSubject: q\r\n\r\nbody\r\n",
    )
    .expect("submission");
    assert!(sent.starts_with("250"), "{sent}");
    let queued = call(&s, "GET", "/api/v1/queue", None).json().expect("JSON");
    let id = queued[0]["message_id"]
        .as_i64()
        .expect("the queued message");
    let held = call(&s, "POST", &format!("/api/v1/queue/{id}/hold"), None);
    assert_eq!(held.status, 200, "{held:?}");
    assert_eq!(held.json().expect("JSON")["changed"], 1);
    let rows = call(&s, "GET", "/api/v1/queue?status=held&q=REMOTE", None)
        .json()
        .expect("JSON");
    assert_eq!(rows.as_array().expect("rows").len(), 1, "{rows}");
    assert_eq!(rows[0]["recipient"], "far@remote.invalid");
    assert_eq!(
        call(&s, "GET", "/api/v1/queue?status=queued", None)
            .json()
            .expect("JSON"),
        json!([])
    );
    assert_error(
        &call(&s, "GET", "/api/v1/queue?status=lost", None),
        400,
        "status must be",
    );
    let detail = call(&s, "GET", &format!("/api/v1/queue/{id}"), None)
        .json()
        .expect("JSON");
    assert_eq!(detail["recipients"][0]["sender"], "user@example.test");
    assert_eq!(
        call(&s, "POST", &format!("/api/v1/queue/{id}/release"), None).status,
        200
    );
    assert_eq!(
        call(&s, "POST", &format!("/api/v1/queue/{id}/retry"), None).status,
        200
    );
    assert_eq!(
        call(&s, "DELETE", &format!("/api/v1/queue/{id}"), None).status,
        204
    );
    assert_error(
        &call(&s, "DELETE", &format!("/api/v1/queue/{id}"), None),
        404,
        "queued message",
    );
    assert_error(
        &call(&s, "POST", "/api/v1/queue/999999/retry", None),
        404,
        "queued message",
    );
    assert_error(
        &call(&s, "GET", "/api/v1/queue/999999", None),
        404,
        "queued message",
    );
}

#[test]
fn reload_stats_and_config() {
    let s = api_server();
    let stats = call(&s, "GET", "/api/v1/stats", None).json().expect("JSON");
    assert_eq!(stats["config_generation"], 1);
    assert_eq!(stats["domains"], 1);
    assert_eq!(stats["accounts"], 2);
    assert_eq!(stats["hourly"].as_array().expect("hours").len(), 48);
    assert_eq!(stats["version"], env!("CARGO_PKG_VERSION"));

    let good = s.config_toml("[outbound]\nrelay = \"127.0.0.1:9\"\nrelay_username = \"me\"\nrelay_password = \"relay-secret-pw\"\n");
    s.write_config(&good).expect("config");
    let reloaded = call(&s, "POST", "/api/v1/reload", None);
    assert_eq!(reloaded.status, 200, "{reloaded:?}");
    assert_eq!(reloaded.json().expect("JSON")["config_generation"], 2);
    let config = call(&s, "GET", "/api/v1/config", None);
    assert!(
        !config.body.contains("relay-secret-pw"),
        "secrets are masked: {}",
        config.body
    );
    let config = config.json().expect("JSON");
    assert_eq!(config["config_generation"], 2);
    assert_eq!(config["config"]["outbound"]["relay_password"], "********");
    assert_eq!(config["config"]["outbound"]["relay_username"], "me");

    s.write_config(&s.config_toml("[limits]\nmax_connections = \"many\"\n"))
        .expect("config");
    assert_error(
        &call(&s, "POST", "/api/v1/reload", None),
        422,
        "limits.max_connections",
    );
    assert_eq!(
        call(&s, "GET", "/api/v1/stats", None).json().expect("JSON")["config_generation"],
        2,
        "a refused reload keeps the running configuration"
    );
}

#[test]
fn the_openapi_document_names_every_route() {
    let s = api_server();
    let doc = http_request(s.ports.admin, "GET", "/api/v1/openapi.json", &[], None).expect("HTTP");
    assert_eq!(doc.status, 200);
    let doc = doc.json().expect("JSON");
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().expect("paths");
    for p in [
        "/api/v1/domains",
        "/api/v1/domains/{name}",
        "/api/v1/accounts",
        "/api/v1/accounts/{address}",
        "/api/v1/aliases",
        "/api/v1/queue",
        "/api/v1/queue/{id}/retry",
        "/api/v1/queue/{id}",
        "/api/v1/queue/{id}/hold",
        "/api/v1/queue/{id}/release",
        "/api/v1/domains/{name}/dns",
        "/api/v1/aliases/{source}",
        "/api/v1/sessions",
        "/api/v1/sessions/{id}",
        "/api/v1/tokens",
        "/api/v1/tokens/{id}",
        "/api/v1/policy/rejections",
        "/api/v1/policy/spam",
        "/api/v1/policy/greylist",
        "/api/v1/policy/greylist/delete",
        "/api/v1/policy/greylist/whitelist",
        "/api/v1/webhooks",
        "/api/v1/webhooks/deliveries",
        "/api/v1/webhooks/test",
        "/api/v1/reload",
        "/api/v1/stats",
        "/api/v1/config",
    ] {
        assert!(paths.contains_key(p), "{p} missing");
    }
}

/// schemathesis (PyPI) generates requests from the OpenAPI document, valid and not; none may
/// get a 5xx.
#[test]
fn schemathesis_finds_no_server_errors() {
    // A webhook target (at a loopback port nothing answers), so its listing has content.
    let s = api_server_with(&format!(
        "\n[[webhooks]]\nurl = \"http://127.0.0.1:{}/hook\"\nsecret = \"s\"\nevents = [\"rejected\"]\n",
        mailroom_tests::free_port()
    ));
    let made = call(
        &s,
        "POST",
        "/api/v1/tokens",
        Some(json!({ "name": "schemathesis" })),
    );
    let token = made.json().expect("JSON")["token"]
        .as_str()
        .expect("token")
        .to_string();
    let url = format!("http://127.0.0.1:{}/api/v1/openapi.json", s.ports.admin);
    let out = std::process::Command::new("schemathesis")
        .args([
            "run",
            &url,
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "25",
            "-H",
            &format!("Authorization: Bearer {token}"),
            "--url",
            &format!("http://127.0.0.1:{}", s.ports.admin),
        ])
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .output()
        .expect("schemathesis must be installed (.ci/run: pip install schemathesis)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis failed:\n{text}\nserver log:\n{}",
        s.log()
    );
    // What it tried, for the test log; a run that tested no operation is a failure too.
    eprintln!("{text}");
    let selected: u32 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Operations:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        selected >= 20,
        "schemathesis tested {selected} operations:\n{text}"
    );
}

#[test]
fn sessions_are_listed_with_their_account_and_can_be_ended() {
    let s = api_server();
    let mut c =
        LineClient::connect_tls(s.ports.imaps, &s.hostname, &crate::pop3::ca(&s)).expect("imaps");
    c.read_line().expect("greeting");
    c.send("a LOGIN user@example.test password-1")
        .expect("LOGIN");
    c.read_until(|l| l.starts_with("a ")).expect("answer");
    let listed = call(&s, "GET", "/api/v1/sessions", None)
        .json()
        .expect("JSON");
    let mine = listed
        .as_array()
        .expect("array")
        .iter()
        .find(|x| x["account"] == "user@example.test")
        .unwrap_or_else(|| panic!("the IMAP session is not listed: {listed}"))
        .clone();
    assert_eq!(mine["kind"], "imaps", "{mine}");
    let id = mine["session_id"].as_u64().expect("id");
    assert_eq!(
        call(&s, "DELETE", &format!("/api/v1/sessions/{id}"), None).status,
        204
    );
    let bye = c.read_until(|l| l.starts_with("* BYE")).expect("BYE");
    assert!(bye.contains("* BYE"), "{bye}");
    assert_error(
        &call(&s, "DELETE", &format!("/api/v1/sessions/{id}"), None),
        404,
        "open session",
    );
}

#[test]
fn a_domain_lists_its_dns_records_and_rejections_are_shown() {
    let s = api_server();
    let records = call(&s, "GET", "/api/v1/domains/example.test/dns", None)
        .json()
        .expect("JSON");
    let records = records.as_array().expect("array");
    for (rtype, name) in [("MX", "example.test"), ("TXT", "_dmarc.example.test")] {
        assert!(
            records
                .iter()
                .any(|r| r["rtype"] == rtype && r["name"] == name),
            "{rtype} {name}: {records:?}"
        );
    }
    assert!(
        records.iter().any(|r| r["name"]
            .as_str()
            .is_some_and(|n| n.ends_with("._domainkey.example.test"))
            && r["value"].as_str().is_some_and(|v| v.contains("p="))),
        "DKIM: {records:?}"
    );
    let checked = call(
        &s,
        "GET",
        "/api/v1/domains/example.test/dns?check=true",
        None,
    )
    .json()
    .expect("JSON");
    assert!(
        checked
            .as_array()
            .expect("array")
            .iter()
            .all(|r| r["check"]["status"].is_string()),
        "{checked}"
    );
    assert_error(
        &call(&s, "GET", "/api/v1/domains/absent.test/dns", None),
        404,
        "not found",
    );

    // A refused recipient shows up among the rejections, with its reply.
    let mut smtp = LineClient::connect(s.ports.smtp).expect("smtp");
    smtp.read_line().expect("greeting");
    smtp.reply("EHLO client.test").expect("EHLO");
    smtp.reply("MAIL FROM:<a@remote.test>").expect("MAIL");
    assert!(
        smtp.reply("RCPT TO:<nobody@example.test>")
            .expect("RCPT")
            .starts_with("550")
    );
    smtp.reply("QUIT").expect("QUIT");
    let mut found = Value::Null;
    assert!(
        mailroom_tests::wait_until(std::time::Duration::from_secs(10), || {
            found = call(&s, "GET", "/api/v1/policy/rejections?limit=5", None)
                .json()
                .expect("JSON");
            found.to_string().contains("nobody@example.test")
        }),
        "{found}"
    );
    assert_error(
        &call(&s, "GET", "/api/v1/policy/rejections?limit=0", None),
        400,
        "limit must be",
    );
    assert_eq!(call(&s, "GET", "/api/v1/policy/spam", None).status, 200);
    assert_eq!(
        call(&s, "GET", "/api/v1/policy/greylist?q=x", None).status,
        200
    );
}

#[test]
fn the_admin_listener_speaks_tls_when_asked() {
    let s = crate::server_with("[admin]\ntls = true\n");
    let mut c = LineClient::connect_tls(s.ports.admin, &s.hostname, &crate::pop3::ca(&s))
        .expect("TLS to the admin listener with the server's certificate");
    c.send_raw(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("request");
    let status = c.read_line().expect("status line");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    // Plain HTTP is not served there.
    let plain = mailroom_tests::http_get(s.ports.admin, "/healthz");
    assert!(!matches!(plain, Ok((200, _))), "{plain:?}");
}

/// The RCPT reply for `to` from `from` over the MX listener (the message is sent when it is
/// accepted).
fn rcpt_reply_from(s: &Server, from: &str, to: &str) -> String {
    let mut smtp = LineClient::connect(s.ports.smtp).expect("smtp");
    smtp.read_line().expect("greeting");
    smtp.reply("EHLO client.test").expect("EHLO");
    smtp.reply(&format!("MAIL FROM:<{from}>")).expect("MAIL");
    let reply = smtp.reply(&format!("RCPT TO:<{to}>")).expect("RCPT");
    if reply.starts_with("250") {
        assert!(smtp.reply("DATA").expect("DATA").starts_with("354"));
        let stored = smtp
            .reply("Subject: hi\r\n\r\nhello\r\n.")
            .expect("end of data");
        assert!(stored.starts_with("250"), "{stored}");
    }
    smtp.reply("QUIT").expect("QUIT");
    reply
}

fn rcpt_reply(s: &Server, to: &str) -> String {
    rcpt_reply_from(s, "a@remote.test", to)
}

#[test]
fn greylist_entries_are_whitelisted_and_deleted() {
    let s = api_server_with("[greylist]\nenabled = true\ndelay_secs = 300\n");
    let user = "user@example.test";
    assert!(rcpt_reply(&s, user).starts_with("451 4.7.1"));
    let listed = call(&s, "GET", "/api/v1/policy/greylist?q=remote.test", None)
        .json()
        .expect("JSON");
    let entries = listed.as_array().expect("array");
    assert_eq!(entries.len(), 1, "{listed}");
    assert!(entries[0]["passed_at"].is_null(), "{listed}");
    let key = json!({ "net": entries[0]["net"], "sender": entries[0]["sender"],
        "recipient": entries[0]["recipient"] });
    assert_eq!(key["net"], "127.0.0.0/24");

    // Bad input changes nothing.
    for (body, words) in [
        (
            json!({ "net": "nonsense", "sender": "", "recipient": user }),
            "net",
        ),
        (
            json!({ "net": "127.0.0.0/24", "sender": "", "recipient": "" }),
            "recipient",
        ),
        (
            json!({ "net": "127.0.0.0/24", "recipient": user }),
            "bad JSON",
        ),
        (
            json!({ "net": "127.0.0.0/24", "sender": "", "recipient": user, "x": 1 }),
            "bad JSON",
        ),
    ] {
        assert_error(
            &call(&s, "POST", "/api/v1/policy/greylist/whitelist", Some(body)),
            400,
            words,
        );
    }
    assert_error(
        &call(
            &s,
            "POST",
            "/api/v1/policy/greylist/frobnicate",
            Some(key.clone()),
        ),
        404,
        "delete and whitelist",
    );
    let stranger = json!({ "net": "192.0.2.0/24", "sender": "x@remote.test", "recipient": user });
    assert_error(
        &call(&s, "POST", "/api/v1/policy/greylist/delete", Some(stranger)),
        404,
        "no such greylist entry",
    );
    let anonymous = http_request(
        s.ports.admin,
        "POST",
        "/api/v1/policy/greylist/whitelist",
        &[("Content-Type", "application/json")],
        Some(&key.to_string()),
    )
    .expect("HTTP");
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    assert!(
        rcpt_reply(&s, user).starts_with("451 4.7.1"),
        "still pending"
    );

    // Whitelisted: the next attempt passes; deleted: the one after starts a new round.
    let done = call(
        &s,
        "POST",
        "/api/v1/policy/greylist/whitelist",
        Some(key.clone()),
    );
    assert_eq!(done.status, 200, "{done:?}");
    assert!(rcpt_reply(&s, user).starts_with("250"));
    let passed = call(&s, "GET", "/api/v1/policy/greylist?q=remote.test", None)
        .json()
        .expect("JSON");
    assert!(passed[0]["passed_at"].is_i64(), "{passed}");
    // Deleted: gone from the list. (a@ delivered from this network, so it is a known sender
    // now and passes without a triplet; a pending sender shows the new round.)
    let pending = |s: &Server| {
        let v = call(s, "GET", "/api/v1/policy/greylist?q=b%40other.test", None)
            .json()
            .expect("JSON");
        v.as_array().expect("array").clone()
    };
    for _ in 0..2 {
        assert!(rcpt_reply_from(&s, "b@other.test", user).starts_with("451 4.7.1"));
    }
    assert_eq!(pending(&s)[0]["count"], 2);
    let b_key = json!({ "net": "127.0.0.0/24", "sender": "B@other.test", "recipient": user });
    let done = call(&s, "POST", "/api/v1/policy/greylist/delete", Some(b_key));
    assert_eq!(done.status, 200, "{done:?}");
    assert_eq!(pending(&s), Vec::<Value>::new());
    assert!(rcpt_reply_from(&s, "b@other.test", user).starts_with("451 4.7.1"));
    assert_eq!(pending(&s)[0]["count"], 1, "a new round");
    let done = call(
        &s,
        "POST",
        "/api/v1/policy/greylist/delete",
        Some(key.clone()),
    );
    assert_eq!(done.status, 200, "{done:?}");
    let gone = call(&s, "GET", "/api/v1/policy/greylist?q=remote.test", None)
        .json()
        .expect("JSON");
    assert_eq!(gone, json!([]));
}

/// The JSON array of a 200 answer.
fn array_of(answer: &HttpAnswer) -> Vec<Value> {
    assert_eq!(answer.status, 200, "{answer:?}");
    answer
        .json()
        .expect("JSON")
        .as_array()
        .expect("array")
        .clone()
}

#[test]
fn the_event_log_is_paged_by_id_and_filtered_by_type() {
    let s = api_server();
    // Two failed logins, then a delivery: three events of two types, in that order.
    for _ in 0..2 {
        let refused = imap_login(&s, "user@example.test", "wrong-password");
        assert!(refused.starts_with("a NO"), "{refused}");
    }
    let mut c = LineClient::connect(s.ports.smtp).expect("smtp");
    c.read_line().expect("greeting");
    c.reply("EHLO client.example.org").expect("EHLO");
    for (line, code) in [
        ("MAIL FROM:<sender@example.org>", "250"),
        ("RCPT TO:<user@example.test>", "250"),
        ("DATA", "354"),
        ("Subject: logged\r\n\r\nbody\r\n.", "250"),
    ] {
        let reply = c.reply(line).expect("SMTP");
        assert!(reply.starts_with(code), "{line}: {reply}");
    }
    // Events are logged without making the client wait: poll until all three are there.
    let mut all = Vec::new();
    assert!(
        mailroom_tests::wait_until(std::time::Duration::from_secs(10), || {
            all = array_of(&call(&s, "GET", "/api/v1/events", None));
            all.len() == 3
        }),
        "{all:?}"
    );
    let types: Vec<&str> = all
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert_eq!(types, ["auth_failed", "auth_failed", "delivered"]);
    let ids: Vec<i64> = all.iter().map(|e| e["id"].as_i64().expect("id")).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(all.iter().all(|e| e["timestamp"].is_i64()), "{all:?}");
    assert_eq!(
        all[2]["recipients"],
        json!(["user@example.test"]),
        "{}",
        all[2]
    );

    // Paging: after an id, and at most `limit`.
    let page = |query: &str| array_of(&call(&s, "GET", &format!("/api/v1/events?{query}"), None));
    assert_eq!(page(&format!("after={}", ids[0])), all[1..]);
    assert_eq!(page("limit=1"), all[..1]);
    assert!(page(&format!("after={}", ids[2])).is_empty());
    // By type, with paging within the type.
    assert_eq!(page("type=auth_failed"), all[..2]);
    assert_eq!(
        page(&format!("type=auth_failed&after={}", ids[0])),
        all[1..2]
    );
    assert_eq!(page("type=delivered&limit=1"), all[2..]);
    assert!(page("type=locked_out").is_empty());

    assert_error(
        &call(&s, "GET", "/api/v1/events?type=nonsense", None),
        400,
        "type must be one of",
    );
    assert_error(
        &call(&s, "GET", "/api/v1/events?after=-1", None),
        400,
        "after must be",
    );
    assert_error(
        &call(&s, "GET", "/api/v1/events?limit=0", None),
        400,
        "limit must be",
    );
    assert_error(
        &call(&s, "GET", "/api/v1/events?since=1", None),
        400,
        "bad query",
    );
}

#[test]
fn an_accounts_classifier_totals_start_at_zero_and_need_an_account() {
    let s = api_server();
    let totals = call(
        &s,
        "GET",
        "/api/v1/accounts/user@example.test/classifier",
        None,
    );
    assert_eq!(totals.status, 200, "{totals:?}");
    assert_eq!(
        totals.json().expect("JSON"),
        json!({ "account": "user@example.test", "trained_spam": 0, "trained_ham": 0 })
    );
    assert_error(
        &call(
            &s,
            "GET",
            "/api/v1/accounts/nobody@example.test/classifier",
            None,
        ),
        404,
        "nobody@example.test",
    );
    assert_eq!(
        call_as(
            &s,
            &basic("user@example.test", "password-1"),
            "GET",
            "/api/v1/accounts/user@example.test/classifier",
            None
        )
        .status,
        403
    );
}
