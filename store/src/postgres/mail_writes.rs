//! Message writes of the PostgreSQL engine: deliver, append, flags, copy, move, expunge and
//! POP3's removal, each inside one transaction of [`super::txn::write`].
//!
//! Ordering across nodes comes from row locks held to COMMIT, always taken in one order so
//! that two writers cannot wait on each other: the account rows first (ascending id; only
//! writes that change usage take them), then the mailbox rows (ascending id), then blob rows
//! (ascending key). A new UID and MODSEQ come from `UPDATE mailboxes … RETURNING` on the
//! locked row, so allocations on one mailbox are serialised and commit in the order they
//! were made: no UID is given twice, and MODSEQs grow in commit order. Every removed message
//! is recorded in `expunged` under the MODSEQ of its removal (RFC 7162 §3.2.5).
//!
//! Bodies are stored once per SHA-256 in `blobs` (data, header block and analysis) with a
//! reference per message; a MOVE takes no new references and releases none (one message row
//! replaces another), which is what adding one and dropping one would come to.

use std::collections::{BTreeMap, BTreeSet};

use deadpool_postgres::Transaction;

use super::event_rows;
use super::mail_reads::{MESSAGE_COLUMNS, message_from_row, modseq_param, small, uid_array};
use super::txn::TxResult;
use super::unix_now;
use crate::common::messages::{
    self as rules, AppendOp, Body, DeliverOp, Stored, added, apply_flags, charged_usage,
    keywords_to_text, sorted_unique,
};
use crate::engine::Outcome;
use crate::error::StoreError;
use crate::requests::{Expunge, Move, RemoveMessages, SetFlags};
use crate::types::{
    Appended, Delivered, FLAG_DELETED, FlagsResult, MessageInfo, canonical_mailbox_name,
    check_flags, normalize_keywords,
};

const ACCOUNTS_LOCK: &str = "SELECT id, address, quota_bytes, used_bytes FROM accounts \
     WHERE id = ANY($1) ORDER BY id FOR UPDATE";
const SET_USAGE: &str = "UPDATE accounts SET used_bytes = $2 WHERE id = $1";
const SUB_USAGE: &str =
    "UPDATE accounts SET used_bytes = GREATEST(used_bytes - $2, 0) WHERE id = $1";
const ACCOUNT_ADDRESS: &str = "SELECT address FROM accounts WHERE id = $1";
const JUNK_MAILBOX: &str = "SELECT id FROM mailboxes WHERE account_id = $1 \
     AND special_use = '\\Junk' ORDER BY id LIMIT 1";
const MAILBOX_BY_NAME: &str = "SELECT id FROM mailboxes WHERE account_id = $1 AND name = $2";
const MAILBOXES_LOCK: &str = "SELECT id, account_id, uidvalidity FROM mailboxes \
     WHERE id = ANY($1) ORDER BY id FOR UPDATE";
const MAILBOX_NAME_USE: &str = "SELECT name, special_use FROM mailboxes WHERE id = $1";
const BLOB_ADD_REFS: &str = "UPDATE blobs SET refcount = refcount + $2 WHERE sha256 = $1";
const BLOB_INSERT: &str = "INSERT INTO blobs (sha256, size, refcount, meta, headers, data) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (sha256) DO UPDATE SET refcount = blobs.refcount + EXCLUDED.refcount";
const BLOB_RELEASE: &str = "UPDATE blobs SET refcount = GREATEST(refcount - $2, 0) \
     WHERE sha256 = $1 RETURNING refcount";
const BLOB_DELETE_UNUSED: &str = "DELETE FROM blobs WHERE sha256 = $1 AND refcount <= 0";
const NEXT_UID: &str = "UPDATE mailboxes SET uidnext = uidnext + 1, \
     highestmodseq = highestmodseq + 1 WHERE id = $1 RETURNING uidnext - 1, highestmodseq";
const NEXT_MODSEQ: &str =
    "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = $1 RETURNING highestmodseq";
const MESSAGE_INSERT: &str = "INSERT INTO messages \
     (mailbox_id, uid, blob, flags, keywords, modseq, internal_date, size) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const MESSAGE_SET_FLAGS: &str = "UPDATE messages SET flags = $3, keywords = $4, modseq = $5 \
     WHERE mailbox_id = $1 AND uid = $2";
