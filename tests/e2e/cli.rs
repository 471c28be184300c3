//! The management CLI against a data directory, with and without a running server.

use crate::{BIN, server};
use mailroom_tests::run_cli;
use std::path::Path;
use std::process::Output;

fn text(out: &Output) -> (bool, String, String) {
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(out: Output) -> String {
    let (success, stdout, stderr) = text(&out);
    assert!(success, "command failed: {stderr}");
    stdout
}

fn fails(out: Output, want: &str) {
    let (success, _, stderr) = text(&out);
    assert!(!success, "command should have failed");
    assert!(
        stderr.contains(want),
        "stderr {stderr:?} does not mention {want:?}"
    );
}

#[test]
fn domains_users_and_aliases_while_the_server_runs() {
    let s = server();
    let cli = |args: &[&str], stdin: Option<&str>| s.cli(args, stdin).expect("run cli");

    assert!(ok(cli(&["domain", "add", "Example.TEST"], None)).contains("example.test"));
    fails(cli(&["domain", "add", "example.test"], None), "exists");
    fails(
        cli(&["domain", "add", "not a domain"], None),
        "not a valid domain",
    );
    assert_eq!(ok(cli(&["domain", "list"], None)), "example.test\n");

    ok(cli(
        &["user", "add", "alice@example.test", "--password-stdin"],
        Some("s3cret-pass\n"),
    ));
    ok(cli(
        &[
            "user",
            "add",
            "boss@example.test",
            "--admin",
            "--quota",
            "1000000",
            "--password-stdin",
        ],
        Some("an0ther-pass\n"),
    ));
    fails(
        cli(
            &["user", "add", "alice@example.test", "--password-stdin"],
            Some("s3cret-pass\n"),
        ),
        "exists",
    );
    fails(
        cli(
            &["user", "add", "carol@unknown.test", "--password-stdin"],
            Some("s3cret-pass\n"),
        ),
        "unknown.test",
    );
    fails(
        cli(
            &["user", "add", "no-at-sign", "--password-stdin"],
            Some("s3cret-pass\n"),
        ),
        "no-at-sign",
    );
    fails(
        cli(
            &["user", "add", "dave@example.test", "--password-stdin"],
            Some(""),
        ),
        "no password",
    );
    fails(
        cli(
            &["user", "add", "dave@example.test", "--password-stdin"],
            Some("short\n"),
        ),
        "at least",
    );

    let users = ok(cli(&["user", "list"], None));
    assert!(
        users.contains("alice@example.test\tuser\tquota=unlimited"),
        "{users}"
    );
    assert!(
        users.contains("boss@example.test\tadmin\tquota=1000000"),
        "{users}"
    );
    ok(cli(
        &["user", "passwd", "alice@example.test", "--password-stdin"],
        Some("n3w-password\n"),
    ));
    fails(
        cli(
            &["user", "passwd", "nobody@example.test", "--password-stdin"],
            Some("n3w-password\n"),
        ),
        "nobody@example.test",
    );

    // The first admin receives the domain's postmaster@ and abuse@ (RFC 5321 §4.5.1,
    // RFC 2142 §2); an admin may point them elsewhere.
    assert_eq!(
        ok(cli(&["alias", "list"], None)),
        "abuse@example.test\tboss@example.test\npostmaster@example.test\tboss@example.test\n"
    );
    ok(cli(&["alias", "remove", "postmaster@example.test"], None));
    ok(cli(
        &[
            "alias",
            "add",
            "postmaster@example.test",
            "alice@example.test",
            "boss@example.test",
        ],
        None,
    ));
    ok(cli(
        &["alias", "add", "@example.test", "alice@example.test"],
        None,
    ));
    fails(
        cli(&["alias", "add", "x@example.test", "not an address"], None),
        "not an address",
    );
    fails(
        cli(
            &["alias", "add", "x@elsewhere.test", "alice@example.test"],
            None,
        ),
        "elsewhere.test",
    );
    let aliases = ok(cli(&["alias", "list"], None));
    assert!(
        aliases.contains("postmaster@example.test\talice@example.test, boss@example.test"),
        "{aliases}"
    );
    ok(cli(&["alias", "remove", "@example.test"], None));
    fails(
        cli(&["alias", "remove", "@example.test"], None),
        "@example.test",
    );

    fails(cli(&["domain", "remove", "example.test"], None), "accounts");
    ok(cli(&["user", "remove", "alice@example.test"], None));
    ok(cli(&["user", "remove", "boss@example.test"], None));
    ok(cli(&["alias", "remove", "postmaster@example.test"], None));
    ok(cli(&["domain", "remove", "example.test"], None));
    assert_eq!(ok(cli(&["domain", "list"], None)), "");

    // The server kept running through all of it.
    assert!(s.log().contains("listening"));
}

#[test]
fn global_config_flag_goes_before_or_after_the_subcommand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("m.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndata_dir = \"{}\"\n",
            dir.path().join("d").display()
        ),
    )
    .expect("write");
    let before = run_cli(
        Path::new(BIN),
        None,
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap_or_default(),
            "domain",
            "add",
            "a.test",
        ],
        None,
    )
    .expect("run");
    ok(before);
    let after = run_cli(
        Path::new(BIN),
        Some(&config),
        dir.path(),
        &["domain", "list"],
        None,
    )
    .expect("run");
    assert_eq!(ok(after), "a.test\n");
}

