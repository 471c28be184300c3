//! Real POP3 clients against the server, each fetching what SMTP delivered: Python's poplib
//! (pop3s, and STLS on the plain port), fetchmail with and without `--keep`, getmail6, and
//! curl (`pop3s://` and `pop3://` with STLS; LIST, RETR, DELE). The server is named
//! `localhost`, so its self-signed certificate names the host the clients dial and they
//! verify it against exactly that file.

use std::path::Path;
use std::process::Command;

use crate::pop3::{ca, deliver};
use crate::{BIN, python};
use mailroom_tests::{Server, after_trace};

/// A server named `localhost` with alice.
fn localhost() -> Server {
    let mut s = match Server::start_with_env(BIN, "", &[("MAILROOM_SERVER__HOSTNAME", "localhost")])
    {
        Ok(s) => s,
        Err(e) => panic!("{e:#}"),
    };
    // What the harness reports, for the certificate's file name.
    s.hostname = "localhost".into();
    s.add_users("example.test", &["alice@example.test"])
        .expect("users");
    s
}

fn inbox_len(s: &Server) -> usize {
    s.inbox("alice@example.test").expect("inbox").len()
}

#[test]
fn poplib_over_pop3s_and_stls_retrieves_and_deletes() {
    let s = localhost();
    let sent: Vec<String> = (1..=3)
        .map(|i| deliver(&s, &format!("poplib {i}")))
        .collect();
    let stored = s.inbox("alice@example.test").expect("inbox");
    let script = format!(
        "import poplib, ssl\n\
         ctx = ssl.create_default_context(cafile={ca:?})\n\
         p = poplib.POP3_SSL('localhost', {pop3s}, context=ctx)\n\
         caps = p.capa()\n\
         assert 'UIDL' in caps and 'TOP' in caps and 'PIPELINING' in caps, caps\n\
         p.user('alice@example.test')\n\
         p.pass_('password-1')\n\
         count, size = p.stat()\n\
         print(count, size)\n\
         resp, lines, octets = p.retr(1)\n\
         print(b'\\r\\n'.join(lines).hex())\n\
         resp, lines, octets = p.top(2, 0)\n\
         assert lines[-1] == b'', lines\n\
         print(p.uidl(3).decode())\n\
         p.dele(1)\n\
         p.quit()\n\
         q = poplib.POP3('localhost', {pop3})\n\
         assert 'STLS' in q.capa()\n\
         q.stls(context=ctx)\n\
         q.user('alice@example.test')\n\
         q.pass_('password-1')\n\
         print(len(q.list()[1]))\n\
         q.dele(1)\n\
         q.rset()\n\
         q.quit()\n",
        ca = ca(&s).display().to_string(),
        pop3s = s.ports.pop3s,
        pop3 = s.ports.pop3,
    );
    let out = python(&script);
    let mut lines = out.lines();
    let total: usize = stored.iter().map(Vec::len).sum();
    assert_eq!(lines.next(), Some(format!("3 {total}").as_str()));
    // poplib strips the stuffing and the line ends; the message is the stored one.
    let first = hex(lines.next().unwrap_or_default());
    assert_eq!(first, stored[0].strip_suffix(b"\r\n").expect("crlf"));
    assert_eq!(after_trace(&stored[0]), sent[0].as_bytes());
    assert!(
        lines.next().is_some_and(|l| l.starts_with("+OK 3 ")),
        "{out}"
    );
    assert_eq!(lines.next(), Some("2"), "{out}");
    assert_eq!(
        inbox_len(&s),
        2,
        "DELE then QUIT removed one; RSET kept the other"
    );
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

/// Run fetchmail once against pop3s, delivering into `mbox` through its MDA; whether it
/// fetched anything (exit 0) or found nothing new (exit 1).
fn fetchmail(s: &Server, home: &Path, mbox: &Path, keep: bool, all: bool) -> bool {
    let rc = home.join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "set no syslog\n\
             poll localhost protocol POP3 port {port}\n\
             \x20 user \"alice@example.test\" password \"password-1\"\n\
             \x20 ssl sslcertck sslcertfile \"{ca}\"\n\
             \x20 mda \"cat >> {mbox}\"\n",
            port = s.ports.pop3s,
            ca = ca(s).display(),
            mbox = mbox.display(),
        ),
    )
    .expect("rc");
    // fetchmail refuses a run control file others may read.
    std::process::Command::new("chmod")
        .args(["600"])
        .arg(&rc)
        .status()
        .expect("chmod");
    let mut cmd = Command::new("fetchmail");
    cmd.env("HOME", home)
        .arg("--fetchmailrc")
        .arg(&rc)
        .arg("--nodetach")
        .args(["--idfile"])
        .arg(home.join("fetchids"));
    cmd.arg(if keep { "--keep" } else { "--nokeep" });
    if all {
        cmd.arg("--all");
    }
    let out = cmd.output().expect("fetchmail");
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "fetchmail failed ({:?}):\n{}\n{}\nserver log:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    out.status.code() == Some(0)
}