const MESSAGES_DELETE: &str =
    "DELETE FROM messages WHERE mailbox_id = $1 AND uid = ANY($2) RETURNING uid, blob, size";
const EXPUNGED_INSERT: &str = "INSERT INTO expunged (mailbox_id, uid, modseq) \
     SELECT $1, u, $3 FROM unnest($2::BIGINT[]) AS u \
     ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = EXCLUDED.modseq";
const FLAGGED_UIDS: &str =
    "SELECT uid FROM messages WHERE mailbox_id = $1 AND flags & $2 != 0 ORDER BY uid";
const PRESENT_UIDS: &str =
    "SELECT uid FROM messages WHERE mailbox_id = $1 AND uid = ANY($2) ORDER BY uid";

/// An account row locked for a change of its usage.
struct Usage {
    address: String,
    quota: i64,
    used: i64,
}

/// Lock the rows of `ids` (ascending), for changes of their usage.
async fn lock_accounts(tx: &Transaction<'_>, ids: &[i64]) -> TxResult<BTreeMap<i64, Usage>> {
    let rows = tx.query(ACCOUNTS_LOCK, &[&ids]).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let usage = Usage {
                address: r.get(1),
                quota: r.get(2),
                used: r.get(3),
            };
            (r.get(0), usage)
        })
        .collect())
}

/// Lock the mailboxes `ids` (ascending) that `account_id` owns; their UIDVALIDITYs in the
/// order of `ids`. NotFound for the first one it does not own, so one account cannot even
/// learn that another's mailbox id exists.
pub(crate) async fn lock_owned(
    tx: &Transaction<'_>,
    account_id: i64,
    ids: &[i64],
) -> TxResult<Vec<u32>> {
    // The account's row first, as every write of its mail does: writes of one account then
    // queue behind each other instead of taking mailbox and message locks in different
    // orders (a STORE beside an EXPUNGE deadlocked, and PostgreSQL breaks a deadlock only
    // after a second).
    lock_accounts(tx, &[account_id]).await?;
    let rows = tx.query(MAILBOXES_LOCK, &[&ids]).await?;
    let mut owned = BTreeMap::new();
    for r in &rows {
        if r.get::<_, i64>(1) == account_id {
            owned.insert(r.get::<_, i64>(0), small(r.get(2), "uidvalidity")?);
        }
    }
    ids.iter()
        .map(|id| {
            owned
                .get(id)
                .copied()
                .ok_or_else(|| StoreError::NotFound(format!("mailbox {id}")).into())
        })
        .collect()
}

/// Charge `bytes` to a locked account, refusing to go over its quota.
async fn charge(
    tx: &Transaction<'_>,
    accounts: &mut BTreeMap<i64, Usage>,
    account_id: i64,
    bytes: u64,
) -> TxResult<()> {
    let usage = accounts
        .get_mut(&account_id)
        .ok_or_else(|| StoreError::NotFound(format!("account {account_id}")))?;
    let after = charged_usage(&usage.address, usage.quota, usage.used, bytes)?;
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    tx.execute(SET_USAGE, &[&account_id, &after]).await?;
    usage.used = after;
    Ok(())
}

/// Credit `bytes` freed by removals to the account.
async fn credit(tx: &Transaction<'_>, account_id: i64, bytes: u64) -> TxResult<()> {
    if bytes > 0 {
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        tx.execute(SUB_USAGE, &[&account_id, &bytes]).await?;
    }
    Ok(())
}

/// Take `refs` references on the body's row, creating it (data, header block, analysis)
/// when it is new.
async fn add_body_ref(tx: &Transaction<'_>, body: &Body, refs: i64) -> TxResult<()> {
    if tx.execute(BLOB_ADD_REFS, &[&body.hash, &refs]).await? > 0 {
        return Ok(());
    }
    let size = i64::try_from(body.size).unwrap_or(i64::MAX);
    tx.execute(
        BLOB_INSERT,
        &[
            &body.hash,
            &size,
            &refs,
            &body.meta_json,
            &body.header(),
            &&body.raw[..],
        ],
    )
    .await?;
    Ok(())
}

/// Count one reference per entry of `blobs`, by key.
fn tally(blobs: &[String]) -> BTreeMap<&str, i64> {
    let mut refs = BTreeMap::new();
    for blob in blobs {
        *refs.entry(blob.as_str()).or_insert(0) += 1;
    }
    refs
}

