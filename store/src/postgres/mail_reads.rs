//! Mailbox and message reads of the PostgreSQL engine, as functions over a transaction so
//! that the writes use them too. Nothing here writes. Columns are BIGINT where the types use
//! u32/u64; a stored value out of range is reported as a damaged store.

use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use super::txn::TxResult;
use crate::common::messages::keywords_from_text;
use crate::error::StoreError;
use crate::types::{ChangeSet, MailboxInfo, MessageInfo, canonical_mailbox_name};

/// LIST/STATUS columns for [`mailbox_from_row`]; the caller appends to the WHERE clause.
/// The counters are kept by the `messages_count` trigger; the recent count walks the
/// (mailbox_id, uid) index over the unclaimed messages only.
const MAILBOX_INFO_SELECT: &str = "SELECT b.id, b.name, b.special_use, b.uidvalidity, \
     b.uidnext, b.highestmodseq, b.subscribed, \
     b.n_messages, b.n_unseen, b.n_deleted, b.total_size, b.recent_uid, \
     (SELECT count(*) FROM messages m WHERE m.mailbox_id = b.id AND m.uid > b.recent_uid) \
     FROM mailboxes b WHERE b.account_id = $1";
/// Columns for [`message_from_row`].
pub(crate) const MESSAGE_COLUMNS: &str = "uid, flags, keywords, modseq, internal_date, size";
const LOST_SUBSCRIPTIONS: &str =
    "SELECT name FROM lost_subscriptions WHERE account_id = $1 ORDER BY name";
const MAILBOX_OWNER: &str = "SELECT 1 FROM mailboxes WHERE id = $1 AND account_id = $2";
const EXPUNGED_SINCE: &str =
    "SELECT uid FROM expunged WHERE mailbox_id = $1 AND modseq > $2 ORDER BY uid";
const STORED_META: &str = "SELECT meta FROM blobs WHERE sha256 = $1";
/// Bodies (or header blocks) of some UIDs of a mailbox the account owns.
const BODIES: &str = "SELECT m.uid, m.blob, m.size, bl.data FROM messages m \
     JOIN mailboxes b ON b.id = m.mailbox_id JOIN blobs bl ON bl.sha256 = m.blob \
     WHERE m.mailbox_id = $1 AND b.account_id = $2 AND m.uid = ANY($3) ORDER BY m.uid";
const HEADERS: &str = "SELECT m.uid, bl.headers FROM messages m \
     JOIN mailboxes b ON b.id = m.mailbox_id JOIN blobs bl ON bl.sha256 = m.blob \
     WHERE m.mailbox_id = $1 AND b.account_id = $2 AND m.uid = ANY($3) ORDER BY m.uid";

/// A stored BIGINT that the types hold as u32.
pub(crate) fn small(value: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(value)
        .map_err(|_| StoreError::Unavailable(format!("stored {what} {value} is out of range")))
}

/// A stored count or size, never below zero.
pub(crate) fn count(value: i64) -> u64 {
    value.max(0) as u64
}

/// UIDs as the BIGINT array the queries take.
pub(crate) fn uid_array(uids: &[u32]) -> Vec<i64> {
    uids.iter().map(|&u| i64::from(u)).collect()
}

/// A MODSEQ as the BIGINT it is stored as; one above any BIGINT matches nothing.
pub(crate) fn modseq_param(modseq: u64) -> i64 {
    i64::try_from(modseq).unwrap_or(i64::MAX)
}

/// A [`MessageInfo`] from the [`MESSAGE_COLUMNS`], starting at column `at`.
pub(crate) fn message_from_row(r: &Row, at: usize) -> Result<MessageInfo, StoreError> {
    Ok(MessageInfo {
        uid: small(r.get(at), "uid")?,
        flags: u8::try_from(r.get::<_, i32>(at + 1))
            .map_err(|_| StoreError::Unavailable("stored flags are out of range".into()))?,
        keywords: keywords_from_text(r.get(at + 2)),
        modseq: count(r.get(at + 3)),
        internal_date: r.get(at + 4),
        size: count(r.get(at + 5)),
    })
}

fn mailbox_from_row(r: &Row) -> Result<MailboxInfo, StoreError> {
    Ok(MailboxInfo {
        id: r.get(0),
        name: r.get(1),
        special_use: r.get(2),
        uidvalidity: small(r.get(3), "uidvalidity")?,
        uidnext: small(r.get(4), "uidnext")?,
        highestmodseq: count(r.get(5)),
        subscribed: r.get(6),
        exists: small(r.get(7), "message count")?,
        unseen: small(r.get(8), "unseen count")?,
        deleted: small(r.get(9), "deleted count")?,
        size: count(r.get(10)),
        recent_uid: small(r.get(11), "recent uid")?,
        recent: small(r.get(12), "recent count")?,
    })
}

/// LIST data for every mailbox of the account, in creation order.
pub(crate) async fn list_mailboxes(
    tx: &Transaction<'_>,
    account_id: i64,
) -> TxResult<Vec<MailboxInfo>> {
    let sql = format!("{MAILBOX_INFO_SELECT} ORDER BY b.id");
    let rows = tx.query(&sql, &[&account_id]).await?;
    Ok(rows
        .iter()
        .map(mailbox_from_row)
        .collect::<Result<_, _>>()?)
}