#[test]
fn fetchmail_with_and_without_keep() {
    let s = localhost();
    let sent: Vec<String> = (1..=2)
        .map(|i| deliver(&s, &format!("fetchmail {i}")))
        .collect();
    let home = tempfile::tempdir().expect("home");
    let mbox = home.path().join("mbox");

    assert!(
        fetchmail(&s, home.path(), &mbox, true, false),
        "nothing fetched"
    );
    let fetched = std::fs::read_to_string(&mbox).expect("mbox");
    for m in &sent {
        let subject = m.lines().nth(2).unwrap_or_default();
        assert!(
            fetched.contains(subject),
            "{subject} missing from {fetched}"
        );
    }
    // fetchmail un-stuffs: the dotted line arrives with one dot.
    assert!(fetched.contains("\n.a line with a dot"), "{fetched}");
    assert!(!fetched.contains("\n..a line"), "{fetched}");
    assert_eq!(inbox_len(&s), 2, "--keep left the messages on the server");
    // fetchmail remembers the UIDLs it saw: a second run finds nothing new.
    assert!(
        !fetchmail(&s, home.path(), &mbox, true, false),
        "fetched again"
    );

    std::fs::remove_file(&mbox).expect("rm");
    assert!(
        fetchmail(&s, home.path(), &mbox, false, true),
        "nothing fetched"
    );
    let fetched = std::fs::read_to_string(&mbox).expect("mbox");
    assert_eq!(
        fetched.matches("Subject: fetchmail ").count(),
        2,
        "{fetched}"
    );
    assert_eq!(inbox_len(&s), 0, "without --keep the messages were deleted");
}

#[test]
fn getmail6_retrieves_and_deletes() {
    let s = localhost();
    let sent: Vec<String> = (1..=2)
        .map(|i| deliver(&s, &format!("getmail {i}")))
        .collect();
    let dir = tempfile::tempdir().expect("dir");
    let got = dir.path().join("got");
    std::fs::create_dir_all(&got).expect("dir");
    let rc = dir.path().join("getmailrc");
    std::fs::write(
        &rc,
        format!(
            "[retriever]\ntype = SimplePOP3SSLRetriever\nserver = localhost\nport = {port}\n\
             username = alice@example.test\npassword = password-1\nca_certs = {ca}\n\n\
             [destination]\ntype = MDA_external\npath = /bin/sh\n\
             arguments = (\"-c\", \"cat > $(mktemp -p {got} msg.XXXXXX)\")\n\
             allow_root_commands = true\n\n\
             [options]\nread_all = true\ndelete = true\nverbose = 0\n",
            port = s.ports.pop3s,
            ca = ca(&s).display(),
            got = got.display(),
        ),
    )
    .expect("rc");
    let out = Command::new("getmail")
        .arg("--getmaildir")
        .arg(dir.path())
        .arg("--rcfile")
        .arg(&rc)
        .output()
        .expect("getmail");
    assert!(
        out.status.success(),
        "getmail failed:\n{}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    // getmail delivers as root only to a command it is told it may run as root.
    let mut fetched: Vec<Vec<u8>> = std::fs::read_dir(&got)
        .expect("new")
        .map(|e| std::fs::read(e.expect("entry").path()).expect("read"))
        .collect();
    fetched.sort();
    assert_eq!(fetched.len(), 2);
    // getmail adds its own Delivered-To/Return-Path; the rest is the message, LF-ended.
    for m in &sent {
        let want = m.replace("\r\n", "\n");
        assert!(
            fetched
                .iter()
                .any(|f| String::from_utf8_lossy(f).ends_with(&want)),
            "{want:?} not fetched"
        );
    }
    assert_eq!(inbox_len(&s), 0);
}

#[test]
fn curl_lists_retrieves_and_deletes() {
    let s = localhost();
    deliver(&s, "curl 1");
    deliver(&s, "curl 2");
    let stored = s.inbox("alice@example.test").expect("inbox");
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-s", "-S", "--cacert"])
            .arg(ca(&s))
            .args(["-u", "alice@example.test:password-1"])
            .args(args)
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "curl {args:?}: {}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            s.log()
        );
        out.stdout
    };
    let pop3s = format!("pop3s://localhost:{}", s.ports.pop3s);
    let listed = String::from_utf8(curl(&[&format!("{pop3s}/")])).expect("utf8");
    assert_eq!(
        listed,
        format!("1 {}\r\n2 {}\r\n", stored[0].len(), stored[1].len())
    );
    // RETR over pop3s, and over the plain port after STLS (--ssl-reqd).
    assert_eq!(curl(&[&format!("{pop3s}/2")]), stored[1]);
    let pop3 = format!("pop3://localhost:{}", s.ports.pop3);
    assert_eq!(curl(&["--ssl-reqd", &format!("{pop3}/1")]), stored[0]);
    // DELE (no body: -I), then the QUIT curl sends removes it.
    curl(&["-X", "DELE", "-I", &format!("{pop3s}/1")]);
    let left = s.inbox("alice@example.test").expect("inbox");
    assert_eq!(left, vec![stored[1].clone()]);
}
