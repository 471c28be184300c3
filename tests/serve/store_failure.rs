//! A store that fails fatally stops the server with the cause in its log and a non-zero exit
//! status, so that a supervisor restarts it (instead of a server that answers "unavailable"
//! forever). The fault is a real one, made from outside: the database file is moved away and
//! a directory put in its place, which SQLite in WAL mode does not notice by itself.

use mailroom_tests::{LineClient, Server};
use std::time::Duration;

#[test]
fn a_replaced_database_file_stops_the_server_with_exit_status_74() {
    let mut s = Server::start(crate::BIN, "").expect("server");
    s.add_users("example.test", &["alice@example.test"])
        .expect("users");
    let db = s.data_dir().join("mailroom.db");
    std::fs::rename(&db, s.data_dir().join("mailroom.db.moved")).expect("move the database");
    std::fs::create_dir(&db).expect("a directory in its place");

    // The next write is refused, not acknowledged into a file nobody will read again.
    let mut smtp = LineClient::connect(s.ports.smtp).expect("smtp");
    assert!(smtp.read_line().expect("greeting").starts_with("220 "));
    assert!(
        smtp.reply("EHLO client.test")
            .expect("ehlo")
            .starts_with("250")
    );
    assert!(
        smtp.reply("MAIL FROM:<bob@sender.test>")
            .expect("mail")
            .starts_with("250")
    );
    assert!(
        smtp.reply("RCPT TO:<alice@example.test>")
            .expect("rcpt")
            .starts_with("250")
    );
    assert!(smtp.reply("DATA").expect("data").starts_with("354"));
    smtp.send_raw(b"Subject: lost?\r\n\r\nnot into a moved database\r\n.\r\n")
        .expect("body");
    let answer = smtp.read_line().expect("answer");
    assert!(
        answer.starts_with("451 "),
        "a temporary failure, not 250: {answer}"
    );

    let status = s
        .wait_exit(Duration::from_secs(20))
        .expect("the server stopped by itself");
    assert_eq!(status.code(), Some(74), "EX_IOERR; log:\n{}", s.log());
    let log = s.log();
    let failure = log
        .lines()
        .find(|l| l.contains("The store failed; stopping the server"))
        .unwrap_or_else(|| panic!("no store failure logged:\n{log}"));
    assert!(
        failure.contains("ERROR") && failure.contains("mailroom.db was replaced"),
        "the log line names the cause: {failure}"
    );
    assert!(
        log.contains("flushing the store"),
        "it drained first:\n{log}"
    );
}