/// The names the account subscribes to that have no mailbox, sorted.
pub(crate) async fn lost_subscriptions(
    tx: &Transaction<'_>,
    account_id: i64,
) -> TxResult<Vec<String>> {
    let rows = tx.query(LOST_SUBSCRIPTIONS, &[&account_id]).await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// LIST data of the account's mailbox `name` (INBOX in any case), if it has one.
pub(crate) async fn mailbox_info_by_name(
    tx: &Transaction<'_>,
    account_id: i64,
    name: &str,
) -> TxResult<Option<MailboxInfo>> {
    let sql = format!("{MAILBOX_INFO_SELECT} AND b.name = $2");
    let name = canonical_mailbox_name(name);
    match tx.query_opt(&sql, &[&account_id, &name]).await? {
        Some(r) => Ok(Some(mailbox_from_row(&r)?)),
        None => Ok(None),
    }
}

/// LIST data of mailbox `mailbox_id`; NotFound unless `account_id` owns it.
pub(crate) async fn mailbox_info(
    tx: &Transaction<'_>,
    account_id: i64,
    mailbox_id: i64,
) -> TxResult<MailboxInfo> {
    let sql = format!("{MAILBOX_INFO_SELECT} AND b.id = $2");
    match tx.query_opt(&sql, &[&account_id, &mailbox_id]).await? {
        Some(r) => Ok(mailbox_from_row(&r)?),
        None => Err(StoreError::NotFound(format!("mailbox {mailbox_id}")).into()),
    }
}

/// SELECT: the mailbox and all its messages by ascending UID (call it in a snapshot).
pub(crate) async fn select(
    tx: &Transaction<'_>,
    account_id: i64,
    name: &str,
) -> TxResult<(MailboxInfo, Vec<MessageInfo>)> {
    let info = mailbox_info_by_name(tx, account_id, name)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {}", canonical_mailbox_name(name))))?;
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE mailbox_id = $1 ORDER BY uid");
    let rows = tx.query(&sql, &[&info.id]).await?;
    let mut messages = Vec::with_capacity(rows.len());
    for r in &rows {
        messages.push(message_from_row(r, 0)?);
    }
    Ok((info, messages))
}

/// What changed in an owned mailbox since `since_modseq` (RFC 7162 §3.1, §3.2.5); call it
/// in a snapshot.
pub(crate) async fn changes(
    tx: &Transaction<'_>,
    account_id: i64,
    mailbox_id: i64,
    since_modseq: u64,
) -> TxResult<ChangeSet> {
    let mailbox = mailbox_info(tx, account_id, mailbox_id).await?;
    let since = modseq_param(since_modseq);
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE mailbox_id = $1 AND modseq > $2 \
         ORDER BY uid"
    );
    let rows = tx.query(&sql, &[&mailbox_id, &since]).await?;
    let mut changed = Vec::with_capacity(rows.len());
    for r in &rows {
        changed.push(message_from_row(r, 0)?);
    }
    let expunged = tx
        .query(EXPUNGED_SINCE, &[&mailbox_id, &since])
        .await?
        .iter()
        .map(|r| small(r.get(0), "uid"))
        .collect::<Result<_, _>>()?;
    Ok(ChangeSet {
        mailbox,
        changed,
        expunged,
    })
}

/// Whether `account_id` owns `mailbox_id`.
pub(crate) async fn owns(tx: &Transaction<'_>, account_id: i64, mailbox_id: i64) -> TxResult<bool> {
    Ok(tx
        .query_opt(MAILBOX_OWNER, &[&mailbox_id, &account_id])
        .await?
        .is_some())
}

/// The existing `uids` of an owned mailbox (NotFound otherwise) with their body keys, by
/// ascending UID.
pub(crate) async fn messages_with_blob(
    tx: &Transaction<'_>,
    account_id: i64,
    mailbox_id: i64,
    uids: &[u32],
) -> TxResult<Vec<(MessageInfo, String)>> {
    if !owns(tx, account_id, mailbox_id).await? {
        return Err(StoreError::NotFound(format!("mailbox {mailbox_id}")).into());
    }
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS}, blob FROM messages WHERE mailbox_id = $1 \
         AND uid = ANY($2) ORDER BY uid"
    );
    let rows = tx.query(&sql, &[&mailbox_id, &uid_array(uids)]).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push((message_from_row(r, 0)?, r.get(6)));
    }
    Ok(out)
}

/// The stored analysis (JSON of `MessageMeta`) of body `hash`.
pub(crate) async fn stored_meta(tx: &Transaction<'_>, hash: &str) -> TxResult<String> {
    match tx.query_opt(STORED_META, &[&hash]).await? {
        Some(r) => Ok(r.get(0)),
        None => Err(StoreError::Unavailable(format!("blob {hash} has no row")).into()),
    }
}

/// (UID, body key, size, body) of those of `uids` that exist in a mailbox of `account_id`,
/// by ascending UID; none when the account does not own it.
pub(crate) async fn bodies(
    tx: &Transaction<'_>,
    account_id: i64,
    mailbox_id: i64,
    uids: &[u32],
) -> TxResult<Vec<(u32, String, u64, Vec<u8>)>> {
    let rows = tx
        .query(BODIES, &[&mailbox_id, &account_id, &uid_array(uids)])
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push((small(r.get(0), "uid")?, r.get(1), count(r.get(2)), r.get(3)));
    }
    Ok(out)
}

/// (UID, header block) of those of `uids` that exist in a mailbox of `account_id`, by
/// ascending UID; none when the account does not own it.
pub(crate) async fn headers(
    tx: &Transaction<'_>,
    account_id: i64,
    mailbox_id: i64,
    uids: &[u32],
) -> TxResult<Vec<(u32, Vec<u8>)>> {
    let rows = tx
        .query(HEADERS, &[&mailbox_id, &account_id, &uid_array(uids)])
        .await?;
    rows.iter()
        .map(|r| Ok((small(r.get(0), "uid")?, r.get(1))))
        .collect()
}
