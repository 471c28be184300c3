//! End-to-end tests: each starts the real `mailroom` binary (built once by cargo) and talks to
//! it over sockets, signals and its command line.

mod account_removed;
mod api;
mod api_messages;
mod auth;
mod autoconfig;
mod cli;
mod cli_running;
mod cluster;
mod data_dir;
mod dns_records;
mod envelope;
mod greylist;
mod imap;
mod imap_clients;
mod limits;
mod lockout;
mod memory;
mod metrics;
mod outbound;
mod panel;
mod pop3;
mod pop3_clients;
mod proxy_protocol;
mod reload;
mod sending;
mod sessions;
mod shutdown;
mod smtp;
mod smtp_clients;
mod smuggling;
mod spam;
mod store_migrate;
mod submission;
mod tls;
mod webhooks;

use mailroom_tests::Server;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_mailroom");

/// A server with the harness's config and nothing extra.
pub fn server() -> Server {
    match Server::start(BIN, "") {
        Ok(server) => server,
        Err(e) => panic!("{e:#}"),
    }
}

/// `Server::start` with `extra` TOML.
pub fn server_with(extra: &str) -> Server {
    match Server::start(BIN, extra) {
        Ok(server) => server,
        Err(e) => panic!("{e:#}"),
    }
}

/// A server with alice@ and bob@example.test (password `password-1`).
pub fn users() -> Server {
    let s = server();
    s.add_users("example.test", &["alice@example.test", "bob@example.test"])
        .expect("users");
    s
}

/// Run a Python script; its stdout, or a failed test with what it printed.
pub fn python(script: &str) -> String {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
