//! Engine-neutral rules of the event log: how a stored row becomes an event.

use mailroom_shared::events::{EventData, EventRecorded};

/// The event stored as (`id`, `at`, JSON `body`); `None`, with a warning, for a row this
/// build cannot parse (written by a newer mailroom): skipping it beats blocking every reader
/// behind it forever.
pub(crate) fn stored_event(id: i64, at: i64, body: &str) -> Option<EventRecorded> {
    match serde_json::from_str::<EventData>(body) {
        Ok(data) => Some(EventRecorded {
            id,
            timestamp: at,
            data,
        }),
        Err(e) => {
            tracing::warn!(id, error = %e, "Skipping an event this build cannot read.");
            None
        }
    }
}
