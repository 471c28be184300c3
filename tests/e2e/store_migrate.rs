//! `mailroom store migrate` against the real binary: a server on the embedded store takes
//! mail over SMTP and flag changes and an expunge over IMAP; stopped, its store is migrated
//! into a fresh PostgreSQL database; started again on PostgreSQL, IMAP shows the same
//! UIDVALIDITY, UIDs, flags and bodies, and the same password logs in.
//!
//! Needs `TEST_MAILROOM_POSTGRES` (a server the test may create databases on, with `psql`
//! on the PATH); skipped with a line saying so otherwise.

use std::time::Duration;

use crate::{python, users};
use mailroom_tests::Server;
use mailroom_tests::services::{self, Database, psql};

/// Deliver three messages to alice over SMTP; the third is larger than the embedded engine
/// keeps in a row, so it is a body file.
fn deliver(s: &Server) {
    let script = format!(
        "import smtplib\n\
         c = smtplib.SMTP('127.0.0.1', {port})\n\
         for i in range(3):\n\
         \x20   body = 'line %d\\r\\n' % i * (30000 if i == 2 else 1)\n\
         \x20   msg = 'From: s@example.org\\r\\nTo: alice@example.test\\r\\nSubject: m%d\\r\\n\\r\\n%s' % (i, body)\n\
         \x20   c.sendmail('s@example.org', ['alice@example.test'], msg.encode())\n\
         c.quit()\n",
        port = s.ports.smtp,
    );
    python(&script);
}

/// Log in as alice, optionally change flags and expunge first, and print what a client
/// caches: UIDVALIDITY, then each message's UID, flags and body SHA-256.
fn imap_view(s: &Server, change: bool) -> String {
    let changes = if change {
        "c.uid('STORE', '2', '+FLAGS', '(\\\\Flagged $Work)')\n\
         c.uid('STORE', '3', '+FLAGS', '(\\\\Seen)')\n\
         c.uid('STORE', '1', '+FLAGS', '(\\\\Deleted)')\n\
         c.expunge()\n"
    } else {
        ""
    };
    let script = format!(
        "import imaplib, hashlib, re, ssl\n\
         ctx = ssl.create_default_context(cafile={ca:?})\n\
         ctx.check_hostname = False\n\
         c = imaplib.IMAP4_SSL('127.0.0.1', {port}, ssl_context=ctx)\n\
         c.login('alice@example.test', 'password-1')\n\
         typ, data = c.select('INBOX')\n\
         assert typ == 'OK', (typ, data)\n\
         {changes}\
         typ, data = c.status('INBOX', '(UIDVALIDITY UIDNEXT)')\n\
         print(data[0].decode().split('(', 1)[1])\n\
         typ, data = c.uid('FETCH', '1:*', '(FLAGS BODY.PEEK[])')\n\
         for item in data:\n\
         \x20   if isinstance(item, tuple):\n\
         \x20       uid = re.search(rb'UID (\\d+)', item[0]).group(1).decode()\n\
         \x20       flags = re.search(rb'FLAGS \\(([^)]*)\\)', item[0]).group(1).decode()\n\
         \x20       kept = sorted(f for f in flags.split() if f != '\\\\Recent')\n\
         \x20       print(uid, kept, hashlib.sha256(item[1]).hexdigest())\n\
         c.logout()\n",
        port = s.ports.imaps,
        ca = s
            .data_dir()
            .join("tls/mail.example.test.selfsigned.crt")
            .display()
            .to_string(),
    );
    python(&script)
}

fn stop(s: &mut Server) {
    s.signal("TERM").expect("SIGTERM");
    assert_eq!(
        s.wait_exit(Duration::from_secs(20))
            .and_then(|st| st.code()),
        Some(0),
        "the server stops cleanly"
    );
}

#[test]
fn imap_sees_the_same_uids_and_flags_after_migrating_to_postgresql() {
    let Some(admin_url) = services::postgres("the store migration test") else {
        return;
    };
    let database = Database::create(&admin_url, "migrate");
    let url = database.url();

    let mut s = users();
    deliver(&s);
    let before = imap_view(&s, true);
    assert_eq!(
        before.lines().count(),
        3,
        "UIDVALIDITY and two messages: {before}"
    );
    assert!(
        before.contains("'\\\\Flagged'") && before.contains("'$Work'"),
        "{before}"
    );

    // Not while the server runs.
    let out = s
        .cli(&["store", "migrate", "--to", &url], None)
        .expect("cli");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "migrating a running server's store");
    assert!(stderr.contains("server is using"), "{stderr}");
    assert!(!stderr.contains(&url), "the URL is never printed: {stderr}");

    stop(&mut s);
    let out = s
        .cli(&["store", "migrate", "--to", &url], None)
        .expect("cli");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "migrate: {stdout}\n{stderr}");
    assert!(stdout.contains("migrated and verified"), "{stdout}");
    assert!(
        !stdout.contains(&url) && !stderr.contains(&url),
        "the URL is never printed"
    );

    s.write_config(&s.config_toml(&format!(
        "[store]\nengine = \"postgres\"\nurl = \"{url}\"\n"
    )))
    .expect("config");
    s.spawn().expect("start on PostgreSQL");
    let after = imap_view(&s, false);
    assert_eq!(after, before, "IMAP after the switch");
    // And it is PostgreSQL that serves: new mail lands there, after the copied UIDs.
    deliver(&s);
    let rows = psql(
        &url,
        "SELECT string_agg(uid::text, ' ' ORDER BY uid) FROM messages m \
         JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.name = 'INBOX' AND b.account_id = \
         (SELECT id FROM accounts WHERE address_key = 'alice@example.test')",
    );
    assert_eq!(rows, "2 3 4 5 6", "INBOX UIDs in PostgreSQL");

    // The migrated store refuses a second copy.
    stop(&mut s);
    s.write_config(&s.config_toml("")).expect("config");
    let out = s
        .cli(&["store", "migrate", "--to", &url], None)
        .expect("cli");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already holds mailroom data"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
