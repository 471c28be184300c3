//! Failed logins and lockouts (`login_failures`, schema version 11).
//!
//! A row counts a run of failures of one account (by address key) or one client IP. A
//! failure more than `forget_after` seconds after the previous one starts a new run, so old
//! mistakes never add up to a lockout. Whether a run is a lockout is decided when asked, with
//! the thresholds of the configuration of the moment: a reload applies at once.

use rusqlite::{Connection, OptionalExtension, params};

use crate::common::directory::{judge, scope_named};
use crate::error::StoreError;
use crate::types::{Lockout, LockoutPolicy, LockoutScope};

const FAILURE: &str = "INSERT INTO login_failures (scope, key, failures, first_at, last_at) \
     VALUES (?1, ?2, 1, ?3, ?3) \
     ON CONFLICT (scope, key) DO UPDATE SET \
       failures = CASE WHEN ?3 - last_at > ?4 THEN 1 ELSE failures + 1 END, \
       first_at = CASE WHEN ?3 - last_at > ?4 THEN ?3 ELSE first_at END, \
       last_at = ?3 \
     RETURNING failures";
const GET: &str = "SELECT failures, last_at FROM login_failures WHERE scope = ?1 AND key = ?2";
const CLEAR: &str = "DELETE FROM login_failures WHERE scope = ?1 AND key = ?2";
const LIST: &str =
    "SELECT scope, key, failures, last_at FROM login_failures WHERE last_at >= ?1 ORDER BY last_at";
const FORGET: &str = "DELETE FROM login_failures WHERE last_at < ?1";

/// The failures of each counter right after one was counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// The account's run.
    pub(crate) account: u32,
    /// The client's run.
    pub(crate) ip: u32,
}

/// Count a failed login of `account_key` from `ip` at `now` (unix seconds); the runs'
/// lengths after it.
pub(crate) fn record_failure(
    conn: &Connection,
    account_key: &str,
    ip: &str,
    now: i64,
    forget_after: i64,
) -> Result<Counts, StoreError> {
    let mut stmt = conn.prepare_cached(FAILURE)?;
    let account = stmt.query_row(
        params![
            LockoutScope::Account.as_str(),
            account_key,
            now,
            forget_after
        ],
        |r| r.get(0),
    )?;
    let ip = stmt.query_row(
        params![LockoutScope::Ip.as_str(), ip, now, forget_after],
        |r| r.get(0),
    )?;
    // Rows nobody will ask about again; cheap (failures are rare) and keeps the table small.
    conn.prepare_cached(FORGET)?
        .execute([now - forget_after.max(0) - 1])?;
    Ok(Counts { account, ip })
}

/// Forget the failures of `key` in `scope` (a successful login of the account, or an admin).
/// Whether there were any.
pub(crate) fn clear(conn: &Connection, scope: LockoutScope, key: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(CLEAR)?
        .execute(params![scope.as_str(), key])?
        > 0)
}

/// Whether the account has failures on record (only then does a good login need a write).
pub(crate) fn has_failures(conn: &Connection, account_key: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(GET)?
        .query_row(params![LockoutScope::Account.as_str(), account_key], |_| {
            Ok(())
        })
        .optional()?
        .is_some())
}

/// The lockout that stops a login of `account_key` from `ip` now, if any (the account's
/// first).
pub(crate) fn locked(
    conn: &Connection,
    account_key: &str,
    ip: &str,
    now: i64,
    policy: &LockoutPolicy,
) -> Result<Option<Lockout>, StoreError> {
    for (scope, key) in [(LockoutScope::Account, account_key), (LockoutScope::Ip, ip)] {
        let row: Option<(u32, i64)> = conn
            .prepare_cached(GET)?
            .query_row(params![scope.as_str(), key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((failures, last_at)) = row else {
            continue;
        };
        let (lockout, active) = judge(scope, key.to_string(), failures, last_at, now, policy);
        if active {
            return Ok(Some(lockout));
        }
    }
    Ok(None)
}

/// Every run of failures still remembered at `now` (the admin's view), oldest first; `until`
/// says when each would end if it is a lockout under `policy`.
pub(crate) fn list(
    conn: &Connection,
    now: i64,
    policy: &LockoutPolicy,
) -> Result<Vec<(Lockout, bool)>, StoreError> {
    let since = now - policy.secs as i64;
    let mut stmt = conn.prepare_cached(LIST)?;
    let rows = stmt.query_map([since], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, u32>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (scope, key, failures, last_at) = row?;
        out.push(judge(
            scope_named(&scope),
            key,
            failures,
            last_at,
            now,
            policy,
        ));
    }
    Ok(out)
}
