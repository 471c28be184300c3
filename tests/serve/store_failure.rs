//! A store that fails fatally stops the server with the cause in its log and a non-zero exit
//! status, so that a supervisor restarts it (instead of a server that answers "unavailable"
//! forever). The fault is a real one, made from outside: the database file is moved away and
//! a directory put in its place, which SQLite in WAL mode does not notice by itself.

use mailroom_tests::Server;
use std::time::Duration;

#[test]
fn a_replaced_database_file_stops_the_server_with_exit_status_74() {
    let mut s = Server::start(crate::BIN, "").expect("server");
    s.add_users("example.test", &["alice@example.test"])
        .expect("users");
    let db = s.data_dir().join("mailroom.db");
    std::fs::rename(&db, s.data_dir().join("mailroom.db.moved")).expect("move the database");
    std::fs::create_dir(&db).expect("a directory in its place");

    // The next write is refused, not acknowledged into a file nobody will read again (or the
    // server, which a background write of its own may have told first, is already stopping).
    if let Ok(answer) = crate::try_deliver(s.ports.smtp, "not into a moved database") {
        assert!(
            answer.starts_with("451 "),
            "a temporary failure, not 250: {answer}"
        );
    }

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
