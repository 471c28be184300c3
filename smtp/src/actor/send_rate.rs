//! Per-account submission rate: how many messages each account submitted in the last hour,
//! shared by every submission session of the process (`[submission] max_messages_per_hour`).
//! In memory: a restart forgets the counts, which only errs on the side of letting mail out.
//! With `[cluster] redis` the counts live in Redis ([`Counters`]), so the limit holds across
//! the nodes (a client balanced over N nodes gets the limit once, not N times); while Redis
//! is down each node counts alone, in memory.

use mailroom_shared::cluster::Counters;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(3600);

/// The sending times of each account within the window; clone to share.
#[derive(Clone, Default)]
pub struct SendRate {
    sent: Arc<Mutex<HashMap<i64, VecDeque<Instant>>>>,
    shared: Option<Counters>,
}

impl SendRate {
    /// Count in `counters`, shared with the other nodes (and in memory for when it is down).
    pub fn shared(counters: Counters) -> Self {
        Self {
            sent: Arc::default(),
            shared: Some(counters),
        }
    }

    /// Whether `account_id` has sent `limit` messages within the last hour (0 = no limit).
    pub async fn over(&self, account_id: i64, limit: u32) -> bool {
        if limit == 0 {
            return false;
        }
        if let Some(counters) = &self.shared
            && let Ok(n) = counters.count(&key(account_id), WINDOW).await
        {
            return n >= u64::from(limit);
        }
        self.over_at(account_id, limit, Instant::now())
    }

    /// Count one message of `account_id`. Only the last `limit` times are kept.
    pub async fn record(&self, account_id: i64, limit: u32) {
        self.record_at(account_id, limit, Instant::now());
        if limit == 0 {
            return;
        }
        if let Some(counters) = &self.shared {
            // Down: logged by the counters; memory has it.
            let _ = counters
                .add(&key(account_id), WINDOW, u64::from(limit))
                .await;
        }
    }

    fn over_at(&self, account_id: i64, limit: u32, now: Instant) -> bool {
        if limit == 0 {
            return false;
        }
        let Ok(mut sent) = self.sent.lock() else {
            return false;
        };
        let Some(times) = sent.get_mut(&account_id) else {
            return false;
        };
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            times.pop_front();
        }
        times.len() >= limit as usize
    }

    fn record_at(&self, account_id: i64, limit: u32, now: Instant) {
        if limit == 0 {
            return;
        }
        let Ok(mut sent) = self.sent.lock() else {
            return;
        };
        let times = sent.entry(account_id).or_default();
        times.push_back(now);
        while times.len() > limit as usize {
            times.pop_front();
        }
        // Accounts that sent nothing for an hour are dropped, so the map stays small.
        sent.retain(|_, t| t.back().is_some_and(|b| now.duration_since(*b) < WINDOW));
    }
}

/// The Redis key of an account's submissions.
fn key(account_id: i64) -> String {
    format!("send_rate:{account_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_counts_the_last_hour_only() {
        let rate = SendRate::default();
        let t0 = Instant::now();
        assert!(!rate.over_at(1, 2, t0));
        rate.record_at(1, 2, t0);
        rate.record_at(1, 2, t0 + Duration::from_secs(10));
        assert!(rate.over_at(1, 2, t0 + Duration::from_secs(20)));
        assert!(
            !rate.over_at(2, 2, t0 + Duration::from_secs(20)),
            "per account"
        );
        assert!(!rate.over_at(1, 0, t0), "0 = no limit");
        assert!(!rate.over_at(1, 2, t0 + WINDOW + Duration::from_secs(1)));
    }

    fn redis() -> Option<String> {
        let url = std::env::var("TEST_MAILROOM_REDIS").ok();
        if url.is_none() {
            println!(
                "skipped: set TEST_MAILROOM_REDIS=redis://127.0.0.1:56379 to test shared rates"
            );
        }
        url
    }

    fn prefix() -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("mailroom:test:{}:{nanos}:", std::process::id())
    }

    #[actix_rt::test]
    async fn nodes_sharing_redis_share_the_limit() {
        let Some(url) = redis() else { return };
        let prefix = prefix();
        let node = || SendRate::shared(Counters::new(&url).expect("url").with_prefix(&prefix));
        let (a, b) = (node(), node());
        a.record(1, 3).await;
        b.record(1, 3).await;
        assert!(!a.over(1, 3).await, "two of three");
        a.record(1, 3).await;
        assert!(b.over(1, 3).await, "three on two nodes: over on either");
        assert!(a.over(1, 3).await);
        assert!(!b.over(2, 3).await, "per account");
        assert!(!b.over(1, 4).await, "below a higher limit");
        assert!(!b.over(1, 0).await, "0 = no limit");
    }

    #[actix_rt::test]
    async fn without_redis_each_node_counts_alone() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        // Nothing listens there any more: every Redis call fails at once.
        let rate =
            SendRate::shared(Counters::new(&format!("redis://127.0.0.1:{port}")).expect("url"));
        rate.record(1, 2).await;
        assert!(!rate.over(1, 2).await);
        rate.record(1, 2).await;
        assert!(rate.over(1, 2).await, "counted in memory");
    }
}
