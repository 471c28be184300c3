//! IMAP end to end with real clients: Python's imaplib (over imaps and over STARTTLS) and
//! curl read what SMTP delivered, byte for byte; an idling client hears of a delivery at
//! once; bad input gets BAD and the connection stays usable.

use crate::{python, users};
use mailroom_tests::{LineClient, Server, after_trace};
use std::process::Command;

const MESSAGE: &str = "From: Sender <sender@example.org>\r\nTo: alice@example.test\r\n\
Subject: imap test\r\nMessage-ID: <imap-1@example.org>\r\n\r\nHello Alice,\r\nline two\r\n";

/// Deliver `MESSAGE` to alice over SMTP with smtplib.
fn deliver(s: &Server) {
    let script = format!(
        "import smtplib\n\
         c = smtplib.SMTP('127.0.0.1', {port})\n\
         c.sendmail('sender@example.org', ['alice@example.test'], {msg:?}.encode())\n\
         c.quit()\n",
        port = s.ports.smtp,
        msg = MESSAGE,
    );
    python(&script);
}

fn from_hex(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

fn ca(s: &Server) -> String {
    s.data_dir()
        .join("tls/mail.example.test.selfsigned.crt")
        .display()
        .to_string()
}

#[test]
fn imaplib_reads_what_smtp_delivered_over_imaps_and_starttls() {
    let s = users();
    deliver(&s);
    deliver(&s);
    // One script, two connections: implicit TLS, then STARTTLS on the plain port. The
    // certificate is checked against the server's own self-signed one.
    let script = format!(
        "import imaplib, ssl\n\
         ctx = ssl.create_default_context(cafile={ca:?})\n\
         ctx.check_hostname = False\n\
         for c in (imaplib.IMAP4_SSL('127.0.0.1', {imaps}, ssl_context=ctx), None):\n\
         \x20   if c is None:\n\
         \x20       c = imaplib.IMAP4('127.0.0.1', {imap})\n\
         \x20       assert 'LOGINDISABLED' in c.capabilities, c.capabilities\n\
         \x20       c.starttls(ssl_context=ctx)\n\
         \x20   c.login('alice@example.test', 'password-1')\n\
         \x20   typ, data = c.select('INBOX')\n\
         \x20   assert typ == 'OK' and data == [b'2'], (typ, data)\n\
         \x20   typ, data = c.search(None, 'ALL')\n\
         \x20   assert data == [b'1 2'], data\n\
         \x20   typ, data = c.fetch('2', '(BODY.PEEK[] FLAGS)')\n\
         \x20   print(data[0][1].hex())\n\
         \x20   typ, data = c.uid('FETCH', '1', '(RFC822.SIZE ENVELOPE)')\n\
         \x20   assert b'\"imap test\"' in data[0], data\n\
         \x20   c.logout()\n",
        ca = ca(&s),
        imaps = s.ports.imaps,
        imap = s.ports.imap,
    );
    let out = python(&script);
    let bodies: Vec<&str> = out.lines().collect();
    assert_eq!(bodies.len(), 2, "{out}");
    let inbox = s.inbox("alice@example.test").expect("inbox");
    for hex in bodies {
        assert_eq!(
            from_hex(hex),
            inbox[1],
            "FETCH BODY[] differs from the stored message"
        );
    }
    assert_eq!(after_trace(&inbox[1]), MESSAGE.as_bytes());
}

#[test]
fn imaplib_append_store_copy_expunge() {
    let s = users();
    let script = format!(
        "import imaplib, ssl, time\n\
         ctx = ssl._create_unverified_context()\n\
         c = imaplib.IMAP4_SSL('127.0.0.1', {imaps}, ssl_context=ctx)\n\
         c.login('alice@example.test', 'password-1')\n\
         typ, data = c.append('Drafts', '(\\\\Draft)', imaplib.Time2Internaldate(time.time()), {msg:?}.encode())\n\
         assert typ == 'OK' and b'APPENDUID' in data[0], (typ, data)\n\
         c.create('Projects/2024')\n\
         typ, data = c.list()\n\
         names = sorted(d.decode().split(' \"/\" ')[1] for d in data)\n\
         print(' '.join(names))\n\
         c.select('Drafts')\n\
         typ, data = c.copy('1', 'Projects/2024')\n\
         assert typ == 'OK', data\n\
         c.store('1', '+FLAGS', '(\\\\Deleted)')\n\
         typ, data = c.expunge()\n\
         assert data == [b'1'], data\n\
         typ, data = c.status('Projects/2024', '(MESSAGES UNSEEN)')\n\
         print(data[0].decode())\n\
         c.logout()\n",
        imaps = s.ports.imaps,
        msg = MESSAGE,
    );
    let out = python(&script);
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some(
            "\"Archive\" \"Drafts\" \"INBOX\" \"Junk\" \"Projects\" \"Projects/2024\" \"Sent\" \"Trash\""
        )
    );
    assert_eq!(
        lines.next(),
        Some("\"Projects/2024\" (MESSAGES 1 UNSEEN 1)")
    );
}

