//! What each write does inside the writer's transaction: deliver, append, flags, copy, move,
//! expunge, and mailbox management (create, delete, rename, subscribe). Each function runs in
//! its own savepoint (see `writer`), so it may fail halfway and leave nothing behind. No I/O
//! here beyond the database, except re-creating a vanished blob file through
//! [`BlobStore::ensure`].
//!
//! Per mailbox, every change takes a new MODSEQ from `highestmodseq` (RFC 7162 §3.1), new
//! messages take `uidnext` (RFC 9051 §2.3.1.1: UIDs strictly ascend), and `used_bytes` of the
//! account follows every added or removed copy. Every removed message is recorded in
//! `expunged` under the MODSEQ of its removal (RFC 7162 §3.2.5), so that `reads::changes`
//! sees every change; only a deleted mailbox takes its history with it.
//!
//! New mailboxes take their UIDVALIDITY from the `counters` row, which only grows, so a value
//! is never given out twice, even to a mailbox re-created under an old name (RFC 9051
//! §2.3.1.1).

use std::collections::BTreeSet;

use mailroom_shared::events::EventData;
use mailroom_shared::msg::{MailboxChange, MailboxChanged};
use rusqlite::{Connection, OptionalExtension, params};

use super::blobs::BlobStore;
use super::reads;
use super::unix_now;
use super::writer::{AppendOp, BatchEffects, Body, DeliverOp};
use crate::common::messages::{
    self as rules, Stored, added, apply_flags, changed, charged_usage, interim_name,
    keywords_to_text, plan_rename, sorted_unique,
};
use crate::engine::Outcome;
use crate::error::StoreError;
use crate::requests::{
    CreateMailbox, DeleteMailbox, Expunge, Move, RemoveMessages, RenameMailbox, SetFlags,
    SetSubscribed,
};
use crate::types::{
    Appended, Delivered, FLAG_DELETED, FlagsResult, MailboxInfo, MessageInfo,
    canonical_mailbox_name, check_flags, mailbox_name, normalize_keywords, superior_names,
};

const MAILBOX_OWNED: &str = "SELECT uidvalidity FROM mailboxes WHERE id = ?1 AND account_id = ?2";
const ACCOUNT_USAGE: &str = "SELECT address, quota_bytes, used_bytes FROM accounts WHERE id = ?1";
const ADD_USAGE: &str = "UPDATE accounts SET used_bytes = used_bytes + ?2 WHERE id = ?1";
const SUB_USAGE: &str = "UPDATE accounts SET used_bytes = max(used_bytes - ?2, 0) WHERE id = ?1";
const BLOB_REFCOUNT: &str = "SELECT refcount FROM blobs WHERE sha256 = ?1";
const BLOB_INSERT: &str =
    "INSERT INTO blobs (sha256, size, refcount, meta, data) VALUES (?1, ?2, ?3, ?4, ?5)";
const HEADER_INSERT: &str = "INSERT OR REPLACE INTO headers (sha256, data) VALUES (?1, ?2)";
const BLOB_ADD_REFS: &str = "UPDATE blobs SET refcount = refcount + ?2 WHERE sha256 = ?1";
const BLOB_RELEASE: &str =
    "UPDATE blobs SET refcount = refcount - 1 WHERE sha256 = ?1 RETURNING refcount";
const BLOB_DELETE_UNUSED: &str = "DELETE FROM blobs WHERE sha256 = ?1 AND refcount <= 0";
const NEXT_UID: &str = "UPDATE mailboxes SET uidnext = uidnext + 1, \
     highestmodseq = highestmodseq + 1 WHERE id = ?1 RETURNING uidnext - 1, highestmodseq";
const NEXT_MODSEQ: &str =
    "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = ?1 RETURNING highestmodseq";
const MESSAGE_INSERT: &str = "INSERT INTO messages \
     (mailbox_id, uid, blob, flags, keywords, modseq, internal_date, size) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const MESSAGE_SET_FLAGS: &str = "UPDATE messages SET flags = ?3, keywords = ?4, modseq = ?5 \
     WHERE mailbox_id = ?1 AND uid = ?2";
const MESSAGE_DELETE: &str = "DELETE FROM messages WHERE mailbox_id = ?1 AND uid = ?2";
const FLAGGED_UIDS: &str =
    "SELECT uid FROM messages WHERE mailbox_id = ?1 AND flags & ?2 != 0 ORDER BY uid";