/// One more reference per entry of `blobs` (in key order).
async fn add_refs(tx: &Transaction<'_>, blobs: &[String]) -> TxResult<()> {
    for (blob, n) in tally(blobs) {
        tx.execute(BLOB_ADD_REFS, &[&blob, &n]).await?;
    }
    Ok(())
}

/// One reference less per entry of `blobs` (in key order); a body left without any goes.
pub(crate) async fn release_refs(tx: &Transaction<'_>, blobs: &[String]) -> TxResult<()> {
    for (blob, n) in tally(blobs) {
        let left: Option<i64> = tx
            .query_opt(BLOB_RELEASE, &[&blob, &n])
            .await?
            .map(|r| r.get(0));
        if left.is_some_and(|left| left <= 0) {
            tx.execute(BLOB_DELETE_UNUSED, &[&blob]).await?;
        }
    }
    Ok(())
}

/// Insert a message with the (locked) mailbox's next UID and a new MODSEQ; returns both.
async fn insert_message(
    tx: &Transaction<'_>,
    mailbox_id: i64,
    blob: &str,
    m: &Stored,
) -> TxResult<(u32, u64)> {
    let row = tx
        .query_opt(NEXT_UID, &[&mailbox_id])
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox_id}")))?;
    let (uid, modseq): (i64, i64) = (row.get(0), row.get(1));
    let uid32 = u32::try_from(uid).map_err(|_| {
        StoreError::Unavailable(format!("mailbox {mailbox_id} has run out of UIDs"))
    })?;
    let size = i64::try_from(m.size).unwrap_or(i64::MAX);
    tx.execute(
        MESSAGE_INSERT,
        &[
            &mailbox_id,
            &uid,
            &blob,
            &i32::from(m.flags),
            &m.keywords,
            &modseq,
            &m.internal_date,
            &size,
        ],
    )
    .await?;
    Ok((uid32, modseq.max(0) as u64))
}

/// A new MODSEQ of a (locked) mailbox.
pub(crate) async fn next_modseq(tx: &Transaction<'_>, mailbox_id: i64) -> TxResult<u64> {
    let row = tx
        .query_opt(NEXT_MODSEQ, &[&mailbox_id])
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox_id}")))?;
    Ok(row.get::<_, i64>(0).max(0) as u64)
}

/// Deliver one body into the INBOX of every recipient (their Junk mailbox for those in
/// `op.junk`, INBOX when they have none): one blob row with one reference per recipient, one
/// message per mailbox, and the delivery's event. Any recipient failing fails all.
pub(crate) async fn deliver(
    tx: &Transaction<'_>,
    op: &DeliverOp,
) -> TxResult<Outcome<Vec<Delivered>>> {
    let mut recipients = op.recipients.clone();
    recipients.sort_unstable();
    recipients.dedup();
    if recipients.is_empty() {
        return Err(StoreError::Invalid("a delivery needs a recipient".into()).into());
    }
    let mut accounts = lock_accounts(tx, &recipients).await?;
    let mut targets = Vec::with_capacity(recipients.len());
    for &account_id in &recipients {
        charge(tx, &mut accounts, account_id, op.body.size).await?;
        let junk = if op.junk.contains(&account_id) {
            tx.query_opt(JUNK_MAILBOX, &[&account_id])
                .await?
                .map(|r| r.get::<_, i64>(0))
        } else {
            None
        };
        let mailbox_id = match junk {
            Some(id) => id,
            None => tx
                .query_opt(MAILBOX_BY_NAME, &[&account_id, &"INBOX"])
                .await?
                .map(|r| r.get::<_, i64>(0))
                .ok_or_else(|| StoreError::NotFound("mailbox INBOX".into()))?,
        };
        targets.push((account_id, mailbox_id));
    }
    let mut mailbox_ids: Vec<i64> = targets.iter().map(|(_, m)| *m).collect();
    mailbox_ids.sort_unstable();
    tx.query(MAILBOXES_LOCK, &[&mailbox_ids]).await?;
    add_body_ref(tx, &op.body, recipients.len() as i64).await?;
    let stored = Stored::delivered(op);
    let mut value = Vec::with_capacity(targets.len());
    let mut changes = Vec::with_capacity(targets.len());
    for (account_id, mailbox_id) in targets {
        let (uid, modseq) = insert_message(tx, mailbox_id, &op.body.hash, &stored).await?;
        value.push(Delivered {
            account_id,
            mailbox_id,
            uid,
        });
        changes.push(added(account_id, mailbox_id, modseq));
    }
    let mut events = Vec::new();
    if let Some(event) = &op.event {
        let addresses = recipients
            .iter()
            .filter_map(|id| accounts.get(id).map(|u| u.address.clone()))
            .collect();
        let event = rules::delivery_event(event, addresses);
        events.push(event_rows::insert(tx, &event, unix_now()).await?);
    }
    Ok(Outcome {
        value,
        changes,
        events,
    })
}

