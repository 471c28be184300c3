//! One webhook target's delivery loop: read the log after the target's cursor, POST each
//! wanted event in id order, and move the cursor only after a 2xx. A failure retries the same
//! event with exponential backoff and jitter, so order is kept and nothing is skipped; other
//! targets run their own loops and are not held up. Delivery is at-least-once (a crash
//! between the receiver's 2xx and the cursor's commit repeats the event); receivers
//! de-duplicate by `id`.

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use mailroom_shared::Secret;
use mailroom_shared::events::{EventKind, EventRecorded};
use mailroom_store::MailboxStore;
use mailroom_store::actor::{ReadEvents, SetWebhookCursor};
use tokio::sync::{Notify, watch};

use super::sign::signature;

/// Events read from the log at a time.
const BATCH: u32 = 100;
/// First retry delay; doubles per failure up to the configured cap.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Looked at the log this often even without a wake-up (a lost one costs at most this).
const IDLE_POLL: Duration = Duration::from_secs(30);
/// Most of a receiver's reply body read (and dropped), so the connection can be reused.
const MAX_REPLY_BODY: usize = 64 * 1024;

/// What a target is, as configured; replaced on reload.
#[derive(Debug, Clone)]
pub(crate) struct TargetConfig {
    pub url: String,
    pub secret: Secret,
    pub kinds: Vec<EventKind>,
    pub max_backoff: Duration,
    pub timeout: Duration,
}

impl TargetConfig {
    fn wants(&self, kind: EventKind) -> bool {
        self.kinds.contains(&kind)
    }
}

/// Why a POST did not count as delivered.
#[derive(Debug)]
enum PostError {
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
    mut cursor: i64,
) {
    let client = awc::Client::builder().disable_timeout().finish();
    let url = config.borrow().url.clone();
    let mut saved = cursor;
    let mut store_backoff = FIRST_BACKOFF;
    loop {
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
                () = tokio::time::sleep(IDLE_POLL) => {}
            }
            continue;
        }
        for event in events {
            deliver(&client, &mut config, &event).await;
            cursor = event.id;
            // Skipped events move the cursor too, but are saved with the next delivered one
            // (or at the end of the batch) rather than one write each.
            if config.borrow().wants(event.data.kind()) {
                save(&store, &url, cursor, &mut saved).await;
            }
        }
        save(&store, &url, cursor, &mut saved).await;
    }
}

/// POST `event` until the receiver takes it, or until a reload says it is no longer wanted.
async fn deliver(
    client: &awc::Client,
    config: &mut watch::Receiver<Arc<TargetConfig>>,
    event: &EventRecorded,
) {
    let body = match serde_json::to_vec(event) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(id = event.id, error = %e, "Cannot serialise an event; skipping it.");
            return;
        }
    };
    let mut backoff = FIRST_BACKOFF;
    loop {
        let target = config.borrow().clone();
        if !target.wants(event.data.kind()) {
            return;
        }
        match post(client, &target, event.id, &body).await {
            Ok(()) => {
                tracing::debug!(url = %target.url, id = event.id, "Webhook delivered.");
                return;
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

/// One signed POST of `body`; `Ok` only for a 2xx.
async fn post(
    client: &awc::Client,
    target: &TargetConfig,
    id: i64,
    body: &[u8],
) -> Result<(), PostError> {
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
        Ok(())
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

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

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