const EXPUNGED_INSERT: &str =
    "INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq) VALUES (?1, ?2, ?3)";
const COUNTER_GET: &str = "SELECT value FROM counters WHERE name = ?1";
const COUNTER_SET: &str = "INSERT INTO counters (name, value) VALUES (?1, ?2) \
     ON CONFLICT (name) DO UPDATE SET value = excluded.value";
/// The UIDVALIDITY counter in `counters`.
const UIDVALIDITY: &str = "uidvalidity";
const ACCOUNT_ADDRESS: &str = "SELECT address FROM accounts WHERE id = ?1";
const MAILBOX_NAME_USE: &str = "SELECT name, special_use FROM mailboxes WHERE id = ?1";
const ACCOUNT_EXISTS: &str = "SELECT 1 FROM accounts WHERE id = ?1";
const MAILBOX_EXISTS: &str = "SELECT 1 FROM mailboxes WHERE account_id = ?1 AND name = ?2";
/// CREATE makes unsubscribed mailboxes without a special use; `subscribed` defaults to 1
/// only for the account's default mailboxes.
const MAILBOX_CREATE: &str = "INSERT INTO mailboxes (account_id, name, uidvalidity, subscribed) \
     VALUES (?1, ?2, ?3, 0) RETURNING id, highestmodseq";
const MAILBOX_NAMES: &str = "SELECT id, name FROM mailboxes WHERE account_id = ?1 ORDER BY id";
const MAILBOX_RENAME: &str = "UPDATE mailboxes SET name = ?2 WHERE id = ?1";
const MAILBOX_MODSEQ: &str = "SELECT highestmodseq FROM mailboxes WHERE id = ?1";
const MAILBOX_SET_SUBSCRIBED: &str = "UPDATE mailboxes SET subscribed = ?2 WHERE id = ?1";
const MAILBOX_DELETE: &str = "DELETE FROM mailboxes WHERE id = ?1";
/// Schema version 13: the names a deleted mailbox leaves subscribed.
const LOST_SUBSCRIPTION_INSERT: &str =
    "INSERT OR IGNORE INTO lost_subscriptions (account_id, name) VALUES (?1, ?2)";
const LOST_SUBSCRIPTION_DELETE: &str =
    "DELETE FROM lost_subscriptions WHERE account_id = ?1 AND name = ?2";
const MAILBOX_BLOBS: &str = "SELECT blob, size FROM messages WHERE mailbox_id = ?1";
const MAILBOX_DELETE_MESSAGES: &str = "DELETE FROM messages WHERE mailbox_id = ?1";
const MAILBOX_UIDS: &str = "SELECT uid FROM messages WHERE mailbox_id = ?1 ORDER BY uid";

/// Deliver one body into the INBOX of every recipient (their Junk mailbox for those in
/// `op.junk`, INBOX when they have none): one blob row with one reference per recipient, one
/// message per mailbox. Any recipient failing (unknown, over quota) fails all.
pub(crate) fn deliver(
    conn: &Connection,
    blobs: &BlobStore,
    op: &DeliverOp,
) -> Result<Outcome<Vec<Delivered>>, StoreError> {
    let mut recipients = op.recipients.clone();
    recipients.sort_unstable();
    recipients.dedup();
    if recipients.is_empty() {
        return Err(StoreError::Invalid("a delivery needs a recipient".into()));
    }
    add_body_ref(conn, blobs, &op.body, recipients.len() as i64)?;
    let mut value = Vec::with_capacity(recipients.len());
    let mut changes = Vec::with_capacity(recipients.len());
    for account_id in recipients {
        charge(conn, account_id, op.body.size)?;
        let junk = if op.junk.contains(&account_id) {
            reads::junk_mailbox(conn, account_id)?
        } else {
            None
        };
        let mailbox_id = match junk {
            Some(id) => id,
            None => reads::mailbox_by_name(conn, account_id, "INBOX")?.0,
        };
        let (uid, modseq) =
            insert_message(conn, mailbox_id, &op.body.hash, &Stored::delivered(op))?;
        value.push(Delivered {
            account_id,
            mailbox_id,
            uid,
        });
        changes.push(added(account_id, mailbox_id, modseq));
    }
    Ok(Outcome {
        value,
        changes,
        events: Vec::new(),
    })
}

