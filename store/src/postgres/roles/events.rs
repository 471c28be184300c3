//! The PostgreSQL engine's [`EventLog`].

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

impl EventLog for PgEngine {
    fn record_event(&self, m: RecordEvent) -> StoreFuture<Outcome<EventRecorded>> {
        let _ = m;
        unbuilt("record_event")
    }

    fn read_events(&self, m: ReadEvents) -> StoreFuture<Vec<EventRecorded>> {
        let _ = m;
        unbuilt("read_events")
    }

    fn last_event_id(&self, m: LastEventId) -> StoreFuture<i64> {
        let _ = m;
        unbuilt("last_event_id")
    }

    fn webhook_cursor(&self, m: WebhookCursor) -> StoreFuture<Option<i64>> {
        let _ = m;
        unbuilt("webhook_cursor")
    }

    fn set_webhook_cursor(&self, m: SetWebhookCursor) -> StoreFuture<Outcome<()>> {
        let _ = m;
        unbuilt("set_webhook_cursor")
    }

    fn prune_events(&self, m: PruneEvents) -> StoreFuture<Outcome<u64>> {
        let _ = m;
        unbuilt("prune_events")
    }
}

fn unbuilt<T: Send + 'static>(what: &'static str) -> StoreFuture<T> {
    Box::pin(async move {
        Err(StoreError::Unavailable(format!(
            "{what} is not built for postgresql yet"
        )))
    })
}
