//! The mailbox store: accounts, domains, aliases, mailboxes and messages.
//!
//! The [`MailboxStore`] actor is the only way into the store, for the protocol crates, the
//! outbound queue, the admin panel, the API and the CLI alike: one write path. Layers, one
//! way: [`requests`] and value types ([`types`], [`mime`], [`outbound`], [`spam`],
//! [`greylist`], [`dkim`]) ← the engine's role traits ([`engine`]) ← the engines (the
//! embedded one in `sqlite/`) ← the [`actor`] and [`open()`], which picks the engine. Nothing
//! above an engine names its types. The embedded engine keeps metadata and small bodies in
//! SQLite (WAL) and each larger body in one content-addressed file under the data directory.
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
mod admin;
mod common;
pub mod dkim;
pub mod engine;
pub mod error;
pub mod fatal;
pub mod greylist;
pub mod migrate;
pub mod mime;
mod open;
pub mod outbound;
mod postgres;
pub mod requests;
pub mod spam;
mod sqlite;
mod table_rows;
pub mod types;

pub use actor::MailboxStore;
pub use admin::StoreAdmin;
pub use error::StoreError;
pub use open::{node_name, open, open_beside_server, start};
pub use outbound::{DsnRet, Notify, OutboundRecipient, Submitted};
pub use types::*;
