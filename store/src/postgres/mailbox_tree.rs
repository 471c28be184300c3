//! The mailbox tree of the PostgreSQL engine: CREATE, DELETE, RENAME, SUBSCRIBE and the
//! `\Recent` mark, each inside one transaction of [`super::txn::write`].
//!
//! UIDVALIDITY comes from `uidvalidity_seq` ([`super::directory::next_uidvalidity`]), raised
//! to the current time when it is behind
//! (the same rule as the embedded engine, [`rules::next_uidvalidity`]); the raise is made
//! under a transaction-scoped advisory lock, so two nodes never raise it to the same value.
//! A name taken meanwhile by another node's CREATE fails on the `(account_id, name)` unique
//! key and is reported as `Exists`.

use deadpool_postgres::Transaction;
use mailroom_shared::msg::{MailboxChange, MailboxChanged};

use super::mail_reads::{self, small};
use super::mail_writes::{empty_for_delete, lock_account, lock_owned, move_rows, next_modseq};
use super::txn::{TxError, TxResult};
use super::{UNIQUE_VIOLATION, sqlstate, unix_now};
use crate::common::messages::{self as rules, changed, interim_name, plan_rename};
use crate::engine::Outcome;
use crate::error::StoreError;
use crate::requests::{ClaimRecent, CreateMailbox, DeleteMailbox, RenameMailbox, SetSubscribed};
use crate::types::{MailboxInfo, canonical_mailbox_name, mailbox_name, superior_names};

/// Held (transaction-scoped) while UIDVALIDITY is raised: any 64-bit constant of our own.
const UIDVALIDITY_LOCK: i64 = 0x6d72_7569_6476_616c; // "mruidval"
const UIDVALIDITY_RAISE: &str = "SELECT setval('uidvalidity_seq', $1)";
const ACCOUNT_EXISTS: &str = "SELECT 1 FROM accounts WHERE id = $1";
const MAILBOX_EXISTS: &str = "SELECT 1 FROM mailboxes WHERE account_id = $1 AND name = $2";
/// CREATE makes unsubscribed mailboxes without a special use.
const MAILBOX_CREATE: &str = "INSERT INTO mailboxes (account_id, name, uidvalidity, subscribed) \
     VALUES ($1, $2, $3, FALSE) RETURNING id, highestmodseq";
const MAILBOX_NAMES: &str = "SELECT id, name FROM mailboxes WHERE account_id = $1 ORDER BY id";
const MAILBOX_ID_BY_NAME: &str = "SELECT id FROM mailboxes WHERE account_id = $1 AND name = $2";
const MAILBOX_RENAME: &str = "UPDATE mailboxes SET name = $2 WHERE id = $1";
const MAILBOX_MODSEQ: &str = "SELECT highestmodseq FROM mailboxes WHERE id = $1";
const MAILBOX_SET_SUBSCRIBED: &str = "UPDATE mailboxes SET subscribed = $2 WHERE id = $1";
const MAILBOX_DELETE: &str = "DELETE FROM mailboxes WHERE id = $1";
const MAILBOX_UIDS: &str = "SELECT uid FROM messages WHERE mailbox_id = $1 ORDER BY uid";
const LOST_SUBSCRIPTION_INSERT: &str = "INSERT INTO lost_subscriptions (account_id, name) \
     VALUES ($1, $2) ON CONFLICT DO NOTHING";
const LOST_SUBSCRIPTION_DELETE: &str =
    "DELETE FROM lost_subscriptions WHERE account_id = $1 AND name = $2";
const RECENT_MARK: &str =
    "SELECT recent_uid FROM mailboxes WHERE id = $1 AND account_id = $2 FOR UPDATE";
const RAISE_MARK: &str = "UPDATE mailboxes SET recent_uid = $2 WHERE id = $1 AND recent_uid < $2";

/// A UIDVALIDITY never used before, on any node.
async fn next_uidvalidity(tx: &Transaction<'_>) -> TxResult<u32> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&UIDVALIDITY_LOCK])
        .await?;
    let next = super::directory::next_uidvalidity(&**tx).await?;
    let value = rules::next_uidvalidity(next - 1, unix_now())?;
    if i64::from(value) != next {
        tx.execute(UIDVALIDITY_RAISE, &[&i64::from(value)]).await?;
    }
    Ok(value)
}

async fn account_exists(tx: &Transaction<'_>, account_id: i64) -> TxResult<()> {
    match tx.query_opt(ACCOUNT_EXISTS, &[&account_id]).await? {
        Some(_) => Ok(()),
        None => Err(StoreError::NotFound(format!("account {account_id}")).into()),
    }
}

/// Whether the account has a mailbox with exactly this (stored) name.
async fn mailbox_exists(tx: &Transaction<'_>, account_id: i64, name: &str) -> TxResult<bool> {
    Ok(tx
        .query_opt(MAILBOX_EXISTS, &[&account_id, &name])
        .await?
        .is_some())
}

