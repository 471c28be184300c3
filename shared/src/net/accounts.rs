//! Logged-in session counting per account, for `limits.max_sessions_per_account`: a client
//! (or a stolen password) cannot open sessions until the server runs out of memory or file
//! handles for one mailbox. An [`AccountGuard`] gives its place back when dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Shared counts of logged-in sessions by account id; cheap to clone.
#[derive(Clone, Default, Debug)]
pub struct AccountSessions {
    counts: Arc<Mutex<HashMap<i64, u32>>>,
}

impl AccountSessions {
    /// A place for one more session of `account_id`, unless it has `max` already.
    pub fn try_acquire(&self, account_id: i64, max: u32) -> Option<AccountGuard> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let n = counts.entry(account_id).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(AccountGuard {
            sessions: self.clone(),
            account_id,
        })
    }

    /// Sessions of `account_id` now.
    pub fn count(&self, account_id: i64) -> u32 {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.get(&account_id).copied().unwrap_or(0)
    }
}

/// One logged-in session's place; released on drop.
#[derive(Debug)]
pub struct AccountGuard {
    sessions: AccountSessions,
    account_id: i64,
}

impl Drop for AccountGuard {
    fn drop(&mut self) {
        let mut counts = self
            .sessions
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = counts.get_mut(&self.account_id) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.account_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_counted_per_account_and_given_back() {
        let s = AccountSessions::default();
        let a1 = s.try_acquire(1, 2).expect("first");
        let _a2 = s.try_acquire(1, 2).expect("second");
        assert!(s.try_acquire(1, 2).is_none(), "third over the limit");
        let _b = s
            .try_acquire(2, 2)
            .expect("another account is not affected");
        drop(a1);
        assert_eq!(s.count(1), 1);
        assert!(s.try_acquire(1, 2).is_some());
    }
}
