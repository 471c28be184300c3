//! Everything mailroom speaks over HTTP: the `/healthz` endpoint on the `admin` listener and
//! the signed webhook POSTs of delivery events ([`webhooks`]); the panel, JSON API and
//! metrics come with the admin issue.
//!
//! This crate must not depend on `smtp`, `imap` or `pop3`; it reaches other parts of the
//! server only through messages (`shared::msg`, the store's messages, `ConfigWatcher`).

mod health;
mod metrics;
mod server;
pub mod webhooks;

pub use server::{AdminServer, StopAdmin};
pub use webhooks::Webhooks;
