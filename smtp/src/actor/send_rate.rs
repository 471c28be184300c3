//! Per-account submission rate: how many messages each account submitted in the last hour,
//! shared by every submission session of the process (`[submission] max_messages_per_hour`).
//! In memory: a restart forgets the counts, which only errs on the side of letting mail out.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(3600);

/// The sending times of each account within the window; clone to share.
#[derive(Clone, Default)]
pub struct SendRate {
    sent: Arc<Mutex<HashMap<i64, VecDeque<Instant>>>>,
}

impl SendRate {
    /// Whether `account_id` has sent `limit` messages within the last hour (0 = no limit).
    pub fn over(&self, account_id: i64, limit: u32) -> bool {
        self.over_at(account_id, limit, Instant::now())
    }

    /// Count one message of `account_id`. Only the last `limit` times are kept.
    pub fn record(&self, account_id: i64, limit: u32) {
        self.record_at(account_id, limit, Instant::now());
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
}
