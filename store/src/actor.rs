//! The `MailboxStore` actor and its messages: the one way protocol sessions reach mailbox
//! data.
//!
//! The actor is thin glue. Each handler hands its message to the [`Backend`] and returns the
//! backend's future as a `ResponseFuture`, so it never blocks its arbiter: writes wait on the
//! writer thread, reads on the read pool, argon2 and body files on the blocking pool. After a
//! write is durable, the handler publishes `MailboxChanged` for every mailbox it changed (and
//! `MessageDelivered` for a delivery) on the bus.
//!
//! Every message that names a mailbox id also carries the `account_id` of the session's
//! logged-in user, and the store refuses (NotFound) a mailbox that account does not own.

use std::path::Path;
use std::sync::Arc;

use actix::prelude::*;
use mailroom_shared::Secret;
use mailroom_shared::bus::Bus;
use mailroom_shared::events::{EventData, EventRecorded};
pub use mailroom_shared::login_guard::{LoginAttempt, LoginGuard, LoginProtocol, Verdict};
use mailroom_shared::metrics::{AuthOutcome, metrics};
use mailroom_shared::msg::MessageDelivered;

use crate::backend::{Backend, Outcome};
use crate::dkim::{DkimKey, DkimKeys};
use crate::error::StoreError;
use crate::mime::MessageMeta;
use crate::outbound::{
    DsnRet, DueQueue, OutboundRecipient, QueuedMessage, RecordAttempts, Submitted,
};
use crate::spam::{
    BayesCounts, FetchBlob, FetchSpamDecision, HostedDomains, ReadBayes, RecordSpamDecisions,
    StoredSpamDecision, TrainBayes, Trained,
};
use crate::sqlite::SqliteBackend;
use crate::types::{
    Account, Appended, BodySource, ChangeSet, Delivered, FlagOp, FlagsResult, LoginOutcome,
    MailboxInfo, MessageInfo, Resolution, StoreStats,
};
use mailroom_shared::queue::{QueueAdmin, QueueChanged, QueueReply, QueueRequest};

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

/// Who an address delivers to. Sent by SMTP sessions at RCPT TO.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Resolution, StoreError>")]
pub struct ResolveRecipient {
    /// The address as given, without angle brackets.
    pub address: String,
}

/// [`ResolveRecipient`], and which of the accounts it resolves to cannot take `size` more
/// octets within their quota, in one read: the SMTP RCPT check, so that an unknown or full
/// recipient is refused before the data is sent.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(Resolution, Vec<i64>), StoreError>")]
pub struct CheckRecipient {
    /// As for [`ResolveRecipient`].
    pub address: String,
    /// Octets about to arrive (the SMTP SIZE parameter; 0 when unknown: then only accounts
    /// already at or over their quota are named).
    pub size: u64,
}

/// Which of `addresses` the account may send as (submission's MAIL FROM and From: checks):
/// its own address, with or without a `+tag`, or an alias (not a catch-all) that delivers to
/// it. One answer per address, in order.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<bool>, StoreError>")]
pub struct OwnsAddresses {
    /// The authenticated account.
    pub account_id: i64,
    /// Addresses as given, without angle brackets.
    pub addresses: Vec<String>,
}

/// Check a login through the login guard. Sent by SMTP submission (AUTH), IMAP
/// (LOGIN/AUTHENTICATE), POP3 (USER/PASS, AUTH), the admin panel's sign-in and the API's
/// Basic auth: the only way a password is checked, and it cannot be sent without the
/// configuration's [`LoginGuard`].
///
/// A locked-out account or client is refused without the password being looked at; a
/// failure is counted (per account and per client IP) and recorded as an `AuthFailed` event,
/// a failure that reaches a threshold as a `LockedOut` event; both refusals are answered only
/// after the guard's delay. Every attempt is counted in `mailroom_auth_attempts_total`.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Verdict<Account>")]
pub struct Authenticate {
    /// The login name, an account address.
    pub address: String,
    /// The password.
    pub password: Secret,
    /// Who tried, how.
    pub attempt: LoginAttempt,
    /// The `[security]` policy and delay of the configuration the session runs under.
    pub guard: LoginGuard,
}

