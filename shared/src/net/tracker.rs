//! Connection counting for `limits.max_connections` and `limits.max_connections_per_ip`,
//! across all listeners. A [`ConnectionGuard`] gives its place back when dropped, also when
//! its session panics, so the counts cannot leak.

use mailroom_config::Limits;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;

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
    /// Take a place for a connection from `ip`, or say why not.
    pub fn try_acquire(&self, ip: IpAddr, limits: &Limits) -> Result<ConnectionGuard, Refusal> {
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
        self.open.send_replace(counts.total);
        Ok(ConnectionGuard {
            tracker: self.clone(),
            ip,
        })
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

    fn release(&self, ip: IpAddr) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
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

/// One connection's place in the counts.
pub struct ConnectionGuard {
    tracker: ConnectionTracker,
    ip: IpAddr,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.tracker.release(self.ip);
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
        let a: IpAddr = "127.0.0.1".parse().expect("ip");
        let b: IpAddr = "127.0.0.2".parse().expect("ip");
        let g1 = t.try_acquire(a, &limits).expect("first");
        let _g2 = t.try_acquire(a, &limits).expect("second");
        assert_eq!(
            t.try_acquire(a, &limits).err(),
            Some(Refusal::TooManyFromIp)
        );
        let _g3 = t.try_acquire(b, &limits).expect("other ip");
        assert_eq!(
            t.try_acquire(b, &limits).err(),
            Some(Refusal::TooManyConnections)
        );
        drop(g1);
        assert_eq!(t.open(), 2);
        assert!(t.try_acquire(a, &limits).is_ok());
    }
}
