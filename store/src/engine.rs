//! The engine API: what a storage engine does for the [`MailboxStore`] actor, as one trait per
//! role. The embedded engine (`sqlite/`) implements them all; a PostgreSQL one can follow.
//! [`crate::open`] picks the engine from the configuration.
//!
//! Every method returns a `Send` future that does its blocking work elsewhere (a writer
//! thread, a connection pool, the blocking pool), so the actor can hand it back as a
//! `ResponseFuture` without blocking its arbiter. Writes return an [`Outcome`] listing the
//! mailboxes they changed and the events they logged; the actor publishes those, which keeps
//! the engines free of the bus and guarantees the events go out only after the change is
//! durable.
//!
//! [`MailboxStore`]: crate::actor::MailboxStore

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use mailroom_shared::events::EventRecorded;
use mailroom_shared::msg::MailboxChanged;
use mailroom_shared::queue::{QueueReply, QueueRequest};

use crate::dkim::{DkimKey, DkimKeys};
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
    Deliver, Expunge, FetchBodies, FetchBody, FetchHeaders, FetchMeta, LastEventId, LeaseWebhook,
    ListMailboxes, LostSubscriptions, Move, OpenBody, OwnsAddresses, PruneEvents, ReadEvents,
    RecordEvent, RemoveMessages, RenameMailbox, ResolveRecipient, Select, SetFlags, SetSubscribed,
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

/// A boxed, `Send` future resolving to a store result.
pub type StoreFuture<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'static>>;

/// The result of a durable write, the mailbox changes to announce and the events it logged.
#[derive(Debug, Clone)]
pub struct Outcome<T> {
    /// What the caller asked for.
    pub value: T,
    /// One entry per changed mailbox, with its HIGHESTMODSEQ after the change.
    pub changes: Vec<MailboxChanged>,
    /// Events written to the log by the same transaction, to publish once it is durable.
    pub events: Vec<EventRecorded>,
}

impl<T> Outcome<T> {
    /// A write that changed no mailbox and logged nothing.
    pub fn quiet(value: T) -> Self {
        Outcome {
            value,
            changes: Vec::new(),
            events: Vec::new(),
        }
    }
}

/// Mailboxes and their messages: delivery, APPEND, selection, fetches, flags, copies, moves,
/// expunges and the mailbox tree. All writes of one engine are ordered and durable when their
/// future resolves `Ok`.
pub trait Mailboxes: Send + Sync + 'static {
    /// See [`Deliver`].
    fn deliver(&self, m: Deliver) -> StoreFuture<Outcome<Vec<Delivered>>>;
    /// See [`Append`].
    fn append(&self, m: Append) -> StoreFuture<Outcome<Appended>>;
    /// See [`ListMailboxes`].
    fn list_mailboxes(&self, m: ListMailboxes) -> StoreFuture<Vec<MailboxInfo>>;
    /// See [`LostSubscriptions`].
    fn lost_subscriptions(&self, m: LostSubscriptions) -> StoreFuture<Vec<String>>;
    /// See [`Select`].
    fn select(&self, m: Select) -> StoreFuture<(MailboxInfo, Vec<MessageInfo>)>;
    /// See [`FetchMeta`].
    fn fetch_meta(&self, m: FetchMeta) -> StoreFuture<Vec<(MessageInfo, Arc<MessageMeta>)>>;
    /// See [`FetchBody`].
    fn fetch_body(&self, m: FetchBody) -> StoreFuture<Arc<[u8]>>;
    /// See [`FetchBodies`].
    fn fetch_bodies(&self, m: FetchBodies) -> StoreFuture<Vec<(u32, Arc<[u8]>)>>;
    /// See [`FetchHeaders`].
    fn fetch_headers(&self, m: FetchHeaders) -> StoreFuture<Vec<(u32, Arc<[u8]>)>>;
    /// See [`OpenBody`].
    fn open_body(&self, m: OpenBody) -> StoreFuture<BodySource>;
    /// See [`SetFlags`].
    fn set_flags(&self, m: SetFlags) -> StoreFuture<Outcome<FlagsResult>>;
    /// See [`Copy`].
    fn copy(&self, m: Copy) -> StoreFuture<Outcome<Vec<(u32, u32)>>>;
    /// See [`Move`].
    fn move_messages(&self, m: Move) -> StoreFuture<Outcome<Vec<(u32, u32)>>>;
    /// See [`Expunge`].
    fn expunge(&self, m: Expunge) -> StoreFuture<Outcome<Vec<u32>>>;
    /// See [`RemoveMessages`].
    fn remove_messages(&self, m: RemoveMessages) -> StoreFuture<Outcome<Vec<u32>>>;
    /// See [`CreateMailbox`].
    fn create_mailbox(&self, m: CreateMailbox) -> StoreFuture<Outcome<MailboxInfo>>;
    /// See [`DeleteMailbox`].
    fn delete_mailbox(&self, m: DeleteMailbox) -> StoreFuture<Outcome<()>>;
    /// See [`RenameMailbox`].
    fn rename_mailbox(&self, m: RenameMailbox) -> StoreFuture<Outcome<()>>;
    /// See [`SetSubscribed`].
    fn set_subscribed(&self, m: SetSubscribed) -> StoreFuture<Outcome<()>>;
    /// See [`Changes`].
    fn changes(&self, m: Changes) -> StoreFuture<ChangeSet>;
    /// See [`ClaimRecent`].
    fn claim_recent(&self, m: ClaimRecent) -> StoreFuture<Outcome<u32>>;
}

