//! SMTP for mailroom: the MX listener (`smtp`) and the submission listeners.
//!
//! Layers: `proto` (bytes to commands, reply texts; no I/O), `session` (the RFC 5321 state
//! machine, sans-I/O), `policy` (SPF, DKIM, ARC, DMARC, DNSBL and the verdict on a message;
//! the greylist and spam-scoring actors), `actor` (plugging sessions into the shared listener
//! machinery and running the policy checks the session asks for).
//! This crate must not depend on `imap`, `pop3` or `admin`.
//!
//! State of this crate: greeting, EHLO/HELO, NOOP, RSET, QUIT, timeouts and drain. Mail
//! transactions (MAIL/RCPT/DATA, ESMTP extensions, delivery) come with the SMTP receiving issue.

pub mod actor;
pub mod dkim;
pub mod policy;
pub mod proto;
pub mod session;

pub use actor::{Policy, Smtp};
