//! When to try a temporarily failed recipient again: the configured waits, one per attempt
//! (the last repeating), each with up to `jitter_percent` added so that many messages
//! deferred together do not retry together; and whether the message has expired. Pure.

/// The retry plan from `[outbound]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Waits in seconds before the 1st, 2nd, … retry.
    pub waits: Vec<u64>,
    /// Up to this percentage of a wait is added at random.
    pub jitter_percent: u8,
    /// After this many seconds in the queue a message fails (RFC 5321 §4.5.4.1).
    pub max_age: u64,
}

/// What to do after a temporary failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try again at this time (unix seconds).
    RetryAt(i64),
    /// Give up: the message is too old.
    Expired,
}

impl Schedule {
    /// From the config section.
    pub fn from_config(c: &mailroom_config::Outbound) -> Self {
        Self {
            waits: c.retry_schedule_secs.clone(),
            jitter_percent: c.jitter_percent,
            max_age: c.max_age_secs,
        }
    }

    /// After the `attempts`-th failed attempt (1 = the first) at `now` of a message queued at
    /// `created`: when to retry. `random` in [0, 1) picks the jitter. A retry that would fall
    /// after the expiry is moved to the expiry, so the last attempt happens at the deadline.
    pub fn next(&self, attempts: u32, created: i64, now: i64, random: f64) -> Next {
        let deadline = created.saturating_add(self.max_age as i64);
        if now >= deadline {
            return Next::Expired;
        }
        let index = (attempts.max(1) as usize - 1).min(self.waits.len().saturating_sub(1));
        let wait = self.waits.get(index).copied().unwrap_or(60);
        let jitter =
            (wait as f64 * f64::from(self.jitter_percent) / 100.0 * random.clamp(0.0, 1.0)) as i64;
        Next::RetryAt(now.saturating_add(wait as i64 + jitter).min(deadline))
    }

    /// Whether a message queued at `created` has expired at `now`.
    pub fn expired(&self, created: i64, now: i64) -> bool {
        now >= created.saturating_add(self.max_age as i64)
    }
}

/// A number in [0, 1) that differs between calls, for jitter (not for anything secret).
pub fn jitter_random() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Schedule {
        Schedule {
            waits: vec![60, 300, 3600],
            jitter_percent: 20,
            max_age: 86_400,
        }
    }

    #[test]
    fn waits_grow_then_repeat_with_bounded_jitter() {
        let s = plan();
        assert_eq!(s.next(1, 0, 100, 0.0), Next::RetryAt(160));
        assert_eq!(s.next(2, 0, 100, 0.0), Next::RetryAt(400));
        assert_eq!(s.next(3, 0, 100, 0.0), Next::RetryAt(3700));
        assert_eq!(
            s.next(9, 0, 100, 0.0),
            Next::RetryAt(3700),
            "the last wait repeats"
        );
        // 20 % of 300 at most.
        let Next::RetryAt(t) = s.next(2, 0, 100, 0.999) else {
            panic!("expired");
        };
        assert!((400..=460).contains(&t), "{t}");
        for _ in 0..100 {
            let r = jitter_random();
            assert!((0.0..1.0).contains(&r));
        }
    }

    #[test]
    fn expiry_ends_the_retries() {
        let s = plan();
        assert_eq!(s.next(1, 0, 86_400, 0.0), Next::Expired);
        // The last retry is moved to the deadline rather than past it.
        assert_eq!(s.next(3, 0, 86_000, 0.0), Next::RetryAt(86_400));
        assert!(s.expired(0, 86_400) && !s.expired(0, 86_399));
    }
}