/// APPEND (RFC 9051 §6.3.12) one body to a mailbox of the account.
pub(crate) fn append(
    conn: &Connection,
    blobs: &BlobStore,
    op: &AppendOp,
) -> Result<Outcome<Appended>, StoreError> {
    let (mailbox_id, uidvalidity) = reads::mailbox_by_name(conn, op.account_id, &op.mailbox)?;
    charge(conn, op.account_id, op.body.size)?;
    add_body_ref(conn, blobs, &op.body, 1)?;
    let stored = Stored::appended(op);
    let (uid, modseq) = insert_message(conn, mailbox_id, &op.body.hash, &stored)?;
    Ok(Outcome {
        value: Appended { uidvalidity, uid },
        changes: vec![added(op.account_id, mailbox_id, modseq)],
        events: Vec::new(),
    })
}

/// STORE (RFC 9051 §6.4.6) with CONDSTORE's UNCHANGEDSINCE (RFC 7162 §3.1.3). UIDs that do
/// not exist are ignored, as RFC 9051 asks for UID STORE.
pub(crate) fn set_flags(
    conn: &Connection,
    op: &SetFlags,
) -> Result<Outcome<FlagsResult>, StoreError> {
    mailbox_owned(conn, op.account_id, op.mailbox_id)?;
    let flags = check_flags(op.flags)?;
    let keywords = normalize_keywords(&op.keywords)?;
    let mut result = FlagsResult {
        updated: Vec::new(),
        failed_modified: Vec::new(),
    };
    for uid in sorted_unique(&op.uids) {
        let Some((_, info)) = reads::message(conn, op.mailbox_id, uid)? else {
            continue;
        };
        if op.unchanged_since.is_some_and(|since| info.modseq > since) {
            result.failed_modified.push(uid);
            continue;
        }
        let Some((new_flags, new_keywords)) = apply_flags(op.op, flags, &keywords, &info)? else {
            continue;
        };
        let modseq = next_modseq(conn, op.mailbox_id)?;
        conn.prepare_cached(MESSAGE_SET_FLAGS)?.execute(params![
            op.mailbox_id,
            uid,
            new_flags,
            keywords_to_text(&new_keywords),
            modseq as i64
        ])?;
        result.updated.push(MessageInfo {
            flags: new_flags,
            keywords: new_keywords,
            modseq,
            ..info
        });
    }
    Ok(rules::flags_outcome(op.account_id, op.mailbox_id, result))
}

/// COPY (RFC 9051 §6.4.7): new UIDs in `to`, same body (one more reference), same flags and
/// INTERNALDATE. Counts against the quota.
pub(crate) fn copy(
    conn: &Connection,
    account_id: i64,
    from: i64,
    uids: &[u32],
    to: i64,
) -> Result<Outcome<Vec<(u32, u32)>>, StoreError> {
    let (pairs, modseq, _) = copy_messages(conn, account_id, from, uids, to, true)?;
    let changes = modseq
        .map(|m| added(account_id, to, m))
        .into_iter()
        .collect();
    Ok(Outcome {
        value: pairs,
        changes,
        events: Vec::new(),
    })
}

/// MOVE (RFC 6851): copy, then expunge the originals, in one savepoint so no client ever sees
/// the message in both places or in neither. The account's usage does not change.
pub(crate) fn move_messages(
    conn: &Connection,
    fx: &mut BatchEffects,
    op: &Move,
) -> Result<Outcome<Vec<(u32, u32)>>, StoreError> {
    let (pairs, to_modseq, blobs) =
        copy_messages(conn, op.account_id, op.from, &op.uids, op.to, false)?;
    let moved: Vec<u32> = pairs.iter().map(|(src, _)| *src).collect();
    let (_, from_modseq) = remove_messages(conn, fx, op.from, &moved)?;
    // In the MOVE's savepoint: the event exists exactly when the move does (the spam
    // scorer learns from moves into and out of Junk).
    let mut events = Vec::new();
    if !blobs.is_empty() {
        let event = moved_event(conn, op, blobs)?;
        events.push(super::events::insert(conn, &event, unix_now())?);
    }
    Ok(Outcome {
        value: pairs,
        changes: rules::move_changes(op.account_id, (op.to, to_modseq), (op.from, from_modseq)),
        events,
    })
}

