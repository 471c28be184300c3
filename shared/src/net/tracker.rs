//! Connection counting for `limits.max_connections` and `limits.max_connections_per_ip`,
//! across all listeners. A [`ConnectionGuard`] gives its place back when dropped, also when
//! its session panics, so the counts cannot leak.
//!
//! It is also the registry of open sessions the admin panel lists (protocol, peer, account,
//! since) and can end: each guard has an entry in one map under the same lock as the counts,
//! and a [`Notify`] that its session's driver waits on next to `draining`. Per connection
//! that is one map insert and remove and one small allocation (the `Notify`); the account name
//! is only stored once a login succeeds.

use mailroom_config::{Limits, ListenerKind};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, watch};

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `limits.max_connections` reached.
    TooManyConnections,
    /// `limits.max_connections_per_ip` reached for this peer.
    TooManyFromIp,
    /// The server is shutting down.
    ShuttingDown,
}

#[derive(Default)]
struct Counts {
    total: u32,
    per_ip: HashMap<IpAddr, u32>,
    sessions: HashMap<u64, Entry>,
}

struct Entry {
    kind: ListenerKind,
    peer: SocketAddr,
    since: u64,
    account: Option<String>,
    end: Arc<Notify>,
}

/// One open session, as the admin panel lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SessionInfo {
    /// The id its log lines carry.
    pub session_id: u64,
    /// The listener that accepted it.
    pub kind: ListenerKind,
    /// The client.
    pub peer: SocketAddr,
    /// When it was accepted, Unix seconds.
    pub since: u64,
    /// The account it logged in as, once it has.
    pub account: Option<String>,
}

/// Shared counts of open connections; cheap to clone.
#[derive(Clone)]
pub struct ConnectionTracker {
    counts: Arc<Mutex<Counts>>,
    open: watch::Sender<u32>,
}

impl Default for ConnectionTracker {
    fn default() -> Self {
        Self {
            counts: Arc::default(),
            open: watch::channel(0).0,
        }
    }
}

impl ConnectionTracker {
    /// Take a place for session `session_id` of listener `kind` from `peer`, or say why not.
    pub fn try_acquire(
        &self,
        session_id: u64,
        kind: ListenerKind,
        peer: SocketAddr,
        limits: &Limits,
    ) -> Result<ConnectionGuard, Refusal> {
        let ip = peer.ip();
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if counts.total >= limits.max_connections {
            return Err(Refusal::TooManyConnections);
        }
        let from_ip = counts.per_ip.entry(ip).or_default();
        if *from_ip >= limits.max_connections_per_ip {
            return Err(Refusal::TooManyFromIp);
        }
        *from_ip += 1;
        counts.total += 1;
        let end = Arc::new(Notify::new());
        counts.sessions.insert(
            session_id,
            Entry {
                kind,
                peer,
                since,
                account: None,
                end: end.clone(),
            },
        );
        self.open.send_replace(counts.total);
        Ok(ConnectionGuard {
            tracker: self.clone(),
            ip,
            session_id,
            end,
        })
    }

    /// The open sessions, oldest first.
    pub fn list(&self) -> Vec<SessionInfo> {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let mut list: Vec<SessionInfo> = counts
            .sessions
            .iter()
            .map(|(&session_id, e)| SessionInfo {
                session_id,
                kind: e.kind,
                peer: e.peer,
                since: e.since,
                account: e.account.clone(),
            })
            .collect();
        list.sort_by_key(|s| s.session_id);
        list
    }

    /// Ask session `session_id` to end now; false if no such session is open. Its driver
    /// says goodbye (`421`, `* BYE`, `-ERR`) and closes at its next wait for input, or at
    /// once if it is waiting; a command in progress (a delivery) finishes first.
    pub fn end(&self, session_id: u64) -> bool {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        match counts.sessions.get(&session_id) {
            Some(entry) => {
                // `notify_one` keeps the permit if the session is not waiting right now.
                entry.end.notify_one();
                true
            }
            None => false,
        }
    }

    /// Ask every session logged in as `account` (compared ignoring ASCII case) to end, as
    /// [`ConnectionTracker::end`] does; how many there were.
    pub fn end_account(&self, account: &str) -> usize {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let mut ended = 0;
        for entry in counts.sessions.values() {
            if entry
                .account
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(account))
            {
                entry.end.notify_one();
                ended += 1;
            }
        }
        ended
    }

    /// Connections open now.
    pub fn open(&self) -> u32 {
        *self.open.borrow()
    }

    /// Wait until no connection is open.
    pub async fn wait_idle(&self) {
        let mut rx = self.open.subscribe();
        // The sender lives in `self`, so `wait_for` cannot fail while we wait.
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    fn release(&self, ip: IpAddr, session_id: u64) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.sessions.remove(&session_id);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&ip);
            }
        }
        self.open.send_replace(counts.total);
    }
}

/// One connection's place in the counts and the session registry.
pub struct ConnectionGuard {
    tracker: ConnectionTracker,
    ip: IpAddr,
    session_id: u64,
    end: Arc<Notify>,
}

impl ConnectionGuard {
    /// Record that the session logged in as `account` (SMTP AUTH, IMAP LOGIN/AUTHENTICATE,
    /// POP3 PASS/AUTH).
    pub fn set_account(&self, account: &str) {
        let mut counts = self
            .tracker
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = counts.sessions.get_mut(&self.session_id)
            && entry.account.as_deref() != Some(account)
        {
            entry.account = Some(account.to_string());
        }
    }