#[test]
fn curl_fetches_and_searches() {
    let s = users();
    deliver(&s);
    let url = format!("imaps://127.0.0.1:{}/INBOX", s.ports.imaps);
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-s", "-k", "-u", "alice@example.test:password-1"])
            .args(args)
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "curl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        curl(&[&url, "-X", "SEARCH SUBJECT imap"]).trim(),
        "* SEARCH 1"
    );
    let body = curl(&[&format!("{url};UID=1")]);
    assert_eq!(after_trace(body.as_bytes()), MESSAGE.as_bytes());
}

#[test]
fn an_idling_client_hears_of_a_delivery_at_once() {
    let s = users();
    // Raw IDLE over TLS (imaplib has no IDLE before Python 3.14); the delivery is made from
    // the same script once the server said "+ idling", and the time from the SMTP 250 to the
    // EXISTS is printed (the figure goes into the issue notes, not into an assertion).
    let script = format!(
        "import socket, ssl, smtplib, time\n\
         ctx = ssl._create_unverified_context()\n\
         s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', {imaps})))\n\
         f = s.makefile('rb')\n\
         f.readline()\n\
         def cmd(line, tag):\n\
         \x20   s.sendall(line.encode() + b'\\r\\n')\n\
         \x20   while True:\n\
         \x20       l = f.readline()\n\
         \x20       if l.startswith(tag.encode() + b' ') or l.startswith(b'+'): return l\n\
         cmd('a LOGIN alice@example.test password-1', 'a')\n\
         cmd('b SELECT INBOX', 'b')\n\
         assert cmd('c IDLE', 'c').startswith(b'+'), 'no continuation'\n\
         m = smtplib.SMTP('127.0.0.1', {smtp})\n\
         m.sendmail('sender@example.org', ['alice@example.test'], b'Subject: x\\r\\n\\r\\nhi\\r\\n')\n\
         t0 = time.monotonic()\n\
         s.settimeout(10)\n\
         l = f.readline()\n\
         ms = (time.monotonic() - t0) * 1000\n\
         assert l == b'* 1 EXISTS\\r\\n', l\n\
         s.sendall(b'DONE\\r\\n')\n\
         assert f.readline().startswith(b'* 1 RECENT') or True\n\
         print('%.1f' % ms)\n\
         m.quit()\n",
        imaps = s.ports.imaps,
        smtp = s.ports.smtp,
    );
    let ms: f64 = python(&script).trim().parse().expect("milliseconds");
    eprintln!("IDLE: EXISTS {ms:.1} ms after the SMTP 250");
}

#[test]
fn bad_input_gets_bad_and_the_connection_stays() {
    let s = server_with_plaintext();
    let mut c = LineClient::connect(s.ports.imap).expect("imap");
    assert!(
        c.read_line()
            .expect("greeting")
            .starts_with("* OK [CAPABILITY IMAP4rev1 IMAP4rev2")
    );
    assert_eq!(
        c.cmd("a1 FROB").expect("bad").trim_end(),
        "a1 BAD syntax error in command or arguments"
    );
    assert_eq!(
        c.cmd("a2 SELECT INBOX").expect("state").trim_end(),
        "a2 BAD SELECT is not allowed in this state"
    );
    // A literal too big for LOGIN is refused before the client sends it (no "+"), with the
    // TOOBIG response code (RFC 9051 §7.1, RFC 7888 §4).
    assert_eq!(
        c.cmd("a3 LOGIN {99999999}").expect("refused").trim_end(),
        "a3 BAD [TOOBIG] literal too big for this command"
    );
    // A synchronising literal within limits gets "+", then the command runs.
    c.send("a4 LOGIN {18}").expect("send");
    assert!(c.read_line().expect("continuation").starts_with("+ "));
    let r = c.cmd("alice@example.test password-1").expect("login");
    assert!(r.starts_with("a4 OK [CAPABILITY "), "{r}");
    assert!(c.cmd("a5 NOOP").expect("noop").starts_with("a5 OK"));
}

