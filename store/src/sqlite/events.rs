//! The event log (`events`) and the webhook cursors (`webhook_cursors`), schema version 6.
//!
//! Rows are only ever appended by the writer, in the transaction of the change they describe
//! when there is one, so an event exists exactly when its change does. Ids come from
//! AUTOINCREMENT and so only grow, even across pruning: a receiver may de-duplicate by id.
//! Readers see only committed rows, so a reader that follows the ids never skips one that
//! commits later with a smaller id — the writer is the only one and commits in id order.

use mailroom_shared::events::{EventData, EventRecorded};
use rusqlite::{Connection, OptionalExtension, params};

use crate::common::events::stored_event;
use crate::error::StoreError;

const EVENT_INSERT: &str = "INSERT INTO events (kind, at, body) VALUES (?1, ?2, ?3) RETURNING id";
const EVENTS_AFTER: &str = "SELECT id, at, body FROM events WHERE id > ?1 ORDER BY id LIMIT ?2";
/// The last id given out, whether or not its row is still there.
const LAST_ID: &str = "SELECT seq FROM sqlite_sequence WHERE name = 'events'";
const CURSOR_GET: &str = "SELECT last_id FROM webhook_cursors WHERE target = ?1";
/// Cursors only move forward: a late, duplicate acknowledgement cannot replay events.
const CURSOR_SET: &str = "INSERT INTO webhook_cursors (target, last_id) VALUES (?1, ?2) \
     ON CONFLICT (target) DO UPDATE SET last_id = max(last_id, excluded.last_id)";
const PRUNE_OLD: &str = "DELETE FROM events WHERE at < ?1";
const PRUNE_PASSED: &str = "DELETE FROM events WHERE at < ?1 AND id <= ?2";

/// Append `data` to the log as happening at `at` (unix seconds).
pub(crate) fn insert(
    conn: &Connection,
    data: &EventData,
    at: i64,
) -> Result<EventRecorded, StoreError> {
    let body = serde_json::to_string(data)?;
    let id = conn
        .prepare_cached(EVENT_INSERT)?
        .query_row(params![data.kind().as_str(), at, body], |r| r.get(0))?;
    Ok(EventRecorded {
        id,
        timestamp: at,
        data: data.clone(),
    })
}

/// Up to `limit` events with ids above `after`, oldest first. A row this build cannot parse
/// (written by a newer mailroom) is skipped with a warning rather than blocking every reader
/// behind it forever.
pub(crate) fn read_after(
    conn: &Connection,
    after: i64,
    limit: u32,
) -> Result<Vec<EventRecorded>, StoreError> {
    let mut stmt = conn.prepare_cached(EVENTS_AFTER)?;
    let rows = stmt
        .query_map(params![after, limit], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, at, body)| stored_event(id, at, &body))
        .collect())
}

/// The id of the newest event ever logged (0 for none).
pub(crate) fn last_id(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached(LAST_ID)?
        .query_row([], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// The last event id `target` acknowledged, if it was ever seen.
pub(crate) fn cursor(conn: &Connection, target: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached(CURSOR_GET)?
        .query_row([target], |r| r.get(0))
        .optional()?)
}

/// Move `target`'s cursor forward to `last_id` (never back).
pub(crate) fn set_cursor(conn: &Connection, target: &str, last_id: i64) -> Result<(), StoreError> {
    conn.prepare_cached(CURSOR_SET)?
        .execute(params![target, last_id])?;
    Ok(())
}

/// Delete events older than `before` (unix seconds) that every one of `targets` has passed;
/// with no targets, every event older than `before`. A target with no cursor yet holds
/// nothing back: it starts at the end of the log. Returns how many rows went.
pub(crate) fn prune(conn: &Connection, before: i64, targets: &[String]) -> Result<u64, StoreError> {
    let mut passed: Option<i64> = None;
    for target in targets {
        if let Some(id) = cursor(conn, target)? {
            passed = Some(passed.map_or(id, |p| p.min(id)));
        }
    }
    let n = match passed {
        Some(id) => conn
            .prepare_cached(PRUNE_PASSED)?
            .execute(params![before, id])?,
        None => conn.prepare_cached(PRUNE_OLD)?.execute(params![before])?,
    };
    Ok(n as u64)
}
