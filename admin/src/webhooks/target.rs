//! One webhook target's delivery loop: read the log after the target's cursor, POST each
//! wanted event in id order, and move the cursor only after a 2xx. A failure retries the same
//! event with exponential backoff and jitter, so order is kept and nothing is skipped; other
//! targets run their own loops and are not held up. Delivery is at-least-once (a crash
//! between the receiver's 2xx and the cursor's commit repeats the event); receivers
//! de-duplicate by `id`.
//!
//! With several nodes on one store, only the node holding the target's lease
//! ([`LeaseWebhook`]) delivers to it, so each event is POSTed by one node: the loop takes or
//! renews the lease before reading the log and before each POST, and a node that loses it
//! (it paused longer than the lease) stops before its next POST. A node that takes the lease
//! over resumes from the cursor in the store, which only moves forward. The embedded engine
//! always grants the lease.
//!
//! Each POST is also written to the target's [`History`] (the last [`HISTORY`] attempts, the
//! last success and failure, the loop's position), which the admin panel and API read.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix::Addr;
use mailroom_shared::Secret;
use mailroom_shared::events::{EventKind, EventRecorded};
use mailroom_store::MailboxStore;
use mailroom_store::actor::{LeaseWebhook, ReadEvents, SetWebhookCursor, WebhookCursor};
use tokio::sync::{Notify, watch};

use super::sign::signature;

/// Events read from the log at a time.
const BATCH: u32 = 100;
/// First retry delay; doubles per failure up to the configured cap.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Looked at the log this often even without a wake-up (a lost one costs at most this).
pub(crate) const IDLE_POLL: Duration = Duration::from_secs(30);
/// The same when the store is shared by several nodes: events the other nodes log wake no
/// one here (they do not cross nodes, see `mailroom_shared::cluster`), so this is how soon
/// they are posted.
pub(crate) const SHARED_POLL: Duration = Duration::from_secs(1);
/// How often a node that does not hold a target's lease asks for it again.
const LEASE_RETRY: Duration = Duration::from_secs(5);
/// The lease beyond what a POST and its retry wait can take.
const LEASE_MARGIN: Duration = Duration::from_secs(60);
/// Most of a receiver's reply body read (and dropped), so the connection can be reused.
const MAX_REPLY_BODY: usize = 64 * 1024;
/// POST attempts kept per target, newest last; older ones are forgotten.
pub(crate) const HISTORY: usize = 500;
/// Longest error text kept for an attempt.
const MAX_ERROR: usize = 300;

/// One POST to a receiver, as the panel shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Attempt {
    /// When it was sent (unix seconds).
    pub at: i64,
    /// The event's id in the log (0 for a test event).
    pub event_id: i64,
    /// The event's type.
    pub event_type: &'static str,
    /// Whether the receiver took it (a 2xx).
    pub delivered: bool,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    /// Why it did not count, if it did not.
    pub error: Option<String>,
    /// How long the request took.
    pub duration_ms: u64,
    /// 1 for the first POST of this event, 2 for its first retry, …
    pub attempt: u32,
}

/// What a target's loop has done: shared with the admin server, which only reads it.
#[derive(Debug)]
pub(crate) struct History {
    /// The last id the loop has passed (delivered, or skipped as unwanted).
    cursor: AtomicI64,
    log: Mutex<Log>,
}

#[derive(Debug, Default)]
struct Log {
    attempts: VecDeque<Attempt>,
    last_delivered: Option<Attempt>,
    last_failed: Option<Attempt>,
    /// Failed POSTs since the last success.
    failing: u32,
}

/// A copy of a target's [`History`] at one moment.
#[derive(Debug, Clone)]
pub(crate) struct HistoryView {
    pub cursor: i64,
    pub last_delivered: Option<Attempt>,
    pub last_failed: Option<Attempt>,
    pub failing: u32,
}

impl History {
    pub(crate) fn starting_at(cursor: i64) -> Self {
        Self {
            cursor: AtomicI64::new(cursor),
            log: Mutex::default(),
        }
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, attempt: Attempt) {
        let mut log = self.log();
        if attempt.delivered {
            log.failing = 0;
            log.last_delivered = Some(attempt.clone());
        } else {
            log.failing = log.failing.saturating_add(1);
            log.last_failed = Some(attempt.clone());
        }
        if log.attempts.len() == HISTORY {
            log.attempts.pop_front();
        }
        log.attempts.push_back(attempt);
    }

