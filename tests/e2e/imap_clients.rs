//! Real IMAP sync clients against the server: isync's `mbsync` pulls every folder into a
//! maildir and pushes a new message and a flag change back; offlineimap3 does the same for
//! INBOX over imaps, verifying the server's self-signed certificate.

use crate::{BIN, server_with};
use mailroom_tests::{LineClient, Server, after_trace};
use std::path::Path;
use std::process::Command;

fn deliver(s: &Server, subject: &str) -> String {
    let msg = format!(
        "From: sender@example.org\r\nTo: alice@example.test\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n"
    );
    let script = format!(
        "import smtplib\nc = smtplib.SMTP('127.0.0.1', {})\nc.sendmail('sender@example.org', ['alice@example.test'], {msg:?}.encode())\nc.quit()\n",
        s.ports.smtp
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    msg
}

fn files_in(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut all = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(entries) = std::fs::read_dir(dir.join(sub)) {
            all.extend(entries.flatten().map(|e| e.path()));
        }
    }
    all.sort();
    all
}

#[test]
fn mbsync_pulls_every_folder_and_pushes_back() {
    // mbsync speaks plain IMAP here (its TLS needs a certificate for the host name it dials).
    let s = server_with("[security]\nallow_plaintext_auth = true\n");
    s.add_users("example.test", &["alice@example.test"])
        .expect("users");
    let sent: Vec<String> = (1..=3).map(|i| deliver(&s, &format!("sync {i}"))).collect();
    let local = tempfile::tempdir().expect("local maildir");
    let rc = local.path().join("mbsyncrc");
    let maildir = local.path().join("mail");
    std::fs::create_dir_all(maildir.join("INBOX")).expect("inbox dir");
    std::fs::write(
        &rc,
        format!(
            "IMAPAccount t\nHost 127.0.0.1\nPort {port}\nUser alice@example.test\nPass password-1\n\
             SSLType None\nAuthMechs LOGIN\n\n\
             IMAPStore t-remote\nAccount t\n\n\
             MaildirStore t-local\nPath {dir}/\nInbox {dir}/INBOX\nSubFolders Verbatim\n\n\
             Channel t\nFar :t-remote:\nNear :t-local:\nPatterns *\nCreate Both\nExpunge Both\nSyncState *\n",
            port = s.ports.imap,
            dir = maildir.display()
        ),
    )
    .expect("rc");
    let sync = || {
        let out = Command::new("mbsync")
            .arg("-c")
            .arg(&rc)
            .arg("t")
            .output()
            .expect("mbsync");
        assert!(
            out.status.success(),
            "mbsync failed:\n{}\n{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            s.log()
        );
    };
    sync();
    // Every folder of the account exists locally; INBOX has the three messages, intact.
    for folder in ["Sent", "Drafts", "Junk", "Trash", "Archive"] {
        assert!(
            maildir.join(folder).join("cur").is_dir(),
            "{folder} not synced"
        );
    }
    let pulled = files_in(&maildir.join("INBOX"));
    assert_eq!(pulled.len(), 3, "{pulled:?}");
    let mut bodies: Vec<Vec<u8>> = pulled
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        // A maildir keeps lines in LF, and mbsync adds its own X-TUID field to the header
        // (its message identity); the rest must be the server's copy.
        .map(|raw| {
            let text = String::from_utf8_lossy(&raw).replace('\n', "\r\n");
            let kept: Vec<&str> = text
                .split_inclusive("\r\n")
                .filter(|l| !l.starts_with("X-TUID: "))
                .collect();
            kept.concat().into_bytes()
        })
        .map(|raw| after_trace(&raw).to_vec())
        .collect();
    bodies.sort();
    let mut expected: Vec<Vec<u8>> = sent.iter().map(|m| m.clone().into_bytes()).collect();
    expected.sort();
    assert_eq!(bodies, expected);

    // Push back: a new local message, and the first pulled one marked seen (maildir "S").
    let new = maildir.join("INBOX/new/1700000000.local.host");
    std::fs::write(
        &new,
        "From: me@example.test\r\nSubject: written locally\r\n\r\nlocal\r\n",
    )
    .expect("local message");
    let first = &pulled[0];
    let name = first
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let base = name.split(":2,").next().unwrap_or_default().to_string();
    std::fs::rename(first, maildir.join("INBOX/cur").join(format!("{base}:2,S")))
        .expect("mark seen");
    sync();
    let inbox = s.inbox("alice@example.test").expect("inbox");
    assert_eq!(inbox.len(), 4);
    assert!(
        inbox.iter().any(|m| m.ends_with(b"\r\n\r\nlocal\r\n")),
        "pushed message missing"
    );
    let mut c = LineClient::connect(s.ports.imap).expect("imap");
    c.read_line().expect("greeting");
    assert!(
        c.cmd("a LOGIN alice@example.test password-1")
            .expect("login")
            .starts_with("a OK")
    );
    c.send("b EXAMINE INBOX").expect("examine");
    c.read_until(|l| l.starts_with("b ")).expect("examined");
    c.send("c SEARCH SEEN").expect("search");
    let r = c.read_until(|l| l.starts_with("c ")).expect("search");
    assert!(
        r.starts_with("* SEARCH ") && r.lines().next().unwrap_or_default().split(' ').count() == 3,
        "{r}"
    );
}

/// A maildir file as the server stored it: CRLF line ends again, trace fields dropped.
fn as_stored(raw: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw)
        .replace("\r\n", "\n")
        .replace('\n', "\r\n");
    after_trace(text.as_bytes()).to_vec()
}

