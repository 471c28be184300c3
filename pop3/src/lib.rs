//! POP3 for mailroom: the `pop3` (STLS) and `pop3s` (implicit TLS) listeners, serving RFC
//! 1939 with CAPA and response codes (RFC 2449, RFC 3206), STLS (RFC 2595) and SASL AUTH
//! PLAIN/LOGIN (RFC 5034). The maildrop is the account's INBOX; UIDL values are its IMAP
//! identities (`<UIDVALIDITY>.<UID>`).
//!
//! Layers: `proto` (command parsing, line splitting, reply texts, dot-stuffing; no I/O),
//! `session` (the state machine, sans-I/O but for its questions to the store), `actor`
//! (plugging sessions into the listeners: socket, TLS, timers, drain).
//! This crate must not depend on `smtp`, `imap` or `admin`.

pub mod actor;
pub mod proto;
pub mod session;

pub use actor::Pop3;
