//! Failed logins and lockouts in PostgreSQL (`login_failures`): the same runs as the
//! embedded engine keeps (see `sqlite/logins.rs`), judged by the same rules
//! ([`crate::common::directory::judge`]). Every node counts into the same rows, so a guesser
//! is locked out of the whole cluster.

use tokio_postgres::GenericClient;

use super::pg;
use crate::common::directory::{judge, scope_named};
use crate::error::StoreError;
use crate::types::{Lockout, LockoutPolicy, LockoutScope};

const FAILURE: &str = "INSERT INTO login_failures AS f (scope, key, failures, first_at, last_at) \
     VALUES ($1, $2, 1, $3, $3) \
     ON CONFLICT (scope, key) DO UPDATE SET \
       failures = CASE WHEN $3 - f.last_at > $4 THEN 1 ELSE f.failures + 1 END, \
       first_at = CASE WHEN $3 - f.last_at > $4 THEN $3 ELSE f.first_at END, \
       last_at = $3 \
     RETURNING failures";
const GET: &str = "SELECT failures, last_at FROM login_failures WHERE scope = $1 AND key = $2";
const CLEAR: &str = "DELETE FROM login_failures WHERE scope = $1 AND key = $2";
const LIST: &str =
    "SELECT scope, key, failures, last_at FROM login_failures WHERE last_at >= $1 ORDER BY last_at";
const FORGET: &str = "DELETE FROM login_failures WHERE last_at < $1";

fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

/// Count a failed login of `account_key` from `ip` at `now`; the runs' lengths after it
/// (account, ip).
pub(crate) async fn record_failure(
    c: &impl GenericClient,
    account_key: &str,
    ip: &str,
    now: i64,
    forget_after: i64,
) -> Result<(u32, u32), StoreError> {
    let mut counts = [0; 2];
    for (slot, (scope, key)) in [(LockoutScope::Account, account_key), (LockoutScope::Ip, ip)]
        .into_iter()
        .enumerate()
    {
        let n: i64 = c
            .query_one(FAILURE, &[&scope.as_str(), &key, &now, &forget_after])
            .await
            .map_err(pg)?
            .get(0);
        counts[slot] = count(n);
    }
    // Rows nobody will ask about again; cheap (failures are rare) and keeps the table small.
    c.execute(FORGET, &[&(now - forget_after.max(0) - 1)])
        .await
        .map_err(pg)?;
    Ok((counts[0], counts[1]))
}

/// Forget the failures of `key` in `scope`. Whether there were any.
pub(crate) async fn clear(
    c: &impl GenericClient,
    scope: LockoutScope,
    key: &str,
) -> Result<bool, StoreError> {
    Ok(c.execute(CLEAR, &[&scope.as_str(), &key])
        .await
        .map_err(pg)?
        > 0)
}

/// Whether the account has failures on record (only then does a good login need a write).
pub(crate) async fn has_failures(
    c: &impl GenericClient,
    account_key: &str,
) -> Result<bool, StoreError> {
    Ok(
        c.query_opt(GET, &[&LockoutScope::Account.as_str(), &account_key])
            .await
            .map_err(pg)?
            .is_some(),
    )
}

/// The lockout that stops a login of `account_key` from `ip` now, if any (the account's
/// first).
pub(crate) async fn locked(
    c: &impl GenericClient,
    account_key: &str,
    ip: &str,
    now: i64,
    policy: &LockoutPolicy,
) -> Result<Option<Lockout>, StoreError> {
    for (scope, key) in [(LockoutScope::Account, account_key), (LockoutScope::Ip, ip)] {
        let Some(row) = c
            .query_opt(GET, &[&scope.as_str(), &key])
            .await
            .map_err(pg)?
        else {
            continue;
        };
        let (lockout, active) = judge(
            scope,
            key.to_string(),
            count(row.get(0)),
            row.get(1),
            now,
            policy,
        );
        if active {
            return Ok(Some(lockout));
        }
    }
    Ok(None)
}

/// Every run of failures still remembered at `now`, oldest first.
pub(crate) async fn list(
    c: &impl GenericClient,
    now: i64,
    policy: &LockoutPolicy,
) -> Result<Vec<(Lockout, bool)>, StoreError> {
    let since = now - policy.secs as i64;
    Ok(c.query(LIST, &[&since])
        .await
        .map_err(pg)?
        .iter()
        .map(|r| {
            judge(
                scope_named(r.get(0)),
                r.get(1),
                count(r.get(2)),
                r.get(3),
                now,
                policy,
            )
        })
        .collect())
}
