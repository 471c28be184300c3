//! Listening and connections: the supervised `Listener` actor per bound address, the
//! `ListenerSet` that applies listener changes from a reload (bind new, then close old), the
//! connection limits, the round-robin arbiter pool that sessions run on, the session socket
//! (plain or TLS), and the output a session writes into.
//!
//! Nothing here knows a protocol: a protocol plugs in through [`Protocol`].

mod accounts;
mod arbiters;
mod connection;
pub(crate) mod listener;
mod listener_set;
mod output;
pub mod proxy_header;
mod socket;
mod tracker;

pub use accounts::{AccountGuard, AccountSessions};
pub use arbiters::Arbiters;
pub use connection::{Connection, Protocol, Stream, run_in_span};
pub use listener::Listener;
pub use listener_set::{Abort, Apply, Bound, CloseAll, Commit, ListenerSet, Prepare, Protocols};
pub use output::{Output, SocketSink};
pub use socket::{READ_CHUNK, Socket};
pub use tracker::{ConnectionGuard, ConnectionTracker, Refusal, SessionInfo};

#[cfg(test)]
mod tests;
