//! [`StoreAdmin`]: the store's management requests as async methods, for the admin panel, the
//! API and the CLI. Each method sends one request to the [`MailboxStore`] actor, so the
//! management of domains, accounts, aliases and tokens takes the same write path as mail
//! (group commit, events published once durable).

use actix::{Addr, MailboxError};
use mailroom_shared::Secret;
use mailroom_shared::queue::{QueueReply, QueueRequest};

use crate::actor::MailboxStore;
use crate::dkim::DkimKey;
use crate::error::StoreError;
use crate::requests::{
    AddAccount, AddAlias, AddDomain, ChangeAccount, ClearLockout, CreateToken, DeleteToken,
    DomainDkim, GetAccount, GreylistEntries, HourlyCounts, ListAccounts, ListAliases, ListDomains,
    ListLockouts, ListTokens, MissingRoleAddresses, QueueCommand, RecentEvents, RemoveAccount,
    RemoveAlias, RemoveDomain, ResolveRecipient, SetPassword, Sizes, SpamDecisions, TokenAccount,
    VerifyBodies,
};
use crate::types::{
    Account, AccountChange, Alias, ApiToken, Domain, GreylistEntry, HourCount, Lockout,
    LockoutPolicy, Resolution, Role, SpamDecisionRow, StoreSizes,
};

/// The store actor, asked for management. Cheap to clone.
#[derive(Clone)]
pub struct StoreAdmin {
    store: Addr<MailboxStore>,
}

fn gone(e: MailboxError) -> StoreError {
    StoreError::Unavailable(format!("store: {e}"))
}

impl StoreAdmin {
    /// Management through `store`.
    pub fn new(store: Addr<MailboxStore>) -> Self {
        Self { store }
    }

    /// The actor behind it.
    pub fn store(&self) -> &Addr<MailboxStore> {
        &self.store
    }

    async fn ask<M>(&self, m: M) -> Result<M::Result, StoreError>
    where
        M: actix::Message + Send + 'static,
        M::Result: Send,
        MailboxStore: actix::Handler<M>,
    {
        self.store.send(m).await.map_err(gone)
    }

    /// See [`AddDomain`].
    pub async fn domain_add(&self, name: &str) -> Result<Domain, StoreError> {
        self.ask(AddDomain { name: name.into() }).await?
    }

    /// See [`MissingRoleAddresses`].
    pub async fn missing_role_addresses(&self, domain: &str) -> Result<Vec<String>, StoreError> {
        self.ask(MissingRoleAddresses {
            domain: domain.into(),
        })
        .await?
    }

    /// See [`ListDomains`].
    pub async fn domain_list(&self) -> Result<Vec<Domain>, StoreError> {
        self.ask(ListDomains).await?
    }

    /// See [`DomainDkim`].
    pub async fn domain_dkim(&self, name: &str) -> Result<Vec<DkimKey>, StoreError> {
        self.ask(DomainDkim { name: name.into() }).await?
    }

    /// See [`RemoveDomain`].
    pub async fn domain_remove(&self, name: &str) -> Result<(), StoreError> {
        self.ask(RemoveDomain { name: name.into() }).await?
    }

    /// See [`AddAccount`].
    pub async fn user_add(
        &self,
        address: &str,
        password: &Secret,
        role: Role,
        quota: Option<u64>,
    ) -> Result<Account, StoreError> {
        self.ask(AddAccount {
            address: address.into(),
            password: password.clone(),
            role,
            quota,
        })
        .await?
    }

    /// See [`SetPassword`].
    pub async fn user_passwd(&self, address: &str, password: &Secret) -> Result<(), StoreError> {
        self.ask(SetPassword {
            address: address.into(),
            password: password.clone(),
        })
        .await?
    }

    /// See [`GetAccount`].
    pub async fn user_get(&self, address: &str) -> Result<Account, StoreError> {
        self.ask(GetAccount {
            address: address.into(),
        })
        .await?
    }

    /// See [`ChangeAccount`].
    pub async fn user_change(
        &self,
        address: &str,
        change: &AccountChange,
    ) -> Result<Account, StoreError> {
        self.ask(ChangeAccount {
            address: address.into(),
            change: change.clone(),
        })
        .await?
    }

