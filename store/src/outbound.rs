//! The outbound queue's data: recipients with their RFC 3461 DSN parameters, queued messages
//! as the queue actor reads them, and the results it records. The messages here are sent by
//! the `OutboundQueue` actor (smtp crate) and handled by `MailboxStore`;
//! [`crate::requests::Submit`] puts mail into the queue.
//!
//! Invariant: a recipient row leaves `queued` only by a [`RecordAttempts`] that commits, and
//! the queue reads only `queued` rows, so a recipient recorded as delivered is never sent
//! again, across restarts too.

use std::sync::Arc;

use actix::Message;

use crate::error::StoreError;

/// One remote recipient of a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRecipient {
    /// The address, without angle brackets.
    pub address: String,
    /// When the sender wants a DSN.
    pub notify: Notify,
    /// RFC 3461 §4.2 ORCPT, as given (`rfc822;user@example.org`), echoed in DSNs.
    pub orcpt: Option<String>,
}

/// RFC 3461 §4.1 NOTIFY: `never`, or any of success/failure/delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notify {
    /// `NEVER`: no DSN at all.
    pub never: bool,
    /// A DSN on delivery.
    pub success: bool,
    /// A DSN on permanent failure or expiry.
    pub failure: bool,
    /// A DSN once when delivery is delayed.
    pub delay: bool,
}

impl Default for Notify {
    /// RFC 3461 §4.1: without NOTIFY, behave as `FAILURE,DELAY`.
    fn default() -> Self {
        Self {
            never: false,
            success: false,
            failure: true,
            delay: true,
        }
    }
}

impl Notify {
    /// Parse the NOTIFY value: `NEVER` alone, or a comma list of SUCCESS, FAILURE, DELAY
    /// (RFC 3461 §4.1; case-insensitive, no repeats).
    pub fn parse(value: &str) -> Result<Notify, StoreError> {
        let bad = || StoreError::Invalid(format!("bad NOTIFY value `{value}`"));
        let mut n = Notify {
            never: false,
            success: false,
            failure: false,
            delay: false,
        };
        let words: Vec<&str> = value.split(',').collect();
        for word in &words {
            let slot = match word.to_ascii_uppercase().as_str() {
                // RFC 3461 §4.1: NEVER must not be combined with the others.
                "NEVER" if words.len() == 1 => &mut n.never,
                "SUCCESS" => &mut n.success,
                "FAILURE" => &mut n.failure,
                "DELAY" => &mut n.delay,
                _ => return Err(bad()),
            };
            if *slot {
                return Err(bad());
            }
            *slot = true;
        }
        Ok(n)
    }

    /// The stored form: a bit mask (1 never, 2 success, 4 failure, 8 delay).
    pub fn bits(self) -> i64 {
        i64::from(self.never)
            | i64::from(self.success) << 1
            | i64::from(self.failure) << 2
            | i64::from(self.delay) << 3
    }

    /// Back from [`Notify::bits`].
    pub fn from_bits(bits: i64) -> Notify {
        Notify {
            never: bits & 1 != 0,
            success: bits & 2 != 0,
            failure: bits & 4 != 0,
            delay: bits & 8 != 0,
        }
    }
}

/// RFC 3461 §4.3 RET: what a DSN carries of the original message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnRet {
    /// The whole message.
    Full,
    /// Only its header.
    Headers,
}

impl DsnRet {
    /// Parse the RET value (`FULL` or `HDRS`, case-insensitive).
    pub fn parse(value: &str) -> Result<DsnRet, StoreError> {
        match value.to_ascii_uppercase().as_str() {
            "FULL" => Ok(DsnRet::Full),
            "HDRS" => Ok(DsnRet::Headers),
            _ => Err(StoreError::Invalid(format!("bad RET value `{value}`"))),
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DsnRet::Full => "full",
            DsnRet::Headers => "hdrs",
        }
    }

    pub(crate) fn from_stored(text: &str) -> Option<DsnRet> {
        match text {
            "full" => Some(DsnRet::Full),
            "hdrs" => Some(DsnRet::Headers),
            _ => None,
        }
    }
}

