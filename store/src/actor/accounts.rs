//! The store actor's handlers for the directory: domains, accounts, aliases, tokens and
//! lockouts (panel, API, CLI), and the dashboard's reports. The writes go through the engine's
//! writer like the protocols' writes; argon2 runs on the blocking pool before the write is
//! sent, never on the writer or an arbiter; removing an account publishes `AccountRemoved`
//! once durable, which ends its sessions.

use actix::prelude::*;
use mailroom_shared::Secret;
use mailroom_shared::address::Address;
use mailroom_shared::msg::AccountRemoved;
use mailroom_shared::password::hash_password;

use super::MailboxStore;
use crate::dkim::DkimKey;
use crate::error::StoreError;
use crate::requests::{
    AddAccount, AddAlias, AddDomain, ChangeAccount, ClearLockout, CreateToken, DeleteToken,
    DomainDkim, GetAccount, GreylistEntries, HourlyCounts, ListAccounts, ListAliases, ListDomains,
    ListLockouts, ListTokens, MissingRoleAddresses, NewAccount, NewPassword, RecentEvents,
    RemoveAccount, RemoveAlias, RemoveDomain, SetPassword, Sizes, SpamDecisions, TokenAccount,
    VerifyBodies,
};
use crate::types::{
    Account, Alias, ApiToken, Domain, GreylistEntry, HourCount, Lockout, SpamDecisionRow,
    StoreSizes,
};

/// The PHC string of `password`, computed on the blocking pool: argon2 is slow by design.
async fn hash(password: Secret) -> Result<String, StoreError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| StoreError::Unavailable(format!("password task: {e}")))?
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

/// An account address, checked before its password costs a hash.
fn checked_address(text: &str) -> Result<(), StoreError> {
    Address::parse(text)
        .map(drop)
        .map_err(|e| StoreError::Invalid(e.to_string()))
}

impl Handler<AddAccount> for MailboxStore {
    type Result = ResponseFuture<Result<Account, StoreError>>;
    fn handle(&mut self, msg: AddAccount, _: &mut Context<Self>) -> Self::Result {
        let me = self.clone();
        Box::pin(async move {
            checked_address(&msg.address)?;
            let password_hash = hash(msg.password).await?;
            let new = NewAccount {
                address: msg.address,
                password_hash,
                role: msg.role,
                quota: msg.quota,
            };
            me.write(me.engine.add_account(new)).await
        })
    }
}

impl Handler<SetPassword> for MailboxStore {
    type Result = ResponseFuture<Result<(), StoreError>>;
    fn handle(&mut self, msg: SetPassword, _: &mut Context<Self>) -> Self::Result {
        let me = self.clone();
        Box::pin(async move {
            checked_address(&msg.address)?;
            let password_hash = hash(msg.password).await?;
            let new = NewPassword {
                address: msg.address,
                password_hash,
            };
            me.write(me.engine.set_password(new)).await
        })
    }
}

impl Handler<RemoveAccount> for MailboxStore {
    type Result = ResponseFuture<Result<(), StoreError>>;
    fn handle(&mut self, msg: RemoveAccount, _: &mut Context<Self>) -> Self::Result {
        let bus = self.bus.clone();
        let removed = self.write(self.engine.remove_account(msg));
        Box::pin(async move {
            let account = removed.await?;
            bus.publish(AccountRemoved {
                account_id: account.id,
                address: account.address,
            });
            Ok(())
        })
    }
}

read_handler!(ListDomains, list_domains, Vec<Domain>);
read_handler!(DomainDkim, domain_dkim, Vec<DkimKey>);
read_handler!(MissingRoleAddresses, missing_role_addresses, Vec<String>);
read_handler!(GetAccount, get_account, Account);
read_handler!(ListAccounts, list_accounts, Vec<Account>);
read_handler!(ListAliases, list_aliases, Vec<Alias>);
read_handler!(ListTokens, list_tokens, Vec<ApiToken>);
read_handler!(ListLockouts, list_lockouts, Vec<(Lockout, bool)>);
write_handler!(AddDomain, add_domain, Domain);
write_handler!(RemoveDomain, remove_domain, ());
write_handler!(ChangeAccount, change_account, Account);
write_handler!(AddAlias, add_alias, Alias);
write_handler!(RemoveAlias, remove_alias, ());
write_handler!(CreateToken, create_token, (ApiToken, String));
write_handler!(DeleteToken, delete_token, ());
write_handler!(TokenAccount, token_account, Option<Account>);
write_handler!(ClearLockout, clear_lockout, ());
read_handler!(HourlyCounts, hourly_counts, Vec<HourCount>);
read_handler!(Sizes, sizes, StoreSizes);
read_handler!(RecentEvents, recent_events, Vec<(i64, i64, String)>);
read_handler!(SpamDecisions, spam_decisions, Vec<SpamDecisionRow>);
read_handler!(GreylistEntries, greylist_entries, Vec<GreylistEntry>);
read_handler!(VerifyBodies, verify_bodies, Vec<String>);
