//! Sliding-window counters in Redis, shared by every node: how often something happened in
//! the last window (an account's submissions in the last hour). Short-lived state that no
//! node may keep alone, or N nodes would allow N times the limit, and that is not worth a
//! table in the store: it may be lost with Redis, which only lets a little more through.
//!
//! One sorted set per key, scored by the time of each occurrence in microseconds; members
//! are unique per process. Callers fall back to their own memory while Redis is down; the
//! loss and the recovery are logged once.

use bb8_redis::RedisConnectionManager;
use bb8_redis::redis;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::time::timeout;

use super::bridge::ClusterError;
use super::wire::Origin;

/// Longest a counter may keep a session waiting before it counts as down.
const IO_TIMEOUT: Duration = Duration::from_secs(1);
/// Once down, how long callers count alone before Redis is tried again (so a session does
/// not wait [`IO_TIMEOUT`] on every command while Redis is away).
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// A handle on the shared counters; clone to share.
#[derive(Clone)]
pub struct Counters {
    pool: bb8::Pool<RedisConnectionManager>,
    /// Prepended to every key (`mailroom:`; tests use their own).
    prefix: String,
    /// Makes members unique across processes.
    instance: u64,
    seq: Arc<AtomicU64>,
    down: Arc<AtomicBool>,
    /// While down: when to try Redis again.
    retry_at: Arc<Mutex<Option<Instant>>>,
}

/// Redis did not answer; the caller counts in its own memory instead.
#[derive(Debug, thiserror::Error)]
#[error("shared counters unavailable: {0}")]
pub struct CountersDown(String);

impl Counters {
    /// Counters in the Redis at `url` (not connected yet: the first use connects). Must be
    /// called inside a tokio runtime.
    pub fn new(url: &str) -> Result<Self, ClusterError> {
        let manager = RedisConnectionManager::new(url)
            .map_err(|e| ClusterError::Address(format!("{:?}", e.kind())))?;
        let pool = bb8::Pool::builder()
            .max_size(4)
            .connection_timeout(IO_TIMEOUT)
            .build_unchecked(manager);
        Ok(Self {
            pool,
            prefix: "mailroom:".into(),
            instance: Origin::new("").instance,
            seq: Arc::new(AtomicU64::new(0)),
            down: Arc::new(AtomicBool::new(false)),
            retry_at: Arc::default(),
        })
    }

    /// The same counters under another key prefix (tests share one Redis).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How many occurrences of `key` fall within the last `window`.
    pub async fn count(&self, key: &str, window: Duration) -> Result<u64, CountersDown> {
        let key = format!("{}{key}", self.prefix);
        let now = now_micros();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&key)
            .arg("-inf")
            .arg(now.saturating_sub(micros(window)))
            .ignore()
            .cmd("ZCARD")
            .arg(&key);
        let (n,): (u64,) = self.run(pipe).await?;
        Ok(n)
    }

    /// Count one occurrence of `key` now, keeping at most the newest `keep` within `window`
    /// (the limit: older ones cannot change an answer).
    pub async fn add(&self, key: &str, window: Duration, keep: u64) -> Result<(), CountersDown> {
        let key = format!("{}{key}", self.prefix);
        let now = now_micros();
        let member = format!(
            "{now}:{:x}:{}",
            self.instance,
            self.seq.fetch_add(1, Ordering::Relaxed)
        );
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("ZADD")
            .arg(&key)
            .arg(now)
            .arg(member)
            .ignore()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&key)
            .arg("-inf")
            .arg(now.saturating_sub(micros(window)))
            .ignore()
            // Ranks from the lowest score: drop all but the newest `keep`.
            .cmd("ZREMRANGEBYRANK")
            .arg(&key)
            .arg(0)
            .arg(-(i64::try_from(keep).unwrap_or(i64::MAX).max(1)) - 1)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1))
            .ignore();
        let () = self.run(pipe).await?;
        Ok(())
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        pipe: redis::Pipeline,
    ) -> Result<T, CountersDown> {
        let waiting = self
            .retry_at
            .lock()
            .ok()
            .and_then(|r| *r)
            .is_some_and(|t| Instant::now() < t);
        if waiting {
            return Err(CountersDown("waiting to try Redis again".into()));
        }
        let answer = timeout(IO_TIMEOUT, async {
            let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
            pipe.query_async::<T>(&mut *conn)
                .await
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|_| Err("timed out".into()));
        match answer {
            Ok(v) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!("Redis is back: rate limits count across the nodes again.");
                }
                Ok(v)
            }
            Err(e) => {
                if let Ok(mut r) = self.retry_at.lock() {
                    *r = Some(Instant::now() + RETRY_AFTER);
                }
                if !self.down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        error = %e,
                        "Redis unreachable: rate limits count on each node alone until it is back."
                    );
                }
                Err(CountersDown(e))
            }
        }
    }
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
