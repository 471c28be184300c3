//! Greylist rows (schema version 6): the reads used by the read pool and the writes run by
//! the writer inside its group commit. Plain functions over a connection, like `reads` and
//! `ops`; what the rows mean is documented in `crate::greylist`.

use rusqlite::{Connection, OptionalExtension, params};

use crate::common::policy::triplet_state;
use crate::error::StoreError;
use crate::greylist::{
    ExpireGreylist, GreylistLookup, GreylistRows, KnownSender, SaveGreylist, Triplet,
};

const RECENT_TRIPLETS: &str = "SELECT net, sender, recipient, first_seen, last_seen, passed_at, \
     count FROM greylist_triplets ORDER BY last_seen DESC LIMIT ?1";
const RECENT_KNOWN: &str =
    "SELECT kind, key, last_seen FROM greylist_known ORDER BY last_seen DESC LIMIT ?1";
const ONE_TRIPLET: &str = "SELECT first_seen, last_seen, passed_at, count FROM greylist_triplets \
     WHERE net = ?1 AND sender = ?2 AND recipient = ?3";
const ONE_KNOWN: &str = "SELECT last_seen FROM greylist_known WHERE kind = ?1 AND key = ?2";
// The actor's state is the newer one: it replaces the row whole (a round that starts over
// must get its new first_seen).
const UPSERT_TRIPLET: &str = "INSERT INTO greylist_triplets \
     (net, sender, recipient, first_seen, last_seen, passed_at, count) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
     ON CONFLICT (net, sender, recipient) DO UPDATE SET first_seen = excluded.first_seen, \
     last_seen = excluded.last_seen, passed_at = excluded.passed_at, count = excluded.count";
const UPSERT_KNOWN: &str = "INSERT INTO greylist_known (kind, key, last_seen) VALUES (?1, ?2, ?3) \
     ON CONFLICT (kind, key) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)";
const FORGET_TRIPLET: &str =
    "DELETE FROM greylist_triplets WHERE net = ?1 AND sender = ?2 AND recipient = ?3";
const EXPIRE_PENDING: &str =
    "DELETE FROM greylist_triplets WHERE passed_at IS NULL AND first_seen < ?1";
const EXPIRE_PASSED: &str =
    "DELETE FROM greylist_triplets WHERE passed_at IS NOT NULL AND last_seen < ?1";
const EXPIRE_KNOWN: &str = "DELETE FROM greylist_known WHERE last_seen < ?1";

/// The `limit` most recently seen triplets and known senders.
pub(crate) fn load(conn: &Connection, limit: usize) -> Result<GreylistRows, StoreError> {
    let limit_sql = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare(RECENT_TRIPLETS)?;
    let triplets = stmt
        .query_map([limit_sql], |r| {
            Ok((
                Triplet {
                    net: r.get(0)?,
                    sender: r.get(1)?,
                    recipient: r.get(2)?,
                },
                triplet_state(r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?),
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut stmt = conn.prepare(RECENT_KNOWN)?;
    let rows = stmt
        .query_map([limit_sql], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?))
        })?
        .collect::<Result<Vec<(String, String, i64)>, _>>()?;
    let all_known = rows.len() < limit;
    let known = rows
        .into_iter()
        .filter_map(|(kind, key, seen)| KnownSender::from_columns(&kind, &key).map(|k| (k, seen)))
        .collect();
    Ok(GreylistRows {
        all_triplets: triplets.len() < limit,
        triplets,
        known,
        all_known,
    })
}

/// One triplet's row, and which of `known` are stored.
pub(crate) fn lookup(
    conn: &Connection,
    triplet: &Triplet,
    known: &[KnownSender],
) -> Result<GreylistLookup, StoreError> {
    let found = conn
        .query_row(
            ONE_TRIPLET,
            params![triplet.net, triplet.sender, triplet.recipient],
            |r| Ok(triplet_state(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let mut stmt = conn.prepare_cached(ONE_KNOWN)?;
    let mut seen = Vec::new();
    for k in known {
        if let Some(at) = stmt
            .query_row(params![k.kind(), k.key()], |r| r.get::<_, i64>(0))
            .optional()?
        {
            seen.push((k.clone(), at));
        }
    }
    Ok((found, seen))
}

/// Write triplet states and known senders.
pub(crate) fn save(conn: &Connection, m: &SaveGreylist) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(UPSERT_TRIPLET)?;
    for (t, s) in &m.triplets {
        stmt.execute(params![
            t.net,
            t.sender,
            t.recipient,
            s.first_seen,
            s.last_seen,
            s.passed_at,
            i64::from(s.count)
        ])?;
    }
    let mut stmt = conn.prepare_cached(UPSERT_KNOWN)?;
    for (k, seen) in &m.known {
        stmt.execute(params![k.kind(), k.key(), seen])?;
    }
    let mut stmt = conn.prepare_cached(FORGET_TRIPLET)?;
    for t in &m.forget {
        stmt.execute(params![t.net, t.sender, t.recipient])?;
    }
    Ok(())
}

/// Delete what expired; returns the number of rows deleted.
pub(crate) fn expire(conn: &Connection, m: &ExpireGreylist) -> Result<u64, StoreError> {
    let n = conn.execute(EXPIRE_PENDING, [m.pending_before])?
        + conn.execute(EXPIRE_PASSED, [m.passed_before])?
        + conn.execute(EXPIRE_KNOWN, [m.passed_before])?;
    Ok(n as u64)
}
