//! Requests about mailboxes and messages: delivery, APPEND, selection, fetches, flags,
//! copies, moves, expunges and the mailbox tree.

use std::sync::Arc;

use actix::Message;
use mailroom_shared::events::EventData;

use crate::error::StoreError;
use crate::mime::MessageMeta;
use crate::types::{
    Appended, BodySource, ChangeSet, Delivered, FlagOp, FlagsResult, MailboxInfo, MessageInfo,
};

/// Store a received message in the INBOX of each recipient. Sent by SMTP sessions after DATA
/// (and by the local delivery of the outbound queue). All or nothing: if any recipient is
/// unknown or over quota, nobody gets it and the error says why (`QuotaExceeded` names the
/// full account); the caller may retry the others separately. `Ok` means durable — only then
/// answer `250`.
#[derive(Message, Clone)]
#[rtype(result = "Result<Vec<Delivered>, StoreError>")]
pub struct Deliver {
    /// Account ids from [`Resolution::Local`]; duplicates are ignored.
    pub recipients: Vec<i64>,
    /// Those of `recipients` whose copy goes to their Junk mailbox (special-use `\Junk`,
    /// RFC 6154) instead of INBOX: the inbound policy judged the message suspect. An account
    /// without a Junk mailbox gets it in INBOX. Ids not in `recipients` are ignored.
    pub junk: Vec<i64>,
    /// The whole message as received (with any trace headers the caller prepended).
    pub raw: Arc<[u8]>,
    /// INTERNALDATE, unix seconds; `None` = now.
    pub internal_date: Option<i64>,
    /// The event that describes this delivery (normally [`EventData::Delivered`]), logged by
    /// the same transaction as the delivery, so that a `250` never exists without its event
    /// and an event never without its mail. Published as `EventRecorded` once durable.
    pub event: Option<EventData>,
}

/// Add a message to a mailbox (IMAP APPEND). Sent by IMAP sessions, and by submission to
/// file a copy in Sent.
#[derive(Message, Clone)]
#[rtype(result = "Result<Appended, StoreError>")]
pub struct Append {
    /// The logged-in account.
    pub account_id: i64,
    /// Mailbox name (`INBOX` in any case). NotFound → IMAP `NO [TRYCREATE]`.
    pub mailbox: String,
    /// Bitmask of `FLAG_*`.
    pub flags: u8,
    /// Keywords (user flags).
    pub keywords: Vec<String>,
    /// INTERNALDATE, unix seconds; `None` = now.
    pub internal_date: Option<i64>,
    /// The message.
    pub raw: Arc<[u8]>,
}

/// The account's mailboxes with their counters. Sent by IMAP sessions (LIST, LSUB, STATUS)
/// and POP3 sessions.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<MailboxInfo>, StoreError>")]
pub struct ListMailboxes {
    /// The logged-in account.
    pub account_id: i64,
}

/// The names the account subscribes to that have no mailbox: a subscribed mailbox that was
/// deleted leaves its name subscribed (RFC 9051 §6.3.7), until UNSUBSCRIBE or until a
/// mailbox of that name is created again (which then carries the subscription). Sorted.
/// Sent by IMAP sessions (LSUB, LIST with SUBSCRIBED).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<String>, StoreError>")]
pub struct LostSubscriptions {
    /// The logged-in account.
    pub account_id: i64,
}

/// Open a mailbox: its counters and every message's UID, flags and MODSEQ. Sent by IMAP
/// sessions (SELECT/EXAMINE) and POP3 sessions (the INBOX, at login).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(MailboxInfo, Vec<MessageInfo>), StoreError>")]
pub struct Select {
    /// The logged-in account.
    pub account_id: i64,
    /// Mailbox name (`INBOX` in any case).
    pub name: String,
}

/// Stored ENVELOPE, BODYSTRUCTURE and search fields of messages. Sent by IMAP sessions for
/// FETCH and SEARCH. Missing UIDs are left out; the result is by ascending UID.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<(MessageInfo, Arc<MessageMeta>)>, StoreError>")]
pub struct FetchMeta {
    /// The logged-in account (must own the mailbox).
    pub account_id: i64,
    /// The mailbox.
    pub mailbox_id: i64,
    /// UIDs wanted.
    pub uids: Vec<u32>,
}

