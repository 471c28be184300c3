//! What every mailroom protocol needs: the event bus, shared messages and delivery events, TLS acceptors,
//! the login guard, password hashing, SASL decoding and secrets, addresses, listeners with connection limits, the metrics
//! registry, the budget for message data in memory and the body spool, the reload and
//! shutdown machinery, and tracing setup.
//!
//! This crate knows no protocol and no storage; it depends only on `config`.

pub mod address;
pub mod bus;
pub mod civil;
pub mod cluster;
pub mod dns;
pub mod events;
pub mod fsutil;
pub mod inflight;
pub mod login_guard;
pub mod metrics;
pub mod msg;
pub mod net;
pub mod password;
pub mod queue;
pub mod reload;
pub mod sasl;
pub mod secret;
pub mod shutdown;
pub mod signals;
pub mod snapshot;
pub mod spool;
pub mod telemetry;
pub mod tls;

pub use secret::Secret;
