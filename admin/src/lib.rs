//! Everything mailroom speaks over HTTP: the `/healthz` endpoint on the `admin` listener,
//! client autoconfiguration ([`autoconfig`]), the DNS records a domain should publish with
//! their live check ([`dns_records`]), and the signed webhook POSTs of delivery events
//! ([`webhooks`]); the panel, JSON API and metrics come with the admin issue.
//!
//! This crate must not depend on `smtp`, `imap` or `pop3`; it reaches other parts of the
//! server only through messages (`shared::msg`, the store's messages, `ConfigWatcher`).

pub mod autoconfig;
pub mod dns_records;
mod health;
mod server;
pub mod webhooks;

pub use server::{AdminServer, StopAdmin};
pub use webhooks::Webhooks;