/// The raw message. Sent by IMAP sessions (FETCH BODY[]…) and POP3 sessions (RETR/TOP).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Arc<[u8]>, StoreError>")]
pub struct FetchBody {
    /// The logged-in account (must own the mailbox).
    pub account_id: i64,
    /// The mailbox.
    pub mailbox_id: i64,
    /// The message.
    pub uid: u32,
}

/// The raw messages of several UIDs at once, by ascending UID; missing UIDs are left out.
/// Sent by IMAP sessions for SEARCH keys that read the message (HEADER, BODY, TEXT) and for
/// FETCH of body sections over a range: one request instead of one per message.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<(u32, Arc<[u8]>)>, StoreError>")]
pub struct FetchBodies {
    /// The logged-in account (must own the mailbox).
    pub account_id: i64,
    /// The mailbox.
    pub mailbox_id: i64,
    /// The messages.
    pub uids: Vec<u32>,
}

/// The header blocks (up to and including the blank line) of several UIDs at once, by
/// ascending UID; missing UIDs are left out. Sent by IMAP sessions for SEARCH HEADER: a few
/// hundred octets per message read instead of the whole body.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<(u32, Arc<[u8]>)>, StoreError>")]
pub struct FetchHeaders {
    /// The logged-in account (must own the mailbox).
    pub account_id: i64,
    /// The mailbox.
    pub mailbox_id: i64,
    /// The messages.
    pub uids: Vec<u32>,
}

/// Change flags and keywords (IMAP STORE, POP3 DELE marks `\Deleted`). Sent by IMAP and
/// POP3 sessions. Each changed message gets a new MODSEQ (RFC 7162).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<FlagsResult, StoreError>")]
pub struct SetFlags {
    /// The logged-in account (must own the mailbox).
    pub account_id: i64,
    /// The mailbox.
    pub mailbox_id: i64,
    /// Messages to change; missing ones are ignored.
    pub uids: Vec<u32>,
    /// Add, remove or replace.
    pub op: FlagOp,
    /// Bitmask of `FLAG_*`.
    pub flags: u8,
    /// Keywords to add, remove or set.
    pub keywords: Vec<String>,
    /// RFC 7162 UNCHANGEDSINCE: skip (and report) messages with a greater MODSEQ.
    pub unchanged_since: Option<u64>,
}

/// Copy messages to another mailbox of the same account (IMAP COPY). Sent by IMAP sessions.
/// Returns (source UID, new UID) pairs by ascending source UID, for COPYUID (RFC 4315).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<(u32, u32)>, StoreError>")]
pub struct Copy {
    /// The logged-in account (must own both mailboxes).
    pub account_id: i64,
    /// Source mailbox.
    pub from: i64,
    /// Source UIDs; missing ones are ignored.
    pub uids: Vec<u32>,
    /// Target mailbox.
    pub to: i64,
}

/// Move messages (IMAP MOVE, RFC 6851): copy and expunge from the source in one atomic step.
/// Sent by IMAP sessions. Same result as [`Copy`].
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<(u32, u32)>, StoreError>")]
pub struct Move {
    /// The logged-in account (must own both mailboxes).
    pub account_id: i64,
    /// Source mailbox.
    pub from: i64,
    /// Source UIDs; missing ones are ignored.
    pub uids: Vec<u32>,
    /// Target mailbox.
    pub to: i64,
}

/// Remove messages flagged `\Deleted` (IMAP EXPUNGE/CLOSE/UID EXPUNGE, POP3 QUIT). Sent by
/// IMAP and POP3 sessions. Returns the expunged UIDs, ascending.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<u32>, StoreError>")]
pub struct Expunge {
    /// The logged-in account (must own the mailbox).
    pub account_id: i64,
    /// The mailbox.
    pub mailbox_id: i64,
    /// Only these UIDs (UID EXPUNGE, RFC 4315 §2.1); `None` = all flagged `\Deleted`.
    pub uids: Option<Vec<u32>>,
}