/// Read a reply up to its tagged line; an error when the server closes first.
fn tagged(c: &mut LineClient, tag: &str) -> String {
    let prefix = format!("{tag} ");
    c.read_until(|l| l.starts_with(&prefix))
        .unwrap_or_else(|e| panic!("{tag}: {e:#}"))
}

#[test]
fn names_that_are_not_modified_utf7_get_no_and_list_answers() {
    let s = server_with_plaintext();
    let mut c = LineClient::connect(s.ports.imap).expect("imap");
    c.read_line().expect("greeting");
    let r = c
        .cmd("a LOGIN alice@example.test password-1")
        .expect("login");
    assert!(r.starts_with("a OK"), "{r}");
    // Printable ASCII without wildcards and quoted-specials: "&'+,-" is no valid modified
    // UTF-7 run (RFC 3501 §5.1.3).
    let name =
        "!#$&'+,-.0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz|}~";
    // More refusals than the session's error budget (20 by default): NO is no error.
    for i in 0..12 {
        for (verb, args) in [("SELECT", ""), ("EXAMINE", ""), ("STATUS", " (MESSAGES)")] {
            c.send(&format!("s{i} {verb} \"{name}\"{args}"))
                .expect("send");
            let r = tagged(&mut c, &format!("s{i}"));
            assert!(
                r.starts_with(&format!(
                    "s{i} NO [CANNOT] mailbox name is not valid modified UTF-7"
                )),
                "{verb}: {r}"
            );
        }
    }
    c.send(&format!("c CREATE \"{name}\"")).expect("send");
    assert!(tagged(&mut c, "c").starts_with("c NO [CANNOT] "));
    // LIST with such a pattern (quoted, as an atom, as a literal, in a pattern list, as the
    // reference) answers OK with no names, and the connection stays.
    for (i, list) in [
        format!("LIST \"\" \"{name}\""),
        format!("LIST \"\" {name}"),
        format!("LIST \"\" {name}*"),
        format!("LIST \"{name}\" %"),
        format!("LIST \"\" (\"{name}\" \"x&\")"),
        format!("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"{name}\" RETURN (CHILDREN)"),
        format!("LSUB \"\" \"{name}\""),
    ]
    .iter()
    .enumerate()
    {
        c.send(&format!("l{i} {list}")).expect("send");
        let r = tagged(&mut c, &format!("l{i}"));
        let verb = if list.starts_with("LSUB") {
            "LSUB"
        } else {
            "LIST"
        };
        assert_eq!(r, format!("l{i} OK {verb} completed\r\n"), "{list}");
    }
    c.send_raw(format!("l9 LIST \"\" {{{}}}\r\n", name.len()).as_bytes())
        .expect("send");
    assert!(c.read_line().expect("continuation").starts_with("+ "));
    c.send(name).expect("literal");
    assert_eq!(tagged(&mut c, "l9"), "l9 OK LIST completed\r\n");
    assert!(c.cmd("n NOOP").expect("noop").starts_with("n OK"));
    c.send("z SELECT INBOX").expect("send");
    let r = tagged(&mut c, "z");
    assert!(r.contains("\r\nz OK [READ-WRITE]"), "{r}");
}

fn server_with_plaintext() -> Server {
    let s = crate::server_with("[security]\nallow_plaintext_auth = true\n");
    s.add_users("example.test", &["alice@example.test"])
        .expect("users");
    s
}

/// A raw IMAP client over imaps, logged in as alice, with INBOX selected; the SELECT's
/// whole answer.
fn selected_client(s: &Server) -> (LineClient, String) {
    let ca = ca(s);
    let mut c = LineClient::connect_tls(s.ports.imaps, &s.hostname, std::path::Path::new(&ca))
        .expect("imaps");
    assert!(c.read_line().expect("greeting").starts_with("* OK "));
    let r = exchange(&mut c, "l LOGIN alice@example.test password-1");
    assert!(r.contains("l OK "), "{r}");
    let r = exchange(&mut c, "s SELECT INBOX");
    assert!(r.ends_with("s OK [READ-WRITE] SELECT completed\r\n"), "{r}");
    (c, r)
}