    /// See [`ListAccounts`].
    pub async fn user_list(&self) -> Result<Vec<Account>, StoreError> {
        self.ask(ListAccounts).await?
    }

    /// See [`RemoveAccount`].
    pub async fn user_remove(&self, address: &str) -> Result<(), StoreError> {
        self.ask(RemoveAccount {
            address: address.into(),
        })
        .await?
    }

    /// See [`CreateToken`].
    pub async fn token_create(
        &self,
        address: &str,
        name: &str,
    ) -> Result<(ApiToken, String), StoreError> {
        self.ask(CreateToken {
            address: address.into(),
            name: name.into(),
        })
        .await?
    }

    /// See [`ListTokens`].
    pub async fn token_list(&self) -> Result<Vec<ApiToken>, StoreError> {
        self.ask(ListTokens).await?
    }

    /// See [`DeleteToken`].
    pub async fn token_delete(&self, id: i64) -> Result<(), StoreError> {
        self.ask(DeleteToken { id }).await?
    }

    /// See [`TokenAccount`].
    pub async fn token_account(&self, secret: &str) -> Result<Option<Account>, StoreError> {
        self.ask(TokenAccount {
            secret: Secret::new(secret),
        })
        .await?
    }

    /// See [`HourlyCounts`].
    pub async fn hourly_counts(&self, since: i64) -> Result<Vec<HourCount>, StoreError> {
        self.ask(HourlyCounts { since }).await?
    }

    /// See [`Sizes`].
    pub async fn sizes(&self) -> Result<StoreSizes, StoreError> {
        self.ask(Sizes).await?
    }

    /// See [`RecentEvents`].
    pub async fn recent_events(
        &self,
        kind: &str,
        limit: u32,
    ) -> Result<Vec<(i64, i64, String)>, StoreError> {
        self.ask(RecentEvents {
            kind: kind.into(),
            limit,
        })
        .await?
    }

    /// See [`SpamDecisions`].
    pub async fn spam_decisions(&self, limit: u32) -> Result<Vec<SpamDecisionRow>, StoreError> {
        self.ask(SpamDecisions { limit }).await?
    }

    /// See [`GreylistEntries`].
    pub async fn greylist_entries(
        &self,
        query: &str,
        limit: u32,
    ) -> Result<Vec<GreylistEntry>, StoreError> {
        self.ask(GreylistEntries {
            query: query.into(),
            limit,
        })
        .await?
    }

    /// See [`AddAlias`].
    pub async fn alias_add(&self, source: &str, targets: &[String]) -> Result<Alias, StoreError> {
        self.ask(AddAlias {
            source: source.into(),
            targets: targets.to_vec(),
        })
        .await?
    }

    /// See [`ListAliases`].
    pub async fn alias_list(&self) -> Result<Vec<Alias>, StoreError> {
        self.ask(ListAliases).await?
    }

    /// See [`RemoveAlias`].
    pub async fn alias_remove(&self, source: &str) -> Result<(), StoreError> {
        self.ask(RemoveAlias {
            source: source.into(),
        })
        .await?
    }

    /// See [`ListLockouts`].
    pub async fn lockouts(
        &self,
        policy: &LockoutPolicy,
    ) -> Result<Vec<(Lockout, bool)>, StoreError> {
        self.ask(ListLockouts { policy: *policy }).await?
    }

    /// See [`ClearLockout`].
    pub async fn lockout_clear(&self, target: &str) -> Result<(), StoreError> {
        self.ask(ClearLockout {
            target: target.into(),
        })
        .await?
    }

    /// See [`ResolveRecipient`].
    pub async fn resolve_recipient(&self, address: &str) -> Result<Resolution, StoreError> {
        self.ask(ResolveRecipient {
            address: address.into(),
        })
        .await?
    }

    /// See [`VerifyBodies`].
    pub async fn verify(&self) -> Result<Vec<String>, StoreError> {
        self.ask(VerifyBodies).await?
    }

    /// An outbound queue command (list, retry, delete, hold, release); see [`QueueCommand`].
    pub async fn queue(&self, request: &QueueRequest) -> Result<QueueReply, StoreError> {
        self.ask(QueueCommand(request.clone())).await?
    }
}
