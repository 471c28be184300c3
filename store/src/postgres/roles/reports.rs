//! The PostgreSQL engine's [`Reports`]: reads on a pooled connection. Bodies are checked
//! inside the database (length and SHA-256), so the self-check moves no mail over the wire.

use super::super::{PgEngine, pg, pool_err};
use crate::common::directory::{blob_problems, contains_pattern};
use crate::engine::{Reports, StoreFuture};
use crate::error::StoreError;
use crate::requests::{
    GreylistEntries, HourlyCounts, RecentEvents, Sizes, SpamDecisions, VerifyBodies,
};
use crate::types::{GreylistEntry, HourCount, SpamDecisionRow, StoreSizes};

const HOURLY_COUNTS: &str = "\
     SELECT CASE kind WHEN 'delivered' THEN 'received' ELSE kind END, at / 3600, count(*) \
       FROM events WHERE at >= $1 AND kind IN ('delivered', 'rejected', 'greylisted') \
       GROUP BY 1, 2 \
     UNION ALL SELECT 'spam', at / 3600, count(*) FROM spam_decisions \
       WHERE at >= $1 AND action <> 'inbox' GROUP BY 2 \
     UNION ALL SELECT 'sent', created / 3600, count(*) FROM queue_messages \
       WHERE created >= $1 GROUP BY 2";
const QUEUE_BY_STATUS: &str = "SELECT status, count(*) FROM queue_recipients \
     WHERE status IN ('queued', 'held') GROUP BY status";
const DATA_SIZES: &str = "SELECT pg_database_size(current_database()), \
     (SELECT coalesce(sum(size), 0)::BIGINT FROM blobs)";
const RECENT_EVENTS: &str =
    "SELECT id, at, body FROM events WHERE kind = $1 ORDER BY id DESC LIMIT $2";
const SPAM_DECISIONS: &str = "SELECT a.address, d.score, d.action, d.rules, d.at \
     FROM spam_decisions d JOIN accounts a ON a.id = d.account_id \
     ORDER BY d.at DESC, d.id DESC LIMIT $1";
// ILIKE without an escape character: SQLite's LIKE, which the embedded engine uses, ignores
// ASCII case and has no escape by default.
const GREYLIST_ENTRIES: &str = "SELECT net, sender, recipient, first_seen, last_seen, \
     passed_at, count FROM greylist_triplets \
     WHERE net ILIKE $1 ESCAPE '' OR sender ILIKE $1 ESCAPE '' OR recipient ILIKE $1 ESCAPE '' \
     ORDER BY last_seen DESC LIMIT $2";
const BLOB_CHECK: &str = "SELECT b.sha256, b.size, b.refcount, \
     (SELECT count(*) FROM messages m WHERE m.blob = b.sha256), \
     length(b.data)::BIGINT, encode(sha256(b.data), 'hex') FROM blobs b";

impl Reports for PgEngine {
    fn hourly_counts(&self, m: HourlyCounts) -> StoreFuture<Vec<HourCount>> {
        self.run(move |pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            let rows = client.query(HOURLY_COUNTS, &[&m.since]).await.map_err(pg)?;
            Ok(rows
                .iter()
                .map(|r| HourCount {
                    what: r.get(0),
                    hour: r.get(1),
                    count: r.get::<_, i64>(2).max(0) as u64,
                })
                .collect())
        })
    }

    fn sizes(&self, _: Sizes) -> StoreFuture<StoreSizes> {
        self.run(|pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            let mut sizes = StoreSizes::default();
            for r in client.query(QUEUE_BY_STATUS, &[]).await.map_err(pg)? {
                let n = r.get::<_, i64>(1).max(0) as u64;
                match r.get::<_, &str>(0) {
                    "queued" => sizes.queued = n,
                    "held" => sizes.held = n,
                    _ => {}
                }
            }
            let r = client.query_one(DATA_SIZES, &[]).await.map_err(pg)?;
            sizes.database_bytes = r.get::<_, i64>(0).max(0) as u64;
            sizes.message_bytes = r.get::<_, i64>(1).max(0) as u64;
            Ok(sizes)
        })
    }

    fn recent_events(&self, m: RecentEvents) -> StoreFuture<Vec<(i64, i64, String)>> {
        self.run(move |pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            let rows = client
                .query(RECENT_EVENTS, &[&m.kind, &i64::from(m.limit)])
                .await
                .map_err(pg)?;
            Ok(rows
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect())
        })
    }

    fn spam_decisions(&self, m: SpamDecisions) -> StoreFuture<Vec<SpamDecisionRow>> {
        self.run(move |pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            let rows = client
                .query(SPAM_DECISIONS, &[&i64::from(m.limit)])
                .await
                .map_err(pg)?;
            Ok(rows
                .iter()
                .map(|r| SpamDecisionRow {
                    account: r.get(0),
                    score: r.get(1),
                    action: r.get(2),
                    rules_json: r.get(3),
                    at: r.get(4),
                })
                .collect())
        })
    }

    fn greylist_entries(&self, m: GreylistEntries) -> StoreFuture<Vec<GreylistEntry>> {
        self.run(move |pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            let pattern = contains_pattern(&m.query);
            let rows = client
                .query(GREYLIST_ENTRIES, &[&pattern, &i64::from(m.limit)])
                .await
                .map_err(pg)?;
            Ok(rows
                .iter()
                .map(|r| GreylistEntry {
                    net: r.get(0),
                    sender: r.get(1),
                    recipient: r.get(2),
                    first_seen: r.get(3),
                    last_seen: r.get(4),
                    passed_at: r.get(5),
                    count: r.get::<_, i64>(6).max(0) as u64,
                })
                .collect())
        })
    }

    fn verify_bodies(&self, _: VerifyBodies) -> StoreFuture<Vec<String>> {
        self.run(|pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            let mut problems = Vec::new();
            for r in client.query(BLOB_CHECK, &[]).await.map_err(pg)? {
                let (hash, size, refcount, used, length, sha): (
                    String,
                    i64,
                    i64,
                    i64,
                    i64,
                    String,
                ) = (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5));
                // The same words as the embedded engine's check of a body of the wrong size.
                let content = if length != size {
                    Err(StoreError::Unavailable(format!(
                        "blob {hash} has {length} octets, expected {size}"
                    )))
                } else {
                    Ok(sha)
                };
                problems.extend(blob_problems(&hash, refcount, used, content));
            }
            Ok(problems)
        })
    }
}
