//! Real SMTP clients against the MX listener: swaks and Postfix's smtp-source (both installed
//! by .ci/run). What they send must arrive byte-identical, trace fields apart.

use crate::server;
use mailroom_tests::{Server, after_trace};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::Command;

fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin"] {
        let path = PathBuf::from(dir).join(name);
        if path.is_file() {
            return path;
        }
    }
    panic!("{name} is not installed; .ci/run installs it (apt-get install swaks postfix)");
}

fn users() -> Server {
    let s = server();
    s.add_users("example.test", &["alice@example.test", "bob@example.test"])
        .expect("users");
    s
}

fn swaks(s: &Server, extra: &[&str], data: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("msg.eml");
    std::fs::write(&file, data).expect("write");
    let out = Command::new(tool("swaks"))
        .args(["--server", &format!("127.0.0.1:{}", s.ports.smtp)])
        .args([
            "--helo",
            "client.example.org",
            "--from",
            "sender@example.org",
        ])
        .args(["--to", "alice@example.test", "--data"])
        .arg(format!("@{}", file.display()))
        .args(extra)
        .output()
        .expect("swaks");
    let transcript = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "swaks failed:\n{transcript}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    transcript
}

/// The file swaks sends. swaks dot-stuffs it and ends it with CRLF.CRLF, so what the server
/// must store is the file plus one CRLF.
const SWAKS_MESSAGE: &str = "From: sender@example.org\r\nTo: alice@example.test\r\nSubject: swaks\r\n\r\nline 1\r\n..two dots stay two\r\n.one dot\r\nlast line";

#[test]
fn swaks_delivers_plain_with_starttls_and_pipelined() {
    let s = users();
    swaks(&s, &[], SWAKS_MESSAGE);
    let tls = swaks(&s, &["-tls"], SWAKS_MESSAGE);
    assert!(tls.contains("STARTTLS"), "{tls}");
    let piped = swaks(&s, &["--pipeline"], SWAKS_MESSAGE);
    assert!(piped.contains("PIPELINING"), "{piped}");
    let inbox = s.inbox("alice@example.test").expect("inbox");
    assert_eq!(inbox.len(), 3);
    for (i, raw) in inbox.iter().enumerate() {
        assert_eq!(
            String::from_utf8_lossy(after_trace(raw)),
            format!("{SWAKS_MESSAGE}\r\n"),
            "message {i}"
        );
    }
    assert!(String::from_utf8_lossy(&inbox[1]).contains(" with ESMTPS id "));
}

/// What smtp-source sends with these arguments, captured by a minimal sink.
fn smtp_source_sample(args: &[&str]) -> Vec<u8> {
    let listener = mailroom_tests::listen_on_free_port();
    let port = listener.local_addr().expect("addr").port();
    let sink = std::thread::spawn(move || {
        let (conn, _) = listener.accept().expect("accept");
        let mut out = conn.try_clone().expect("clone");
        let mut reader = BufReader::new(conn);
        let mut data = Vec::new();
        let _ = out.write_all(b"220 sink\r\n");
        let mut line = Vec::new();
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                return data;
            }
            let upper = line.to_ascii_uppercase();
            if upper.starts_with(b"DATA") {
                let _ = out.write_all(b"354 go\r\n");
                loop {
                    line.clear();
                    if reader.read_until(b'\n', &mut line).unwrap_or(0) == 0 || line == b".\r\n" {
                        break;
                    }
                    data.extend_from_slice(&line);
                }
                let _ = out.write_all(b"250 ok\r\n");
            } else if upper.starts_with(b"QUIT") {
                let _ = out.write_all(b"221 bye\r\n");
                return data;
            } else {
                let _ = out.write_all(b"250 ok\r\n");
            }
        }
    });
    let status = Command::new(tool("smtp-source"))
        .args(args)
        .args(["-m", "1", "-s", "1"])
        .arg(format!("127.0.0.1:{port}"))
        .status()
        .expect("smtp-source");
    assert!(status.success());
    sink.join().expect("sink")
}

/// The body: everything after the first blank line.
fn body(message: &[u8]) -> &[u8] {
    let at = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |i| i + 4);
    &message[at..]
}

#[test]
fn smtp_source_delivers_every_message_intact() {
    let s = users();
    let args = [
        "-c",
        "-l",
        "2000",
        "-f",
        "sender@example.org",
        "-t",
        "alice@example.test",
    ];
    let sample = smtp_source_sample(&args);
    assert!(sample.starts_with(b"From: <sender@example.org>\r\nTo: <alice@example.test>\r\n"));
    let status = Command::new(tool("smtp-source"))
        .args(args)
        .args(["-m", "40", "-s", "8"])
        .arg(format!("127.0.0.1:{}", s.ports.smtp))
        .status()
        .expect("smtp-source");
    assert!(status.success());
    let inbox = s.inbox("alice@example.test").expect("inbox");
    assert_eq!(inbox.len(), 40);
    for raw in &inbox {
        let message = after_trace(raw);
        // Date and Message-Id differ per message; the rest is what smtp-source sent.
        assert!(
            message
                .starts_with(b"From: <sender@example.org>\r\nTo: <alice@example.test>\r\nDate: ")
        );
        assert_eq!(body(message), body(&sample), "body differs");
    }
}
