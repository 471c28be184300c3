//! Messages shared between crates: commands are verbs, events past tense. Each says who sends
//! it and who handles it. Protocol crates meet only here and in the store's messages.

use actix::Message;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::snapshot::Snapshot;

/// A new configuration is in force. Published by `ConfigWatcher` after a successful reload;
/// handled by listeners (new sessions get the new snapshot) and anyone caching config.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct ConfigChanged(pub Arc<Snapshot>);

/// What changed in a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MailboxChange {
    /// Messages were added (delivery, APPEND, COPY, MOVE target).
    Added,
    /// Flags or keywords changed.
    Flags,
    /// Messages were expunged (EXPUNGE, MOVE source).
    Expunged,
    /// The mailbox was created, renamed, deleted or (un)subscribed.
    Mailbox,
}

/// A mailbox changed. Published by `MailboxStore` after the change is durable; handled by IMAP
/// sessions (IDLE, untagged updates) and webhooks. Crosses to the other nodes of a cluster
/// (`shared::cluster`), so its fields are serialisable.
#[derive(Message, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct MailboxChanged {
    /// The account that owns the mailbox.
    pub account_id: i64,
    /// The mailbox.
    pub mailbox_id: i64,
    /// What kind of change.
    pub change: MailboxChange,
    /// HIGHESTMODSEQ of the mailbox after the change.
    pub modseq: u64,
}

/// An account was removed (from the panel, the API or the CLI). Published by `MailboxStore`
/// once the removal is durable; handled by the `ListenerSet`, which ends the account's open
/// sessions (IMAP `* BYE`, POP3 `-ERR`, SMTP `421`), so nobody keeps using an account that
/// is gone. Crosses to the other nodes of a cluster (`shared::cluster`), whose sessions of the
/// account end too.
#[derive(Message, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct AccountRemoved {
    /// The account's id.
    pub account_id: i64,
    /// Its address, as sessions record their login.
    pub address: String,
}

/// A message was delivered to local recipients. Published by `MailboxStore`; handled by
/// policy actors (spam learning, webhooks).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct MessageDelivered {
    /// Accounts that received it.
    pub account_ids: Vec<i64>,
    /// Size in octets.
    pub size: u64,
}

/// Move the HTTP server to the `admin` addresses of `0`, starting the new one before stopping
/// the old. Sent by `ConfigWatcher` during a reload, after the protocol listeners moved;
/// handled by the admin server. On error nothing moved, and the text names the address.
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct RebindHttp(pub Arc<Snapshot>);

/// What an admin does to a greylist entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GreylistAction {
    /// Delete it: the next attempt of the triplet starts a new round.
    Delete,
    /// Let it through now: it passes as if retried in time, and stays passed until it has
    /// been quiet for the configured expiry.
    Whitelist,
}

/// Change one greylist entry (client network, reverse-path, recipient, as the greylist
/// lists them). Sent by the admin API and panel; handled by the `Greylist` actor, which holds
/// the entries and changes its memory and the store together. `Ok(false)`: no such entry.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
#[rtype(result = "Result<bool, String>")]
pub struct EditGreylist {
    /// The client network (`192.0.2.0/24`, `2001:db8::/64`).
    pub net: String,
    /// The reverse-path; empty for `<>`.
    pub sender: String,
    /// The recipient.
    pub recipient: String,
    /// What to do.
    pub action: GreylistAction,
}
