//! The store's part of spam scoring: what the `SpamScorer` actor (smtp crate) asks of it.
//! Per-account Bayesian token counts and trained-message totals, the record of which message
//! trained which class (so retraining moves a message instead of counting it twice), and the
//! scorer's decisions, kept so the admin can show why a message was filed where it was.
//!
//! Tokens arrive already hashed (64-bit, by the scorer's tokenizer): the store never sees
//! message words in its spam tables, and a lookup is one integer primary key.

use actix::Message;
use std::collections::HashMap;

use crate::error::StoreError;

/// Which way a message trains the classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpamClass {
    /// Moved into Junk.
    Spam,
    /// Moved out of Junk.
    Ham,
}

impl SpamClass {
    /// As stored in `bayes_trained.class`.
    pub fn as_str(self) -> &'static str {
        match self {
            SpamClass::Spam => "spam",
            SpamClass::Ham => "ham",
        }
    }

    /// The other class.
    pub fn other(self) -> Self {
        match self {
            SpamClass::Spam => SpamClass::Ham,
            SpamClass::Ham => SpamClass::Spam,
        }
    }
}

/// One account's classifier state for the tokens asked about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BayesCounts {
    /// Messages trained as spam so far.
    pub spam_messages: u64,
    /// Messages trained as ham so far.
    pub ham_messages: u64,
    /// (spam, ham) message counts per token hash; tokens never seen are left out.
    pub tokens: HashMap<i64, (u64, u64)>,
}

/// What a [`TrainBayes`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trained {
    /// First training of this message for this account.
    New,
    /// The message had trained the other class; its counts moved over.
    Moved,
    /// The message had already trained this class; nothing changed.
    Unchanged,
}

/// The classifier counts of `tokens` for each of `account_ids`, in one read. Sent by the
/// `SpamScorer` for each message it scores. Unknown accounts get empty counts. The result is
/// in the order of `account_ids`.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<(i64, BayesCounts)>, StoreError>")]
pub struct ReadBayes {
    /// The recipients.
    pub account_ids: Vec<i64>,
    /// Token hashes of the message.
    pub tokens: Vec<i64>,
}

/// Train one message for one account, in one group-commit write: add one to `class` for each
/// token, and one to the account's trained total. A message (named by its body's blob hash)
/// trains each account at most once: trained the same way again nothing changes; trained the
/// other way its earlier counts (the token list stored with it, not `tokens`) are taken from
/// the old class and it counts for the new one. Sent by the `SpamScorer` on `MessageMoved`.
///
/// Errors: `NotFound` for an unknown account.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Trained, StoreError>")]
pub struct TrainBayes {
    /// The account whose classifier learns.
    pub account_id: i64,
    /// The message's blob hash (`MessageMoved::blobs`).
    pub blob: String,
    /// Spam or ham.
    pub class: SpamClass,
    /// The message's token hashes; duplicates are ignored.
    pub tokens: Vec<i64>,
}

/// One recipient's spam decision about one delivered message, for the admin to show.
#[derive(Debug, Clone, PartialEq)]
pub struct SpamDecision {
    /// The recipient.
    pub account_id: i64,
    /// Where the message was stored (from `Delivered`): the store keys the decision by the
    /// stored body, so it stays with the message when it is moved.
    pub mailbox_id: i64,
    /// Its UID there.
    pub uid: u32,
    /// The recipient's total score.
    pub score: f64,
    /// `inbox` or `junk`.
    pub action: String,
    /// The rules that fired, as JSON (`[{"name", "score", "detail"}]`), Bayes included.
    pub rules_json: String,
}

/// Keep the decisions made about delivered messages, in one write. Sent by the SMTP session
/// after `Deliver` succeeded (it has the UIDs then); a later decision about the same message
/// and account replaces the earlier. Entries whose message is gone meanwhile are skipped.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), StoreError>")]
pub struct RecordSpamDecisions {
    /// The decisions.
    pub decisions: Vec<SpamDecision>,
}

/// A kept decision, as the admin shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSpamDecision {
    /// Total score.
    pub score: f64,
    /// `inbox` or `junk`.
    pub action: String,
    /// The rules that fired, as JSON.
    pub rules_json: String,
    /// When it was decided, unix seconds.
    pub at: i64,
}

/// The decision kept for a message, if any. Sent by the admin panel.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Option<StoredSpamDecision>, StoreError>")]
pub struct FetchSpamDecision {
    /// The account (must own the mailbox).
    pub account_id: i64,
    /// The mailbox.
    pub mailbox_id: i64,
    /// The message.
    pub uid: u32,
}

/// Which of `domains` this server hosts (compared in lowercase, a trailing dot ignored),
/// in the order given. Sent by the `SpamScorer` to tell a forged local sender.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<String>, StoreError>")]
pub struct HostedDomains {
    /// Domains to look up; at most a few.
    pub domains: Vec<String>,
}

/// A body by its blob hash, if the account has a message with that body. Sent by the
/// `SpamScorer` to read a moved message (`MessageMoved` names blobs, not UIDs).
///
/// Errors: `NotFound` if no message of the account has that body (another account's message
/// is not found either).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<std::sync::Arc<[u8]>, StoreError>")]
pub struct FetchBlob {
    /// The account.
    pub account_id: i64,
    /// The blob hash.
    pub blob: String,
}
