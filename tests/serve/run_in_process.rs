//! `mailroom::run` called in this process on free loopback ports with a temporary data
//! directory: mail delivered over SMTP is fetched over IMAP, and the shutdown future makes
//! `run` drain and return `Ok`; a store that fails makes it return `StoreFailed` by itself.

use mailroom_config::ConfigSource;
use mailroom_tests::{LineClient, free_ports, run_cli, wait_until};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

/// A config file in `dir` for SMTP on `smtp` and IMAP on `imap` only.
fn write_config(dir: &Path, smtp: u16, imap: u16) -> std::path::PathBuf {
    let path = dir.join("mailroom.toml");
    let text = format!(
        "[server]\nhostname = \"mail.example.test\"\ndata_dir = \"{data}\"\ndrain_timeout_secs = 5\n\n\
         [listeners]\nsmtp = \"127.0.0.1:{smtp}\"\nimap = \"127.0.0.1:{imap}\"\n\n\
         [dns]\nnameservers = [\"127.0.0.1:9\"]\ntimeout_ms = 200\n\n\
         [spam]\nenabled = false\n\n[greylist]\nenabled = false\n\n\
         [security]\nallow_plaintext_auth = true\n",
        data = dir.join("data").display(),
    );
    std::fs::write(&path, text).expect("config");
    path
}

/// `run` on its own thread with alice@example.test (password `password-1`) on SMTP and IMAP
/// ports of its own, once both accept.
struct InProcess {
    dir: tempfile::TempDir,
    smtp: u16,
    imap: u16,
    stop: tokio::sync::oneshot::Sender<()>,
    server: std::thread::JoinHandle<Result<(), mailroom::ServeError>>,
}

fn start() -> InProcess {
    mailroom_shared::tls::install_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    let ports = free_ports(2);
    let (smtp, imap) = (ports[0], ports[1]);
    let config_path = write_config(dir.path(), smtp, imap);
    // The account, made before the server starts (the command line opens the store itself).
    for (args, stdin) in [
        (vec!["domain", "add", "example.test"], None),
        (
            vec!["user", "add", "alice@example.test", "--password-stdin"],
            Some("password-1\n"),
        ),
    ] {
        let out = run_cli(
            Path::new(crate::BIN),
            Some(&config_path),
            dir.path(),
            &args,
            stdin,
        )
        .expect("cli");
        assert!(out.status.success(), "{args:?}: {out:?}");
    }

    let source = ConfigSource::file_only(&config_path);
    let config = mailroom_config::load(&source).expect("valid config");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        actix_rt::System::new().block_on(mailroom::run(
            mailroom::ServeConfig {
                config,
                source,
                hangups: None,
            },
            async {
                let _ = stopped.await;
                "the test"
            },
        ))
    });
    assert!(
        wait_until(Duration::from_secs(30), || {
            [smtp, imap]
                .iter()
                .all(|&p| TcpStream::connect(("127.0.0.1", p)).is_ok())
        }),
        "the listeners did not come up"
    );
    InProcess {
        dir,
        smtp,
        imap,
        stop,
        server,
    }
}

#[test]
fn run_delivers_over_smtp_serves_over_imap_and_returns_ok_at_shutdown() {
    let InProcess {
        dir: _dir,
        smtp: smtp_port,
        imap: imap_port,
        stop,
        server,
    } = start();
    let accepted = crate::try_deliver(smtp_port, "hello from run").expect("delivery");
    assert!(accepted.starts_with("250 "), "{accepted}");

    let mut imap = LineClient::connect(imap_port).expect("imap");
    assert!(imap.read_line().expect("greeting").starts_with("* OK"));
    let done = |tag: &'static str| move |l: &str| l.starts_with(tag);
    imap.send("a LOGIN alice@example.test password-1")
        .expect("login");
    let login = imap.read_until(done("a ")).expect("login");
    assert!(login.contains("a OK"), "{login}");
    imap.send("b SELECT INBOX").expect("select");
    let select = imap.read_until(done("b ")).expect("select");
    assert!(select.contains("* 1 EXISTS"), "{select}");
    imap.send("c FETCH 1 BODY[TEXT]").expect("fetch");
    let fetch = imap.read_until(done("c ")).expect("fetch");
    assert!(fetch.contains("hello from run"), "{fetch}");
    assert!(fetch.contains("c OK"), "{fetch}");
    imap.send("d LOGOUT").expect("logout");

    stop.send(()).expect("run is still waiting");
    let outcome = server.join().expect("the server thread");
    assert!(outcome.is_ok(), "run failed: {outcome:?}");
    assert!(
        TcpStream::connect(("127.0.0.1", smtp_port)).is_err(),
        "the SMTP listener is closed once run has returned"
    );
}

#[test]
fn run_returns_store_failed_when_the_database_file_is_replaced() {
    let running = start();
    let db = running.dir.path().join("data").join("mailroom.db");
    std::fs::rename(&db, running.dir.path().join("moved.db")).expect("move the database");
    std::fs::create_dir(&db).expect("a directory in its place");
    // Not acknowledged: 451, or no session at all if a background write of the server found
    // the failure first and it is already stopping.
    if let Ok(answer) = crate::try_deliver(running.smtp, "not into a moved database") {
        assert!(answer.starts_with("451 "), "{answer}");
    }

    // It stops by itself: the shutdown future is never resolved.
    let outcome = running.server.join().expect("the server thread");
    match outcome {
        Err(e @ mailroom::ServeError::StoreFailed(_)) => {
            assert_eq!(e.exit_code(), 74);
            assert!(e.to_string().contains("was replaced"), "{e}");
        }
        other => panic!("expected StoreFailed, got {other:?}"),
    }
    drop(running.stop);
}
