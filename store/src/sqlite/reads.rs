//! Read queries, as plain functions over a `Connection`, shared by the read pool, the writer's
//! ops and the admin CLI. Nothing here writes.
//!
//! Recipient resolution reads through here; its rules are in [`crate::common::directory`].

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::common::directory::{self, role_named};
use crate::common::messages::keywords_from_text;
use crate::error::StoreError;
use crate::types::{
    Account, ChangeSet, MailboxInfo, MessageInfo, Resolution, canonical_mailbox_name,
};

const DOMAIN_EXISTS: &str = "SELECT 1 FROM domains WHERE name = ?1";
const FIRST_DOMAIN: &str = "SELECT name FROM domains ORDER BY id LIMIT 1";
const ACCOUNT_QUOTA: &str = "SELECT quota_bytes, used_bytes FROM accounts WHERE id = ?1";
const ACCOUNT_ID_BY_KEY: &str = "SELECT id FROM accounts WHERE address_key = ?1";
const ALIAS_TARGETS: &str = "SELECT target FROM aliases WHERE source_key = ?1 ORDER BY target_key";
/// Columns for [`account_from_row`], then the password hash.
pub(crate) const ACCOUNT_COLUMNS: &str = "id, address, role, quota_bytes, used_bytes, disabled";
const ACCOUNT_WITH_HASH: &str = "SELECT id, address, role, quota_bytes, used_bytes, \
     disabled, password_hash FROM accounts WHERE address_key = ?1";
const JUNK_MAILBOX: &str = "SELECT id FROM mailboxes WHERE account_id = ?1 \
     AND special_use = '\\Junk' ORDER BY id LIMIT 1";
const MAILBOX_BY_NAME: &str =
    "SELECT id, uidvalidity FROM mailboxes WHERE account_id = ?1 AND name = ?2";
/// LIST/STATUS columns of mailboxes for [`mailbox_from_row`]; `?2` and `?3` are the
/// `\Seen` and `\Deleted` bits, and the caller appends the WHERE clause.
// The counters are kept by triggers (schema version 4); the recent count walks the
// (mailbox_id, uid) index over the unclaimed messages only, which a SELECT keeps few.
const MAILBOX_INFO_SELECT: &str = "SELECT b.id, b.name, b.special_use, b.uidvalidity, \
     b.uidnext, b.highestmodseq, b.subscribed, \
     b.n_messages, b.n_unseen, b.n_deleted, b.total_size, b.recent_uid, \
     (SELECT count(*) FROM messages m WHERE m.mailbox_id = b.id AND m.uid > b.recent_uid) \
     FROM mailboxes b WHERE b.account_id = ?1";
const BY_NAME: &str = " AND b.name = ?2";
const LOST_SUBSCRIPTIONS: &str =
    "SELECT name FROM lost_subscriptions WHERE account_id = ?1 ORDER BY name";
const BY_ID: &str = " AND b.id = ?2";
const IN_CREATION_ORDER: &str = " ORDER BY b.id";
const MESSAGE_COLUMNS: &str = "uid, flags, keywords, modseq, internal_date, size";
const MESSAGE_BY_UID: &str = "SELECT uid, flags, keywords, modseq, internal_date, size, blob \
     FROM messages WHERE mailbox_id = ?1 AND uid = ?2";
const EXPUNGED_SINCE: &str =
    "SELECT uid FROM expunged WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid";
const MAILBOX_OWNER: &str = "SELECT 1 FROM mailboxes WHERE id = ?1 AND account_id = ?2";
const BODY_LOCATION: &str = "SELECT m.blob, m.size, bl.data FROM messages m \
     JOIN mailboxes b ON b.id = m.mailbox_id JOIN blobs bl ON bl.sha256 = m.blob \
     WHERE m.mailbox_id = ?1 AND b.account_id = ?2 AND m.uid = ?3";

const MESSAGE_IN_RANGE: &str = "SELECT uid, flags, keywords, modseq, internal_date, size, \
     blob FROM messages WHERE mailbox_id = ?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid";
const STORED_META: &str = "SELECT meta FROM blobs WHERE sha256 = ?1";
const BLOB_BY_UID: &str = "SELECT uid, blob, size FROM messages WHERE mailbox_id = ?1 AND uid = ?2";
const BLOB_IN_RANGE: &str = "SELECT uid, blob, size FROM messages WHERE mailbox_id = ?1 \
     AND uid BETWEEN ?2 AND ?3 ORDER BY uid";
const STORED_HEADER: &str = "SELECT data FROM headers WHERE sha256 = ?1";
const INLINE_BODY: &str = "SELECT data FROM blobs WHERE sha256 = ?1";

