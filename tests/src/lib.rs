//! The end-to-end harness: starts the real `mailroom` binary on ephemeral loopback ports with
//! a temporary data directory, waits until its listeners accept, and gives tests helpers to
//! run CLI commands, send signals and talk to each port (plain or TLS). It sees the server only
//! as its users and operators do: through its protocols (mailboxes are read over IMAP), its admin
//! API and its command line, never its database or files, so the tests hold for any store engine.
//!
//! It never sleeps and hopes: every wait polls for a condition under a deadline.

mod client;
pub mod dns;
mod imap_reader;
mod server;
pub mod services;
mod submit;

use std::net::{IpAddr, Ipv4Addr};

/// The stored message without the trace fields mailroom adds on delivery (`Return-Path:`,
/// then `Received:` and `Authentication-Results:` with their folded continuation lines), to
/// compare with what a client sent.
pub fn after_trace(raw: &[u8]) -> &[u8] {
    let mut rest = raw;
    loop {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(rest.len(), |i| i + 2);
        let line = &rest[..end];
        let trace = line.starts_with(b"Return-Path:")
            || line.starts_with(b"Received:")
            || line.starts_with(b"Authentication-Results:")
            || line.starts_with(b"X-Spam-Score:")
            || line.starts_with(b"X-Spam-Status:")
            || line.starts_with(b"\t")
            || line.starts_with(b" ");
        if !trace || end == 0 {
            return rest;
        }
        rest = &rest[end..];
    }
}

/// `host` as a loopback address, or an error: the load tools never send traffic off the
/// machine.
pub fn parse_loopback(host: &str) -> Result<IpAddr, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let ip = if bare.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        bare.parse::<IpAddr>()
            .map_err(|_| format!("--host must be a loopback IP address, not `{host}`"))?
    };
    if !ip.is_loopback() {
        return Err(format!("refusing non-loopback target `{host}`"));
    }
    Ok(ip)
}

pub use client::{HttpAnswer, LineClient, http_get, http_request};
pub use dns::DnsServer;
pub use server::{Ports, Server, free_port, free_ports, listen_on_free_port, run_cli, wait_until};
pub use submit::submit;
