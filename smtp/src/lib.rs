//! SMTP for mailroom: the MX listener (`smtp`) and the submission listeners.
//!
//! Layers: `proto` (bytes to commands, reply texts; no I/O), `session` (the RFC 5321 state
//! machine, sans-I/O), `policy` (SPF, DKIM, ARC, DMARC, DNSBL and the verdict on a message;
//! the greylist and spam-scoring actors), `actor` (plugging sessions into the shared listener
//! machinery and running the policy checks the session asks for), `outbound` (the queue actor
//! that delivers submitted mail to other servers, with retries and DSNs).
//! This crate must not depend on `imap`, `pop3` or `admin`.
//!
//! Submission (RFC 6409) shares the session with the MX role: AUTH over TLS, the sender
//! checks, and the hand-off of remote recipients to the outbound queue.

pub mod actor;
pub mod dkim;
pub mod outbound;
pub mod policy;
pub mod proto;
pub mod session;

pub use actor::{Policy, SendRate, Smtp};