/// APPEND (RFC 9051 §6.3.12) one body to a mailbox of the account.
pub(crate) async fn append(tx: &Transaction<'_>, op: &AppendOp) -> TxResult<Outcome<Appended>> {
    let mut accounts = lock_accounts(tx, &[op.account_id]).await?;
    let name = canonical_mailbox_name(&op.mailbox);
    let mailbox_id: i64 = tx
        .query_opt(MAILBOX_BY_NAME, &[&op.account_id, &name])
        .await?
        .map(|r| r.get(0))
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {name}")))?;
    let uidvalidity = lock_owned(tx, op.account_id, &[mailbox_id]).await?[0];
    charge(tx, &mut accounts, op.account_id, op.body.size).await?;
    add_body_ref(tx, &op.body, 1).await?;
    let stored = Stored::appended(op);
    let (uid, modseq) = insert_message(tx, mailbox_id, &op.body.hash, &stored).await?;
    Ok(Outcome {
        value: Appended { uidvalidity, uid },
        changes: vec![added(op.account_id, mailbox_id, modseq)],
        events: Vec::new(),
    })
}

/// The existing `uids` of a mailbox with their body keys, by ascending UID.
async fn messages(
    tx: &Transaction<'_>,
    mailbox_id: i64,
    uids: &[u32],
) -> TxResult<Vec<(MessageInfo, String)>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS}, blob FROM messages WHERE mailbox_id = $1 \
         AND uid = ANY($2) ORDER BY uid"
    );
    let rows = tx
        .query(&sql, &[&mailbox_id, &uid_array(&sorted_unique(uids))])
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push((message_from_row(r, 0)?, r.get(6)));
    }
    Ok(out)
}

/// STORE (RFC 9051 §6.4.6) with CONDSTORE's UNCHANGEDSINCE (RFC 7162 §3.1.3); UIDs that do
/// not exist are ignored. Each changed message takes a new MODSEQ.
pub(crate) async fn set_flags(
    tx: &Transaction<'_>,
    op: &SetFlags,
) -> TxResult<Outcome<FlagsResult>> {
    lock_owned(tx, op.account_id, &[op.mailbox_id]).await?;
    let flags = check_flags(op.flags)?;
    let keywords = normalize_keywords(&op.keywords)?;
    let mut result = FlagsResult {
        updated: Vec::new(),
        failed_modified: Vec::new(),
    };
    for (info, _) in messages(tx, op.mailbox_id, &op.uids).await? {
        if op.unchanged_since.is_some_and(|since| info.modseq > since) {
            result.failed_modified.push(info.uid);
            continue;
        }
        let Some((new_flags, new_keywords)) = apply_flags(op.op, flags, &keywords, &info)? else {
            continue;
        };
        let modseq = next_modseq(tx, op.mailbox_id).await?;
        tx.execute(
            MESSAGE_SET_FLAGS,
            &[
                &op.mailbox_id,
                &i64::from(info.uid),
                &i32::from(new_flags),
                &keywords_to_text(&new_keywords),
                &modseq_param(modseq),
            ],
        )
        .await?;
        result.updated.push(MessageInfo {
            flags: new_flags,
            keywords: new_keywords,
            modseq,
            ..info
        });
    }
    Ok(rules::flags_outcome(op.account_id, op.mailbox_id, result))
}

/// (source UID, new UID) pairs, the last MODSEQ given out in the target, and the body key of
/// each copied message (in the order of the pairs).
pub(crate) type Copied = (Vec<(u32, u32)>, Option<u64>, Vec<String>);

/// Insert copies of `rows` into the locked mailbox `to`, by ascending source UID.
async fn insert_copies(
    tx: &Transaction<'_>,
    rows: Vec<(MessageInfo, String)>,
    to: i64,
) -> TxResult<Copied> {
    let mut pairs = Vec::with_capacity(rows.len());
    let mut last = None;
    let mut blobs = Vec::with_capacity(rows.len());
    for (m, blob) in rows {
        let (uid, modseq) = insert_message(tx, to, &blob, &Stored::copy_of(&m)).await?;
        pairs.push((m.uid, uid));
        last = Some(modseq);
        blobs.push(blob);
    }
    Ok((pairs, last, blobs))
}

