//! IMAP for mailroom: the `imap` (STARTTLS) and `imaps` (implicit TLS) listeners, serving
//! IMAP4rev2 (RFC 9051) and IMAP4rev1 (RFC 3501) with the extensions real clients use.
//!
//! Layers: `proto` (wire texts and encoding; commands are decoded by imap-codec), `names`
//! (mailbox names: modified UTF-7, LIST matching), `search` (SEARCH evaluation, ESEARCH),
//! `fetch` (FETCH rendering from the stored metadata and raw messages), `session` (the state
//! machine), `actor` (the connection driver).
//! This crate must not depend on `smtp`, `pop3` or `admin`.

pub mod actor;
pub mod fetch;
pub mod names;
pub mod proto;
pub mod search;
pub mod session;

pub use actor::Imap;