/// Send a command and read its whole answer, up to its tagged status.
fn exchange(c: &mut LineClient, line: &str) -> String {
    let tag = format!("{} ", line.split(' ').next().unwrap_or_default());
    c.send(line).expect("send");
    c.read_until(|l| l.starts_with(&tag)).expect("answer")
}

#[test]
fn two_sessions_get_flags_before_a_new_keyword_and_recent_exactly_once() {
    let s = users();
    deliver(&s);
    let (mut a, selected_a) = selected_client(&s);
    let (mut b, selected_b) = selected_client(&s);
    // RFC 3501 §2.3.2: the message is \Recent in the first session to select only.
    assert!(
        selected_a.contains("* 1 EXISTS\r\n* 1 RECENT\r\n"),
        "{selected_a}"
    );
    assert!(
        selected_b.contains("* 1 EXISTS\r\n* 0 RECENT\r\n"),
        "{selected_b}"
    );
    assert!(exchange(&mut a, "f FETCH 1 FLAGS").contains("* 1 FETCH (FLAGS (\\Recent))"));
    assert!(exchange(&mut b, "f FETCH 1 FLAGS").contains("* 1 FETCH (FLAGS ())"));

    // b idles; a sets a keyword the mailbox never had. RFC 3501 §7.2.6, RFC 9051 §7.3.5: b
    // gets FLAGS and PERMANENTFLAGS listing it before the FETCH that carries it.
    assert!(b.cmd("i IDLE").expect("idle").starts_with("+ "));
    let stored = exchange(&mut a, "x STORE 1 +FLAGS ($Urgent)");
    let flags = "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Urgent)\r\n";
    assert!(
        stored.starts_with(&format!(
            "{flags}* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Urgent \\*)]"
        )),
        "{stored}"
    );
    let heard = b.read_until(|l| l.contains(" FETCH ")).expect("update");
    assert!(heard.starts_with(flags), "{heard}");
    assert!(heard.contains("* OK [PERMANENTFLAGS ("), "{heard}");
    assert!(
        heard.ends_with("* 1 FETCH (UID 1 FLAGS ($Urgent))\r\n"),
        "{heard}"
    );
    b.send("DONE").expect("done");
    assert!(
        b.read_until(|l| l.starts_with("i "))
            .expect("idle end")
            .starts_with("i OK")
    );

    // A delivery while both have INBOX selected and idle: both hear of it, and the store
    // gives the new message to exactly one of them as \Recent, whichever asked first.
    assert!(a.cmd("i IDLE").expect("idle").starts_with("+ "));
    assert!(b.cmd("i IDLE").expect("idle").starts_with("+ "));
    deliver(&s);
    for c in [&mut a, &mut b] {
        let heard = c
            .read_until(|l| l.ends_with(" RECENT\r\n"))
            .expect("update");
        assert!(heard.contains("* 2 EXISTS\r\n"), "{heard}");
        c.send("DONE").expect("done");
        assert!(
            c.read_until(|l| l.starts_with("i "))
                .expect("idle end")
                .starts_with("i OK")
        );
    }
    let owners: Vec<bool> = [&mut a, &mut b]
        .into_iter()
        .map(|c| exchange(c, "f FETCH 2 FLAGS").contains("* 2 FETCH (FLAGS (\\Recent))"))
        .collect();
    assert_eq!(owners.iter().filter(|o| **o).count(), 1, "{owners:?}");
    // SEARCH NEW agrees (RFC 3501 §6.4.4): the owner finds 2, the other nothing.
    let new: Vec<String> = [&mut a, &mut b]
        .into_iter()
        .map(|c| exchange(c, "n SEARCH 2 NEW"))
        .collect();
    for (found, owner) in new.iter().zip(&owners) {
        let want = if *owner {
            "* SEARCH 2\r\n"
        } else {
            "* SEARCH\r\n"
        };
        assert!(found.contains(want), "{found}");
    }
}