/// Create a mailbox (IMAP CREATE, RFC 9051 §6.3.4). Sent by IMAP sessions. The hierarchy
/// delimiter is `/`; one trailing `/` is ignored and missing superiors are created too
/// (`a/b/c` also makes `a` and `a/b`). Each new mailbox has a UIDVALIDITY never used before,
/// UIDNEXT 1, no special use, and is not subscribed unless its name still was from a deleted
/// mailbox (see [`LostSubscriptions`]). Returns the mailbox as LIST reports it.
///
/// Errors: `Invalid` for a bad name (see [`crate::types::mailbox_name`]); `Exists` if the
/// name is taken (INBOX in any case is); `NotFound` for an unknown account. Publishes
/// `MailboxChanged { change: Mailbox }` for every mailbox it created.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<MailboxInfo, StoreError>")]
pub struct CreateMailbox {
    /// The logged-in account.
    pub account_id: i64,
    /// The new name.
    pub name: String,
}

/// Delete a mailbox and its messages (IMAP DELETE, RFC 9051 §6.3.5). Sent by IMAP sessions.
/// Its inferiors (`name/child`) stay, and so does its subscription (see
/// [`LostSubscriptions`]). The messages go as EXPUNGE removes them: their space is
/// credited to the account and bodies no other message uses are removed. One transaction.
///
/// Errors: `Invalid("cannot delete INBOX")`; `NotFound` if the account has no such mailbox.
/// Publishes `MailboxChanged { change: Mailbox }` for the deleted mailbox (not `Expunged`:
/// its history is gone with it), with a MODSEQ above any it had; a session that has it
/// selected then gets `NotFound` from [`Changes`] and should end the selection.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), StoreError>")]
pub struct DeleteMailbox {
    /// The logged-in account.
    pub account_id: i64,
    /// The mailbox (`INBOX` in any case names INBOX).
    pub name: String,
}

/// Rename a mailbox and all its inferiors (IMAP RENAME, RFC 9051 §6.3.6): `a` → `b` also
/// renames `a/x` to `b/x`. Sent by IMAP sessions. Mailbox ids, UIDVALIDITY, messages,
/// special-use attributes and subscriptions stay with the mailboxes; missing superiors of `to`
/// are created. Renaming INBOX (any case) instead creates `to` (fresh UIDVALIDITY) and moves
/// every INBOX message into it (new UIDs, in UID order); INBOX stays, empty, and keeps its
/// inferiors. One transaction.
///
/// Errors: `NotFound` if `from` does not exist; `Exists` if `to` (or an inferior's new name)
/// does, and for `to` = INBOX; `Invalid` for a bad `to` (checked as for [`CreateMailbox`])
/// or a `to` inside `from`. Publishes `Mailbox` for every renamed or created mailbox, and
/// `Expunged` for INBOX when its messages moved out.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), StoreError>")]
pub struct RenameMailbox {
    /// The logged-in account.
    pub account_id: i64,
    /// The current name.
    pub from: String,
    /// The new name.
    pub to: String,
}

/// Subscribe to or unsubscribe from a mailbox (IMAP SUBSCRIBE/UNSUBSCRIBE, RFC 9051 §6.3.7,
/// §6.3.8); seen in [`MailboxInfo::subscribed`]. Sent by IMAP sessions.
///
/// A subscribed mailbox that is deleted leaves its name subscribed (see
/// [`LostSubscriptions`]); UNSUBSCRIBE of such a name removes it.
///
/// Errors: `NotFound` for SUBSCRIBE to a name with no mailbox (RFC 9051 §6.3.7 lets a server
/// check that the mailbox exists), and for UNSUBSCRIBE of a name that is neither a mailbox
/// nor subscribed. Publishes `Mailbox` when the flag of a mailbox actually changed.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), StoreError>")]
pub struct SetSubscribed {
    /// The logged-in account.
    pub account_id: i64,
    /// The mailbox (`INBOX` in any case).
    pub name: String,
    /// Subscribe (`true`) or unsubscribe.
    pub subscribed: bool,
}

