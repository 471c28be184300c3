//! The PostgreSQL engine's [`Accounts`].

#![allow(unused_imports)]

use super::super::PgEngine;
use crate::dkim::{DkimKey, DkimKeys};
use crate::engine::*;
use crate::error::StoreError;
use crate::greylist::{
    ExpireGreylist, GreylistLookup, GreylistRows, LoadGreylist, LookupGreylist, SaveGreylist,
};
use crate::mime::MessageMeta;
use crate::outbound::{DueQueue, QueuedMessage, RecordAttempts, Submitted};
use crate::requests::{
    AddAlias, AddDomain, ChangeAccount, ClearLockout, CreateToken, DeleteToken, DomainDkim,
    GetAccount, GreylistEntries, HourlyCounts, ListAccounts, ListAliases, ListDomains,
    ListLockouts, ListTokens, MissingRoleAddresses, NewAccount, NewPassword, RecentEvents,
    RemoveAccount, RemoveAlias, RemoveDomain, Sizes, SpamDecisions, TokenAccount, VerifyBodies,
};
use crate::requests::{
    Append, Authenticate, Changes, CheckRecipient, ClaimRecent, Copy, CreateMailbox, DeleteMailbox,
    Deliver, Expunge, FetchBodies, FetchBody, FetchHeaders, FetchMeta, LastEventId, ListMailboxes,
    LostSubscriptions, Move, OpenBody, OwnsAddresses, PruneEvents, ReadEvents, RecordEvent,
    RemoveMessages, RenameMailbox, ResolveRecipient, Select, SetFlags, SetSubscribed,
    SetWebhookCursor, Submit, WebhookCursor,
};
use crate::spam::{
    BayesCounts, FetchBlob, FetchSpamDecision, HostedDomains, ReadBayes, RecordSpamDecisions,
    StoredSpamDecision, TrainBayes, Trained,
};
use crate::types::{
    Account, Alias, ApiToken, Domain, GreylistEntry, HourCount, Lockout, SpamDecisionRow,
    StoreSizes,
};
use crate::types::{
    Appended, BodySource, ChangeSet, Delivered, FlagsResult, LoginOutcome, MailboxInfo,
    MessageInfo, Resolution, StoreStats,
};
use mailroom_shared::events::EventRecorded;
use mailroom_shared::msg::MailboxChanged;
use mailroom_shared::queue::{QueueReply, QueueRequest};
use std::sync::Arc;

impl Accounts for PgEngine {
    fn add_domain(&self, m: AddDomain) -> StoreFuture<Outcome<Domain>> {
        let _ = m;
        unbuilt("add_domain")
    }

    fn remove_domain(&self, m: RemoveDomain) -> StoreFuture<Outcome<()>> {
        let _ = m;
        unbuilt("remove_domain")
    }

    fn list_domains(&self, m: ListDomains) -> StoreFuture<Vec<Domain>> {
        let _ = m;
        unbuilt("list_domains")
    }

    fn domain_dkim(&self, m: DomainDkim) -> StoreFuture<Vec<DkimKey>> {
        let _ = m;
        unbuilt("domain_dkim")
    }

    fn missing_role_addresses(&self, m: MissingRoleAddresses) -> StoreFuture<Vec<String>> {
        let _ = m;
        unbuilt("missing_role_addresses")
    }

    fn add_account(&self, m: NewAccount) -> StoreFuture<Outcome<Account>> {
        let _ = m;
        unbuilt("add_account")
    }

    fn set_password(&self, m: NewPassword) -> StoreFuture<Outcome<()>> {
        let _ = m;
        unbuilt("set_password")
    }

    fn get_account(&self, m: GetAccount) -> StoreFuture<Account> {
        let _ = m;
        unbuilt("get_account")
    }

    fn list_accounts(&self, m: ListAccounts) -> StoreFuture<Vec<Account>> {
        let _ = m;
        unbuilt("list_accounts")
    }

    fn change_account(&self, m: ChangeAccount) -> StoreFuture<Outcome<Account>> {
        let _ = m;
        unbuilt("change_account")
    }

    fn remove_account(&self, m: RemoveAccount) -> StoreFuture<Outcome<Account>> {
        let _ = m;
        unbuilt("remove_account")
    }

    fn add_alias(&self, m: AddAlias) -> StoreFuture<Outcome<Alias>> {
        let _ = m;
        unbuilt("add_alias")
    }

    fn list_aliases(&self, m: ListAliases) -> StoreFuture<Vec<Alias>> {
        let _ = m;
        unbuilt("list_aliases")
    }

    fn remove_alias(&self, m: RemoveAlias) -> StoreFuture<Outcome<()>> {
        let _ = m;
        unbuilt("remove_alias")
    }

    fn create_token(&self, m: CreateToken) -> StoreFuture<Outcome<(ApiToken, String)>> {
        let _ = m;
        unbuilt("create_token")
    }

    fn list_tokens(&self, m: ListTokens) -> StoreFuture<Vec<ApiToken>> {
        let _ = m;
        unbuilt("list_tokens")
    }

    fn delete_token(&self, m: DeleteToken) -> StoreFuture<Outcome<()>> {
        let _ = m;
        unbuilt("delete_token")
    }

    fn token_account(&self, m: TokenAccount) -> StoreFuture<Outcome<Option<Account>>> {
        let _ = m;
        unbuilt("token_account")
    }

    fn list_lockouts(&self, m: ListLockouts) -> StoreFuture<Vec<(Lockout, bool)>> {
        let _ = m;
        unbuilt("list_lockouts")
    }

    fn clear_lockout(&self, m: ClearLockout) -> StoreFuture<Outcome<()>> {
        let _ = m;
        unbuilt("clear_lockout")
    }
}

fn unbuilt<T: Send + 'static>(what: &'static str) -> StoreFuture<T> {
    Box::pin(async move {
        Err(StoreError::Unavailable(format!(
            "{what} is not built for postgresql yet"
        )))
    })
}
