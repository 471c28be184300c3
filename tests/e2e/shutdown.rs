//! SIGTERM/SIGINT drain: stop accepting, sessions say goodbye, exit 0.

use crate::server;
use mailroom_tests::{LineClient, run_cli};
use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

#[test]
fn sigterm_drains_sessions_and_exits_zero() {
    let mut s = server();
    let mut smtp = LineClient::connect(s.ports.smtp).expect("smtp");
    assert!(smtp.read_line().expect("greeting").starts_with("220 "));
    let mut imap = LineClient::connect(s.ports.imap).expect("imap");
    assert!(imap.read_line().expect("greeting").starts_with("* OK "));
    let mut pop3 = LineClient::connect(s.ports.pop3).expect("pop3");
    assert!(pop3.read_line().expect("greeting").starts_with("+OK "));

    s.signal("TERM").expect("SIGTERM");
    assert_eq!(
        smtp.read_line().expect("goodbye"),
        "421 4.3.2 mail.example.test shutting down, try again later\r\n"
    );
    assert_eq!(
        imap.read_line().expect("goodbye"),
        "* BYE mail.example.test shutting down\r\n"
    );
    assert_eq!(
        pop3.read_line().expect("goodbye"),
        "-ERR mail.example.test shutting down\r\n"
    );
    assert!(smtp.closed());

    let status = s.wait_exit(Duration::from_secs(15)).expect("server exited");
    assert_eq!(status.code(), Some(0), "log:\n{}", s.log());
    assert!(TcpStream::connect(("127.0.0.1", s.ports.smtp)).is_err());
    let log = s.log();
    for phase in [
        "no longer accepting",
        "asking sessions to finish",
        "flushing the store",
        "stopped",
    ] {
        assert!(log.contains(phase), "phase {phase:?} not logged:\n{log}");
    }
}

#[test]
fn sigint_also_drains_and_a_restart_finds_the_data() {
    let mut s = server();
    let out = s.cli(&["domain", "add", "kept.test"], None).expect("cli");
    assert!(out.status.success());
    s.signal("INT").expect("SIGINT");
    assert_eq!(
        s.wait_exit(Duration::from_secs(15))
            .and_then(|st| st.code()),
        Some(0)
    );
    s.spawn().expect("restart");
    let out = s.cli(&["domain", "list"], None).expect("cli");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "kept.test\n");
}

#[test]
fn serve_without_a_config_file_uses_the_embedded_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = std::process::Command::new(crate::BIN)
        .arg("serve")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start");
    let mut stdout = child.stdout.take().expect("stdout");
    let ready = mailroom_tests::wait_until(Duration::from_secs(30), || {
        TcpStream::connect("127.0.0.1:2525").is_ok() && TcpStream::connect("127.0.0.1:8080").is_ok()
    });
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().expect("wait");
    let mut printed = String::new();
    let _ = stdout.read_to_string(&mut printed);
    assert!(ready, "defaults not listening; stdout:\n{printed}");
    assert_eq!(status.code(), Some(0));
    for line in [
        "smtp listening on 127.0.0.1:2525",
        "submission listening on 127.0.0.1:2587",
        "submissions listening on 127.0.0.1:2465",
        "imap listening on 127.0.0.1:2143",
        "imaps listening on 127.0.0.1:2993",
        "pop3 listening on 127.0.0.1:2110",
        "pop3s listening on 127.0.0.1:2995",
        "admin listening on http://127.0.0.1:8080/",
    ] {
        assert!(printed.contains(line), "{line:?} not printed:\n{printed}");
    }
    assert!(
        dir.path().join("data").is_dir(),
        "default data dir ./data not made"
    );
    assert!(
        dir.path()
            .join("data/tls/mail.example.test.selfsigned.crt")
            .is_file()
    );
    let _ = run_cli; // the CLI is covered in cli.rs
}

#[test]
fn a_second_server_on_the_same_data_directory_is_refused() {
    let s = server();
    let out = std::process::Command::new(crate::BIN)
        .arg("--config")
        .arg(s.config_path())
        .arg("serve")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("another mailroom server is using"),
        "{stderr}"
    );
}