/// Accounts, domains and aliases as the protocols see them: recipients, sender addresses,
/// logins.
pub trait Directory: Send + Sync + 'static {
    /// See [`ResolveRecipient`].
    fn resolve_recipient(&self, m: ResolveRecipient) -> StoreFuture<Resolution>;
    /// See [`CheckRecipient`].
    fn check_recipient(&self, m: CheckRecipient) -> StoreFuture<(Resolution, Vec<i64>)>;
    /// See [`OwnsAddresses`].
    fn owns_addresses(&self, m: OwnsAddresses) -> StoreFuture<Vec<bool>>;
    /// See [`Authenticate`]: the password check and the failed-login counters.
    fn authenticate(&self, m: Authenticate) -> StoreFuture<LoginOutcome>;
}

/// The management of the directory: domains, accounts, aliases, API tokens, lockouts. Sent
/// by the panel, the API and the CLI through the actor, like every other write.
pub trait Accounts: Send + Sync + 'static {
    /// See [`AddDomain`].
    fn add_domain(&self, m: AddDomain) -> StoreFuture<Outcome<Domain>>;
    /// See [`RemoveDomain`].
    fn remove_domain(&self, m: RemoveDomain) -> StoreFuture<Outcome<()>>;
    /// See [`ListDomains`].
    fn list_domains(&self, m: ListDomains) -> StoreFuture<Vec<Domain>>;
    /// See [`DomainDkim`].
    fn domain_dkim(&self, m: DomainDkim) -> StoreFuture<Vec<DkimKey>>;
    /// See [`MissingRoleAddresses`].
    fn missing_role_addresses(&self, m: MissingRoleAddresses) -> StoreFuture<Vec<String>>;
    /// See [`crate::requests::AddAccount`]; the password is already hashed.
    fn add_account(&self, m: NewAccount) -> StoreFuture<Outcome<Account>>;
    /// See [`crate::requests::SetPassword`]; the password is already hashed.
    fn set_password(&self, m: NewPassword) -> StoreFuture<Outcome<()>>;
    /// See [`GetAccount`].
    fn get_account(&self, m: GetAccount) -> StoreFuture<Account>;
    /// See [`ListAccounts`].
    fn list_accounts(&self, m: ListAccounts) -> StoreFuture<Vec<Account>>;
    /// See [`ChangeAccount`].
    fn change_account(&self, m: ChangeAccount) -> StoreFuture<Outcome<Account>>;
    /// See [`RemoveAccount`]. Returns the account as it was.
    fn remove_account(&self, m: RemoveAccount) -> StoreFuture<Outcome<Account>>;
    /// See [`AddAlias`].
    fn add_alias(&self, m: AddAlias) -> StoreFuture<Outcome<Alias>>;
    /// See [`ListAliases`].
    fn list_aliases(&self, m: ListAliases) -> StoreFuture<Vec<Alias>>;
    /// See [`RemoveAlias`].
    fn remove_alias(&self, m: RemoveAlias) -> StoreFuture<Outcome<()>>;
    /// See [`CreateToken`].
    fn create_token(&self, m: CreateToken) -> StoreFuture<Outcome<(ApiToken, String)>>;
    /// See [`ListTokens`].
    fn list_tokens(&self, m: ListTokens) -> StoreFuture<Vec<ApiToken>>;
    /// See [`DeleteToken`].
    fn delete_token(&self, m: DeleteToken) -> StoreFuture<Outcome<()>>;
    /// See [`TokenAccount`].
    fn token_account(&self, m: TokenAccount) -> StoreFuture<Outcome<Option<Account>>>;
    /// See [`ListLockouts`].
    fn list_lockouts(&self, m: ListLockouts) -> StoreFuture<Vec<(Lockout, bool)>>;
    /// See [`ClearLockout`].
    fn clear_lockout(&self, m: ClearLockout) -> StoreFuture<Outcome<()>>;
}

/// What the dashboard and the policy pages show, and the store's self-check. Reads only.
pub trait Reports: Send + Sync + 'static {
    /// See [`HourlyCounts`].
    fn hourly_counts(&self, m: HourlyCounts) -> StoreFuture<Vec<HourCount>>;
    /// See [`Sizes`].
    fn sizes(&self, m: Sizes) -> StoreFuture<StoreSizes>;
    /// See [`RecentEvents`].
    fn recent_events(&self, m: RecentEvents) -> StoreFuture<Vec<(i64, i64, String)>>;
    /// See [`SpamDecisions`].
    fn spam_decisions(&self, m: SpamDecisions) -> StoreFuture<Vec<SpamDecisionRow>>;
    /// See [`GreylistEntries`].
    fn greylist_entries(&self, m: GreylistEntries) -> StoreFuture<Vec<GreylistEntry>>;
    /// See [`VerifyBodies`].
    fn verify_bodies(&self, m: VerifyBodies) -> StoreFuture<Vec<String>>;
}