    /// The event being retried was dropped (a reload's filter no longer wants it).
    fn abandoned(&self) {
        self.log().failing = 0;
    }

    pub(crate) fn view(&self) -> HistoryView {
        let log = self.log();
        HistoryView {
            cursor: self.cursor.load(Ordering::Relaxed),
            last_delivered: log.last_delivered.clone(),
            last_failed: log.last_failed.clone(),
            failing: log.failing,
        }
    }

    /// The last `limit` attempts, newest first.
    pub(crate) fn recent(&self, limit: usize) -> Vec<Attempt> {
        self.log()
            .attempts
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect()
    }
}

/// What a target is, as configured; replaced on reload.
#[derive(Debug, Clone)]
pub(crate) struct TargetConfig {
    pub url: String,
    pub secret: Secret,
    pub kinds: Vec<EventKind>,
    pub max_backoff: Duration,
    pub timeout: Duration,
    /// How often the log is read without a wake-up: [`IDLE_POLL`], or [`SHARED_POLL`] on a
    /// store that other nodes write.
    pub poll: Duration,
}

impl TargetConfig {
    fn wants(&self, kind: EventKind) -> bool {
        self.kinds.contains(&kind)
    }

    /// How long a lease on this target lasts: longer than the loop can go without renewing
    /// it (the longest retry wait plus a POST before and after), so a live node keeps it.
    fn lease(&self) -> Duration {
        self.max_backoff
            .max(IDLE_POLL)
            .saturating_add(self.timeout.saturating_mul(2))
            .saturating_add(LEASE_MARGIN)
    }
}

/// Whether this node may POST to the target now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lease {
    /// It holds the lease (just taken, or renewed).
    Held,
    /// Another node holds it.
    Elsewhere,
}

/// What became of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// Delivered, or no longer wanted: the cursor may pass it.
    Passed,
    /// The lease went to another node before the receiver took it: stop here.
    LeaseLost,
}

/// Take or renew this node's lease on the target; a store error counts as not holding it
/// (nothing is POSTed while the store cannot say).
async fn lease(store: &Addr<MailboxStore>, target: &TargetConfig) -> Lease {
    let m = LeaseWebhook {
        target: target.url.clone(),
        now: unix_now(),
        ttl_secs: target.lease().as_secs().try_into().unwrap_or(i64::MAX),
    };
    match store.send(m).await {
        Ok(Ok(true)) => Lease::Held,
        Ok(Ok(false)) => Lease::Elsewhere,
        Ok(Err(e)) => {
            tracing::warn!(url = %target.url, error = %e, "Cannot take the webhook lease; retrying.");
            Lease::Elsewhere
        }
        Err(_) => Lease::Elsewhere,
    }
}

/// Why a POST did not count as delivered.
#[derive(Debug)]
pub(crate) enum PostError {
    Status(u16),
    Send(String),
}

impl std::fmt::Display for PostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PostError::Status(code) => write!(f, "receiver answered {code}"),
            PostError::Send(e) => write!(f, "{e}"),
        }
    }
}