/// An [`Account`] from the columns [`ACCOUNT_COLUMNS`], in that order.
pub(crate) fn account_from_row(r: &Row<'_>) -> rusqlite::Result<Account> {
    account_from_row_at(r, 0)
}

/// [`account_from_row`] for the [`ACCOUNT_COLUMNS`] starting at column `at`.
pub(crate) fn account_from_row_at(r: &Row<'_>, at: usize) -> rusqlite::Result<Account> {
    let role: String = r.get(at + 2)?;
    Ok(Account {
        id: r.get(at)?,
        address: r.get(at + 1)?,
        role: role_named(&role),
        quota_bytes: r.get::<_, i64>(at + 3)?.max(0) as u64,
        used_bytes: r.get::<_, i64>(at + 4)?.max(0) as u64,
        disabled: r.get(at + 5)?,
    })
}

/// A [`MessageInfo`] from the columns of `MESSAGE_COLUMNS`, in that order.
fn message_from_row(r: &Row<'_>) -> rusqlite::Result<MessageInfo> {
    Ok(MessageInfo {
        uid: r.get(0)?,
        flags: r.get(1)?,
        keywords: keywords_from_text(&r.get::<_, String>(2)?),
        modseq: r.get::<_, i64>(3)? as u64,
        internal_date: r.get(4)?,
        size: r.get::<_, i64>(5)?.max(0) as u64,
    })
}

fn mailbox_from_row(r: &Row<'_>) -> rusqlite::Result<MailboxInfo> {
    Ok(MailboxInfo {
        id: r.get(0)?,
        name: r.get(1)?,
        special_use: r.get(2)?,
        uidvalidity: r.get(3)?,
        uidnext: r.get(4)?,
        highestmodseq: r.get::<_, i64>(5)? as u64,
        subscribed: r.get(6)?,
        exists: r.get(7)?,
        unseen: r.get(8)?,
        deleted: r.get(9)?,
        size: r.get::<_, i64>(10)?.max(0) as u64,
        recent_uid: r.get(11)?,
        recent: r.get(12)?,
    })
}

pub(crate) fn mailbox_by_name(
    conn: &Connection,
    account_id: i64,
    name: &str,
) -> Result<(i64, u32), StoreError> {
    let name = canonical_mailbox_name(name);
    conn.prepare_cached(MAILBOX_BY_NAME)?
        .query_row(params![account_id, &name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {name}")))
}

/// The account's Junk mailbox (special-use `\Junk`, RFC 6154), if it has one. The user may
/// have renamed it; the attribute, not the name, says which mailbox it is.
pub(crate) fn junk_mailbox(conn: &Connection, account_id: i64) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached(JUNK_MAILBOX)?
        .query_row(params![account_id], |r| r.get(0))
        .optional()?)
}

/// One message and the name of its blob.
pub(crate) fn message(
    conn: &Connection,
    mailbox_id: i64,
    uid: u32,
) -> Result<Option<(String, MessageInfo)>, StoreError> {
    Ok(conn
        .prepare_cached(MESSAGE_BY_UID)?
        .query_row(params![mailbox_id, uid], |r| {
            Ok((r.get(6)?, message_from_row(r)?))
        })
        .optional()?)
}

/// The accounts among `ids` whose quota (when they have one) cannot take `size` more octets;
/// with `size` 0, those already at or over their quota.
pub(crate) fn over_quota(
    conn: &Connection,
    ids: &[i64],
    size: u64,
) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare_cached(ACCOUNT_QUOTA)?;
    let mut over = Vec::new();
    for &id in ids {
        let row: Option<(i64, i64)> = stmt
            .query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((quota, used)) = row
            && directory::over_quota(quota, used, size)
        {
            over.push(id);
        }
    }
    Ok(over)
}

/// The directory as recipient resolution ([`directory::resolve_recipient`]) reads it.
struct SqliteLookup<'a>(&'a Connection);

impl directory::Lookup for SqliteLookup<'_> {
    async fn account_id(&mut self, key: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .0
            .prepare_cached(ACCOUNT_ID_BY_KEY)?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }

    async fn alias_targets(&mut self, key: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .0
            .prepare_cached(ALIAS_TARGETS)?
            .query_map([key], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?)
    }

    async fn domain_exists(&mut self, domain: &str) -> Result<bool, StoreError> {
        Ok(self
            .0
            .prepare_cached(DOMAIN_EXISTS)?
            .query_row([domain], |_| Ok(()))
            .optional()?
            .is_some())
    }

    async fn first_domain(&mut self) -> Result<Option<String>, StoreError> {
        Ok(self
            .0
            .prepare_cached(FIRST_DOMAIN)?
            .query_row([], |r| r.get(0))
            .optional()?)
    }
}

