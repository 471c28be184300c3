//! The event log (`events`) as its readers see it, the webhook cursors and the webhook
//! leases on PostgreSQL; events are written by `event_rows`, which also says why a reader
//! that follows the ids never skips one.

use mailroom_shared::events::{EventData, EventRecorded};
use tokio_postgres::{Client, Transaction};

use super::pg;
use crate::error::StoreError;

const EVENTS_AFTER: &str = "SELECT id, at, body FROM events WHERE id > $1 ORDER BY id LIMIT $2";
/// The last id given out, whether or not its row is still there (NULL: none yet).
const LAST_ID: &str = "SELECT pg_sequence_last_value(pg_get_serial_sequence('events', 'id'))";
const CURSOR_GET: &str = "SELECT last_id FROM webhook_cursors WHERE target = $1";
/// Cursors only move forward: a late, duplicate acknowledgement cannot replay events.
const CURSOR_SET: &str = "INSERT INTO webhook_cursors (target, last_id) VALUES ($1, $2) \
     ON CONFLICT (target) DO UPDATE \
     SET last_id = GREATEST(webhook_cursors.last_id, excluded.last_id)";
const PRUNE_OLD: &str = "DELETE FROM events WHERE at < $1";
const PRUNE_PASSED: &str = "DELETE FROM events WHERE at < $1 AND id <= $2";
/// Take the lease if it is free, ours, or ran out; a row comes back only if we hold it.
/// Concurrent takers are ordered by the row lock of the upsert.
const LEASE: &str = "INSERT INTO webhook_leases (target, holder, until) VALUES ($1, $2, $3) \
     ON CONFLICT (target) DO UPDATE SET holder = excluded.holder, until = excluded.until \
     WHERE webhook_leases.holder = excluded.holder OR webhook_leases.until <= $4 \
     RETURNING holder";

/// Up to `limit` events with ids above `after`, oldest first; rows this build cannot parse
/// are skipped with a warning, as in the embedded engine.
pub(crate) async fn read_after(
    client: &Client,
    after: i64,
    limit: u32,
) -> Result<Vec<EventRecorded>, StoreError> {
    let rows = client
        .query(EVENTS_AFTER, &[&after, &i64::from(limit)])
        .await
        .map_err(pg)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let (id, at, body): (i64, i64, String) = (row.get(0), row.get(1), row.get(2));
        match serde_json::from_str::<EventData>(&body) {
            Ok(data) => out.push(EventRecorded {
                id,
                timestamp: at,
                data,
            }),
            Err(e) => tracing::warn!(id, error = %e, "Skipping an event this build cannot read."),
        }
    }
    Ok(out)
}

/// The id of the newest event ever logged (0 for none).
pub(crate) async fn last_id(client: &Client) -> Result<i64, StoreError> {
    let row = client.query_one(LAST_ID, &[]).await.map_err(pg)?;
    Ok(row.get::<_, Option<i64>>(0).unwrap_or(0))
}

/// The last event id `target` acknowledged, if it was ever seen.
pub(crate) async fn cursor(client: &Client, target: &str) -> Result<Option<i64>, StoreError> {
    Ok(client
        .query_opt(CURSOR_GET, &[&target])
        .await
        .map_err(pg)?
        .map(|r| r.get(0)))
}

/// Move `target`'s cursor forward to `last_id` (never back).
pub(crate) async fn set_cursor(
    client: &Client,
    target: &str,
    last_id: i64,
) -> Result<(), StoreError> {
    client
        .execute(CURSOR_SET, &[&target, &last_id])
        .await
        .map_err(pg)?;
    Ok(())
}

/// Delete events older than `before` that every one of `targets` has passed (see the
/// embedded engine's `prune`, whose rule this is). Returns how many rows went.
pub(crate) async fn prune(
    tx: &Transaction<'_>,
    before: i64,
    targets: &[String],
) -> Result<u64, StoreError> {
    let mut passed: Option<i64> = None;
    for target in targets {
        if let Some(row) = tx.query_opt(CURSOR_GET, &[target]).await.map_err(pg)? {
            let id: i64 = row.get(0);
            passed = Some(passed.map_or(id, |p| p.min(id)));
        }
    }
    let n = match passed {
        Some(id) => tx.execute(PRUNE_PASSED, &[&before, &id]).await,
        None => tx.execute(PRUNE_OLD, &[&before]).await,
    }
    .map_err(pg)?;
    Ok(n)
}

/// Take or renew `node`'s lease on `target` until `now + ttl_secs`; whether `node` holds it.
pub(crate) async fn lease(
    client: &Client,
    target: &str,
    node: &str,
    now: i64,
    ttl_secs: i64,
) -> Result<bool, StoreError> {
    let until = now.saturating_add(ttl_secs.max(1));
    let row = client
        .query_opt(LEASE, &[&target, &node, &until, &now])
        .await
        .map_err(pg)?;
    Ok(row.is_some())
}