/// Run the target from `cursor` (the last id it acknowledged) until the task is dropped.
pub(crate) async fn run(
    store: Addr<MailboxStore>,
    mut config: watch::Receiver<Arc<TargetConfig>>,
    wake: Arc<Notify>,
    history: Arc<History>,
    mut cursor: i64,
) {
    let client = awc::Client::builder().disable_timeout().finish();
    let url = config.borrow().url.clone();
    let mut saved = cursor;
    let mut store_backoff = FIRST_BACKOFF;
    let mut holding = false;
    loop {
        let target = config.borrow().clone();
        match lease(&store, &target).await {
            Lease::Held if !holding => {
                // Another node may have delivered while this one did not hold the lease.
                holding = true;
                match store
                    .send(WebhookCursor {
                        target: url.clone(),
                    })
                    .await
                {
                    Ok(Ok(stored)) => {
                        let stored = stored.unwrap_or(cursor);
                        if stored > cursor {
                            tracing::info!(url = %url, cursor = stored, "Webhook target resumed from another node's cursor.");
                        }
                        cursor = cursor.max(stored);
                        saved = saved.max(stored);
                        history.cursor.store(cursor, Ordering::Relaxed);
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(url = %url, error = %e, "Cannot read the webhook cursor; retrying.");
                        holding = false;
                        tokio::time::sleep(LEASE_RETRY).await;
                        continue;
                    }
                    Err(_) => return, // the store is gone: shutting down
                }
            }
            Lease::Held => {}
            Lease::Elsewhere => {
                holding = false;
                tokio::select! {
                    changed = config.changed() => if changed.is_err() { return },
                    () = tokio::time::sleep(LEASE_RETRY) => {}
                }
                continue;
            }
        }
        let events = match store
            .send(ReadEvents {
                after: cursor,
                limit: BATCH,
            })
            .await
        {
            Ok(Ok(events)) => {
                store_backoff = FIRST_BACKOFF;
                events
            }
            Ok(Err(e)) => {
                tracing::warn!(url = %url, error = %e, "Cannot read the event log; retrying.");
                tokio::time::sleep(store_backoff).await;
                store_backoff = (store_backoff * 2).min(Duration::from_secs(60));
                continue;
            }
            Err(_) => return, // the store is gone: shutting down
        };
        if events.is_empty() {
            tokio::select! {
                () = wake.notified() => {}
                changed = config.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(target.poll) => {}
            }
            continue;
        }
        for event in events {
            if deliver(&client, &store, &mut config, &history, &event).await == Delivery::LeaseLost
            {
                tracing::info!(url = %url, id = event.id, "Stopped delivering to this webhook target: another node holds it, or the store cannot say.");
                holding = false;
                break;
            }
            cursor = event.id;
            history.cursor.store(cursor, Ordering::Relaxed);
            // Skipped events move the cursor too, but are saved with the next delivered one
            // (or at the end of the batch) rather than one write each.
            if config.borrow().wants(event.data.kind()) {
                save(&store, &url, cursor, &mut saved).await;
            }
        }
        save(&store, &url, cursor, &mut saved).await;
    }
}

/// POST `event` until the receiver takes it, until a reload says it is no longer wanted, or
/// until another node holds the target's lease (checked before each POST).
async fn deliver(
    client: &awc::Client,
    store: &Addr<MailboxStore>,
    config: &mut watch::Receiver<Arc<TargetConfig>>,
    history: &History,
    event: &EventRecorded,
) -> Delivery {
    let body = match serde_json::to_vec(event) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(id = event.id, error = %e, "Cannot serialise an event; skipping it.");
            return Delivery::Passed;
        }
    };
    let mut backoff = FIRST_BACKOFF;
    let mut tries = 0u32;
    loop {
        let target = config.borrow().clone();
        if !target.wants(event.data.kind()) {
            if tries > 0 {
                // A reload stopped wanting the event it was failing on: no longer failing.
                history.abandoned();
            }
            return Delivery::Passed;
        }
        if lease(store, &target).await == Lease::Elsewhere {
            return Delivery::LeaseLost;
        }
        tries = tries.saturating_add(1);
        let (result, attempt) =
            timed_post(client, &target, event.id, event.data.kind().as_str(), &body).await;
        history.record(Attempt {
            attempt: tries,
            ..attempt
        });
        match result {
            Ok(_) => {
                tracing::debug!(url = %target.url, id = event.id, "Webhook delivered.");
                return Delivery::Passed;
            }
            Err(e) => {
                let delay = jitter(backoff);
                tracing::warn!(
                    url = %target.url, id = event.id, error = %e,
                    retry_in_ms = delay.as_millis() as u64,
                    "Webhook POST failed; retrying."
                );
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    // A new secret or filter applies to the next try at once.
                    _ = config.changed() => {}
                }
                backoff = (backoff * 2).min(target.max_backoff.max(Duration::from_millis(100)));
            }
        }
    }
}

/// [`post`], and the attempt it made (numbered 1).
pub(crate) async fn timed_post(
    client: &awc::Client,
    target: &TargetConfig,
    id: i64,
    event_type: &'static str,
    body: &[u8],
) -> (Result<u16, PostError>, Attempt) {
    let at = unix_now();
    let started = Instant::now();
    let result = post(client, target, id, body).await;
    let (status, error) = match &result {
        Ok(code) => (Some(*code), None),
        Err(e @ PostError::Status(code)) => (Some(*code), Some(clipped(e.to_string()))),
        Err(e @ PostError::Send(_)) => (None, Some(clipped(e.to_string()))),
    };
    let attempt = Attempt {
        at,
        event_id: id,
        event_type,
        delivered: result.is_ok(),
        status,
        error,
        duration_ms: started.elapsed().as_millis().try_into().unwrap_or(u64::MAX),
        attempt: 1,
    };
    (result, attempt)
}