/// The addresses of `account_ids`, in that order.
pub(crate) fn account_addresses(
    conn: &Connection,
    account_ids: &[i64],
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(ACCOUNT_ADDRESS)?;
    account_ids
        .iter()
        .map(|id| Ok(stmt.query_row([id], |r| r.get(0))?))
        .collect()
}

/// The `MessageMoved` event of a MOVE of `blobs`.
fn moved_event(conn: &Connection, op: &Move, blobs: Vec<String>) -> Result<EventData, StoreError> {
    let account: String = conn
        .prepare_cached(ACCOUNT_ADDRESS)?
        .query_row([op.account_id], |r| r.get(0))?;
    let mailbox = |id: i64| -> Result<(String, Option<String>), StoreError> {
        Ok(conn
            .prepare_cached(MAILBOX_NAME_USE)?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?)
    };
    Ok(rules::moved_event(
        account,
        op.account_id,
        mailbox(op.from)?,
        mailbox(op.to)?,
        blobs,
    ))
}

/// EXPUNGE / UID EXPUNGE (RFC 9051 §6.4.3, RFC 4315 §2.1): remove messages flagged
/// `\Deleted` (only those in `uids` if given), remember them for QRESYNC, free their space.
pub(crate) fn expunge(
    conn: &Connection,
    fx: &mut BatchEffects,
    op: &Expunge,
) -> Result<Outcome<Vec<u32>>, StoreError> {
    mailbox_owned(conn, op.account_id, op.mailbox_id)?;
    let mut stmt = conn.prepare_cached(FLAGGED_UIDS)?;
    let deleted = stmt
        .query_map(params![op.mailbox_id, FLAG_DELETED], |r| r.get::<_, u32>(0))?
        .collect::<Result<Vec<u32>, _>>()?;
    let uids: Vec<u32> = match &op.uids {
        Some(only) => {
            let only: BTreeSet<u32> = only.iter().copied().collect();
            deleted.into_iter().filter(|u| only.contains(u)).collect()
        }
        None => deleted,
    };
    let (freed, modseq) = remove_messages(conn, fx, op.mailbox_id, &uids)?;
    if freed > 0 {
        conn.prepare_cached(SUB_USAGE)?
            .execute(params![op.account_id, freed as i64])?;
    }
    Ok(rules::expunged_outcome(
        op.account_id,
        op.mailbox_id,
        uids,
        modseq,
    ))
}

/// CREATE (RFC 9051 §6.3.4): the mailbox and any missing superiors, unsubscribed, each with a
/// fresh UIDVALIDITY. Returns the new mailbox as LIST reports it.
pub(crate) fn create_mailbox(
    conn: &Connection,
    op: &CreateMailbox,
) -> Result<Outcome<MailboxInfo>, StoreError> {
    let name = mailbox_name(&op.name)?;
    account_exists(conn, op.account_id)?;
    // RFC 9051 §6.3.4: creating an existing name (INBOX in any case, see `mailbox_name`) is
    // an error.
    if mailbox_exists(conn, op.account_id, &name)? {
        return Err(StoreError::Exists(format!("mailbox {name}")));
    }
    let mut changes = create_superiors(conn, op.account_id, &name)?;
    let (id, modseq) = insert_mailbox(conn, op.account_id, &name)?;
    changes.push(changed(op.account_id, id, MailboxChange::Mailbox, modseq));
    Ok(Outcome {
        value: reads::mailbox_info(conn, op.account_id, id)?,
        changes,
        events: Vec::new(),
    })
}