/// A unique violation (another writer took the name first) as `Exists`.
fn taken(name: &str) -> impl FnOnce(tokio_postgres::Error) -> TxError + '_ {
    move |e| {
        if sqlstate(&e) == Some(UNIQUE_VIOLATION) {
            TxError::Store(StoreError::Exists(format!("mailbox {name}")))
        } else {
            TxError::Pg(e)
        }
    }
}

/// A new, empty, unsubscribed mailbox (subscribed if its name still was); its id and
/// HIGHESTMODSEQ.
async fn insert_mailbox(tx: &Transaction<'_>, account_id: i64, name: &str) -> TxResult<(i64, u64)> {
    let uidvalidity = i64::from(next_uidvalidity(tx).await?);
    let row = tx
        .query_one(MAILBOX_CREATE, &[&account_id, &name, &uidvalidity])
        .await
        .map_err(taken(name))?;
    let (id, modseq): (i64, i64) = (row.get(0), row.get(1));
    claim_lost_subscription(tx, account_id, id, name).await?;
    Ok((id, modseq.max(0) as u64))
}

/// A mailbox now called `name` takes over a subscription its name kept after an earlier
/// mailbox of that name was deleted: subscriptions are to names (RFC 9051 §6.3.7).
async fn claim_lost_subscription(
    tx: &Transaction<'_>,
    account_id: i64,
    mailbox_id: i64,
    name: &str,
) -> TxResult<()> {
    if tx
        .execute(LOST_SUBSCRIPTION_DELETE, &[&account_id, &name])
        .await?
        > 0
    {
        tx.execute(MAILBOX_SET_SUBSCRIBED, &[&mailbox_id, &true])
            .await?;
    }
    Ok(())
}

/// Create the superiors of `name` that do not exist; one `Mailbox` change each.
async fn create_superiors(
    tx: &Transaction<'_>,
    account_id: i64,
    name: &str,
) -> TxResult<Vec<MailboxChanged>> {
    let mut changes = Vec::new();
    for superior in superior_names(name) {
        if !mailbox_exists(tx, account_id, superior).await? {
            let (id, modseq) = insert_mailbox(tx, account_id, superior).await?;
            changes.push(changed(account_id, id, MailboxChange::Mailbox, modseq));
        }
    }
    Ok(changes)
}

/// CREATE (RFC 9051 §6.3.4): the mailbox and any missing superiors.
pub(crate) async fn create_mailbox(
    tx: &Transaction<'_>,
    op: &CreateMailbox,
) -> TxResult<Outcome<MailboxInfo>> {
    let name = mailbox_name(&op.name)?;
    account_exists(tx, op.account_id).await?;
    if mailbox_exists(tx, op.account_id, &name).await? {
        return Err(StoreError::Exists(format!("mailbox {name}")).into());
    }
    let mut changes = create_superiors(tx, op.account_id, &name).await?;
    let (id, modseq) = insert_mailbox(tx, op.account_id, &name).await?;
    changes.push(changed(op.account_id, id, MailboxChange::Mailbox, modseq));
    Ok(Outcome {
        value: mail_reads::mailbox_info(tx, op.account_id, id).await?,
        changes,
        events: Vec::new(),
    })
}

/// DELETE (RFC 9051 §6.3.5): the mailbox and its messages, released as EXPUNGE releases
/// them; its inferiors and its subscription stay. The one change is `Mailbox`, under a
/// MODSEQ above any the mailbox showed.
pub(crate) async fn delete_mailbox(
    tx: &Transaction<'_>,
    op: &DeleteMailbox,
) -> TxResult<Outcome<()>> {
    let name = canonical_mailbox_name(&op.name);
    if name == "INBOX" {
        return Err(StoreError::Invalid("cannot delete INBOX".into()).into());
    }
    lock_account(tx, op.account_id).await?;
    let id: i64 = tx
        .query_opt(MAILBOX_ID_BY_NAME, &[&op.account_id, &name])
        .await?
        .map(|r| r.get(0))
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {name}")))?;
    lock_owned(tx, op.account_id, &[id]).await?;
    let info = mail_reads::mailbox_info(tx, op.account_id, id).await?;
    if info.subscribed {
        tx.execute(LOST_SUBSCRIPTION_INSERT, &[&op.account_id, &info.name])
            .await?;
    }
    empty_for_delete(tx, op.account_id, id).await?;
    let modseq = next_modseq(tx, id).await?;
    tx.execute(MAILBOX_DELETE, &[&id]).await?; // `expunged` rows cascade
    Ok(Outcome {
        value: (),
        changes: vec![changed(op.account_id, id, MailboxChange::Mailbox, modseq)],
        events: Vec::new(),
    })
}