/// `text` cut to [`MAX_ERROR`] bytes (a receiver's error can be long).
fn clipped(mut text: String) -> String {
    if text.len() > MAX_ERROR {
        let mut end = MAX_ERROR;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// One signed POST of `body`; `Ok` (with the status) only for a 2xx.
async fn post(
    client: &awc::Client,
    target: &TargetConfig,
    id: i64,
    body: &[u8],
) -> Result<u16, PostError> {
    let timestamp = unix_now();
    let request = client
        .post(&target.url)
        .timeout(target.timeout)
        .insert_header(("Content-Type", "application/json"))
        .insert_header(("X-Mailroom-Timestamp", timestamp.to_string()))
        .insert_header((
            "X-Mailroom-Signature",
            signature(&target.secret, timestamp, body),
        ))
        .insert_header(("X-Mailroom-Event-Id", id.to_string()));
    let mut response = request
        .send_body(body.to_vec())
        .await
        .map_err(|e| PostError::Send(e.to_string()))?;
    let status = response.status();
    // Read (and drop) the reply so the connection can carry the next POST.
    let _ = tokio::time::timeout(target.timeout, response.body().limit(MAX_REPLY_BODY)).await;
    if status.is_success() {
        Ok(status.as_u16())
    } else {
        Err(PostError::Status(status.as_u16()))
    }
}

/// Persist `cursor` if it moved. A failure is retried with the next save: until then a
/// restart would repeat a few events, which at-least-once allows.
async fn save(store: &Addr<MailboxStore>, url: &str, cursor: i64, saved: &mut i64) {
    if cursor == *saved {
        return;
    }
    let m = SetWebhookCursor {
        target: url.to_string(),
        last_id: cursor,
    };
    match store.send(m).await {
        Ok(Ok(())) => *saved = cursor,
        Ok(Err(e)) => tracing::warn!(url = %url, error = %e, "Cannot save the webhook cursor."),
        Err(_) => {}
    }
}

/// A delay between half of `d` and `d`, so that targets failing together do not retry in
/// lockstep.
fn jitter(d: Duration) -> Duration {
    let mut byte = [0u8; 1];
    let r = match aws_lc_rs::rand::fill(&mut byte) {
        Ok(()) => f64::from(byte[0]) / 255.0,
        Err(_) => 1.0,
    };
    d.mul_f64(0.5 + 0.5 * r)
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(event_id: i64, delivered: bool) -> Attempt {
        Attempt {
            at: 1,
            event_id,
            event_type: "delivered",
            delivered,
            status: Some(if delivered { 200 } else { 500 }),
            error: (!delivered).then(|| "receiver answered 500".to_string()),
            duration_ms: 1,
            attempt: 1,
        }
    }

    #[test]
    fn history_keeps_the_newest_attempts_and_counts_failures_since_the_last_success() {
        let h = History::starting_at(7);
        assert_eq!(h.view().cursor, 7);
        assert!(h.view().last_delivered.is_none() && h.view().last_failed.is_none());
        for id in 0..(HISTORY as i64 + 10) {
            h.record(attempt(id, true));
        }
        let recent = h.recent(HISTORY + 100);
        assert_eq!(recent.len(), HISTORY);
        assert_eq!(recent[0].event_id, HISTORY as i64 + 9);
        assert_eq!(recent[HISTORY - 1].event_id, 10);
        assert_eq!(h.recent(3).len(), 3);
        h.record(attempt(1000, false));
        h.record(attempt(1000, false));
        let v = h.view();
        assert_eq!(v.failing, 2);
        assert_eq!(v.last_failed.map(|a| a.event_id), Some(1000));
        assert_eq!(
            v.last_delivered.map(|a| a.event_id),
            Some(HISTORY as i64 + 9)
        );
        h.abandoned();
        assert_eq!(h.view().failing, 0, "a dropped event is no longer failing");
        h.record(attempt(1001, false));
        h.record(attempt(1001, true));
        assert_eq!(h.view().failing, 0);
        assert!(
            h.view().last_failed.is_some(),
            "the last failure stays shown"
        );
    }

    #[test]
    fn long_errors_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_ERROR);
        let cut = clipped(long);
        assert!(cut.len() <= MAX_ERROR && cut.chars().all(|c| c == 'é'));
        assert_eq!(clipped("short".into()), "short");
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_delay() {
        for _ in 0..100 {
            let d = jitter(Duration::from_secs(4));
            assert!(
                d >= Duration::from_secs(2) && d <= Duration::from_secs(4),
                "{d:?}"
            );
        }
    }
}