/// DELETE (RFC 9051 §6.3.5): the mailbox and its messages, released as EXPUNGE releases them
/// (blob references, account usage); its inferiors stay. INBOX cannot be deleted.
///
/// Its `expunged` history goes with it (there is no mailbox left to resynchronise), so the
/// one event is `Mailbox`, not `Expunged`: a session that has it selected learns from
/// `Changes` answering NotFound that it is gone.
pub(crate) fn delete_mailbox(
    conn: &Connection,
    fx: &mut BatchEffects,
    op: &DeleteMailbox,
) -> Result<Outcome<()>, StoreError> {
    let name = canonical_mailbox_name(&op.name);
    // RFC 9051 §6.3.5: it is an error to attempt to delete INBOX.
    if name == "INBOX" {
        return Err(StoreError::Invalid("cannot delete INBOX".into()));
    }
    let info = reads::mailbox_info_by_name(conn, op.account_id, &name)?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {name}")))?;
    let id = info.id;
    // RFC 9051 §6.3.7: the subscription outlives the mailbox (schema version 13).
    if info.subscribed {
        conn.prepare_cached(LOST_SUBSCRIPTION_INSERT)?
            .execute(params![op.account_id, info.name])?;
    }
    let bodies = conn
        .prepare_cached(MAILBOX_BLOBS)?
        .query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    // Rows first: a message row must not outlive the blob row it references.
    conn.prepare_cached(MAILBOX_DELETE_MESSAGES)?
        .execute([id])?;
    let mut freed: u64 = 0;
    for (blob, size) in &bodies {
        release_blob(conn, fx, blob)?;
        freed = freed.saturating_add((*size).max(0) as u64);
    }
    if freed > 0 {
        conn.prepare_cached(SUB_USAGE)?
            .execute(params![op.account_id, freed as i64])?;
    }
    // The event's MODSEQ is above anything the mailbox showed before, so no listener takes
    // it for one it has already seen.
    let modseq = next_modseq(conn, id)?;
    conn.prepare_cached(MAILBOX_DELETE)?.execute([id])?; // `expunged` rows cascade
    Ok(Outcome {
        value: (),
        changes: vec![changed(op.account_id, id, MailboxChange::Mailbox, modseq)],
        events: Vec::new(),
    })
}