#[test]
fn unreadable_config_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_cli(
        Path::new(BIN),
        Some(&dir.path().join("missing.toml")),
        dir.path(),
        &["domain", "list"],
        None,
    )
    .expect("run");
    fails(out, "cannot read");
}

#[test]
fn config_check_accepts_valid_and_names_every_bad_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[server]\nhostname = \"mx.example.org\"\n[listeners]\nsmtp = \"127.0.0.1:2525\"\n",
    )
    .expect("write");
    let out = run_cli(
        Path::new(BIN),
        None,
        dir.path(),
        &["config", "check", good.to_str().unwrap_or_default()],
        None,
    )
    .expect("run");
    assert!(ok(out).contains("valid"));

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[server]\nhostname = \"bad host\"\n[listeners]\nsmtp = \"nowhere\"\n[limits]\nmax_recipients = 0\n",
    )
    .expect("write");
    let out = run_cli(
        Path::new(BIN),
        None,
        dir.path(),
        &["config", "check", bad.to_str().unwrap_or_default()],
        None,
    )
    .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for key in ["server.hostname", "listeners.smtp", "limits.max_recipients"] {
        assert!(stderr.contains(key), "{key} not named in {stderr}");
    }
    let out = run_cli(
        Path::new(BIN),
        None,
        dir.path(),
        &["config", "check", "/nonexistent.toml"],
        None,
    )
    .expect("run");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn the_example_config_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/mailroom.example.toml");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_cli(
        Path::new(BIN),
        None,
        dir.path(),
        &["config", "check", example],
        None,
    )
    .expect("run");
    assert!(ok(out).contains("valid"));
}

/// The text of a `"…" "…"` TXT record line: its strings joined (RFC 6376 §3.6.2.2).
fn txt_strings(rest: &str) -> Vec<&str> {
    rest.strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .map(|r| r.split("\" \"").collect())
        .unwrap_or_default()
}

#[test]
fn domain_dkim_prints_the_records_of_the_keys_made_by_domain_add() {
    let s = server();
    let cli = |args: &[&str]| s.cli(args, None).expect("run cli");
    let year_before = utc_year();
    ok(cli(&["domain", "add", "Signed.TEST"]));
    let year_after = utc_year();
    // One active key per algorithm: one record each.
    let printed = ok(cli(&["domain", "dkim", "signed.test"]));
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 2, "{printed}");
    for (line, (suffix, k, p_len)) in lines.iter().zip([("r", "rsa", 392), ("e", "ed25519", 44)]) {
        // The selector names the (UTC) year of creation.
        let rest = [year_before, year_after]
            .iter()
            .find_map(|year| {
                line.strip_prefix(&format!("mr{year}{suffix}._domainkey.signed.test. IN TXT "))
            })
            .unwrap_or_else(|| {
                panic!("{line:?}: not mr{year_after}{suffix}._domainkey.signed.test.")
            });
        let strings = txt_strings(rest);
        assert!(!strings.is_empty(), "{line}");
        assert!(strings.iter().all(|s| s.len() <= 255), "{line}");
        let value = strings.concat();
        let p = value
            .strip_prefix(&format!("v=DKIM1; k={k}; p="))
            .unwrap_or_else(|| panic!("{value:?}"));
        // Base64 of a 294-octet RSA SubjectPublicKeyInfo, of a 32-octet Ed25519 key.
        assert_eq!(p.len(), p_len, "{value}");
        assert!(
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)),
            "{p}"
        );
    }
    // The 410-octet RSA value needs two strings.
    assert_eq!(
        txt_strings(&lines[0][lines[0].find('"').unwrap_or(0)..]).len(),
        2
    );
    // The keys are stored, not made up per call.
    assert_eq!(ok(cli(&["domain", "dkim", "SIGNED.test."])), printed);
    fails(cli(&["domain", "dkim", "other.test"]), "domain other.test");
    // Removing the domain takes its keys with it (that no row is left behind is the store's
    // own test: store/src/sqlite/tests/dkim.rs).
    ok(cli(&["domain", "remove", "signed.test"]));
    fails(
        cli(&["domain", "dkim", "signed.test"]),
        "domain signed.test",
    );
}

/// The current year on the UTC calendar.
fn utc_year() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    mailroom_shared::civil::civil_from_days((secs / 86_400) as i64).0
}
