//! IMAP for mailroom: the `imap` and `imaps` listeners.
//!
//! Layers: `proto` (reply texts; the command codec will be imap-codec's), `session` (the
//! RFC 9051 state machine, sans-I/O), `actor` (plugging sessions into the listeners).
//! This crate must not depend on `smtp`, `pop3` or `admin`.
//!
//! State of this crate: greeting, CAPABILITY, NOOP, LOGOUT, timeouts and drain. Login,
//! mailboxes and messages come with the IMAP issue.

pub mod actor;
pub mod fetch;
pub mod names;
pub mod proto;
pub mod search;
pub mod session;

pub use actor::Imap;
