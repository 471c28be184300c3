//! SMTP smuggling against the real binary: a message whose data "ends" with a dot line that
//! a bare CR or LF opens or closes, followed in the same packet by a second, pipelined
//! transaction. Only CRLF.CRLF ends the data (RFC 5321 §4.1.1.4), so the whole of it is one
//! message, refused for its bare CR/LF (RFC 5321 §2.3.8), and the smuggled commands are never
//! run: no second message is stored. Both listeners that take DATA are tried.

use crate::{python, users};
use mailroom_tests::LineClient;

/// The end marks of the published smuggling attacks (and variants): none is CRLF.CRLF.
const MARKS: [&[u8]; 5] = [
    b"\r\n.\r\r\n",
    b"\r\n.\r\r\r\n",
    b"\n.\n",
    b"\r.\r\n",
    b"\n.\r\n",
];

/// The pipelined transaction hidden after the fake end mark.
const SMUGGLED: &[u8] =
    b"MAIL FROM:<admin@example.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n\
Subject: smuggled\r\n\r\nthis must never be stored\r\n.\r\n";

/// The whole client packet: a transaction whose data ends in `mark`, the smuggled one, QUIT.
fn packet(mark: &[u8]) -> Vec<u8> {
    let mut p = b"MAIL FROM:<sender@example.org>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n\
Subject: first\r\n\r\nfirst message"
        .to_vec();
    p.extend_from_slice(mark);
    p.extend_from_slice(SMUGGLED);
    p.extend_from_slice(b"QUIT\r\n");
    p
}

fn show(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// `bytes` as a Python bytes literal.
fn py_bytes(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("\\x{b:02x}")).collect();
    format!("b'{hex}'")
}

#[test]
fn mx_smuggled_messages_are_never_stored() {
    let s = users();
    for mark in MARKS {
        let mut c = LineClient::connect(s.ports.smtp).expect("connect");
        assert!(c.read_line().expect("greeting").starts_with("220 "));
        c.reply("EHLO client.example.org").expect("ehlo");
        c.send_raw(&packet(mark)).expect("packet");
        let mut replies = Vec::new();
        loop {
            let line = c.read_line().expect("reply");
            if line.is_empty() {
                break;
            }
            replies.push(line);
        }
        assert_eq!(
            replies,
            [
                "250 2.1.0 sender OK\r\n",
                "250 2.1.5 recipient OK\r\n",
                "354 end data with <CR><LF>.<CR><LF>\r\n",
                // One message, up to the only CRLF.CRLF, refused whole; the smuggled MAIL,
                // RCPT and DATA inside it were never commands.
                "554 5.6.0 message has a bare LF or CR; lines must end with CRLF\r\n",
                "221 2.0.0 mail.example.test closing connection\r\n",
            ],
            "end mark {}",
            show(mark)
        );
    }
    assert_eq!(s.inbox("alice@example.test").expect("inbox").len(), 0);

    // The check can see a message: a clean one, in one packet as above, is stored, once.
    let mut c = LineClient::connect(s.ports.smtp).expect("connect");
    c.read_line().expect("greeting");
    c.reply("EHLO client.example.org").expect("ehlo");
    let mut clean = packet(b"\r\n.\r\n");
    clean.truncate(clean.len() - SMUGGLED.len() - b"QUIT\r\n".len());
    clean.extend_from_slice(b"QUIT\r\n");
    c.send_raw(&clean).expect("packet");
    let all = c
        .read_until(|l| l.starts_with("221 "))
        .expect("replies to the end");
    assert!(all.contains("\r\n250 2.0.0 OK, stored as "), "{all}");
    let inbox = s.inbox("alice@example.test").expect("inbox");
    assert_eq!(inbox.len(), 1);
    let text = String::from_utf8_lossy(&inbox[0]).into_owned();
    assert!(
        text.ends_with("Subject: first\r\n\r\nfirst message\r\n"),
        "{text}"
    );
}

#[test]
fn submission_smuggled_messages_are_never_stored() {
    // The submission listener runs the same DATA code: an authenticated client cannot
    // smuggle a second message (with another sender) past it either.
    let s = users();
    let ca = s.data_dir().join("tls/mail.example.test.selfsigned.crt");
    let marks: Vec<String> = MARKS.iter().map(|m| py_bytes(m)).collect();
    let script = format!(
        "import smtplib, ssl\n\
         ctx = ssl.create_default_context(cafile={ca:?})\n\
         for mark in [{marks}]:\n\
         \x20   c = smtplib.SMTP('127.0.0.1', {port}, local_hostname='client.example.org')\n\
         \x20   c._host = 'mail.example.test'\n\
         \x20   c.starttls(context=ctx)\n\
         \x20   c.login('bob@example.test', 'password-1')\n\
         \x20   c.send({first} + mark + {smuggled} + b'QUIT\\r\\n')\n\
         \x20   r = [c.getreply() for _ in range(5)]\n\
         \x20   print([x[0] for x in r], r[3][1].decode())\n",
        ca = ca.display().to_string(),
        marks = marks.join(", "),
        port = s.ports.submission,
        first = py_bytes(
            b"MAIL FROM:<bob@example.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n\
From: bob@example.test\r\nSubject: first\r\n\r\nfirst message"
        ),
        smuggled = py_bytes(SMUGGLED),
    );
    let out = python(&script);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), MARKS.len(), "{out}");
    for (line, mark) in lines.iter().zip(MARKS) {
        assert_eq!(
            *line,
            "[250, 250, 354, 554, 221] 5.6.0 message has a bare LF or CR; lines must end with CRLF",
            "end mark {}",
            show(mark)
        );
    }
    assert_eq!(s.inbox("alice@example.test").expect("inbox").len(), 0);
    assert_eq!(s.queue().expect("queue").len(), 0, "nothing queued either");
}
