//! The embedded engine's [`Accounts`]: directory writes go to the writer thread (group
//! commit) as [`DirectoryOp`]s, reads to the read pool; DKIM keys are generated on the
//! blocking pool before their write.

use super::super::directory::{self, DirectoryDone, DirectoryOp};
use super::super::{SqliteBackend, unix_now};
use crate::common::directory::{domain_name, generate_keys_async};
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

/// The writer answered a directory op with another op's kind of answer: a bug, reported
/// rather than panicking.
fn mismatch() -> StoreError {
    StoreError::Unavailable("directory write answered out of kind".into())
}

impl SqliteBackend {
    /// Run a directory write on the writer and take the answer `pick` wants.
    fn directory_write<T: Send + 'static>(
        &self,
        op: DirectoryOp,
        pick: fn(DirectoryDone) -> Option<T>,
    ) -> StoreFuture<Outcome<T>> {
        let writer = self.writer.clone();
        Box::pin(async move {
            let done = writer.directory(op).await?;
            let value = pick(done.value).ok_or_else(mismatch)?;
            Ok(Outcome {
                value,
                changes: done.changes,
                events: done.events,
            })
        })
    }
}

fn nothing(done: DirectoryDone) -> Option<()> {
    matches!(done, DirectoryDone::Nothing).then_some(())
}

fn account(done: DirectoryDone) -> Option<Account> {
    match done {
        DirectoryDone::Account(a) => Some(a),
        _ => None,
    }
}

impl Accounts for SqliteBackend {
    fn add_domain(&self, m: AddDomain) -> StoreFuture<Outcome<Domain>> {
        let writer = self.writer.clone();
        Box::pin(async move {
            // A bad name should not cost an RSA key.
            domain_name(&m.name)?;
            let keys = generate_keys_async(unix_now()).await?;
            let done = writer
                .directory(DirectoryOp::AddDomain { name: m.name, keys })
                .await?;
            match done.value {
                DirectoryDone::Domain(d) => Ok(Outcome {
                    value: d,
                    changes: done.changes,
                    events: done.events,
                }),
                _ => Err(mismatch()),
            }
        })
    }

    fn remove_domain(&self, m: RemoveDomain) -> StoreFuture<Outcome<()>> {
        self.directory_write(DirectoryOp::RemoveDomain { name: m.name }, nothing)
    }

    fn list_domains(&self, _: ListDomains) -> StoreFuture<Vec<Domain>> {
        Box::pin(Self::read(self.pool.clone(), |c| directory::domain_list(c)))
    }

    fn domain_dkim(&self, m: DomainDkim) -> StoreFuture<Vec<DkimKey>> {
        Box::pin(Self::read(self.pool.clone(), move |c| {
            directory::domain_dkim(c, &m.name)
        }))
    }

    fn missing_role_addresses(&self, m: MissingRoleAddresses) -> StoreFuture<Vec<String>> {
        Box::pin(Self::read(self.pool.clone(), move |c| {
            directory::missing_role_addresses(c, &m.domain)
        }))
    }

    fn add_account(&self, m: NewAccount) -> StoreFuture<Outcome<Account>> {
        let op = DirectoryOp::AddAccount {
            address: m.address,
            password_hash: m.password_hash,
            role: m.role,
            quota: m.quota,
        };
        self.directory_write(op, account)
    }

    fn set_password(&self, m: NewPassword) -> StoreFuture<Outcome<()>> {
        let op = DirectoryOp::SetPassword {
            address: m.address,
            password_hash: m.password_hash,
        };
        self.directory_write(op, nothing)
    }

    fn get_account(&self, m: GetAccount) -> StoreFuture<Account> {
        Box::pin(Self::read(self.pool.clone(), move |c| {
            directory::user_get(c, &m.address)
        }))
    }

    fn list_accounts(&self, _: ListAccounts) -> StoreFuture<Vec<Account>> {
        Box::pin(Self::read(self.pool.clone(), |c| directory::user_list(c)))
    }

    fn change_account(&self, m: ChangeAccount) -> StoreFuture<Outcome<Account>> {
        let op = DirectoryOp::ChangeAccount {
            address: m.address,
            change: m.change,
        };
        self.directory_write(op, account)
    }

    fn remove_account(&self, m: RemoveAccount) -> StoreFuture<Outcome<Account>> {
        self.directory_write(DirectoryOp::RemoveAccount { address: m.address }, account)
    }

    fn add_alias(&self, m: AddAlias) -> StoreFuture<Outcome<Alias>> {
        let op = DirectoryOp::AddAlias {
            source: m.source,
            targets: m.targets,
        };
        self.directory_write(op, |done| match done {
            DirectoryDone::Alias(a) => Some(a),
            _ => None,
        })
    }

    fn list_aliases(&self, _: ListAliases) -> StoreFuture<Vec<Alias>> {
        Box::pin(Self::read(self.pool.clone(), |c| directory::alias_list(c)))
    }

    fn remove_alias(&self, m: RemoveAlias) -> StoreFuture<Outcome<()>> {
        self.directory_write(DirectoryOp::RemoveAlias { source: m.source }, nothing)
    }

    fn create_token(&self, m: CreateToken) -> StoreFuture<Outcome<(ApiToken, String)>> {
        let op = DirectoryOp::CreateToken {
            address: m.address,
            name: m.name,
        };
        self.directory_write(op, |done| match done {
            DirectoryDone::Token(t, secret) => Some((t, secret)),
            _ => None,
        })
    }

    fn list_tokens(&self, _: ListTokens) -> StoreFuture<Vec<ApiToken>> {
        Box::pin(Self::read(self.pool.clone(), |c| directory::token_list(c)))
    }

    fn delete_token(&self, m: DeleteToken) -> StoreFuture<Outcome<()>> {
        self.directory_write(DirectoryOp::DeleteToken { id: m.id }, nothing)
    }

    fn token_account(&self, m: TokenAccount) -> StoreFuture<Outcome<Option<Account>>> {
        // A write: a token's use is recorded.
        let op = DirectoryOp::TokenAccount {
            secret: m.secret.expose().to_string(),
        };
        self.directory_write(op, |done| match done {
            DirectoryDone::MaybeAccount(a) => Some(a),
            _ => None,
        })
    }

    fn list_lockouts(&self, m: ListLockouts) -> StoreFuture<Vec<(Lockout, bool)>> {
        Box::pin(Self::read(self.pool.clone(), move |c| {
            directory::lockouts(c, &m.policy)
        }))
    }

    fn clear_lockout(&self, m: ClearLockout) -> StoreFuture<Outcome<()>> {
        self.directory_write(DirectoryOp::ClearLockout { target: m.target }, nothing)
    }
}