/// See [`directory::resolve_recipient`].
pub(crate) fn resolve_recipient(conn: &Connection, text: &str) -> Result<Resolution, StoreError> {
    directory::ready(directory::resolve_recipient(&mut SqliteLookup(conn), text))
}

/// See [`directory::owns_address`].
pub(crate) fn owns_address(
    conn: &Connection,
    account_id: i64,
    text: &str,
) -> Result<bool, StoreError> {
    directory::ready(directory::owns_address(
        &mut SqliteLookup(conn),
        account_id,
        text,
    ))
}

/// See [`directory::missing_role_addresses`].
pub(crate) fn missing_role_addresses(
    conn: &Connection,
    domain: &str,
) -> Result<Vec<String>, StoreError> {
    directory::ready(directory::missing_role_addresses(
        &mut SqliteLookup(conn),
        domain,
    ))
}

/// The account with address key `key` and its password hash.
pub(crate) fn account_with_hash(
    conn: &Connection,
    key: &str,
) -> Result<Option<(Account, String)>, StoreError> {
    Ok(conn
        .prepare_cached(ACCOUNT_WITH_HASH)?
        .query_row([key], |r| Ok((account_from_row(r)?, r.get(6)?)))
        .optional()?)
}

/// LIST data for every mailbox of the account, in creation order.
pub(crate) fn list_mailboxes(
    conn: &Connection,
    account_id: i64,
) -> Result<Vec<MailboxInfo>, StoreError> {
    let sql = format!("{MAILBOX_INFO_SELECT}{IN_CREATION_ORDER}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![account_id], mailbox_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The names the account subscribes to that have no mailbox (schema version 13), sorted.
pub(crate) fn lost_subscriptions(
    conn: &Connection,
    account_id: i64,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(LOST_SUBSCRIPTIONS)?;
    let rows = stmt.query_map(params![account_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// LIST data of the account's mailbox `name` (INBOX in any case), if it has one.
pub(crate) fn mailbox_info_by_name(
    conn: &Connection,
    account_id: i64,
    name: &str,
) -> Result<Option<MailboxInfo>, StoreError> {
    let sql = format!("{MAILBOX_INFO_SELECT}{BY_NAME}");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(
            params![account_id, canonical_mailbox_name(name)],
            mailbox_from_row,
        )
        .optional()?)
}

/// LIST data of mailbox `mailbox_id`; NotFound unless `account_id` owns it.
pub(crate) fn mailbox_info(
    conn: &Connection,
    account_id: i64,
    mailbox_id: i64,
) -> Result<MailboxInfo, StoreError> {
    let sql = format!("{MAILBOX_INFO_SELECT}{BY_ID}");
    conn.prepare_cached(&sql)?
        .query_row(params![account_id, mailbox_id], mailbox_from_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox_id}")))
}

/// SELECT: the mailbox and all its messages by ascending UID, from one snapshot.
pub(crate) fn select(
    conn: &mut Connection,
    account_id: i64,
    name: &str,
) -> Result<(MailboxInfo, Vec<MessageInfo>), StoreError> {
    let tx = conn.transaction()?;
    let info = mailbox_info_by_name(&tx, account_id, name)?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {}", canonical_mailbox_name(name))))?;
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE mailbox_id = ?1 ORDER BY uid");
    let mut messages = Vec::with_capacity(usize::try_from(info.exists).unwrap_or(0));
    for row in tx
        .prepare_cached(&sql)?
        .query_map([info.id], message_from_row)?
    {
        messages.push(row?);
    }
    // Sized to the mailbox: a selected session keeps this list for as long as it lives
    // (10,000 idling sessions), and a collect that doubled its way up could waste half.
    messages.shrink_to_fit();
    drop(tx); // read-only: nothing to commit
    Ok((info, messages))
}

/// What changed in an owned mailbox since `since_modseq` (RFC 7162 §3.1, §3.2.5), from one
/// snapshot: messages with a greater MODSEQ, and UIDs expunged under a greater MODSEQ.
pub(crate) fn changes(
    conn: &mut Connection,
    account_id: i64,
    mailbox_id: i64,
    since_modseq: u64,
) -> Result<ChangeSet, StoreError> {
    let tx = conn.transaction()?;
    let mailbox = mailbox_info(&tx, account_id, mailbox_id)?;
    // MODSEQs are stored as SQLite integers (i64); anything above i64::MAX matches nothing.
    let since = i64::try_from(since_modseq).unwrap_or(i64::MAX);
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE mailbox_id = ?1 AND modseq > ?2 \
         ORDER BY uid"
    );
    let changed = tx
        .prepare_cached(&sql)?
        .query_map(params![mailbox_id, since], message_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    let expunged = tx
        .prepare_cached(EXPUNGED_SINCE)?
        .query_map(params![mailbox_id, since], |r| r.get::<_, u32>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    drop(tx); // read-only: nothing to commit
    Ok(ChangeSet {
        mailbox,
        changed,
        expunged,
    })
}

fn check_owner(conn: &Connection, account_id: i64, mailbox_id: i64) -> Result<(), StoreError> {
    conn.prepare_cached(MAILBOX_OWNER)?
        .query_row(params![mailbox_id, account_id], |_| Ok(()))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox_id}")))
}

/// The existing `uids` of an owned mailbox with their body hashes, by ascending UID.
///
/// Call it inside the transaction that also reads what the hashes name (see
/// [`message_blobs`]).
pub(crate) fn messages_with_blob(
    conn: &Connection,
    account_id: i64,
    mailbox_id: i64,
    uids: &[u32],
) -> Result<Vec<(MessageInfo, String)>, StoreError> {
    check_owner(conn, account_id, mailbox_id)?;
    for_uids(
        conn,
        mailbox_id,
        uids,
        MESSAGE_BY_UID,
        MESSAGE_IN_RANGE,
        |r| Ok((message_from_row(r)?, r.get::<_, String>(6)?)),
    )
}

/// The stored analysis (JSON of `MessageMeta`) of body `hash`.
pub(crate) fn stored_meta(conn: &Connection, hash: &str) -> Result<String, StoreError> {
    conn.prepare_cached(STORED_META)?
        .query_row([hash], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::Unavailable(format!("blob {hash} has no row")))
}

/// The rows of those of `uids` that exist in mailbox `mailbox_id`, by ascending UID, each
/// once: one range scan when the UIDs are dense, else one lookup each. `by_uid` binds
/// ?1 = mailbox, ?2 = UID; `in_range` binds ?1 = mailbox, ?2 = first, ?3 = last UID, orders
/// by UID and has it as its first column.
fn for_uids<T>(
    conn: &Connection,
    mailbox_id: i64,
    uids: &[u32],
    by_uid: &str,
    in_range: &str,
    mut row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut wanted = uids.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    let (Some(&first), Some(&last)) = (wanted.first(), wanted.last()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(wanted.len());
    let span = u64::from(last - first) + 1;
    if (wanted.len() as u64) * 2 >= span {
        let mut stmt = conn.prepare_cached(in_range)?;
        let mut rows = stmt.query(params![mailbox_id, first, last])?;
        while let Some(r) = rows.next()? {
            if wanted.binary_search(&r.get::<_, u32>(0)?).is_ok() {
                out.push(row(r)?);
            }
        }
    } else {
        let mut stmt = conn.prepare_cached(by_uid)?;
        for uid in wanted {
            if let Some(found) = stmt
                .query_row(params![mailbox_id, uid], &mut row)
                .optional()?
            {
                out.push(found);
            }
        }
    }
    Ok(out)
}

/// Blob name, size and (for a small body) the body itself of one message of an owned
/// mailbox.
pub(crate) fn body_location(
    conn: &Connection,
    account_id: i64,
    mailbox_id: i64,
    uid: u32,
) -> Result<(String, u64, Option<Vec<u8>>), StoreError> {
    conn.prepare_cached(BODY_LOCATION)?
        .query_row(params![mailbox_id, account_id, uid], |r| {
            Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64, r.get(2)?))
        })
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("message {uid} in mailbox {mailbox_id}")))
}

/// UID, body hash and size of those of `uids` that exist in mailbox `mailbox_id`, by
/// ascending UID; nothing unless `account_id` owns the mailbox.
///
/// Call it inside the transaction that also reads what the hashes name: a message expunged
/// meanwhile may take its blob row with it.
pub(crate) fn message_blobs(
    conn: &Connection,
    account_id: i64,
    mailbox_id: i64,
    uids: &[u32],
) -> Result<Vec<(u32, String, u64)>, StoreError> {
    match check_owner(conn, account_id, mailbox_id) {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    }
    for_uids(conn, mailbox_id, uids, BLOB_BY_UID, BLOB_IN_RANGE, |r| {
        Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.max(0) as u64))
    })
}

/// The header block kept for body `hash` (none for bodies stored before schema version 3).
pub(crate) fn stored_header(conn: &Connection, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached(STORED_HEADER)?
        .query_row([hash], |r| r.get(0))
        .optional()?)
}

/// Body `hash` when it is kept in its row (None when it is a file).
pub(crate) fn inline_body(conn: &Connection, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached(INLINE_BODY)?
        .query_row([hash], |r| r.get::<_, Option<Vec<u8>>>(0))
        .optional()?
        .flatten())
}
