//! The end-to-end harness: starts the real `mailroom` binary on ephemeral loopback ports with
//! a temporary data directory, waits until its listeners accept, and gives tests helpers to
//! run CLI commands, send signals and talk to each port (plain or TLS).
//!
//! It never sleeps and hopes: every wait polls for a condition under a deadline.

mod client;
mod server;

pub use client::{LineClient, http_get};
pub use server::{Ports, Server, free_port, free_ports, run_cli, wait_until};