/// RENAME (RFC 9051 §6.3.6): the mailbox keeps its id, UIDVALIDITY, messages, special use
/// and subscription, its inferiors follow it, missing superiors of the new name are made.
/// INBOX instead moves its messages to a new mailbox and stays.
pub(crate) async fn rename_mailbox(
    tx: &Transaction<'_>,
    op: &RenameMailbox,
) -> TxResult<Outcome<()>> {
    let from = canonical_mailbox_name(&op.from);
    let to = mailbox_name(&op.to)?;
    let from_id: i64 = tx
        .query_opt(MAILBOX_ID_BY_NAME, &[&op.account_id, &from])
        .await?
        .map(|r| r.get(0))
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {from}")))?;
    if to == "INBOX" || mailbox_exists(tx, op.account_id, &to).await? {
        return Err(StoreError::Exists(format!("mailbox {to}")).into());
    }
    if from == "INBOX" {
        return rename_inbox(tx, op.account_id, from_id, &to).await;
    }
    let all: Vec<(i64, String)> = tx
        .query(MAILBOX_NAMES, &[&op.account_id])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let moving = plan_rename(&all, from_id, &from, &to)?;
    for (id, _) in &moving {
        tx.execute(MAILBOX_RENAME, &[id, &interim_name(*id)])
            .await?;
    }
    let mut changes = Vec::with_capacity(moving.len());
    for (id, new) in &moving {
        tx.execute(MAILBOX_RENAME, &[id, new])
            .await
            .map_err(taken(new))?;
        claim_lost_subscription(tx, op.account_id, *id, new).await?;
        let modseq: i64 = tx.query_one(MAILBOX_MODSEQ, &[id]).await?.get(0);
        changes.push(changed(
            op.account_id,
            *id,
            MailboxChange::Mailbox,
            modseq.max(0) as u64,
        ));
    }
    changes.extend(create_superiors(tx, op.account_id, &to).await?);
    Ok(Outcome {
        value: (),
        changes,
        events: Vec::new(),
    })
}

/// RFC 9051 §6.3.6: renaming INBOX moves all its messages to a new mailbox `to` (fresh
/// UIDVALIDITY, new UIDs in the old UID order) and leaves INBOX empty with its inferiors.
async fn rename_inbox(
    tx: &Transaction<'_>,
    account_id: i64,
    inbox_id: i64,
    to: &str,
) -> TxResult<Outcome<()>> {
    let superiors = create_superiors(tx, account_id, to).await?;
    let (to_id, created_modseq) = insert_mailbox(tx, account_id, to).await?;
    lock_owned(tx, account_id, &[inbox_id, to_id]).await?;
    let uids = tx
        .query(MAILBOX_UIDS, &[&inbox_id])
        .await?
        .iter()
        .map(|r| small(r.get(0), "uid"))
        .collect::<Result<Vec<u32>, _>>()?;
    let ((_, to_modseq, _), inbox_modseq) = move_rows(tx, inbox_id, &uids, to_id).await?;
    Ok(rules::inbox_renamed(
        account_id,
        superiors,
        (to_id, to_modseq.unwrap_or(created_modseq)),
        (inbox_id, inbox_modseq),
    ))
}

/// SUBSCRIBE / UNSUBSCRIBE (RFC 9051 §6.3.7, §6.3.8) as a flag on an existing mailbox;
/// UNSUBSCRIBE also drops a name a deleted mailbox left subscribed. Setting the state it
/// already has changes and announces nothing.
pub(crate) async fn set_subscribed(
    tx: &Transaction<'_>,
    op: &SetSubscribed,
) -> TxResult<Outcome<()>> {
    let name = canonical_mailbox_name(&op.name);
    let Some(info) = mail_reads::mailbox_info_by_name(tx, op.account_id, &op.name).await? else {
        let dropped = if op.subscribed {
            0
        } else {
            tx.execute(LOST_SUBSCRIPTION_DELETE, &[&op.account_id, &name])
                .await?
        };
        if dropped == 0 {
            return Err(StoreError::NotFound(format!("mailbox {name}")).into());
        }
        return Ok(Outcome::quiet(()));
    };
    let mut changes = Vec::new();
    if info.subscribed != op.subscribed {
        tx.execute(MAILBOX_SET_SUBSCRIBED, &[&info.id, &op.subscribed])
            .await?;
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

/// Raise the `\Recent` mark of an owned mailbox to `op.up_to` (never lower it); the mark
/// before. The row lock makes concurrent claims, on any node, take turns.
pub(crate) async fn claim_recent(tx: &Transaction<'_>, op: &ClaimRecent) -> TxResult<u32> {
    let before: i64 = tx
        .query_opt(RECENT_MARK, &[&op.mailbox_id, &op.account_id])
        .await?
        .map(|r| r.get(0))
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {}", op.mailbox_id)))?;
    let up_to = i64::from(op.up_to);
    if before < up_to {
        tx.execute(RAISE_MARK, &[&op.mailbox_id, &up_to]).await?;
    }
    small(before, "recent uid").map_err(TxError::from)
}
