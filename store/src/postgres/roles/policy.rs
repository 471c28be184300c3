//! The PostgreSQL engine's [`PolicyState`].

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

impl PolicyState for PgEngine {
    fn load_greylist(&self, m: LoadGreylist) -> StoreFuture<GreylistRows> {
        let _ = m;
        unbuilt("load_greylist")
    }

    fn lookup_greylist(&self, m: LookupGreylist) -> StoreFuture<GreylistLookup> {
        let _ = m;
        unbuilt("lookup_greylist")
    }

    fn save_greylist(&self, m: SaveGreylist) -> StoreFuture<()> {
        let _ = m;
        unbuilt("save_greylist")
    }

    fn expire_greylist(&self, m: ExpireGreylist) -> StoreFuture<u64> {
        let _ = m;
        unbuilt("expire_greylist")
    }

    fn read_bayes(&self, m: ReadBayes) -> StoreFuture<Vec<(i64, BayesCounts)>> {
        let _ = m;
        unbuilt("read_bayes")
    }

    fn train_bayes(&self, m: TrainBayes) -> StoreFuture<Outcome<Trained>> {
        let _ = m;
        unbuilt("train_bayes")
    }

    fn record_spam_decisions(&self, m: RecordSpamDecisions) -> StoreFuture<Outcome<()>> {
        let _ = m;
        unbuilt("record_spam_decisions")
    }

    fn fetch_spam_decision(&self, m: FetchSpamDecision) -> StoreFuture<Option<StoredSpamDecision>> {
        let _ = m;
        unbuilt("fetch_spam_decision")
    }

    fn fetch_blob(&self, m: FetchBlob) -> StoreFuture<Arc<[u8]>> {
        let _ = m;
        unbuilt("fetch_blob")
    }

    fn hosted_domains(&self, m: HostedDomains) -> StoreFuture<Vec<String>> {
        let _ = m;
        unbuilt("hosted_domains")
    }

    fn dkim_keys(&self, m: DkimKeys) -> StoreFuture<Vec<DkimKey>> {
        let _ = m;
        unbuilt("dkim_keys")
    }
}

fn unbuilt<T: Send + 'static>(what: &'static str) -> StoreFuture<T> {
    Box::pin(async move {
        Err(StoreError::Unavailable(format!(
            "{what} is not built for postgresql yet"
        )))
    })
}
