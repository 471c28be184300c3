//! The embedded engine's [`Directory`]: recipients, sender addresses, logins.

use rusqlite::Connection;

use super::super::writer::LoginUpdate;
use super::super::{SqliteBackend, address_key, logins, reads, unix_now};
use crate::common::directory::{begun_lockouts, check_password_async};
use crate::engine::{Directory, StoreFuture};
use crate::error::StoreError;
use crate::requests::{Authenticate, CheckRecipient, OwnsAddresses, ResolveRecipient};
use crate::types::{LockoutScope, LoginOutcome, Resolution};

impl Directory for SqliteBackend {
    fn resolve_recipient(&self, m: ResolveRecipient) -> StoreFuture<Resolution> {
        let pool = self.pool.clone();
        Box::pin(Self::read(pool, move |c| {
            reads::resolve_recipient(c, &m.address)
        }))
    }

    fn check_recipient(&self, m: CheckRecipient) -> StoreFuture<(Resolution, Vec<i64>)> {
        fn check(c: &Connection, m: &CheckRecipient) -> Result<(Resolution, Vec<i64>), StoreError> {
            let resolution = reads::resolve_recipient(c, &m.address)?;
            let over = match &resolution {
                Resolution::Local(ids) => reads::over_quota(c, ids, m.size)?,
                _ => Vec::new(),
            };
            Ok((resolution, over))
        }
        // On the read pool like every other read: even a few index lookups may wait on the
        // disk, and the caller's arbiter serves other sessions meanwhile.
        let pool = self.pool.clone();
        Box::pin(Self::read(pool, move |c| check(c, &m)))
    }

    fn owns_addresses(&self, m: OwnsAddresses) -> StoreFuture<Vec<bool>> {
        let pool = self.pool.clone();
        Box::pin(Self::read(pool, move |c| {
            m.addresses
                .iter()
                .map(|a| reads::owns_address(c, m.account_id, a))
                .collect()
        }))
    }

    fn authenticate(&self, m: Authenticate) -> StoreFuture<LoginOutcome> {
        let (pool, writer) = (self.pool.clone(), self.writer.clone());
        Box::pin(async move {
            let key = address_key(&m.address);
            let ip = m.attempt.client.to_string();
            let policy = *m.guard.policy();
            let lookup = (key.clone(), ip.clone());
            let found = Self::read(pool, move |c| {
                let (key, ip) = lookup;
                // A locked login is refused before its password is looked at: the answer
                // cannot depend on it.
                if let Some(l) = logins::locked(c, &key, &ip, unix_now(), &policy)? {
                    return Ok(Err(l));
                }
                let failed_before = logins::has_failures(c, &key)?;
                Ok(Ok((reads::account_with_hash(c, &key)?, failed_before)))
            })
            .await?;
            let (found, failed_before) = match found {
                Ok(found) => found,
                Err(lockout) => return Ok(LoginOutcome::LockedOut(lockout)),
            };
            // argon2 is slow by design: run it on the blocking pool, and run it even for an
            // unknown address so timing does not reveal which accounts exist.
            let account = check_password_async(found, m.password).await?;
            match account {
                Some(account) => {
                    // A login that works ends the account's run of failures (not the
                    // client's: one good password must not clear a guesser's record).
                    if failed_before {
                        writer
                            .login(LoginUpdate::Clear {
                                scope: LockoutScope::Account,
                                key,
                            })
                            .await?;
                    }
                    Ok(LoginOutcome::Accepted(account))
                }
                None => {
                    let counts = writer
                        .login(LoginUpdate::Failed {
                            account_key: key.clone(),
                            ip: ip.clone(),
                            forget_after: policy.secs as i64,
                        })
                        .await?
                        .value;
                    let locked =
                        begun_lockouts(key, counts.account, ip, counts.ip, unix_now(), &policy);
                    Ok(LoginOutcome::Refused { locked })
                }
            }
        })
    }
}
