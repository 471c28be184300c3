//! The PostgreSQL engine's [`Accounts`]: each write one transaction under the directory
//! lock ([`super::super::directory`]); DKIM keys are generated before it begins.

use super::super::directory::{self as dir, lock};
use super::super::logins;
use super::super::{PgEngine, pg, pool_err, unix_now};
use crate::common::directory::{TOKEN_PREFIX, new_token, token_acts};
use crate::common::directory::{domain_name, generate_keys_async, lockout_target, no_failures};
use crate::dkim::DkimKey;
use crate::engine::{Accounts, Outcome, StoreFuture};
use crate::error::StoreError;
use crate::requests::{
    AddAlias, AddDomain, ChangeAccount, ClearLockout, CreateToken, DeleteToken, DomainDkim,
    GetAccount, ListAccounts, ListAliases, ListDomains, ListLockouts, ListTokens,
    MissingRoleAddresses, NewAccount, NewPassword, RemoveAccount, RemoveAlias, RemoveDomain,
    TokenAccount,
};
use crate::types::{Account, Alias, ApiToken, Domain, Lockout};

/// Run `$body` (which may use `$tx`, a transaction) as one directory write: under the
/// directory lock, committed before it answers, announcing nothing (as on the embedded
/// engine: the actor publishes what a directory change means).
macro_rules! directory_write {
    ($pool:expr, |$tx:ident| $body:expr) => {{
        let mut client = $pool.get().await.map_err(pool_err)?;
        let $tx = client.transaction().await.map_err(pg)?;
        lock(&*$tx).await?;
        let value = $body;
        $tx.commit().await.map_err(pg)?;
        Ok(Outcome::quiet(value))
    }};
}

/// Run `$body` (which may use `$c`, a pooled connection) as a read.
macro_rules! read {
    ($pool:expr, |$c:ident| $body:expr) => {{
        let client = $pool.get().await.map_err(pool_err)?;
        let $c = &**client;
        $body
    }};
}

const TOKEN_INSERT: &str = "INSERT INTO api_tokens (account_id, name, secret_sha, created) \
     VALUES ($1, $2, encode(sha256(convert_to($3, 'UTF8')), 'hex'), $4) RETURNING id";
const TOKEN_LIST: &str = "SELECT t.id, t.name, a.address, t.created, t.last_used \
     FROM api_tokens t JOIN accounts a ON a.id = t.account_id ORDER BY t.id";
const TOKEN_DELETE: &str = "DELETE FROM api_tokens WHERE id = $1";
const TOKEN_FIND: &str = "SELECT t.id, a.id, a.address, a.role, a.quota_bytes, a.used_bytes, \
     a.disabled FROM api_tokens t JOIN accounts a ON a.id = t.account_id \
     WHERE t.secret_sha = encode(sha256(convert_to($1, 'UTF8')), 'hex')";
const TOKEN_TOUCH: &str = "UPDATE api_tokens SET last_used = $2 WHERE id = $1";

impl Accounts for PgEngine {
    fn add_domain(&self, m: AddDomain) -> StoreFuture<Outcome<Domain>> {
        self.write(move |pool| async move {
            // A bad name should not cost an RSA key.
            domain_name(&m.name)?;
            let keys = generate_keys_async(unix_now()).await?;
            directory_write!(pool, |tx| dir::domain_add(&*tx, &m.name, &keys).await?)
        })
    }

    fn remove_domain(&self, m: RemoveDomain) -> StoreFuture<Outcome<()>> {
        self.write(move |pool| async move {
            directory_write!(pool, |tx| dir::domain_remove(&*tx, &m.name).await?)
        })
    }

    fn list_domains(&self, _: ListDomains) -> StoreFuture<Vec<Domain>> {
        self.run(|pool| async move { read!(pool, |c| dir::domain_list(c).await) })
    }

    fn domain_dkim(&self, m: DomainDkim) -> StoreFuture<Vec<DkimKey>> {
        self.run(move |pool| async move { read!(pool, |c| dir::domain_dkim(c, &m.name).await) })
    }

    fn missing_role_addresses(&self, m: MissingRoleAddresses) -> StoreFuture<Vec<String>> {
        self.run(move |pool| async move {
            read!(pool, |c| {
                crate::common::directory::missing_role_addresses(&mut dir::PgLookup(c), &m.domain)
                    .await
            })
        })
    }

    fn add_account(&self, m: NewAccount) -> StoreFuture<Outcome<Account>> {
        self.write(move |pool| async move {
            directory_write!(pool, |tx| {
                dir::user_add(&*tx, &m.address, &m.password_hash, m.role, m.quota).await?
            })
        })
    }

    fn set_password(&self, m: NewPassword) -> StoreFuture<Outcome<()>> {
        self.write(move |pool| async move {
            directory_write!(pool, |tx| {
                dir::user_passwd(&*tx, &m.address, &m.password_hash).await?
            })
        })
    }

