//! The PostgreSQL engine's [`EventLog`]: the log, the webhook cursors and the webhook
//! leases that let one node at a time deliver to each target.

use mailroom_shared::events::EventRecorded;

use super::super::{PgEngine, event_rows, events, pg, pool_err, unix_now};
use crate::engine::{EventLog, Outcome, StoreFuture};
use crate::requests::{
    LastEventId, LeaseWebhook, PruneEvents, ReadEvents, RecordEvent, SetWebhookCursor,
    WebhookCursor,
};

impl EventLog for PgEngine {
    fn record_event(&self, m: RecordEvent) -> StoreFuture<Outcome<EventRecorded>> {
        self.write(move |pool| async move {
            let mut client = pool.get().await.map_err(pool_err)?;
            let tx = client.transaction().await.map_err(pg)?;
            let event = event_rows::insert(&tx, &m.0, unix_now()).await?;
            tx.commit().await.map_err(pg)?;
            Ok(Outcome {
                value: event.clone(),
                changes: Vec::new(),
                events: vec![event],
            })
        })
    }

    fn read_events(&self, m: ReadEvents) -> StoreFuture<Vec<EventRecorded>> {
        self.run(move |pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            events::read_after(&client, m.after, m.limit).await
        })
    }

    fn last_event_id(&self, _: LastEventId) -> StoreFuture<i64> {
        self.run(move |pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            events::last_id(&client).await
        })
    }

    fn webhook_cursor(&self, m: WebhookCursor) -> StoreFuture<Option<i64>> {
        self.run(move |pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            events::cursor(&client, &m.target).await
        })
    }

    fn set_webhook_cursor(&self, m: SetWebhookCursor) -> StoreFuture<Outcome<()>> {
        self.write(move |pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            events::set_cursor(&client, &m.target, m.last_id).await?;
            Ok(Outcome::quiet(()))
        })
    }

    fn prune_events(&self, m: PruneEvents) -> StoreFuture<Outcome<u64>> {
        self.write(move |pool| async move {
            let mut client = pool.get().await.map_err(pool_err)?;
            let tx = client.transaction().await.map_err(pg)?;
            let n = events::prune(&tx, m.before, &m.targets).await?;
            tx.commit().await.map_err(pg)?;
            Ok(Outcome::quiet(n))
        })
    }

    fn lease_webhook(&self, m: LeaseWebhook) -> StoreFuture<bool> {
        let node = self.node();
        self.run(move |pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            events::lease(&client, &m.target, &node, m.now, m.ttl_secs).await
        })
    }
}
