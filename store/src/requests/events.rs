//! Requests about the event log and the webhook cursors.

use actix::Message;
use mailroom_shared::events::{EventData, EventRecorded};

use crate::error::StoreError;

/// Append an event to the store's log (one that no other write describes: a refusal, a
/// greylisting, a failed login). Sent by protocol session drivers, without making their
/// client wait for it. Returns the event with its id; `EventRecorded` is published on the bus
/// once it is durable.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<EventRecorded, StoreError>")]
pub struct RecordEvent(pub EventData);

/// Up to `limit` logged events with ids above `after`, oldest first. Sent by the webhooks
/// actor (and any subscriber catching up on what it missed while down).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Vec<EventRecorded>, StoreError>")]
pub struct ReadEvents {
    /// The last id the reader has.
    pub after: i64,
    /// Most events returned.
    pub limit: u32,
}

/// The id of the newest event ever logged (0 if none): where a new reader starts. Sent by the
/// webhooks actor for a target it has never seen.
#[derive(Message, Debug, Clone, Default)]
#[rtype(result = "Result<i64, StoreError>")]
pub struct LastEventId;

/// The last event id a webhook target acknowledged (`None`: never seen). Sent by the
/// webhooks actor when a target starts.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Option<i64>, StoreError>")]
pub struct WebhookCursor {
    /// The target's URL.
    pub target: String,
}

/// Record that a webhook target acknowledged every event up to `last_id` (the cursor only
/// moves forward). Sent by the webhooks actor after a 2xx.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), StoreError>")]
pub struct SetWebhookCursor {
    /// The target's URL.
    pub target: String,
    /// The id of the event acknowledged.
    pub last_id: i64,
}

/// Delete logged events older than `before` (unix seconds) that every one of `targets` has
/// passed (all older ones if `targets` is empty). Sent by the webhooks actor from time to
/// time. Returns how many went.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<u64, StoreError>")]
pub struct PruneEvents {
    /// Keep everything at or after this time.
    pub before: i64,
    /// The URLs of the configured webhook targets.
    pub targets: Vec<String>,
}

/// Take or renew this node's lease on delivering to webhook `target` until `now + ttl_secs`
/// (unix seconds): `true` if this node holds it now. A lease held by another node that has
/// not run out is refused, so with several nodes on one store exactly one POSTs each event
/// to a target; a node that stops renewing (it died) loses the lease when it runs out. Sent
/// by the webhooks actor before each POST. An engine with a single node always says yes.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<bool, StoreError>")]
pub struct LeaseWebhook {
    /// The target's URL.
    pub target: String,
    /// Unix seconds, the caller's clock.
    pub now: i64,
    /// How long the lease lasts from `now` unless renewed.
    pub ttl_secs: i64,
}
