//! The `dkim_keys` table: reading a domain's active keys and giving keys to domains that lack
//! them. Key generation (slow for RSA) happens before the short write transaction, never in it.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::unix_now;
use crate::common::directory::{NewKeys, dkim_domain, free_selector, generate_keys, newest_keys};
use crate::dkim::{DkimAlgorithm, DkimKey};
use crate::error::StoreError;

const KEYS_OF_DOMAIN: &str = "SELECT d.name, k.selector, k.algorithm, k.private_key, k.created \
     FROM dkim_keys k JOIN domains d ON d.id = k.domain_id \
     WHERE d.name = ?1 AND k.active = 1 ORDER BY k.algorithm DESC, k.created DESC, k.id DESC";
/// Domains lacking an active key of algorithm ?1.
const DOMAINS_WITHOUT: &str = "SELECT d.id, d.name FROM domains d WHERE NOT EXISTS \
     (SELECT 1 FROM dkim_keys k WHERE k.domain_id = d.id AND k.algorithm = ?1 AND k.active = 1)";
const HAS_ACTIVE: &str =
    "SELECT 1 FROM dkim_keys WHERE domain_id = ?1 AND algorithm = ?2 AND active = 1";
const SELECTOR_TAKEN: &str = "SELECT 1 FROM dkim_keys WHERE domain_id = ?1 AND selector = ?2";
const KEY_INSERT: &str = "INSERT INTO dkim_keys \
     (domain_id, selector, algorithm, private_key, created, active) VALUES (?1, ?2, ?3, ?4, ?5, 1)";

/// Insert the keys of `new` that `domain_id` has no active key of yet. Run inside the caller's
/// write transaction, so a concurrent process that got there first wins and ours are dropped.
pub(crate) fn insert_missing(
    conn: &Connection,
    domain_id: i64,
    new: &NewKeys,
) -> Result<usize, StoreError> {
    let mut inserted = 0;
    for (algorithm, key) in &new.keys {
        let has = conn
            .query_row(HAS_ACTIVE, params![domain_id, algorithm.as_str()], |_| {
                Ok(())
            })
            .optional()?;
        if has.is_some() {
            continue;
        }
        let selector = free_selector(*algorithm, new.created, |s| {
            selector_taken(conn, domain_id, s)
        })?;
        conn.execute(
            KEY_INSERT,
            params![
                domain_id,
                selector,
                algorithm.as_str(),
                key.expose_pkcs8_der(),
                new.created
            ],
        )?;
        inserted += 1;
    }
    Ok(inserted)
}

fn selector_taken(conn: &Connection, domain_id: i64, selector: &str) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(SELECTOR_TAKEN, params![domain_id, selector], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Give every domain that lacks an active key of some algorithm a new one. Called when the
/// store opens (server and CLI), for domains created before keys existed. Returns how many
/// domains got keys.
pub(crate) fn backfill(conn: &mut Connection) -> Result<usize, StoreError> {
    let mut missing: Vec<(i64, String)> = Vec::new();
    for algorithm in DkimAlgorithm::ALL {
        let mut stmt = conn.prepare(DOMAINS_WITHOUT)?;
        let rows = stmt.query_map([algorithm.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?;
        for row in rows {
            let row = row?;
            if !missing.contains(&row) {
                missing.push(row);
            }
        }
    }
    for (domain_id, name) in &missing {
        let new = generate_keys(unix_now())?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let inserted = insert_missing(&tx, *domain_id, &new)?;
        tx.commit()?;
        if inserted > 0 {
            tracing::info!(domain = %name, keys = inserted, "Created DKIM keys.");
        }
    }
    Ok(missing.len())
}

/// See [`crate::dkim::DkimKeys`].
pub(crate) fn keys_of(conn: &Connection, domain: &str) -> Result<Vec<DkimKey>, StoreError> {
    let name = dkim_domain(domain);
    let mut stmt = conn.prepare_cached(KEYS_OF_DOMAIN)?;
    let rows = stmt.query_map([&name], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })?;
    newest_keys(rows.collect::<Result<Vec<_>, _>>()?)
}
