//! The `dkim_keys` table: reading a domain's active keys and giving keys to domains that lack
//! them. Key generation (slow for RSA) happens before the short write transaction, never in it.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::unix_now;
use crate::dkim::{DkimAlgorithm, DkimKey, DkimPrivateKey, generate, year_of};
use crate::common::policy::{domain_key, signing_keys};
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

/// A freshly generated key for each algorithm, to be inserted by [`insert_missing`].
pub(crate) struct NewKeys {
    keys: Vec<(DkimAlgorithm, DkimPrivateKey)>,
    created: i64,
}

/// Generate one key per algorithm (RSA-2048 and Ed25519), outside any transaction.
pub(crate) fn generate_all() -> Result<NewKeys, StoreError> {
    let keys = DkimAlgorithm::ALL
        .into_iter()
        .map(|a| Ok((a, generate(a)?)))
        .collect::<Result<_, StoreError>>()?;
    Ok(NewKeys {
        keys,
        created: unix_now(),
    })
}

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
        let selector = free_selector(conn, domain_id, *algorithm, year_of(new.created))?;
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

/// `mr2026r`, or `mr2026r2`, `mr2026r3`… if an inactive key of the same year holds the name
/// (a selector must never be reused for another key: caches would mix them up).
fn free_selector(
    conn: &Connection,
    domain_id: i64,
    algorithm: DkimAlgorithm,
    year: i64,
) -> Result<String, StoreError> {
    let base = algorithm.selector(year);
    let mut candidate = base.clone();
    for n in 2.. {
        let taken = conn
            .query_row(SELECTOR_TAKEN, params![domain_id, candidate], |_| Ok(()))
            .optional()?;
        if taken.is_none() {
            break;
        }
        candidate = format!("{base}{n}");
    }
    Ok(candidate)
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
        let new = generate_all()?;
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
    let name = domain_key(domain);
    let mut stmt = conn.prepare_cached(KEYS_OF_DOMAIN)?;
    let rows = stmt
        .query_map([&name], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    signing_keys(rows)
}
