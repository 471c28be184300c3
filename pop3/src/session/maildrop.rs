//! The maildrop of a session in the TRANSACTION state: the account's INBOX as it was at
//! login, numbered 1.. for the whole session (RFC 1939 §5), with the deletion marks DELE
//! sets; and [`Maildrops`], the process-wide registry of maildrops held by POP3 sessions
//! (RFC 1939 §8's exclusive-access lock; RFC 2449 §8.1.1 `[IN-USE]` when taken).
//!
//! IMAP sessions do not take the lock: they may work on the same INBOX and see the POP3
//! session's removals as EXPUNGE. The lock is a [`Hold`] owned by the session, so every way
//! a session ends (QUIT, a dropped connection, an error, a timeout, shutdown) releases it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use mailroom_store::MessageInfo;

/// The accounts whose maildrop a POP3 session holds; cheap to clone, shared by all POP3
/// sessions of the process.
#[derive(Debug, Clone, Default)]
pub struct Maildrops {
    held: Arc<Mutex<HashSet<i64>>>,
}

impl Maildrops {
    /// Take the lock on `account_id`'s maildrop, unless another session holds it.
    pub fn try_hold(&self, account_id: i64) -> Option<Hold> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.insert(account_id).then(|| Hold {
            maildrops: self.clone(),
            account_id,
        })
    }

    /// Whether a session holds `account_id`'s maildrop now.
    pub fn is_held(&self, account_id: i64) -> bool {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.contains(&account_id)
    }
}

/// One session's lock on a maildrop; released when dropped.
#[derive(Debug)]
pub struct Hold {
    maildrops: Maildrops,
    account_id: i64,
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut held = self
            .maildrops
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        held.remove(&self.account_id);
    }
}

/// One message of the maildrop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) uid: u32,
    pub(super) size: u64,
    pub(super) deleted: bool,
}

/// The maildrop of a logged-in session.
#[derive(Debug)]
pub(super) struct Maildrop {
    pub(super) account_id: i64,
    pub(super) mailbox_id: i64,
    pub(super) uidvalidity: u32,
    pub(super) messages: Vec<Entry>,
    _hold: Hold,
}

impl Maildrop {
    pub(super) fn new(
        account_id: i64,
        mailbox_id: i64,
        uidvalidity: u32,
        messages: &[MessageInfo],
        hold: Hold,
    ) -> Self {
        let mut messages: Vec<Entry> = messages
            .iter()
            .map(|m| Entry {
                uid: m.uid,
                size: m.size,
                deleted: false,
            })
            .collect();
        // Numbers follow UID order, as IMAP sequence numbers do.
        messages.sort_unstable_by_key(|e| e.uid);
        Self {
            account_id,
            mailbox_id,
            uidvalidity,
            messages,
            _hold: hold,
        }
    }

    /// Message `n` (1-based) unless it is out of range or marked deleted (RFC 1939 §5:
    /// such a message may not be referred to).
    pub(super) fn live(&self, n: u32) -> Option<&Entry> {
        let i = usize::try_from(n).ok()?.checked_sub(1)?;
        self.messages.get(i).filter(|e| !e.deleted)
    }

    /// Message count and total octets of the messages not marked deleted.
    pub(super) fn totals(&self) -> (usize, u64) {
        self.messages
            .iter()
            .filter(|e| !e.deleted)
            .fold((0, 0), |(n, size), e| (n + 1, size + e.size))
    }

    /// RFC 1939 §7 UIDL: the message's IMAP identity, `<UIDVALIDITY>.<UID>`, so a client
    /// using both protocols sees one mailbox and the value never changes across sessions.
    pub(super) fn unique_id(&self, e: &Entry) -> String {
        format!("{}.{}", self.uidvalidity, e.uid)
    }

    /// The UIDs marked deleted, ascending.
    pub(super) fn deleted_uids(&self) -> Vec<u32> {
        self.messages
            .iter()
            .filter(|e| e.deleted)
            .map(|e| e.uid)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hold_per_account_released_on_drop() {
        let m = Maildrops::default();
        let a = m.try_hold(1).expect("first");
        assert!(m.try_hold(1).is_none(), "second session is IN-USE");
        let _b = m.try_hold(2).expect("another account is free");
        assert!(m.is_held(1));
        drop(a);
        assert!(!m.is_held(1));
        assert!(m.try_hold(1).is_some());
    }
}
