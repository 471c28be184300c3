//! POP3 for mailroom: the `pop3` and `pop3s` listeners.
//!
//! Layers: `proto` (reply texts), `session` (the RFC 1939 state machine, sans-I/O), `actor`
//! (plugging sessions into the listeners). Must not depend on `smtp`, `imap` or `admin`.
//!
//! State of this crate: greeting, CAPA, QUIT, timeouts and drain. Login and the maildrop come
//! with the POP3 issue.

pub mod actor;
pub mod proto;
pub mod session;

pub use actor::Pop3;
