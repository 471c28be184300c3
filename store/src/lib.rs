//! The mailbox store: accounts, domains, aliases, mailboxes and messages.
//!
//! The [`MailboxStore`] actor is the only way into mailbox data for the protocol crates; the
//! synchronous [`Admin`] API is the only other one, for the CLI and the admin server (on its
//! blocking pool; domains, accounts, aliases, tokens). The embedded backend keeps
//! metadata and small bodies in SQLite (WAL) and each larger body in one content-addressed
//! file under the data directory.
//!
//! Invariants, which every change here must keep:
//! - **Acknowledged = durable.** A write returns `Ok` only after the transaction referencing
//!   its body (and, for a body kept as a file, the file and its directory) is fsynced. Throughput comes from group
//!   commit (many writes share one transaction and one sync), never from skipping the sync.
//! - **Nothing half-written is visible.** Body files appear only by rename after their fsync;
//!   rows appear only by COMMIT; a multi-recipient delivery or a MOVE is one transaction.
//!   A crash can leave an unreferenced body file, which is harmless and swept at next open.
//! - **A body delivered to many is stored once**, named by its SHA-256 and reference-counted.
//! - **One account never touches another's mailbox**: messages naming a mailbox id carry the
//!   account id and are refused for a mailbox it does not own.
//! - Events (`MailboxChanged`, `MessageDelivered`) are published only after the change is
//!   durable.
//!
//! This crate must not speak any protocol: it stores and answers, and the protocol crates map
//! its [`StoreError`] to their replies.

pub mod actor;
pub mod backend;
pub mod dkim;
pub mod error;
pub mod fatal;
pub mod greylist;
pub mod mime;
pub mod outbound;
pub mod spam;
pub mod sqlite;
pub mod types;

pub use actor::MailboxStore;
pub use error::StoreError;
pub use outbound::{DsnRet, Notify, OutboundRecipient, Submitted};
pub use sqlite::{Admin, SqliteBackend, blob_hash};
pub use types::*;
