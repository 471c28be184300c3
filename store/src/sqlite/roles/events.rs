//! The embedded engine's [`EventLog`].

use mailroom_shared::events::EventRecorded;

use super::super::{SqliteBackend, events};
use crate::engine::{EventLog, Outcome, StoreFuture};
use crate::requests::{
    LastEventId, LeaseWebhook, PruneEvents, ReadEvents, RecordEvent, SetWebhookCursor,
    WebhookCursor,
};

impl EventLog for SqliteBackend {
    fn record_event(&self, m: RecordEvent) -> StoreFuture<Outcome<EventRecorded>> {
        let writer = self.writer.clone();
        Box::pin(async move { writer.record_event(m.0).await })
    }

    fn read_events(&self, m: ReadEvents) -> StoreFuture<Vec<EventRecorded>> {
        let pool = self.pool.clone();
        Box::pin(Self::read(pool, move |c| {
            events::read_after(c, m.after, m.limit)
        }))
    }

    fn last_event_id(&self, _: LastEventId) -> StoreFuture<i64> {
        let pool = self.pool.clone();
        Box::pin(Self::read(pool, |c| events::last_id(c)))
    }

    fn webhook_cursor(&self, m: WebhookCursor) -> StoreFuture<Option<i64>> {
        let pool = self.pool.clone();
        Box::pin(Self::read(pool, move |c| events::cursor(c, &m.target)))
    }

    fn set_webhook_cursor(&self, m: SetWebhookCursor) -> StoreFuture<Outcome<()>> {
        let writer = self.writer.clone();
        Box::pin(async move { writer.set_cursor(m).await })
    }

    fn prune_events(&self, m: PruneEvents) -> StoreFuture<Outcome<u64>> {
        let writer = self.writer.clone();
        Box::pin(async move { writer.prune_events(m).await })
    }

    fn lease_webhook(&self, _: LeaseWebhook) -> StoreFuture<bool> {
        // One process owns an embedded store: its webhooks actor is the only dispatcher.
        Box::pin(async { Ok(true) })
    }
}