/// What a [`crate::requests::Submit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The local copies, one per local account.
    pub delivered: Vec<crate::types::Delivered>,
    /// The queue row id of each remote recipient, in the order given.
    pub queued: Vec<i64>,
}

/// A queued message with its recipients that are due, as [`DueQueue`] returns it.
#[derive(Debug, Clone)]
pub struct QueuedMessage {
    /// The message's queue id.
    pub id: i64,
    /// The submitting account (its Inbox gets the DSNs); `None` once the account is gone.
    pub account_id: Option<i64>,
    /// Envelope sender; empty = null sender (never bounced).
    pub sender: String,
    /// RET of the submission.
    pub ret: Option<DsnRet>,
    /// ENVID of the submission.
    pub envid: Option<String>,
    /// When it was queued, unix seconds.
    pub created: i64,
    /// The message.
    pub body: Arc<[u8]>,
    /// Its due recipients.
    pub recipients: Vec<QueuedRecipient>,
}

/// One due recipient of a [`QueuedMessage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRecipient {
    /// The row id.
    pub id: i64,
    /// The address.
    pub address: String,
    /// Its domain, lowercase (what the MX lookup asks about).
    pub domain: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// NOTIFY.
    pub notify: Notify,
    /// ORCPT.
    pub orcpt: Option<String>,
    /// Whether a "delayed" DSN was already sent for it.
    pub delay_notified: bool,
}

/// Queued messages with recipients due at `now` (status `queued`, next attempt reached),
/// oldest first, at most `limit` messages, leaving out those in `exclude` (in flight).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<QueuedMessage>, StoreError>")]
pub struct DueQueue {
    /// Unix seconds.
    pub now: i64,
    /// Most messages.
    pub limit: usize,
    /// Message ids to skip.
    pub exclude: Vec<i64>,
    /// How long the recipients returned stay this node's, on an engine whose queue several
    /// nodes share (`outbound.lease_secs`); the embedded engine has one node and ignores it.
    pub lease_secs: i64,
}

/// What happened to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// The destination took it (its reply). The row leaves the queue.
    Delivered(String),
    /// A temporary failure: try again at `next_attempt` (unix seconds).
    Deferred {
        /// Why.
        error: String,
        /// When to retry.
        next_attempt: i64,
        /// A "delayed" DSN went out with this record.
        delay_notified: bool,
    },
    /// A permanent failure or expiry. The row leaves the queue.
    Failed(String),
}

/// Record the results of delivery attempts, and deliver the DSN they produced, in one
/// transaction: a DSN exists exactly when its results are recorded. Messages left without a
/// queued or held recipient are removed from the queue.
#[derive(Message, Clone)]
#[rtype(result = "Result<(), StoreError>")]
pub struct RecordAttempts {
    /// (recipient row id, result).
    pub results: Vec<(i64, AttemptResult)>,
    /// DSNs to deliver: (account id, message). The account's INBOX gets each.
    pub dsns: Vec<(i64, Arc<[u8]>)>,
}

impl std::fmt::Debug for RecordAttempts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordAttempts")
            .field("results", &self.results)
            .field("dsns", &self.dsns.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_parses_per_rfc_3461() {
        let n = Notify::parse("success,Delay").expect("parse");
        assert!(n.success && n.delay && !n.failure && !n.never);
        assert!(Notify::parse("NEVER").expect("never").never);
        // RFC 3461 §4.1: NEVER stands alone; words are not repeated.
        assert!(Notify::parse("NEVER,SUCCESS").is_err());
        assert!(Notify::parse("SUCCESS,SUCCESS").is_err());
        assert!(Notify::parse("").is_err());
        assert!(Notify::parse("sometimes").is_err());
        let d = Notify::default();
        assert!(d.failure && d.delay && !d.success);
        for n in [n, d, Notify::parse("NEVER").expect("never")] {
            assert_eq!(Notify::from_bits(n.bits()), n);
        }
        assert_eq!(DsnRet::parse("hdrs").expect("hdrs"), DsnRet::Headers);
        assert!(DsnRet::parse("some").is_err());
    }
}
