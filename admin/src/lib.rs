//! Everything mailroom speaks over HTTP: on the `admin` listener the JSON API under
//! `/api/v1` ([`api`]), the admin panel, `/healthz`, client autoconfiguration
//! ([`autoconfig`]) and the DNS records a domain should publish with their live check
//! ([`dns_records`]); and the signed webhook POSTs of delivery events ([`webhooks`]).
//!
//! This crate must not depend on `smtp`, `imap` or `pop3`; it reaches other parts of the
//! server only through messages (`shared::msg`, the store's messages, `ConfigWatcher`).

mod api;
mod auth;
pub mod autoconfig;
mod context;
mod control;
pub mod dns_records;
mod error;
mod health;
mod metrics;
pub mod mta_sts;
mod pages;
mod server;
mod sessions;
pub mod webhooks;

pub use context::AdminDeps;
pub use control::ControlAccess;
pub use server::{AdminServer, StopAdmin};
pub use webhooks::Webhooks;