/// COPY (RFC 9051 §6.4.7): new UIDs in `to`, same body (one more reference), same flags and
/// INTERNALDATE. Counts against the quota.
pub(crate) async fn copy(
    tx: &Transaction<'_>,
    account_id: i64,
    from: i64,
    uids: &[u32],
    to: i64,
) -> TxResult<Outcome<Vec<(u32, u32)>>> {
    let mut accounts = lock_accounts(tx, &[account_id]).await?;
    lock_owned(tx, account_id, &[from, to]).await?;
    let rows = messages(tx, from, uids).await?;
    let total: u64 = rows.iter().map(|(m, _)| m.size).sum();
    if total > 0 {
        charge(tx, &mut accounts, account_id, total).await?;
    }
    let blobs: Vec<String> = rows.iter().map(|(_, b)| b.clone()).collect();
    add_refs(tx, &blobs).await?;
    let (pairs, modseq, _) = insert_copies(tx, rows, to).await?;
    Ok(Outcome {
        value: pairs,
        changes: modseq
            .map(|m| added(account_id, to, m))
            .into_iter()
            .collect(),
        events: Vec::new(),
    })
}

/// Move the existing `uids` of the locked mailbox `from` to the locked mailbox `to`: new
/// UIDs there, removed (and remembered as expunged) here. The bodies keep their references
/// and the account its usage. Returns what was copied and the MODSEQ of the removal.
pub(crate) async fn move_rows(
    tx: &Transaction<'_>,
    from: i64,
    uids: &[u32],
    to: i64,
) -> TxResult<(Copied, Option<u64>)> {
    let rows = messages(tx, from, uids).await?;
    let copied = insert_copies(tx, rows, to).await?;
    let moved: Vec<u32> = copied.0.iter().map(|(src, _)| *src).collect();
    let (_, removed) = remove_rows(tx, from, &moved).await?;
    Ok((copied, removed))
}

/// MOVE (RFC 6851): copy and expunge in one transaction, so no client ever sees the message
/// in both places or in neither; with its `MessageMoved` event when anything moved.
pub(crate) async fn move_messages(
    tx: &Transaction<'_>,
    op: &Move,
) -> TxResult<Outcome<Vec<(u32, u32)>>> {
    lock_owned(tx, op.account_id, &[op.from, op.to]).await?;
    let ((pairs, to_modseq, blobs), from_modseq) = move_rows(tx, op.from, &op.uids, op.to).await?;
    let mut events = Vec::new();
    if !blobs.is_empty() {
        let account: String = tx
            .query_one(ACCOUNT_ADDRESS, &[&op.account_id])
            .await?
            .get(0);
        let from = named(tx, op.from).await?;
        let to = named(tx, op.to).await?;
        let event = rules::moved_event(account, op.account_id, from, to, blobs);
        events.push(event_rows::insert(tx, &event, unix_now()).await?);
    }
    Ok(Outcome {
        value: pairs,
        changes: rules::move_changes(op.account_id, (op.to, to_modseq), (op.from, from_modseq)),
        events,
    })
}

/// A mailbox's name and special use.
async fn named(tx: &Transaction<'_>, mailbox_id: i64) -> TxResult<rules::NamedMailbox> {
    let r = tx.query_one(MAILBOX_NAME_USE, &[&mailbox_id]).await?;
    Ok((r.get(0), r.get(1)))
}

/// Delete `uids` from the locked mailbox under one new MODSEQ, recording them as expunged.
/// Returns the removed messages' body keys and sizes, and that MODSEQ (None if `uids` is
/// empty). The caller releases the bodies and credits the space, or not (a move).
async fn remove_rows(
    tx: &Transaction<'_>,
    mailbox_id: i64,
    uids: &[u32],
) -> TxResult<(Vec<(String, u64)>, Option<u64>)> {
    if uids.is_empty() {
        return Ok((Vec::new(), None));
    }
    let modseq = next_modseq(tx, mailbox_id).await?;
    let uids = uid_array(uids);
    let rows = tx.query(MESSAGES_DELETE, &[&mailbox_id, &uids]).await?;
    let removed: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    tx.execute(
        EXPUNGED_INSERT,
        &[&mailbox_id, &removed, &modseq_param(modseq)],
    )
    .await?;
    let bodies = rows
        .iter()
        .map(|r| (r.get(1), r.get::<_, i64>(2).max(0) as u64))
        .collect();
    Ok((bodies, Some(modseq)))
}