/// What changed in a mailbox since `since_modseq`, without re-reading it all. Sent by IMAP
/// sessions after a `MailboxChanged` event for their selected mailbox and at NOOP/IDLE, with
/// the HIGHESTMODSEQ they last saw; also fits CONDSTORE/QRESYNC (RFC 7162) resynchronisation.
/// Every write (delivery, APPEND, COPY/MOVE target, STORE, EXPUNGE, MOVE source, RENAME of
/// INBOX) gives what it touches a MODSEQ above all before, and every removal is remembered
/// with its MODSEQ, so the answer is complete. Returns one snapshot: the mailbox counters,
/// the messages with MODSEQ > `since_modseq` and the UIDs expunged with MODSEQ >
/// `since_modseq`, both by ascending UID.
///
/// Errors: `NotFound` if the account does not own the mailbox (or it was deleted).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<ChangeSet, StoreError>")]
pub struct Changes {
    /// The logged-in account (must own the mailbox).
    pub account_id: i64,
    /// The mailbox.
    pub mailbox_id: i64,
    /// The HIGHESTMODSEQ the caller last saw.
    pub since_modseq: u64,
}

/// Claim the messages of a mailbox up to `up_to` as `\Recent` for the asking IMAP session
/// (RFC 3501 §2.3.2: a message is recent in exactly one session, the first to be told of it).
/// Sent by read-write IMAP4rev1 sessions at SELECT and when new messages reach them. The
/// writer runs claims one at a time, so of two sessions that race for the same new message
/// exactly one gets it. Returns the mark before the claim: the caller owns the UIDs in
/// (returned, `up_to`], none if the returned value is not below `up_to`. Nothing else
/// changes, so nothing is published.
///
/// Errors: `NotFound` if the account does not own the mailbox.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<u32, StoreError>")]
pub struct ClaimRecent {
    /// The logged-in account (must own the mailbox).
    pub account_id: i64,
    /// The mailbox.
    pub mailbox_id: i64,
    /// The highest UID the session knows of.
    pub up_to: u32,
}

/// Remove the given messages from a mailbox in one transaction, whatever their flags: the
/// POP3 UPDATE state (RFC 1939 §6) after QUIT. Sent by POP3 sessions. UIDs that are no
/// longer there are ignored. Like [`Expunge`], the removals are remembered for QRESYNC, the
/// space is credited to the account, and `MailboxChanged { change: Expunged }` is published,
/// so IMAP sessions on the mailbox see EXPUNGE. Returns the removed UIDs, ascending.
///
/// Errors: `NotFound` if the account does not own the mailbox. On any error nothing was
/// removed.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<u32>, StoreError>")]
pub struct RemoveMessages {
    /// The logged-in account (must own the mailbox).
    pub account_id: i64,
    /// The mailbox.
    pub mailbox_id: i64,
    /// The messages to remove.
    pub uids: Vec<u32>,
}

/// Open a raw message for reading in pieces, without loading a large one whole. Sent by POP3
/// sessions (RETR, TOP). A small body comes in memory; a large one as its open file (a
/// later expunge unlinks the file, but the open handle still reads the whole body).
///
/// Errors: `NotFound` if the message (or the account's mailbox) is not there.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<BodySource, StoreError>")]
pub struct OpenBody {
    /// The logged-in account (must own the mailbox).
    pub account_id: i64,
    /// The mailbox.
    pub mailbox_id: i64,
    /// The message.
    pub uid: u32,
}

/// Bodies are shown by size only: they are large and private.
impl std::fmt::Debug for Deliver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliver")
            .field("recipients", &self.recipients)
            .field("junk", &self.junk)
            .field("size", &self.raw.len())
            .field("internal_date", &self.internal_date)
            .field("event", &self.event.as_ref().map(EventData::kind))
            .finish()
    }
}

impl std::fmt::Debug for Append {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Append")
            .field("account_id", &self.account_id)
            .field("mailbox", &self.mailbox)
            .field("flags", &self.flags)
            .field("keywords", &self.keywords)
            .field("internal_date", &self.internal_date)
            .field("size", &self.raw.len())
            .finish()
    }
}