impl Handler<Authenticate> for MailboxStore {
    type Result = ResponseFuture<Verdict<Account>>;
    fn handle(&mut self, msg: Authenticate, ctx: &mut Context<Self>) -> Self::Result {
        let me = ctx.address();
        let attempt = msg.attempt.clone();
        let username = msg.address.clone();
        let delay = msg.guard.refusal_delay();
        let checked = self.backend.authenticate(msg);
        Box::pin(async move {
            let protocol = attempt.protocol.as_str();
            let (verdict, outcome) = match checked.await {
                Ok(LoginOutcome::Accepted(account)) => {
                    (Verdict::Accepted(account), AuthOutcome::Success)
                }
                Ok(LoginOutcome::Refused { locked }) => {
                    // Logged without making the client wait any longer.
                    me.do_send(RecordEvent(EventData::AuthFailed(
                        mailroom_shared::events::AuthFailed {
                            protocol: protocol.into(),
                            mechanism: attempt.mechanism.clone(),
                            client: attempt.client,
                            username,
                        },
                    )));
                    for l in locked {
                        tracing::warn!(
                            scope = l.scope.as_str(),
                            target = %l.key,
                            failures = l.failures,
                            protocol,
                            client = %attempt.client,
                            until = l.until,
                            "failed logins began a lockout"
                        );
                        metrics().lockout(protocol, l.scope.as_str());
                        me.do_send(RecordEvent(EventData::LockedOut(
                            mailroom_shared::events::LockedOut {
                                protocol: protocol.into(),
                                scope: l.scope.as_str().into(),
                                target: l.key,
                                failures: l.failures,
                                client: attempt.client,
                                until: l.until,
                            },
                        )));
                    }
                    (Verdict::Refused, AuthOutcome::Failure)
                }
                Ok(LoginOutcome::LockedOut(l)) => (Verdict::LockedOut(l), AuthOutcome::LockedOut),
                Err(e) => (Verdict::Unavailable(e.to_string()), AuthOutcome::Error),
            };
            metrics().auth_attempt(protocol, &attempt.mechanism, outcome);
            if matches!(verdict, Verdict::Refused | Verdict::LockedOut(_)) {
                // The same wait for both refusals: it slows guessing down without costing
                // the server anything (other sessions go on), and a lockout looks like a
                // failure from the outside.
                tokio::time::sleep(delay).await;
            }
            verdict
        })
    }
}

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

impl Handler<Submit> for MailboxStore {
    type Result = ResponseFuture<Result<Submitted, StoreError>>;
    fn handle(&mut self, msg: Submit, _: &mut Context<Self>) -> Self::Result {
        let size = msg.raw.len() as u64;
        let bus = self.bus.clone();
        let submitted = self.write(self.backend.submit(msg));
        Box::pin(async move {
            let submitted = submitted.await?;
            if !submitted.delivered.is_empty() {
                bus.publish(MessageDelivered {
                    account_ids: submitted.delivered.iter().map(|d| d.account_id).collect(),
                    size,
                });
            }
            if !submitted.queued.is_empty() {
                bus.publish(QueueChanged);
            }
            Ok(submitted)
        })
    }
}

