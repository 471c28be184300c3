//! Outbound delivery: the [`OutboundQueue`] actor and its parts. `reply` (the SMTP client's
//! reply parser) and `schedule` (when to retry) are sans-I/O; `mx` orders MX answers and asks
//! the resolver; `mta_sts` parses, fetches and caches RFC 8461 policies; `client` speaks SMTP to one host; `dsn` builds RFC 3464 reports.
//!
//! This module must not accept mail (that is the session's) nor touch the queue tables other
//! than through the store's messages.

pub mod actor;
pub mod client;
pub mod dsn;
pub mod mta_sts;
pub mod mx;
pub mod reply;
pub mod schedule;

pub use actor::{OutboundQueue, StopQueue};

#[cfg(test)]
mod tests;
