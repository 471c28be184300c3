//! `\Recent` (RFC 3501 §2.3.2) as a fact of the store: per mailbox, the highest UID an IMAP
//! session has claimed (`mailboxes.recent_uid`, schema version 13). A session that claims up
//! to the last UID it knows owns the UIDs between the old mark and that one; the writer runs
//! claims one at a time, so no UID is ever owned by two sessions. Read by the mailbox reads
//! ([`super::reads`]) as `MailboxInfo::recent_uid` and `MailboxInfo::recent`.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::StoreError;
use crate::requests::ClaimRecent;

const RECENT_MARK: &str = "SELECT recent_uid FROM mailboxes WHERE id = ?1 AND account_id = ?2";
const RAISE_MARK: &str = "UPDATE mailboxes SET recent_uid = ?2 WHERE id = ?1 AND recent_uid < ?2";

/// Raise the mark of an owned mailbox to `op.up_to` (never lower it); the mark before.
pub(crate) fn claim(conn: &Connection, op: &ClaimRecent) -> Result<u32, StoreError> {
    let before: u32 = conn
        .prepare_cached(RECENT_MARK)?
        .query_row(params![op.mailbox_id, op.account_id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {}", op.mailbox_id)))?;
    if before < op.up_to {
        conn.prepare_cached(RAISE_MARK)?
            .execute(params![op.mailbox_id, op.up_to])?;
    }
    Ok(before)
}