/// `SEARCH key` in INBOX over a fresh plain-text session: the numbers found.
fn search_inbox(s: &Server, key: &str) -> Vec<u32> {
    let mut c = LineClient::connect(s.ports.imap).expect("imap");
    c.read_line().expect("greeting");
    let login = c
        .cmd("a LOGIN alice@example.test password-1")
        .expect("login");
    assert!(login.starts_with("a OK"), "{login}");
    c.send("b EXAMINE INBOX").expect("examine");
    c.read_until(|l| l.starts_with("b ")).expect("examined");
    c.send(&format!("c SEARCH {key}")).expect("search");
    let r = c.read_until(|l| l.starts_with("c ")).expect("search");
    let line = r
        .lines()
        .find(|l| l.starts_with("* SEARCH"))
        .unwrap_or_default();
    line.split(' ')
        .skip(2)
        .map(|n| n.parse().expect("number"))
        .collect()
}

#[test]
fn offlineimap_syncs_a_mailbox_both_ways() {
    // imaps with certificate and host name checks: offlineimap matches the name it dials
    // against the certificate's names, so the server is `localhost` (its self-signed
    // certificate then names it) and offlineimap trusts exactly that certificate file.
    // Plain-text LOGIN is allowed only for `search_inbox`'s check afterwards.
    let mut s = match Server::start_with_env(
        BIN,
        "[security]\nallow_plaintext_auth = true\n",
        &[("MAILROOM_SERVER__HOSTNAME", "localhost")],
    ) {
        Ok(s) => s,
        Err(e) => panic!("{e:#}"),
    };
    // The name the server runs under, whose certificate the harness's own reads trust.
    s.hostname = "localhost".into();
    s.add_users("example.test", &["alice@example.test"])
        .expect("users");
    let sent: Vec<String> = (1..=2)
        .map(|i| deliver(&s, &format!("offline {i}")))
        .collect();
    let local = tempfile::tempdir().expect("local dir");
    let maildir = local.path().join("mail");
    let rc = local.path().join("offlineimaprc");
    let ca = s.data_dir().join("tls/localhost.selfsigned.crt");
    std::fs::write(
        &rc,
        format!(
            "[general]\naccounts = t\nmetadata = {meta}\n\n\
             [Account t]\nlocalrepository = t-local\nremoterepository = t-remote\n\n\
             [Repository t-local]\ntype = Maildir\nlocalfolders = {dir}\n\n\
             [Repository t-remote]\ntype = IMAP\nremotehost = localhost\nremoteport = {port}\n\
             remoteuser = alice@example.test\nremotepass = password-1\n\
             ssl = yes\nsslcacertfile = {ca}\n\
             folderfilter = lambda name: name == 'INBOX'\n",
            meta = local.path().join("meta").display(),
            dir = maildir.display(),
            port = s.ports.imaps,
            ca = ca.display(),
        ),
    )
    .expect("rc");
    let sync = || {
        let out = Command::new("offlineimap")
            .arg("-c")
            .arg(&rc)
            .args(["-o", "-u", "basic"])
            .output()
            .expect("offlineimap");
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // offlineimap exits 0 after some failed folders; its "ERROR" lines say so.
        assert!(
            out.status.success() && !text.contains("ERROR"),
            "offlineimap failed:\n{text}\nserver log:\n{}",
            s.log()
        );
    };
    sync();

    // Pulled: both delivered messages, byte for byte apart from line ends and trace fields.
    let inbox_dir = maildir.join("INBOX");
    let pulled = files_in(&inbox_dir);
    assert_eq!(pulled.len(), 2, "{pulled:?}");
    let mut bodies: Vec<Vec<u8>> = pulled
        .iter()
        .map(|p| as_stored(&std::fs::read(p).expect("read")))
        .collect();
    bodies.sort();
    let mut expected: Vec<Vec<u8>> = sent.iter().map(|m| m.clone().into_bytes()).collect();
    expected.sort();
    assert_eq!(bodies, expected);
    assert!(search_inbox(&s, "SEEN").is_empty(), "nothing read yet");

    // Pushed back: a message written locally, and the first pulled one marked seen.
    std::fs::write(
        inbox_dir.join("new/1700000000_0.1.local"),
        "From: me@example.test\nSubject: offline local\n\nwritten offline\n",
    )
    .expect("local message");
    let first = &pulled[0];
    let name = first
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let base = name.split(":2,").next().unwrap_or_default().to_string();
    std::fs::rename(first, inbox_dir.join("cur").join(format!("{base}:2,S"))).expect("mark seen");
    sync();

    let inbox = s.inbox("alice@example.test").expect("inbox");
    assert_eq!(inbox.len(), 3);
    assert!(
        inbox
            .iter()
            .any(|m| m.ends_with(b"Subject: offline local\r\n\r\nwritten offline\r\n")),
        "pushed message missing: {:?}",
        inbox
            .iter()
            .map(|m| String::from_utf8_lossy(m))
            .collect::<Vec<_>>()
    );
    // Which message was marked: the server's copy of the renamed file.
    let marked =
        as_stored(&std::fs::read(inbox_dir.join("cur").join(format!("{base}:2,S"))).expect("read"));
    let seen = search_inbox(&s, "SEEN");
    assert_eq!(seen.len(), 1, "{seen:?}");
    let index = usize::try_from(seen[0] - 1).expect("index");
    assert_eq!(after_trace(&inbox[index]), &marked[..]);
    // A third run finds nothing to do and changes nothing.
    sync();
    assert_eq!(s.inbox("alice@example.test").expect("inbox").len(), 3);
    assert_eq!(files_in(&inbox_dir).len(), 3);
}