/// Remove `uids` from the locked mailbox as EXPUNGE does: remembered for QRESYNC, bodies
/// released, space credited to the account. Returns the MODSEQ of the removal.
async fn expunge_rows(
    tx: &Transaction<'_>,
    account_id: i64,
    mailbox_id: i64,
    uids: &[u32],
) -> TxResult<Option<u64>> {
    let (bodies, modseq) = remove_rows(tx, mailbox_id, uids).await?;
    let blobs: Vec<String> = bodies.iter().map(|(b, _)| b.clone()).collect();
    release_refs(tx, &blobs).await?;
    credit(tx, account_id, bodies.iter().map(|(_, s)| *s).sum()).await?;
    Ok(modseq)
}

/// EXPUNGE / UID EXPUNGE (RFC 9051 §6.4.3, RFC 4315 §2.1): remove messages flagged
/// `\Deleted` (only those in `uids` if given).
pub(crate) async fn expunge(tx: &Transaction<'_>, op: &Expunge) -> TxResult<Outcome<Vec<u32>>> {
    lock_accounts(tx, &[op.account_id]).await?;
    lock_owned(tx, op.account_id, &[op.mailbox_id]).await?;
    let deleted = tx
        .query(FLAGGED_UIDS, &[&op.mailbox_id, &i32::from(FLAG_DELETED)])
        .await?
        .iter()
        .map(|r| small(r.get(0), "uid"))
        .collect::<Result<Vec<u32>, _>>()?;
    let uids: Vec<u32> = match &op.uids {
        Some(only) => {
            let only: BTreeSet<u32> = only.iter().copied().collect();
            deleted.into_iter().filter(|u| only.contains(u)).collect()
        }
        None => deleted,
    };
    let modseq = expunge_rows(tx, op.account_id, op.mailbox_id, &uids).await?;
    Ok(rules::expunged_outcome(
        op.account_id,
        op.mailbox_id,
        uids,
        modseq,
    ))
}

/// POP3 UPDATE (RFC 1939 §6): remove exactly `uids`, whatever their flags, as EXPUNGE
/// removes messages. UIDs already gone are skipped; if none is left, nothing changes and
/// nothing is announced.
pub(crate) async fn remove_messages(
    tx: &Transaction<'_>,
    op: &RemoveMessages,
) -> TxResult<Outcome<Vec<u32>>> {
    lock_accounts(tx, &[op.account_id]).await?;
    lock_owned(tx, op.account_id, &[op.mailbox_id]).await?;
    let present = tx
        .query(
            PRESENT_UIDS,
            &[&op.mailbox_id, &uid_array(&sorted_unique(&op.uids))],
        )
        .await?
        .iter()
        .map(|r| small(r.get(0), "uid"))
        .collect::<Result<Vec<u32>, _>>()?;
    let modseq = expunge_rows(tx, op.account_id, op.mailbox_id, &present).await?;
    Ok(rules::expunged_outcome(
        op.account_id,
        op.mailbox_id,
        present,
        modseq,
    ))
}

/// Release the bodies of every message of the locked mailbox and credit their space, as
/// EXPUNGE would, before the mailbox is deleted (its `expunged` history goes with it).
pub(crate) async fn empty_for_delete(
    tx: &Transaction<'_>,
    account_id: i64,
    mailbox_id: i64,
) -> TxResult<()> {
    let rows = tx
        .query(
            "DELETE FROM messages WHERE mailbox_id = $1 RETURNING blob, size",
            &[&mailbox_id],
        )
        .await?;
    let blobs: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    release_refs(tx, &blobs).await?;
    let freed: u64 = rows.iter().map(|r| r.get::<_, i64>(1).max(0) as u64).sum();
    credit(tx, account_id, freed).await
}

/// Lock the account row `account_id` (the first lock of a write that changes its usage).
pub(crate) async fn lock_account(tx: &Transaction<'_>, account_id: i64) -> TxResult<()> {
    lock_accounts(tx, &[account_id]).await?;
    Ok(())
}