/// The outbound queue.
pub trait Queue: Send + Sync + 'static {
    /// See [`Submit`].
    fn submit(&self, m: Submit) -> StoreFuture<Outcome<Submitted>>;
    /// See [`DueQueue`].
    fn due_queue(&self, m: DueQueue) -> StoreFuture<Vec<QueuedMessage>>;
    /// See [`RecordAttempts`].
    fn record_attempts(&self, m: RecordAttempts) -> StoreFuture<Outcome<()>>;
    /// See [`mailroom_shared::queue::QueueAdmin`].
    fn queue_admin(&self, m: QueueRequest) -> StoreFuture<Outcome<QueueReply>>;
}

/// The event log and the webhook cursors.
pub trait EventLog: Send + Sync + 'static {
    /// See [`RecordEvent`].
    fn record_event(&self, m: RecordEvent) -> StoreFuture<Outcome<EventRecorded>>;
    /// See [`ReadEvents`].
    fn read_events(&self, m: ReadEvents) -> StoreFuture<Vec<EventRecorded>>;
    /// See [`LastEventId`].
    fn last_event_id(&self, m: LastEventId) -> StoreFuture<i64>;
    /// See [`WebhookCursor`].
    fn webhook_cursor(&self, m: WebhookCursor) -> StoreFuture<Option<i64>>;
    /// See [`SetWebhookCursor`].
    fn set_webhook_cursor(&self, m: SetWebhookCursor) -> StoreFuture<Outcome<()>>;
    /// See [`PruneEvents`].
    fn prune_events(&self, m: PruneEvents) -> StoreFuture<Outcome<u64>>;
    /// See [`LeaseWebhook`].
    fn lease_webhook(&self, m: LeaseWebhook) -> StoreFuture<bool>;
}

/// What the inbound policy keeps: greylist triplets, the spam filter's counts and decisions,
/// hosted domains and DKIM keys.
pub trait PolicyState: Send + Sync + 'static {
    /// See [`LoadGreylist`].
    fn load_greylist(&self, m: LoadGreylist) -> StoreFuture<GreylistRows>;
    /// See [`LookupGreylist`].
    fn lookup_greylist(&self, m: LookupGreylist) -> StoreFuture<GreylistLookup>;
    /// See [`SaveGreylist`].
    fn save_greylist(&self, m: SaveGreylist) -> StoreFuture<()>;
    /// See [`ExpireGreylist`].
    fn expire_greylist(&self, m: ExpireGreylist) -> StoreFuture<u64>;
    /// See [`ReadBayes`].
    fn read_bayes(&self, m: ReadBayes) -> StoreFuture<Vec<(i64, BayesCounts)>>;
    /// See [`TrainBayes`].
    fn train_bayes(&self, m: TrainBayes) -> StoreFuture<Outcome<Trained>>;
    /// See [`RecordSpamDecisions`].
    fn record_spam_decisions(&self, m: RecordSpamDecisions) -> StoreFuture<Outcome<()>>;
    /// See [`FetchSpamDecision`].
    fn fetch_spam_decision(&self, m: FetchSpamDecision) -> StoreFuture<Option<StoredSpamDecision>>;
    /// See [`FetchBlob`].
    fn fetch_blob(&self, m: FetchBlob) -> StoreFuture<Arc<[u8]>>;
    /// See [`HostedDomains`].
    fn hosted_domains(&self, m: HostedDomains) -> StoreFuture<Vec<String>>;
    /// See [`DkimKeys`].
    fn dkim_keys(&self, m: DkimKeys) -> StoreFuture<Vec<DkimKey>>;
}

/// Counters and the orderly end.
pub trait Lifecycle: Send + Sync + 'static {
    /// Group-commit counters so far.
    fn stats(&self) -> StoreStats;
    /// Commit everything submitted before, then close: later writes fail with `Unavailable`.
    fn flush(&self) -> StoreFuture<()>;
    /// See [`crate::actor::WatchFatal`]. An engine that has nothing fatal to report keeps
    /// the default, a watch that never fires.
    fn fatal(&self) -> crate::fatal::FatalWatch {
        crate::fatal::FatalWatch::never()
    }
}

/// An engine: every role. Implemented for anything that has them all; the actor holds one
/// as `Arc<dyn Engine>`.
pub trait Engine:
    Mailboxes + Directory + Accounts + Queue + EventLog + PolicyState + Reports + Lifecycle
{
}

impl<T> Engine for T where
    T: Mailboxes + Directory + Accounts + Queue + EventLog + PolicyState + Reports + Lifecycle
{
}