    fn get_account(&self, m: GetAccount) -> StoreFuture<Account> {
        self.run(move |pool| async move { read!(pool, |c| dir::user_get(c, &m.address).await) })
    }

    fn list_accounts(&self, _: ListAccounts) -> StoreFuture<Vec<Account>> {
        self.run(|pool| async move { read!(pool, |c| dir::user_list(c).await) })
    }

    fn change_account(&self, m: ChangeAccount) -> StoreFuture<Outcome<Account>> {
        self.write(move |pool| async move {
            directory_write!(pool, |tx| {
                dir::user_change(&*tx, &m.address, &m.change).await?
            })
        })
    }

    fn remove_account(&self, m: RemoveAccount) -> StoreFuture<Outcome<Account>> {
        self.write(move |pool| async move {
            directory_write!(pool, |tx| dir::user_remove(&*tx, &m.address).await?)
        })
    }

    fn add_alias(&self, m: AddAlias) -> StoreFuture<Outcome<Alias>> {
        self.write(move |pool| async move {
            directory_write!(pool, |tx| {
                dir::alias_add(&*tx, &m.source, &m.targets).await?
            })
        })
    }

    fn list_aliases(&self, _: ListAliases) -> StoreFuture<Vec<Alias>> {
        self.run(|pool| async move { read!(pool, |c| dir::alias_list(c).await) })
    }

    fn remove_alias(&self, m: RemoveAlias) -> StoreFuture<Outcome<()>> {
        self.write(move |pool| async move {
            directory_write!(pool, |tx| dir::alias_remove(&*tx, &m.source).await?)
        })
    }

    fn create_token(&self, m: CreateToken) -> StoreFuture<Outcome<(ApiToken, String)>> {
        self.write(move |pool| async move {
            directory_write!(pool, |tx| {
                let account = dir::user_get(&*tx, &m.address).await?;
                let (name, secret) = new_token(&account, &m.name)?;
                let now = unix_now();
                let id: i64 = tx
                    .query_one(TOKEN_INSERT, &[&account.id, &name, &secret, &now])
                    .await
                    .map_err(pg)?
                    .get(0);
                let token = ApiToken {
                    id,
                    name,
                    account: account.address,
                    created: now,
                    last_used: None,
                };
                (token, secret)
            })
        })
    }

    fn list_tokens(&self, _: ListTokens) -> StoreFuture<Vec<ApiToken>> {
        self.run(|pool| async move {
            read!(pool, |c| {
                Ok(c.query(TOKEN_LIST, &[])
                    .await
                    .map_err(pg)?
                    .iter()
                    .map(|r| ApiToken {
                        id: r.get(0),
                        name: r.get(1),
                        account: r.get(2),
                        created: r.get(3),
                        last_used: r.get(4),
                    })
                    .collect())
            })
        })
    }

    fn delete_token(&self, m: DeleteToken) -> StoreFuture<Outcome<()>> {
        self.write(move |pool| async move {
            directory_write!(pool, |tx| {
                if tx.execute(TOKEN_DELETE, &[&m.id]).await.map_err(pg)? == 0 {
                    return Err(StoreError::NotFound(format!("API token {}", m.id)));
                }
            })
        })
    }

    fn token_account(&self, m: TokenAccount) -> StoreFuture<Outcome<Option<Account>>> {
        // A write: a token's use is recorded.
        let secret = m.secret.expose().to_string();
        self.write(move |pool| async move {
            if !secret.starts_with(TOKEN_PREFIX) {
                return Ok(Outcome::quiet(None));
            }
            let client = pool.get().await.map_err(pool_err)?;
            let Some(row) = client.query_opt(TOKEN_FIND, &[&secret]).await.map_err(pg)? else {
                return Ok(Outcome::quiet(None));
            };
            let (id, account): (i64, Account) = (row.get(0), dir::account_from_row(&row, 1));
            if !token_acts(&account) {
                return Ok(Outcome::quiet(None));
            }
            client
                .execute(TOKEN_TOUCH, &[&id, &unix_now()])
                .await
                .map_err(pg)?;
            Ok(Outcome::quiet(Some(account)))
        })
    }

    fn list_lockouts(&self, m: ListLockouts) -> StoreFuture<Vec<(Lockout, bool)>> {
        self.run(move |pool| async move {
            read!(pool, |c| logins::list(c, unix_now(), &m.policy).await)
        })
    }

    fn clear_lockout(&self, m: ClearLockout) -> StoreFuture<Outcome<()>> {
        self.write(move |pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            let (scope, key) = lockout_target(&m.target);
            if logins::clear(&**client, scope, &key).await? {
                Ok(Outcome::quiet(()))
            } else {
                Err(no_failures(&m.target))
            }
        })
    }
}
