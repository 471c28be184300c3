//! End-to-end tests: each starts the real `mailroom` binary (built once by cargo) and talks to
//! it over sockets, signals and its command line.

mod cli;
mod imap;
mod imap_clients;
mod limits;
mod reload;
mod shutdown;
mod smtp;
mod smtp_clients;
mod tls;

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
