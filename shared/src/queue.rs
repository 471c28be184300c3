//! Queue administration: the requests an admin makes about the outbound queue (list, retry
//! now, delete, hold, release) and the row view they see. Sent by the admin panel (and made
//! by the CLI directly on the database); handled by the store, which owns the queue tables.
//! The outbound queue actor notices a change within its poll interval.
//!
//! Here in `shared` so that `admin` need not depend on `smtp` or `store` internals.

use actix::Message;
use serde::{Deserialize, Serialize};

/// What to do. `Retry`, `Delete`, `Hold` and `Release` name a queued message (all its
/// recipients not yet delivered or failed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum QueueRequest {
    /// Every recipient still in the queue, oldest message first.
    List,
    /// Try the message's queued (or held) recipients now.
    Retry(i64),
    /// Try every queued (not held) recipient now.
    RetryAll,
    /// Drop the message from the queue without a DSN.
    Delete(i64),
    /// Keep the message's recipients from being tried until released.
    Hold(i64),
    /// Let held recipients be tried again, now.
    Release(i64),
}

/// One recipient of a queued message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueRow {
    /// The queued message (the id the other requests take).
    pub message_id: i64,
    /// The recipient's row.
    pub recipient_id: i64,
    /// Envelope sender; empty for the null sender.
    pub sender: String,
    /// The recipient address.
    pub recipient: String,
    /// `queued` or `held`.
    pub status: String,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When the next attempt is due, unix seconds.
    pub next_attempt: i64,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// When the message was queued, unix seconds.
    pub created: i64,
    /// Size of the message in octets.
    pub size: u64,
}

/// The answer to a [`QueueRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum QueueReply {
    /// For `List`.
    Rows(Vec<QueueRow>),
    /// For the others: how many recipient rows changed (0 = no such message, or nothing to do).
    Changed(u64),
}

/// Ask the store about the queue. Sent by the admin panel; handled by `MailboxStore`. The
/// error is the store's message (the admin shows it as is).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<QueueReply, String>")]
pub struct QueueAdmin(pub QueueRequest);

/// There is new work in the outbound queue. Published by `MailboxStore` once a submission
/// (or a queue change an admin made through the store) is durable; handled by the
/// `OutboundQueue` actor, which then scans for due rows without waiting for its next poll.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct QueueChanged;
