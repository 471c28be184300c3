//! The PostgreSQL engine's [`Directory`]: recipients, sender addresses, logins, with the
//! engine-neutral rules of [`crate::common::directory`].

use super::super::directory::{self as dir, PgLookup};
use super::super::logins;
use super::super::{PgEngine, pool_err, unix_now};
use crate::common::directory::{
    address_key, begun_lockouts, check_password_async, owns_address, resolve_recipient,
};
use crate::engine::{Directory, StoreFuture};
use crate::requests::{Authenticate, CheckRecipient, OwnsAddresses, ResolveRecipient};
use crate::types::{LockoutScope, LoginOutcome, Resolution};

impl Directory for PgEngine {
    fn resolve_recipient(&self, m: ResolveRecipient) -> StoreFuture<Resolution> {
        self.run(move |pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            resolve_recipient(&mut PgLookup(&**client), &m.address).await
        })
    }

    fn check_recipient(&self, m: CheckRecipient) -> StoreFuture<(Resolution, Vec<i64>)> {
        self.run(move |pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            let resolution = resolve_recipient(&mut PgLookup(&**client), &m.address).await?;
            let over = match &resolution {
                Resolution::Local(ids) => dir::over_quota(&**client, ids, m.size).await?,
                _ => Vec::new(),
            };
            Ok((resolution, over))
        })
    }

    fn owns_addresses(&self, m: OwnsAddresses) -> StoreFuture<Vec<bool>> {
        self.run(move |pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            let mut lookup = PgLookup(&**client);
            let mut owned = Vec::with_capacity(m.addresses.len());
            for address in &m.addresses {
                owned.push(owns_address(&mut lookup, m.account_id, address).await?);
            }
            Ok(owned)
        })
    }

    fn authenticate(&self, m: Authenticate) -> StoreFuture<LoginOutcome> {
        self.run(move |pool| async move {
            let key = address_key(&m.address);
            let ip = m.attempt.client.to_string();
            let policy = *m.guard.policy();
            let client = pool.get().await.map_err(pool_err)?;
            // A locked login is refused before its password is looked at: the answer cannot
            // depend on it.
            if let Some(l) = logins::locked(&**client, &key, &ip, unix_now(), &policy).await? {
                return Ok(LoginOutcome::LockedOut(l));
            }
            let failed_before = logins::has_failures(&**client, &key).await?;
            let found = dir::account_with_hash(&**client, &key).await?;
            // The connection goes back to the pool during argon2, which is slow by design
            // and runs even for an unknown address so timing does not reveal which
            // accounts exist.
            drop(client);
            let account = check_password_async(found, m.password).await?;
            let client = pool.get().await.map_err(pool_err)?;
            match account {
                Some(account) => {
                    // A login that works ends the account's run of failures (not the
                    // client's: one good password must not clear a guesser's record).
                    if failed_before {
                        logins::clear(&**client, LockoutScope::Account, &key).await?;
                    }
                    Ok(LoginOutcome::Accepted(account))
                }
                None => {
                    let now = unix_now();
                    let (account_n, ip_n) =
                        logins::record_failure(&**client, &key, &ip, now, policy.secs as i64)
                            .await?;
                    let locked = begun_lockouts(key, account_n, ip, ip_n, now, &policy);
                    Ok(LoginOutcome::Refused { locked })
                }
            }
        })
    }
}
