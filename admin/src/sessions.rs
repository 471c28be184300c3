//! Panel sign-ins: a random session id in an HttpOnly, SameSite=Strict cookie, kept in
//! memory (a restart signs everyone out), with a CSRF token every form must carry back.
//! Sessions end after `[admin] session_idle_secs` without use, `session_max_secs` in all, or
//! at sign-out.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The cookie's name.
pub(crate) const COOKIE: &str = "mailroom_session";
/// Most sign-ins kept at once; the oldest go first (a flood of sign-ins cannot grow memory).
const MAX_SESSIONS: usize = 1000;

/// One signed-in browser.
#[derive(Debug, Clone)]
pub(crate) struct LoginSession {
    /// The admin account's address (its role is checked again on every request).
    pub address: String,
    /// What forms and unsafe API calls from this session must carry.
    pub csrf: String,
    created: Instant,
    last_seen: Instant,
}

/// How long sessions last.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lifetimes {
    pub idle: Duration,
    pub max: Duration,
}

#[derive(Default)]
pub(crate) struct LoginSessions {
    by_id: Mutex<HashMap<String, LoginSession>>,
}

/// 256 random bits, URL-safe.
pub(crate) fn random_token() -> Option<String> {
    let mut raw = [0u8; 32];
    SystemRandom::new().fill(&mut raw).ok()?;
    Some(URL_SAFE_NO_PAD.encode(raw))
}

impl LoginSessions {
    /// Sign `address` in: the session id for the cookie, and the session.
    pub(crate) fn create(&self, address: &str) -> Option<(String, LoginSession)> {
        let id = random_token()?;
        let now = Instant::now();
        let session = LoginSession {
            address: address.to_string(),
            csrf: random_token()?,
            created: now,
            last_seen: now,
        };
        let mut map = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(id.clone(), session.clone());
        Some((id, session))
    }

    /// The live session `id`, its use recorded; an expired one is forgotten.
    pub(crate) fn get(&self, id: &str, life: Lifetimes) -> Option<LoginSession> {
        let now = Instant::now();
        let mut map = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        let session = map.get_mut(id)?;
        if now.duration_since(session.last_seen) > life.idle
            || now.duration_since(session.created) > life.max
        {
            map.remove(id);
            return None;
        }
        session.last_seen = now;
        Some(session.clone())
    }

    /// Sign out.
    pub(crate) fn remove(&self, id: &str) {
        self.by_id
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    /// End every session of `address` (its password changed, it was disabled or deleted).
    pub(crate) fn remove_account(&self, address: &str) {
        let key = address.to_lowercase();
        self.by_id
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, s| s.address.to_lowercase() != key);
    }
}

/// Equal in time independent of where they differ (CSRF tokens are secrets).
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFE: Lifetimes = Lifetimes {
        idle: Duration::from_secs(60),
        max: Duration::from_secs(600),
    };

    #[test]
    fn a_session_is_found_by_its_id_until_removed() {
        let s = LoginSessions::default();
        let (id, made) = s.create("admin@example.test").expect("session");
        assert_ne!(id, made.csrf);
        assert_eq!(id.len(), 43);
        let got = s.get(&id, LIFE).expect("live");
        assert_eq!(got.address, "admin@example.test");
        assert!(s.get("other", LIFE).is_none());
        s.remove(&id);
        assert!(s.get(&id, LIFE).is_none());
    }

    #[test]
    fn expired_sessions_are_refused() {
        let s = LoginSessions::default();
        let (id, _) = s.create("a@example.test").expect("session");
        let none = Lifetimes {
            idle: Duration::ZERO,
            max: Duration::from_secs(600),
        };
        std::thread::sleep(Duration::from_millis(2));
        assert!(s.get(&id, none).is_none());
        assert!(s.get(&id, LIFE).is_none(), "forgotten once expired");
    }

    #[test]
    fn removing_an_account_ends_its_sessions_only() {
        let s = LoginSessions::default();
        let (a, _) = s.create("A@example.test").expect("session");
        let (b, _) = s.create("b@example.test").expect("session");
        s.remove_account("a@example.test");
        assert!(s.get(&a, LIFE).is_none());
        assert!(s.get(&b, LIFE).is_some());
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert!(!same_secret("", "a"));
    }
}