    /// Resolves when [`ConnectionTracker::end`] asked this session to end (at once if it
    /// did while nobody waited). Cancel-safe: a driver selects on it next to its read.
    pub async fn ended(&self) {
        self.end.notified().await;
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.tracker.release(self.ip, self.session_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_total_and_per_ip() {
        let limits = Limits {
            max_connections: 3,
            max_connections_per_ip: 2,
            ..Limits::default()
        };
        let t = ConnectionTracker::default();
        let a: SocketAddr = "127.0.0.1:1000".parse().expect("ip");
        let b: SocketAddr = "127.0.0.2:1000".parse().expect("ip");
        let k = ListenerKind::Smtp;
        let g1 = t.try_acquire(1, k, a, &limits).expect("first");
        let _g2 = t.try_acquire(2, k, a, &limits).expect("second");
        assert_eq!(
            t.try_acquire(3, k, a, &limits).err(),
            Some(Refusal::TooManyFromIp)
        );
        let _g3 = t.try_acquire(4, k, b, &limits).expect("other ip");
        assert_eq!(
            t.try_acquire(5, k, b, &limits).err(),
            Some(Refusal::TooManyConnections)
        );
        drop(g1);
        assert_eq!(t.open(), 2);
        assert!(t.try_acquire(6, k, a, &limits).is_ok());
    }

    #[test]
    fn sessions_are_listed_with_their_account_until_dropped() {
        let t = ConnectionTracker::default();
        let peer: SocketAddr = "127.0.0.1:4000".parse().expect("ip");
        let limits = Limits::default();
        let imap = t
            .try_acquire(7, ListenerKind::Imap, peer, &limits)
            .expect("imap");
        let pop = t
            .try_acquire(9, ListenerKind::Pop3s, peer, &limits)
            .expect("pop3s");
        imap.set_account("alice@example.test");
        let list = t.list();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].session_id, 7);
        assert_eq!(list[0].kind, ListenerKind::Imap);
        assert_eq!(list[0].peer, peer);
        assert_eq!(list[0].account.as_deref(), Some("alice@example.test"));
        assert!(list[0].since > 1_700_000_000, "since is Unix seconds");
        assert_eq!((list[1].session_id, list[1].account.as_deref()), (9, None));
        drop(pop);
        assert_eq!(
            t.list().iter().map(|s| s.session_id).collect::<Vec<_>>(),
            [7]
        );
        drop(imap);
        assert!(t.list().is_empty());
        assert_eq!(t.open(), 0);
    }

    #[actix_rt::test]
    async fn end_account_ends_every_session_of_that_account_and_no_other() {
        let t = ConnectionTracker::default();
        let peer: SocketAddr = "127.0.0.1:4000".parse().expect("ip");
        let limits = Limits::default();
        let imap = t
            .try_acquire(1, ListenerKind::Imap, peer, &limits)
            .expect("imap");
        let pop = t
            .try_acquire(2, ListenerKind::Pop3, peer, &limits)
            .expect("pop3");
        let other = t
            .try_acquire(3, ListenerKind::Imap, peer, &limits)
            .expect("other");
        let anonymous = t
            .try_acquire(4, ListenerKind::Smtp, peer, &limits)
            .expect("smtp");
        imap.set_account("alice@example.test");
        pop.set_account("alice@example.test");
        other.set_account("bob@example.test");
        assert_eq!(t.end_account("Alice@Example.TEST"), 2);
        let soon = std::time::Duration::from_secs(5);
        tokio::time::timeout(soon, imap.ended())
            .await
            .expect("imap ended");
        tokio::time::timeout(soon, pop.ended())
            .await
            .expect("pop3 ended");
        let brief = std::time::Duration::from_millis(50);
        assert!(tokio::time::timeout(brief, other.ended()).await.is_err());
        assert!(
            tokio::time::timeout(brief, anonymous.ended())
                .await
                .is_err()
        );
        assert_eq!(t.end_account("nobody@example.test"), 0);
    }

    #[actix_rt::test]
    async fn end_wakes_only_that_session_and_is_not_lost_when_nobody_waits() {
        let t = ConnectionTracker::default();
        let peer: SocketAddr = "127.0.0.1:4000".parse().expect("ip");
        let limits = Limits::default();
        let a = t
            .try_acquire(1, ListenerKind::Smtp, peer, &limits)
            .expect("a");
        let b = t
            .try_acquire(2, ListenerKind::Smtp, peer, &limits)
            .expect("b");
        assert!(!t.end(99), "no such session");
        // Asked while nobody waits: the next wait returns at once.
        assert!(t.end(1));
        tokio::time::timeout(std::time::Duration::from_secs(5), a.ended())
            .await
            .expect("a was asked to end");
        // b was not asked.
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), b.ended())
                .await
                .is_err()
        );
        // Asked while waiting.
        let t2 = t.clone();
        let waiter = async { b.ended().await };
        let ask = async move {
            tokio::task::yield_now().await;
            assert!(t2.end(2));
        };
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            tokio::join!(waiter, ask)
        })
        .await
        .expect("b was asked to end");
        drop(a);
        assert!(!t.end(1), "gone once dropped");
    }
}
