//! The cluster bridge: carries the bus messages that concern the shared store between the
//! nodes of one deployment over a Redis pub/sub channel (`[cluster] redis`), so that mail
//! delivered on node A wakes an IDLE session on node B at once.
//!
//! What crosses, and why (everything else stays on its node):
//! - `MailboxChanged`: IMAP sessions on every node watch the same mailboxes (the store is
//!   shared), so a change made anywhere must reach their IDLE and untagged updates.
//! - `AccountRemoved`: the account's sessions on every node must end.
//! - Not `EventRecorded`: its subscribers act once per event on shared state — webhooks
//!   post it (the event log is shared, so each event must go out once), the spam scorer
//!   trains the account's shared classifier on `MessageMoved`, the greylist writes the
//!   delivered triplets. Republished on every node, each would happen N times. The greylist
//!   instead reads the shared store when it is shared (see `smtp::policy::greylist`).
//! - Not `ConfigChanged` (each node has its own file and reload), `QueueChanged` (the node
//!   that queued mail delivers it; the others take over only expired leases, on their
//!   timer), `MessageDelivered` (local metrics).
//!
//! Loops: a message is published to Redis only when it was published on this node's bus by
//! someone else; what the bridge hears from Redis it republishes with
//! [`crate::bus::Bus::publish_except`] itself, and it skips what its own process sent
//! (Redis hands a publisher's messages back to its subscription), by an origin drawn at start.
//!
//! Redis going away never blocks the bus or a session: outgoing messages wait in a bounded
//! queue (retried with back-off, so a short outage delays them; what does not fit is
//! dropped), and the subscription reconnects with back-off. Pub/sub keeps nothing for a
//! subscriber that is away, so what was published while a node was not subscribed is not
//! pushed to it later. Each loss and each recovery is logged once. Until Redis is back, sessions on
//! other nodes see changes made here at their next command (IMAP NOOP, a new IDLE, POP3
//! reconnect) — nothing is lost, since the data is in the store; only the push is.
//!
//! Beside the bridge, [`Counters`]: sliding-window counters in Redis for the limits that
//! must hold across nodes and live too briefly for the store (submission rate).
//!
//! This module knows Redis and the bus, no store and no protocol.

mod bridge;
mod counters;
mod wire;

pub use bridge::{ClusterBridge, ClusterError, DEFAULT_CHANNEL, Settings, Subscription};
pub use counters::{Counters, CountersDown};
pub use wire::{Crossing, Envelope, Origin};