impl Handler<QueueAdmin> for MailboxStore {
    type Result = ResponseFuture<Result<QueueReply, String>>;
    fn handle(&mut self, msg: QueueAdmin, _: &mut Context<Self>) -> Self::Result {
        let bus = self.bus.clone();
        let wakes = matches!(
            msg.0,
            QueueRequest::Retry(_) | QueueRequest::RetryAll | QueueRequest::Release(_)
        );
        let done = self.write(self.backend.queue_admin(msg.0));
        Box::pin(async move {
            let reply = done.await.map_err(|e| e.to_string())?;
            if wakes {
                bus.publish(QueueChanged);
            }
            Ok(reply)
        })
    }
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

/// Append an event to the store's log (one that no other write describes: a refusal, a
/// greylisting, a failed login). Sent by protocol session drivers, without making their
/// client wait for it. Returns the event with its id; `EventRecorded` is published on the bus
/// once it is durable.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<EventRecorded, StoreError>")]
pub struct RecordEvent(pub EventData);

/// Up to `limit` logged events with ids above `after`, oldest first. Sent by the webhooks
/// actor (and any subscriber catching up on what it missed while down).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<EventRecorded>, StoreError>")]
pub struct ReadEvents {
    /// The last id the reader has.
    pub after: i64,
    /// Most events returned.
    pub limit: u32,
}

/// The id of the newest event ever logged (0 if none): where a new reader starts. Sent by the
/// webhooks actor for a target it has never seen.
#[derive(Message, Debug, Clone, Default)]
#[rtype(result = "Result<i64, StoreError>")]
pub struct LastEventId;

/// The last event id a webhook target acknowledged (`None`: never seen). Sent by the
/// webhooks actor when a target starts.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Option<i64>, StoreError>")]
pub struct WebhookCursor {
    /// The target's URL.
    pub target: String,
}

/// Record that a webhook target acknowledged every event up to `last_id` (the cursor only
/// moves forward). Sent by the webhooks actor after a 2xx.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), StoreError>")]
pub struct SetWebhookCursor {
    /// The target's URL.
    pub target: String,
    /// The id of the event acknowledged.
    pub last_id: i64,
}

/// Delete logged events older than `before` (unix seconds) that every one of `targets` has
/// passed (all older ones if `targets` is empty). Sent by the webhooks actor from time to
/// time. Returns how many went.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<u64, StoreError>")]
pub struct PruneEvents {
    /// Keep everything at or after this time.
    pub before: i64,
    /// The URLs of the configured webhook targets.
    pub targets: Vec<String>,
}

/// Group-commit counters. Sent by the admin panel (/metrics) and tests.
#[derive(Message, Debug, Clone, Default)]
#[rtype(result = "Result<StoreStats, StoreError>")]
pub struct Stats;

/// Commit every write submitted before this, then close the database (checkpointing the
/// WAL). Later writes fail with `Unavailable`. Sent by the shutdown coordinator, once the
/// sessions have finished.
#[derive(Message, Debug, Clone, Default)]
#[rtype(result = "Result<(), StoreError>")]
pub struct Flush;

/// A watch on the engine's fatal failures (see [`crate::fatal`]). Sent once by
/// `mailroom::run`, which stops the server when the watch fires.
#[derive(Message, Debug, Clone, Default)]
#[rtype(result = "crate::fatal::FatalWatch")]
pub struct WatchFatal;

impl Handler<WatchFatal> for MailboxStore {
    type Result = MessageResult<WatchFatal>;
    fn handle(&mut self, _: WatchFatal, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.backend.fatal())
    }
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

/// The store actor. Start one per process with [`MailboxStore::start_embedded`]; sessions
/// reach it through [`local_twin`].
///
/// It keeps no state of its own beyond the shared backend and bus, so any number of copies
/// ("twins") may run, one per arbiter: a session that asks the twin on its own thread saves
/// the trip to the System arbiter and back on every request.
#[derive(Clone, MessageResponse)]
pub struct MailboxStore {
    backend: Arc<dyn Backend>,
    bus: Bus,
}

/// Ask for a copy of the store actor to start elsewhere. Sent by [`local_twin`].
#[derive(Message)]
#[rtype(result = "MailboxStore")]
pub struct Twin;

impl Handler<Twin> for MailboxStore {
    type Result = MailboxStore;
    fn handle(&mut self, _: Twin, _: &mut Context<Self>) -> MailboxStore {
        self.clone()
    }
}

thread_local! {
    /// Twins started on this thread, by the address they were made from.
    static TWINS: std::cell::RefCell<Vec<(Addr<MailboxStore>, Addr<MailboxStore>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The twin of `store` on the current arbiter, started on first use and reused after; `store`
/// itself if it cannot be reached (the caller's request then fails the same way).
pub async fn local_twin(store: &Addr<MailboxStore>) -> Addr<MailboxStore> {
    let known = |store: &Addr<MailboxStore>| {
        TWINS.with(|twins| {
            let mut twins = twins.borrow_mut();
            // Twins of a stopped System (tests run several on one thread) are dead.
            twins.retain(|(origin, twin)| origin.connected() && twin.connected());
            twins
                .iter()
                .find(|(origin, _)| origin == store)
                .map(|(_, twin)| twin.clone())
        })
    };
    if let Some(twin) = known(store) {
        return twin;
    }
    let Ok(seed) = store.send(Twin).await else {
        return store.clone();
    };
    // Another session on this thread may have started one while we waited.
    if let Some(twin) = known(store) {
        return twin;
    }
    let twin = seed.start();
    TWINS.with(|twins| twins.borrow_mut().push((store.clone(), twin.clone())));
    twin
}

impl Actor for MailboxStore {
    type Context = Context<Self>;
}

impl MailboxStore {
    /// Open the embedded store (SQLite + blob files) in `data_dir` and start the actor on the
    /// current arbiter. Must be called inside a running actix System. Blocks while the
    /// database opens and migrates (startup only).
    pub fn start_embedded(data_dir: &Path, bus: Bus) -> Result<Addr<MailboxStore>, StoreError> {
        let backend = SqliteBackend::open(data_dir)?;
        Ok(Self::start_with(Arc::new(backend), bus))
    }

    /// Start the actor over any backend (tests, other engines).
    pub fn start_with(backend: Arc<dyn Backend>, bus: Bus) -> Addr<MailboxStore> {
        MailboxStore { backend, bus }.start()
    }

    /// The backend, for handlers defined beside their messages (greylist).
    pub(crate) fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// Await a write, then announce its changes: the events go out only once it is durable.
    fn write<T: 'static>(
        &self,
        fut: crate::backend::StoreFuture<Outcome<T>>,
    ) -> ResponseFuture<Result<T, StoreError>> {
        let bus = self.bus.clone();
        Box::pin(async move {
            let outcome = fut.await?;
            for change in outcome.changes {
                bus.publish(change);
            }
            for event in outcome.events {
                bus.publish(event);
            }
            Ok(outcome.value)
        })
    }
}

/// A handler that just forwards to a backend read.
macro_rules! read_handler {
    ($msg:ty, $method:ident, $out:ty) => {
        impl Handler<$msg> for MailboxStore {
            type Result = ResponseFuture<Result<$out, StoreError>>;
            fn handle(&mut self, msg: $msg, _: &mut Context<Self>) -> Self::Result {
                self.backend.$method(msg)
            }
        }
    };
}

/// A handler for a write: forward, then publish its changes.
macro_rules! write_handler {
    ($msg:ty, $method:ident, $out:ty) => {
        impl Handler<$msg> for MailboxStore {
            type Result = ResponseFuture<Result<$out, StoreError>>;
            fn handle(&mut self, msg: $msg, _: &mut Context<Self>) -> Self::Result {
                self.write(self.backend.$method(msg))
            }
        }
    };
}

read_handler!(ResolveRecipient, resolve_recipient, Resolution);
read_handler!(CheckRecipient, check_recipient, (Resolution, Vec<i64>));
read_handler!(OwnsAddresses, owns_addresses, Vec<bool>);
read_handler!(ListMailboxes, list_mailboxes, Vec<MailboxInfo>);
read_handler!(LostSubscriptions, lost_subscriptions, Vec<String>);
read_handler!(Select, select, (MailboxInfo, Vec<MessageInfo>));
read_handler!(FetchMeta, fetch_meta, Vec<(MessageInfo, Arc<MessageMeta>)>);
read_handler!(FetchBody, fetch_body, Arc<[u8]>);
read_handler!(FetchBodies, fetch_bodies, Vec<(u32, Arc<[u8]>)>);
read_handler!(FetchHeaders, fetch_headers, Vec<(u32, Arc<[u8]>)>);
read_handler!(Changes, changes, ChangeSet);
write_handler!(Append, append, Appended);
write_handler!(SetFlags, set_flags, FlagsResult);
write_handler!(Copy, copy, Vec<(u32, u32)>);
write_handler!(Move, move_messages, Vec<(u32, u32)>);
write_handler!(Expunge, expunge, Vec<u32>);
write_handler!(CreateMailbox, create_mailbox, MailboxInfo);
write_handler!(DeleteMailbox, delete_mailbox, ());
write_handler!(RenameMailbox, rename_mailbox, ());
write_handler!(SetSubscribed, set_subscribed, ());
write_handler!(ClaimRecent, claim_recent, u32);
read_handler!(OpenBody, open_body, BodySource);
write_handler!(RemoveMessages, remove_messages, Vec<u32>);
write_handler!(RecordEvent, record_event, EventRecorded);
read_handler!(ReadEvents, read_events, Vec<EventRecorded>);
read_handler!(LastEventId, last_event_id, i64);
read_handler!(WebhookCursor, webhook_cursor, Option<i64>);
write_handler!(SetWebhookCursor, set_webhook_cursor, ());
write_handler!(PruneEvents, prune_events, u64);
read_handler!(ReadBayes, read_bayes, Vec<(i64, BayesCounts)>);
write_handler!(TrainBayes, train_bayes, Trained);
write_handler!(RecordSpamDecisions, record_spam_decisions, ());
read_handler!(
    FetchSpamDecision,
    fetch_spam_decision,
    Option<StoredSpamDecision>
);
read_handler!(FetchBlob, fetch_blob, Arc<[u8]>);
read_handler!(HostedDomains, hosted_domains, Vec<String>);
read_handler!(DueQueue, due_queue, Vec<QueuedMessage>);
write_handler!(RecordAttempts, record_attempts, ());
read_handler!(DkimKeys, dkim_keys, Vec<DkimKey>);

impl Handler<Deliver> for MailboxStore {
    type Result = ResponseFuture<Result<Vec<Delivered>, StoreError>>;
    fn handle(&mut self, msg: Deliver, _: &mut Context<Self>) -> Self::Result {
        let size = msg.raw.len() as u64;
        let bus = self.bus.clone();
        let delivered = self.write(self.backend.deliver(msg));
        Box::pin(async move {
            let delivered = delivered.await?;
            bus.publish(MessageDelivered {
                account_ids: delivered.iter().map(|d| d.account_id).collect(),
                size,
            });
            Ok(delivered)
        })
    }
}

impl Handler<Stats> for MailboxStore {
    type Result = Result<StoreStats, StoreError>;
    fn handle(&mut self, _: Stats, _: &mut Context<Self>) -> Self::Result {
        Ok(self.backend.stats())
    }
}

impl Handler<Flush> for MailboxStore {
    type Result = ResponseFuture<Result<(), StoreError>>;
    fn handle(&mut self, _: Flush, _: &mut Context<Self>) -> Self::Result {
        self.backend.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::Admin;
    use crate::types::Role;
    use mailroom_shared::bus::Publish;
    use mailroom_shared::msg::{MailboxChange, MailboxChanged};

    /// Collects the store's events.
    #[derive(Default)]
    struct Sink {
        changed: Vec<MailboxChanged>,
        delivered: Vec<MessageDelivered>,
    }
    impl Actor for Sink {
        type Context = Context<Self>;
    }
    impl Handler<MailboxChanged> for Sink {
        type Result = ();
        fn handle(&mut self, m: MailboxChanged, _: &mut Context<Self>) {
            self.changed.push(m);
        }
    }
    impl Handler<MessageDelivered> for Sink {
        type Result = ();
        fn handle(&mut self, m: MessageDelivered, _: &mut Context<Self>) {
            self.delivered.push(m);
        }
    }
    #[derive(Message)]
    #[rtype(result = "(Vec<MailboxChanged>, Vec<MessageDelivered>)")]
    struct Seen;
    impl Handler<Seen> for Sink {
        type Result = MessageResult<Seen>;
        fn handle(&mut self, _: Seen, _: &mut Context<Self>) -> Self::Result {
            MessageResult((self.changed.clone(), self.delivered.clone()))
        }
    }

    /// A store with alice (password `password1`) whose events a [`Sink`] collects.
    fn with_alice_and_sink() -> (tempfile::TempDir, i64, Bus, Addr<Sink>, Addr<MailboxStore>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let admin = Admin::open(dir.path()).expect("admin");
        admin.domain_add("example.test").expect("domain");
        let pw = Secret::new("password1");
        let alice = admin
            .user_add("alice@example.test", &pw, Role::User, None)
            .expect("alice")
            .id;
        let bus = Bus::start();
        let sink = Sink::default().start();
        bus.subscribe(sink.clone().recipient::<MailboxChanged>());
        bus.subscribe(sink.clone().recipient::<MessageDelivered>());
        let store = MailboxStore::start_embedded(dir.path(), bus.clone()).expect("start");
        (dir, alice, bus, sink, store)
    }

    #[actix_rt::test]
    async fn a_local_twin_serves_from_this_arbiter_and_publishes_the_same() {
        let (_dir, alice, bus, sink, store) = with_alice_and_sink();
        let twin = local_twin(&store).await;
        assert!(twin != store, "a twin is an actor of its own");
        assert!(
            local_twin(&store).await == twin,
            "and is reused on this thread"
        );

        // On another arbiter, another twin.
        let other = actix_rt::Arbiter::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let origin = store.clone();
        other.spawn(async move {
            let _ = tx.send(local_twin(&origin).await);
        });
        let far = rx.await.expect("twin from the other arbiter");
        assert!(far != twin && far != store);
        other.stop();

        let delivered = twin
            .send(Deliver {
                recipients: vec![alice],
                raw: Arc::from(&b"Subject: via twin\r\n\r\nhi\r\n"[..]),
                internal_date: None,
                event: None,
                junk: Vec::new(),
            })
            .await
            .expect("mailbox")
            .expect("deliver");
        let seen = store
            .send(ResolveRecipient {
                address: "alice@example.test".into(),
            })
            .await
            .expect("mailbox")
            .expect("resolve");
        assert_eq!(seen, Resolution::Local(vec![alice]));
        bus.0
            .send(Publish(MessageDelivered {
                account_ids: vec![],
                size: 0,
            }))
            .await
            .expect("bus");
        let (changed, _) = sink.send(Seen).await.expect("sink");
        assert_eq!(
            changed.len(),
            1,
            "the twin's write was announced on the bus"
        );
        assert_eq!(changed[0].mailbox_id, delivered[0].mailbox_id);
    }

    #[actix_rt::test]
    async fn deliver_publishes_after_it_is_durable() {
        let (_dir, alice, bus, sink, store) = with_alice_and_sink();

        let resolved = store
            .send(ResolveRecipient {
                address: "alice+x@example.test".into(),
            })
            .await
            .expect("mailbox")
            .expect("resolve");
        assert_eq!(resolved, Resolution::Local(vec![alice]));
        let raw: Arc<[u8]> = Arc::from(&b"Subject: hi\r\n\r\nhello\r\n"[..]);
        let delivered = store
            .send(Deliver {
                recipients: vec![alice],
                junk: Vec::new(),
                raw: raw.clone(),
                internal_date: None,
                event: None,
            })
            .await
            .expect("mailbox")
            .expect("deliver");
        assert_eq!(delivered[0].uid, 1);

        // A round trip through the bus orders us after the store's publishes.
        bus.0
            .send(Publish(MessageDelivered {
                account_ids: vec![],
                size: 0,
            }))
            .await
            .expect("bus");
        let (changed, seen_delivered) = sink.send(Seen).await.expect("sink");
        assert_eq!(changed.len(), 1);
        assert_eq!(
            (
                changed[0].account_id,
                changed[0].mailbox_id,
                changed[0].change
            ),
            (alice, delivered[0].mailbox_id, MailboxChange::Added)
        );
        assert_eq!(seen_delivered[0].account_ids, [alice]);
        assert_eq!(seen_delivered[0].size, raw.len() as u64);

        let body = store
            .send(FetchBody {
                account_id: alice,
                mailbox_id: delivered[0].mailbox_id,
                uid: 1,
            })
            .await
            .expect("mailbox")
            .expect("body");
        assert_eq!(&*body, &*raw);
        let stats = store.send(Stats).await.expect("mailbox").expect("stats");
        assert_eq!((stats.ops, stats.commits), (1, 1));
        store.send(Flush).await.expect("mailbox").expect("flush");
    }

    /// Mailbox management publishes `Mailbox` events after the change, and renaming INBOX
    /// also `Expunged` for INBOX, whose sessions then learn the UIDs from `Changes`.
    #[actix_rt::test]
    async fn mailbox_management_publishes_its_changes() {
        let (_dir, alice, bus, sink, store) = with_alice_and_sink();
        let ask = |name: &str| Select {
            account_id: alice,
            name: name.into(),
        };

        let work = store
            .send(CreateMailbox {
                account_id: alice,
                name: "Work/Jobs".into(),
            })
            .await
            .expect("mailbox")
            .expect("create");
        store
            .send(SetSubscribed {
                account_id: alice,
                name: "Work/Jobs".into(),
                subscribed: true,
            })
            .await
            .expect("mailbox")
            .expect("subscribe");
        store
            .send(RenameMailbox {
                account_id: alice,
                from: "Work".into(),
                to: "Jobs".into(),
            })
            .await
            .expect("mailbox")
            .expect("rename");
        store
            .send(Deliver {
                recipients: vec![alice],
                junk: Vec::new(),
                raw: Arc::from(&b"Subject: hi\r\n\r\nhello\r\n"[..]),
                internal_date: None,
                event: None,
            })
            .await
            .expect("mailbox")
            .expect("deliver");
        let (inbox, _) = store
            .send(ask("INBOX"))
            .await
            .expect("mailbox")
            .expect("inbox");
        store
            .send(RenameMailbox {
                account_id: alice,
                from: "INBOX".into(),
                to: "Saved".into(),
            })
            .await
            .expect("mailbox")
            .expect("rename inbox");
        let (saved, _) = store
            .send(ask("Saved"))
            .await
            .expect("mailbox")
            .expect("saved");
        store
            .send(DeleteMailbox {
                account_id: alice,
                name: "Jobs/Jobs".into(),
            })
            .await
            .expect("mailbox")
            .expect("delete");
        let since = store
            .send(Changes {
                account_id: alice,
                mailbox_id: inbox.id,
                since_modseq: inbox.highestmodseq,
            })
            .await
            .expect("mailbox")
            .expect("changes");
        assert_eq!(since.expunged, [1]);
        let deleted = store
            .send(Changes {
                account_id: alice,
                mailbox_id: work.id,
                since_modseq: 0,
            })
            .await
            .expect("mailbox");
        assert!(
            matches!(deleted, Err(StoreError::NotFound(_))),
            "{deleted:?}"
        );

        // A round trip through the bus orders us after the store's publishes.
        bus.0
            .send(Publish(MessageDelivered {
                account_ids: vec![],
                size: 0,
            }))
            .await
            .expect("bus");
        let (changed, _) = sink.send(Seen).await.expect("sink");
        let boxes = store
            .send(ListMailboxes { account_id: alice })
            .await
            .expect("mailbox")
            .expect("list");
        let superior = boxes.iter().find(|b| b.name == "Jobs").expect("Jobs").id;
        let got: Vec<(i64, MailboxChange)> =
            changed.iter().map(|c| (c.mailbox_id, c.change)).collect();
        use MailboxChange::{Added, Expunged, Mailbox};
        let want_prefix = [
            (superior, Mailbox), // Work, the superior
            (work.id, Mailbox),  // Work/Jobs
            (work.id, Mailbox),  // subscribed
        ];
        assert_eq!(&got[..3], &want_prefix);
        // The rename announces Work and Work/Jobs (now Jobs and Jobs/Jobs), in any order.
        let mut renamed = got[3..5].to_vec();
        renamed.sort_unstable_by_key(|(id, _)| *id);
        assert_eq!(renamed, [(superior, Mailbox), (work.id, Mailbox)]);
        assert_eq!(
            &got[5..],
            &[
                (inbox.id, Added),
                (saved.id, Mailbox),
                (inbox.id, Expunged),
                (work.id, Mailbox),
            ]
        );
        assert!(changed.iter().all(|c| c.account_id == alice));
        store.send(Flush).await.expect("mailbox").expect("flush");
    }

    /// The CLI changes accounts through its own connection while the server runs; the running
    /// store must see those changes at once, without a restart or a cache to expire.
    #[actix_rt::test]
    async fn changes_made_by_another_connection_are_seen_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = MailboxStore::start_embedded(dir.path(), Bus::start()).expect("start");
        let resolve = |address: &str| {
            store.send(ResolveRecipient {
                address: address.into(),
            })
        };
        assert_eq!(
            resolve("bob@later.test")
                .await
                .expect("mailbox")
                .expect("resolve"),
            Resolution::NotOurDomain
        );

        let cli = Admin::open(dir.path()).expect("second connection");
        cli.domain_add("later.test").expect("domain");
        assert_eq!(
            resolve("bob@later.test")
                .await
                .expect("mailbox")
                .expect("resolve"),
            Resolution::UnknownUser
        );
        let pw = Secret::new("password1");
        let bob = cli
            .user_add("bob@later.test", &pw, Role::User, None)
            .expect("bob")
            .id;
        assert_eq!(
            resolve("bob@later.test")
                .await
                .expect("mailbox")
                .expect("resolve"),
            Resolution::Local(vec![bob])
        );
        let mut config = mailroom_config::Config::default();
        config.security.auth_failure_delay_ms = 0;
        let account = store
            .send(Authenticate {
                address: "bob@later.test".into(),
                password: pw.clone(),
                attempt: LoginAttempt {
                    protocol: LoginProtocol::Smtp,
                    mechanism: "PLAIN".into(),
                    client: "192.0.2.1".parse().expect("ip"),
                },
                guard: LoginGuard::from_config(&config),
            })
            .await
            .expect("mailbox");
        assert!(
            matches!(&account, Verdict::Accepted(a) if a.id == bob),
            "{account:?}"
        );

        cli.user_remove("bob@later.test").expect("remove");
        assert_eq!(
            resolve("bob@later.test")
                .await
                .expect("mailbox")
                .expect("resolve"),
            Resolution::UnknownUser
        );
        store.send(Flush).await.expect("mailbox").expect("flush");
    }
}
