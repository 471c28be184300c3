//! Rows of the PostgreSQL event log written by the transaction of the change they describe
//! (a delivery, a MOVE), so that an event exists exactly when its change does.

use deadpool_postgres::Transaction;
use mailroom_shared::events::{EventData, EventRecorded};

use super::txn::TxResult;

const EVENT_INSERT: &str = "INSERT INTO events (kind, at, body) VALUES ($1, $2, $3) RETURNING id";

/// Append `data` to the log as happening at `at` (unix seconds), in `tx`.
pub(crate) async fn insert(
    tx: &Transaction<'_>,
    data: &EventData,
    at: i64,
) -> TxResult<EventRecorded> {
    let body = serde_json::to_string(data)?;
    let row = tx
        .query_one(EVENT_INSERT, &[&data.kind().as_str(), &at, &body])
        .await?;
    Ok(EventRecorded {
        id: row.get(0),
        timestamp: at,
        data: data.clone(),
    })
}
