//! The mailroom server as a library: [`run`] starts every part of it in dependency order and
//! drains it when told to. The `mailroom` binary calls it with the SIGTERM/SIGINT future; the
//! tests call it in-process with a future of their own. Nothing here parses a command line
//! or installs signal handlers: that is `main`'s.

pub mod control_file;
mod serve;

pub use serve::{ServeConfig, ServeError, run};