/// RENAME (RFC 9051 §6.3.6). A mailbox keeps its id, UIDVALIDITY, messages, special use and
/// subscription, and its inferiors follow it (`a/x` → `b/x`); superiors of the new name are
/// created if missing. INBOX is special: its messages move to a new mailbox and it stays,
/// empty, with its inferiors.
pub(crate) fn rename_mailbox(
    conn: &Connection,
    fx: &mut BatchEffects,
    op: &RenameMailbox,
) -> Result<Outcome<()>, StoreError> {
    let from = canonical_mailbox_name(&op.from);
    let to = mailbox_name(&op.to)?;
    let (from_id, _) = reads::mailbox_by_name(conn, op.account_id, &from)?;
    // INBOX always exists, so renaming to it is renaming to an existing name.
    if to == "INBOX" || mailbox_exists(conn, op.account_id, &to)? {
        return Err(StoreError::Exists(format!("mailbox {to}")));
    }
    if from == "INBOX" {
        return rename_inbox(conn, fx, op.account_id, from_id, &to);
    }
    let all = conn
        .prepare_cached(MAILBOX_NAMES)?
        .query_map([op.account_id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let moving = plan_rename(&all, from_id, &from, &to)?;
    for (id, _) in &moving {
        conn.prepare_cached(MAILBOX_RENAME)?
            .execute(params![id, interim_name(*id)])?;
    }
    let mut changes = Vec::with_capacity(moving.len());
    for (id, new) in &moving {
        conn.prepare_cached(MAILBOX_RENAME)?
            .execute(params![id, new])?;
        claim_lost_subscription(conn, op.account_id, *id, new)?;
        let modseq: i64 = conn
            .prepare_cached(MAILBOX_MODSEQ)?
            .query_row([id], |r| r.get(0))?;
        changes.push(changed(
            op.account_id,
            *id,
            MailboxChange::Mailbox,
            modseq as u64,
        ));
    }
    changes.extend(create_superiors(conn, op.account_id, &to)?);
    Ok(Outcome {
        value: (),
        changes,
        events: Vec::new(),
    })
}

/// RFC 9051 §6.3.6: renaming INBOX moves all its messages to a new mailbox `to` (fresh
/// UIDVALIDITY, new UIDs in the old UID order) and leaves INBOX empty; its inferiors stay.
/// Sessions with INBOX selected hear `Expunged`, and the moves are in its `expunged` history.
fn rename_inbox(
    conn: &Connection,
    fx: &mut BatchEffects,
    account_id: i64,
    inbox_id: i64,
    to: &str,
) -> Result<Outcome<()>, StoreError> {
    let superiors = create_superiors(conn, account_id, to)?;
    let (to_id, created_modseq) = insert_mailbox(conn, account_id, to)?;
    let uids = conn
        .prepare_cached(MAILBOX_UIDS)?
        .query_map([inbox_id], |r| r.get::<_, u32>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    // A move within the account: usage does not change.
    let (_, to_modseq, _) = copy_messages(conn, account_id, inbox_id, &uids, to_id, false)?;
    let (_, inbox_modseq) = remove_messages(conn, fx, inbox_id, &uids)?;
    Ok(rules::inbox_renamed(
        account_id,
        superiors,
        (to_id, to_modseq.unwrap_or(created_modseq)),
        (inbox_id, inbox_modseq),
    ))
}

/// SUBSCRIBE / UNSUBSCRIBE (RFC 9051 §6.3.7, §6.3.8) as a flag on an existing mailbox.
/// RFC 9051 §6.3.7 lets a server check that the mailbox exists; SUBSCRIBE does (NotFound).
/// UNSUBSCRIBE also removes a subscription its mailbox's deletion left behind (schema
/// version 13), else the client could never drop it. Setting the state it already has
/// changes nothing and announces nothing.
pub(crate) fn set_subscribed(
    conn: &Connection,
    op: &SetSubscribed,
) -> Result<Outcome<()>, StoreError> {
    let name = canonical_mailbox_name(&op.name);
    let Some(info) = reads::mailbox_info_by_name(conn, op.account_id, &op.name)? else {
        let dropped = if op.subscribed {
            0
        } else {
            conn.prepare_cached(LOST_SUBSCRIPTION_DELETE)?
                .execute(params![op.account_id, name])?
        };
        if dropped == 0 {
            return Err(StoreError::NotFound(format!("mailbox {name}")));
        }
        // No mailbox, so no session can have it selected: nothing to announce.
        return Ok(Outcome {
            value: (),
            changes: Vec::new(),
            events: Vec::new(),
        });
    };
    let mut changes = Vec::new();
    if info.subscribed != op.subscribed {
        conn.prepare_cached(MAILBOX_SET_SUBSCRIBED)?
            .execute(params![info.id, op.subscribed])?;
        changes.push(changed(
            op.account_id,
            info.id,
            MailboxChange::Mailbox,
            info.highestmodseq,
        ));
    }
    Ok(Outcome {
        value: (),
        changes,
        events: Vec::new(),
    })
}

/// A UIDVALIDITY never used before: one more than the last, and at least the current time,
/// so a store rebuilt from scratch does not repeat values clients have cached
/// (RFC 9051 §2.3.1.1). Shared with the admin CLI, which makes the default mailboxes.
pub(crate) fn next_uidvalidity(conn: &Connection) -> Result<u32, StoreError> {
    let last: i64 = conn
        .prepare_cached(COUNTER_GET)?
        .query_row([UIDVALIDITY], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    let value = rules::next_uidvalidity(last, unix_now())?;
    conn.prepare_cached(COUNTER_SET)?
        .execute(params![UIDVALIDITY, i64::from(value)])?;
    Ok(value)
}

fn account_exists(conn: &Connection, account_id: i64) -> Result<(), StoreError> {
    conn.prepare_cached(ACCOUNT_EXISTS)?
        .query_row([account_id], |_| Ok(()))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("account {account_id}")))
}

/// Whether the account has a mailbox with exactly this (stored) name.
fn mailbox_exists(conn: &Connection, account_id: i64, name: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(MAILBOX_EXISTS)?
        .query_row(params![account_id, name], |_| Ok(()))
        .optional()?
        .is_some())
}

/// A new, empty, unsubscribed mailbox; its id and HIGHESTMODSEQ.
fn insert_mailbox(
    conn: &Connection,
    account_id: i64,
    name: &str,
) -> Result<(i64, u64), StoreError> {
    let uidvalidity = next_uidvalidity(conn)?;
    let (id, modseq): (i64, i64) = conn
        .prepare_cached(MAILBOX_CREATE)?
        .query_row(params![account_id, name, uidvalidity], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    claim_lost_subscription(conn, account_id, id, name)?;
    Ok((id, modseq as u64))
}

/// A mailbox now called `name` takes over a subscription its name kept after an earlier
/// mailbox of that name was deleted: subscriptions are to names (RFC 9051 §6.3.7).
fn claim_lost_subscription(
    conn: &Connection,
    account_id: i64,
    mailbox_id: i64,
    name: &str,
) -> Result<(), StoreError> {
    let claimed = conn
        .prepare_cached(LOST_SUBSCRIPTION_DELETE)?
        .execute(params![account_id, name])?;
    if claimed > 0 {
        conn.prepare_cached(MAILBOX_SET_SUBSCRIBED)?
            .execute(params![mailbox_id, true])?;
    }
    Ok(())
}

/// RFC 9051 §6.3.4: create the superiors of `name` that do not exist ("a/b/c" needs "a" and
/// "a/b"); one `Mailbox` event each.
fn create_superiors(
    conn: &Connection,
    account_id: i64,
    name: &str,
) -> Result<Vec<MailboxChanged>, StoreError> {
    let mut changes = Vec::new();
    for superior in superior_names(name) {
        if !mailbox_exists(conn, account_id, superior)? {
            let (id, modseq) = insert_mailbox(conn, account_id, superior)?;
            changes.push(changed(account_id, id, MailboxChange::Mailbox, modseq));
        }
    }
    Ok(changes)
}

/// The mailbox's UIDVALIDITY if `account_id` owns it; otherwise NotFound, so one account
/// cannot even learn that another's mailbox id exists.
fn mailbox_owned(conn: &Connection, account_id: i64, mailbox_id: i64) -> Result<u32, StoreError> {
    conn.prepare_cached(MAILBOX_OWNED)?
        .query_row(params![mailbox_id, account_id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox_id}")))
}

/// Add `bytes` to the account's usage, refusing to go over its quota.
fn charge(conn: &Connection, account_id: i64, bytes: u64) -> Result<(), StoreError> {
    let (address, quota, used): (String, i64, i64) = conn
        .prepare_cached(ACCOUNT_USAGE)?
        .query_row([account_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("account {account_id}")))?;
    charged_usage(&address, quota, used, bytes)?;
    conn.prepare_cached(ADD_USAGE)?
        .execute(params![account_id, bytes as i64])?;
    Ok(())
}

/// Take `refs` references on the body's blob row, creating it when it is new: with the body
/// in it when small, else naming its file (re-created if it vanished). A file and its
/// directory entry are already durable: the caller's `BlobStore::put` synced both.
fn add_body_ref(
    conn: &Connection,
    blobs: &BlobStore,
    body: &Body,
    refs: i64,
) -> Result<(), StoreError> {
    let existing: Option<i64> = conn
        .prepare_cached(BLOB_REFCOUNT)?
        .query_row([&body.hash], |r| r.get(0))
        .optional()?;
    if existing.is_some() {
        conn.prepare_cached(BLOB_ADD_REFS)?
            .execute(params![body.hash, refs])?;
    } else {
        let data = if body.inline() {
            Some(&body.raw[..])
        } else {
            blobs.ensure(&body.hash, &body.raw)?;
            None
        };
        conn.prepare_cached(BLOB_INSERT)?.execute(params![
            body.hash,
            body.size as i64,
            refs,
            body.meta_json,
            data
        ])?;
        conn.prepare_cached(HEADER_INSERT)?
            .execute(params![body.hash, body.header()])?;
    }
    Ok(())
}

/// Drop one reference; the last one deletes the row and queues the file for removal.
fn release_blob(conn: &Connection, fx: &mut BatchEffects, hash: &str) -> Result<(), StoreError> {
    let left: i64 = conn
        .prepare_cached(BLOB_RELEASE)?
        .query_row([hash], |r| r.get(0))?;
    if left <= 0 {
        conn.prepare_cached(BLOB_DELETE_UNUSED)?.execute([hash])?;
        fx.maybe_orphaned.push(hash.to_string());
    }
    Ok(())
}

/// Insert a message with the mailbox's next UID and a new MODSEQ; returns both.
fn insert_message(
    conn: &Connection,
    mailbox_id: i64,
    blob: &str,
    m: &Stored,
) -> Result<(u32, u64), StoreError> {
    let (uid, modseq): (i64, i64) = conn
        .prepare_cached(NEXT_UID)?
        .query_row([mailbox_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let uid = u32::try_from(uid).map_err(|_| {
        StoreError::Unavailable(format!("mailbox {mailbox_id} has run out of UIDs"))
    })?;
    conn.prepare_cached(MESSAGE_INSERT)?.execute(params![
        mailbox_id,
        uid,
        blob,
        m.flags,
        m.keywords,
        modseq,
        m.internal_date,
        m.size as i64
    ])?;
    Ok((uid, modseq as u64))
}

fn next_modseq(conn: &Connection, mailbox_id: i64) -> Result<u64, StoreError> {
    let m: i64 = conn
        .prepare_cached(NEXT_MODSEQ)?
        .query_row([mailbox_id], |r| r.get(0))?;
    Ok(m as u64)
}

/// (source UID, new UID) pairs, the last MODSEQ given out in the target, and the blob of
/// each copied message (in the order of the pairs).
type Copied = (Vec<(u32, u32)>, Option<u64>, Vec<String>);

/// Copy existing `uids` of `from` into `to`; returns (source, new) UID pairs and the last
/// MODSEQ given out in `to`.
fn copy_messages(
    conn: &Connection,
    account_id: i64,
    from: i64,
    uids: &[u32],
    to: i64,
    count_usage: bool,
) -> Result<Copied, StoreError> {
    mailbox_owned(conn, account_id, from)?;
    mailbox_owned(conn, account_id, to)?;
    let mut rows = Vec::new();
    for uid in sorted_unique(uids) {
        if let Some(row) = reads::message(conn, from, uid)? {
            rows.push(row);
        }
    }
    let total: u64 = rows.iter().map(|(_, m)| m.size).sum();
    if count_usage && total > 0 {
        charge(conn, account_id, total)?;
    }
    let mut pairs = Vec::with_capacity(rows.len());
    let mut last = None;
    let mut copied = Vec::with_capacity(rows.len());
    for (blob, m) in rows {
        conn.prepare_cached(BLOB_ADD_REFS)?
            .execute(params![blob, 1])?;
        let stored = Stored::copy_of(&m);
        let (uid, modseq) = insert_message(conn, to, &blob, &stored)?;
        pairs.push((m.uid, uid));
        last = Some(modseq);
        copied.push(blob);
    }
    Ok((pairs, last, copied))
}

/// Delete `uids` from a mailbox under one new MODSEQ, recording them as expunged and
/// releasing their bodies. Returns the octets freed and that MODSEQ (None if nothing was
/// there).
fn remove_messages(
    conn: &Connection,
    fx: &mut BatchEffects,
    mailbox_id: i64,
    uids: &[u32],
) -> Result<(u64, Option<u64>), StoreError> {
    if uids.is_empty() {
        return Ok((0, None));
    }
    let modseq = next_modseq(conn, mailbox_id)?;
    let mut freed = 0;
    for &uid in uids {
        let Some((blob, m)) = reads::message(conn, mailbox_id, uid)? else {
            continue;
        };
        conn.prepare_cached(MESSAGE_DELETE)?
            .execute(params![mailbox_id, uid])?;
        conn.prepare_cached(EXPUNGED_INSERT)?
            .execute(params![mailbox_id, uid, modseq as i64])?;
        release_blob(conn, fx, &blob)?;
        freed += m.size;
    }
    Ok((freed, Some(modseq)))
}

/// POP3 UPDATE (RFC 1939 §6): remove exactly `uids`, whatever their flags, in this one
/// savepoint, as EXPUNGE removes messages (remembered for QRESYNC, bodies released, space
/// credited). UIDs already gone are skipped; if none is left, nothing changes and nothing
/// is announced.
pub(crate) fn remove_uids(
    conn: &Connection,
    fx: &mut BatchEffects,
    op: &RemoveMessages,
) -> Result<Outcome<Vec<u32>>, StoreError> {
    mailbox_owned(conn, op.account_id, op.mailbox_id)?;
    let mut present = Vec::new();
    for uid in sorted_unique(&op.uids) {
        if reads::message(conn, op.mailbox_id, uid)?.is_some() {
            present.push(uid);
        }
    }
    let (freed, modseq) = remove_messages(conn, fx, op.mailbox_id, &present)?;
    if freed > 0 {
        conn.prepare_cached(SUB_USAGE)?
            .execute(params![op.account_id, freed as i64])?;
    }
    Ok(rules::expunged_outcome(
        op.account_id,
        op.mailbox_id,
        present,
        modseq,
    ))
}
