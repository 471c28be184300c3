//! Requests about the outbound queue: submission, the due messages, delivery attempts and
//! the queue commands of the CLI and API.

use actix::Message;
use mailroom_shared::events::EventData;
pub use mailroom_shared::queue::{QueueAdmin, QueueReply, QueueRequest};

use crate::error::StoreError;
use crate::outbound::{DsnRet, OutboundRecipient, Submitted};
pub use crate::outbound::{DueQueue, RecordAttempts};

/// A submitted message accepted in ONE transaction: stored in the Inboxes of `local`
/// accounts and queued for each of `remote`. Sent by the submission session before its 250;
/// handled by the store, which then publishes `QueueChanged` so the `OutboundQueue` actor
/// starts at once. `Ok` means durable.
#[derive(Message)]
#[rtype(result = "Result<Submitted, StoreError>")]
pub struct Submit {
    /// Envelope reverse-path, "" = null sender (never bounced).
    pub sender: String,
    /// The submitting account: DSNs go to its Inbox.
    pub account_id: i64,
    /// Local accounts (duplicates ignored), may be empty.
    pub local: Vec<i64>,
    /// Remote recipients, may be empty (then it is a plain local delivery).
    pub remote: Vec<OutboundRecipient>,
    /// Final bytes (already DKIM-signed, trace fields added).
    pub raw: Vec<u8>,
    /// RFC 3461 RET=FULL|HDRS.
    pub ret: Option<DsnRet>,
    /// RFC 3461 ENVID (xtext-decoded).
    pub envid: Option<String>,
    /// Logged in the same transaction.
    pub event: Option<EventData>,
}

impl std::fmt::Debug for Submit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Submit")
            .field("sender", &self.sender)
            .field("account_id", &self.account_id)
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("size", &self.raw.len())
            .field("ret", &self.ret)
            .field("envid", &self.envid)
            .finish()
    }
}

/// An outbound queue command (list, retry, delete, hold, release) from the CLI or the panel,
/// with the store's error; [`QueueAdmin`] is the same with the error as text.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<QueueReply, StoreError>")]
pub struct QueueCommand(pub QueueRequest);
