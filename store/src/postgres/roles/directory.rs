//! The PostgreSQL engine's [`Directory`].

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

impl Directory for PgEngine {
    fn resolve_recipient(&self, m: ResolveRecipient) -> StoreFuture<Resolution> {
        let _ = m;
        unbuilt("resolve_recipient")
    }

    fn check_recipient(&self, m: CheckRecipient) -> StoreFuture<(Resolution, Vec<i64>)> {
        let _ = m;
        unbuilt("check_recipient")
    }

    fn owns_addresses(&self, m: OwnsAddresses) -> StoreFuture<Vec<bool>> {
        let _ = m;
        unbuilt("owns_addresses")
    }

    fn authenticate(&self, m: Authenticate) -> StoreFuture<LoginOutcome> {
        let _ = m;
        unbuilt("authenticate")
    }
}

fn unbuilt<T: Send + 'static>(what: &'static str) -> StoreFuture<T> {
    Box::pin(async move {
        Err(StoreError::Unavailable(format!(
            "{what} is not built for postgresql yet"
        )))
    })
}
