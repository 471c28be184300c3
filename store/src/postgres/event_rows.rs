//! Rows of the PostgreSQL event log written by the transaction of the change they describe
//! (a delivery, a MOVE, a submission) or on their own, so that an event exists exactly when
//! its change does.
//!
//! Ids come from the identity sequence and so only grow, even across pruning. Unlike the
//! embedded engine there are many writers (connections, nodes), and a sequence hands out ids
//! in the order of the INSERTs, not of the COMMITs: a reader following the ids could see id
//! 8 committed while 7 is still in flight, move its cursor past 7 and never send it. So every
//! event INSERT first takes [`EVENTS_LOCK`] for the rest of its transaction: events commit
//! one transaction at a time, in id order. Callers insert their events last in the
//! transaction, after the row locks they take, which keeps the lock short (and a deadlock
//! that still happens is retried by `txn::write`).

use deadpool_postgres::Transaction;
use mailroom_shared::events::{EventData, EventRecorded};

use super::txn::TxResult;

/// Held (transaction-scoped) by each transaction that logs events, from its first event
/// INSERT to its COMMIT. Any 64-bit constant of our own ("events").
const EVENTS_LOCK: i64 = 0x0000_6576_656e_7473;

const EVENT_INSERT: &str = "INSERT INTO events (kind, at, body) VALUES ($1, $2, $3) RETURNING id";

/// Append `data` to the log as happening at `at` (unix seconds), in `tx`.
pub(crate) async fn insert(
    tx: &Transaction<'_>,
    data: &EventData,
    at: i64,
) -> TxResult<EventRecorded> {
    let body = serde_json::to_string(data)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&EVENTS_LOCK])
        .await?;
    let row = tx
        .query_one(EVENT_INSERT, &[&data.kind().as_str(), &at, &body])
        .await?;
    Ok(EventRecorded {
        id: row.get(0),
        timestamp: at,
        data: data.clone(),
    })
}
