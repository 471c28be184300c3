//! Everything mailroom speaks over HTTP: for now the `/healthz` endpoint on the `admin`
//! listener; the panel, JSON API, metrics and webhooks come with the admin issue.
//!
//! This crate must not depend on `smtp`, `imap` or `pop3`; it reaches other parts of the
//! server only through messages (`shared::msg`, the store's messages, `ConfigWatcher`).

mod health;
mod server;

pub use server::{AdminServer, StopAdmin};
