//! The PostgreSQL engine's [`Mailboxes`].

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

impl Mailboxes for PgEngine {
    fn deliver(&self, m: Deliver) -> StoreFuture<Outcome<Vec<Delivered>>> {
        let _ = m;
        unbuilt("deliver")
    }

    fn append(&self, m: Append) -> StoreFuture<Outcome<Appended>> {
        let _ = m;
        unbuilt("append")
    }

    fn list_mailboxes(&self, m: ListMailboxes) -> StoreFuture<Vec<MailboxInfo>> {
        let _ = m;
        unbuilt("list_mailboxes")
    }

    fn lost_subscriptions(&self, m: LostSubscriptions) -> StoreFuture<Vec<String>> {
        let _ = m;
        unbuilt("lost_subscriptions")
    }

    fn select(&self, m: Select) -> StoreFuture<(MailboxInfo, Vec<MessageInfo>)> {
        let _ = m;
        unbuilt("select")
    }

    fn fetch_meta(&self, m: FetchMeta) -> StoreFuture<Vec<(MessageInfo, Arc<MessageMeta>)>> {
        let _ = m;
        unbuilt("fetch_meta")
    }

    fn fetch_body(&self, m: FetchBody) -> StoreFuture<Arc<[u8]>> {
        let _ = m;
        unbuilt("fetch_body")
    }

    fn fetch_bodies(&self, m: FetchBodies) -> StoreFuture<Vec<(u32, Arc<[u8]>)>> {
        let _ = m;
        unbuilt("fetch_bodies")
    }

    fn fetch_headers(&self, m: FetchHeaders) -> StoreFuture<Vec<(u32, Arc<[u8]>)>> {
        let _ = m;
        unbuilt("fetch_headers")
    }

    fn open_body(&self, m: OpenBody) -> StoreFuture<BodySource> {
        let _ = m;
        unbuilt("open_body")
    }

    fn set_flags(&self, m: SetFlags) -> StoreFuture<Outcome<FlagsResult>> {
        let _ = m;
        unbuilt("set_flags")
    }

    fn copy(&self, m: Copy) -> StoreFuture<Outcome<Vec<(u32, u32)>>> {
        let _ = m;
        unbuilt("copy")
    }

    fn move_messages(&self, m: Move) -> StoreFuture<Outcome<Vec<(u32, u32)>>> {
        let _ = m;
        unbuilt("move_messages")
    }

    fn expunge(&self, m: Expunge) -> StoreFuture<Outcome<Vec<u32>>> {
        let _ = m;
        unbuilt("expunge")
    }

    fn remove_messages(&self, m: RemoveMessages) -> StoreFuture<Outcome<Vec<u32>>> {
        let _ = m;
        unbuilt("remove_messages")
    }

    fn create_mailbox(&self, m: CreateMailbox) -> StoreFuture<Outcome<MailboxInfo>> {
        let _ = m;
        unbuilt("create_mailbox")
    }

    fn delete_mailbox(&self, m: DeleteMailbox) -> StoreFuture<Outcome<()>> {
        let _ = m;
        unbuilt("delete_mailbox")
    }

    fn rename_mailbox(&self, m: RenameMailbox) -> StoreFuture<Outcome<()>> {
        let _ = m;
        unbuilt("rename_mailbox")
    }

    fn set_subscribed(&self, m: SetSubscribed) -> StoreFuture<Outcome<()>> {
        let _ = m;
        unbuilt("set_subscribed")
    }

    fn changes(&self, m: Changes) -> StoreFuture<ChangeSet> {
        let _ = m;
        unbuilt("changes")
    }

    fn claim_recent(&self, m: ClaimRecent) -> StoreFuture<Outcome<u32>> {
        let _ = m;
        unbuilt("claim_recent")
    }
}

fn unbuilt<T: Send + 'static>(what: &'static str) -> StoreFuture<T> {
    Box::pin(async move {
        Err(StoreError::Unavailable(format!(
            "{what} is not built for postgresql yet"
        )))
    })
}
