//! Real IMAP sync clients against the server: isync's `mbsync` pulls every folder into a
//! maildir and pushes a new message and a flag change back.

use crate::server_with;
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
