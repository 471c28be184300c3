//! The backend trait: what a storage engine must do for the [`MailboxStore`] actor. The
//! embedded engine is [`crate::sqlite::SqliteBackend`]; a PostgreSQL one can follow.
//!
//! Every method returns a `Send` future that does its blocking work elsewhere (a writer
//! thread, a connection pool, the blocking pool), so the actor can hand it back as a
//! `ResponseFuture` without blocking its arbiter. Writes return an [`Outcome`] listing the
//! mailboxes they changed; the actor publishes those events, which keeps the backend free of
//! the bus and guarantees the events go out only after the change is durable.
//!
//! [`MailboxStore`]: crate::actor::MailboxStore

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use mailroom_shared::msg::MailboxChanged;

use crate::actor::{
    Append, Authenticate, Changes, CheckRecipient, Copy, CreateMailbox, DeleteMailbox, Deliver,
    Expunge, FetchBodies, FetchBody, FetchHeaders, FetchMeta, ListMailboxes, Move, OpenBody,
    RemoveMessages, RenameMailbox, ResolveRecipient, Select, SetFlags, SetSubscribed,
};
use crate::error::StoreError;
use crate::mime::MessageMeta;
use crate::spam::{
    BayesCounts, DeliverSorted, FetchBlob, FetchSpamDecision, HostedDomains, ReadBayes,
    RecordSpamDecisions, StoredSpamDecision, TrainBayes, Trained,
};
use crate::types::{
    Account, Appended, BodySource, ChangeSet, Delivered, FlagsResult, MailboxInfo, MessageInfo,
    Resolution, StoreStats,
};

/// A boxed, `Send` future resolving to a store result.
pub type StoreFuture<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'static>>;

/// The result of a durable write and the mailbox changes to announce.
#[derive(Debug, Clone)]
pub struct Outcome<T> {
    /// What the caller asked for.
    pub value: T,
    /// One entry per changed mailbox, with its HIGHESTMODSEQ after the change.
    pub changes: Vec<MailboxChanged>,
}

/// A storage engine. All writes of one engine are ordered and durable when their future
/// resolves `Ok`.
pub trait Backend: Send + Sync + 'static {
    /// See [`ResolveRecipient`].
    fn resolve_recipient(&self, m: ResolveRecipient) -> StoreFuture<Resolution>;
    /// See [`CheckRecipient`].
    fn check_recipient(&self, m: CheckRecipient) -> StoreFuture<(Resolution, Vec<i64>)>;
    /// See [`Authenticate`].
    fn authenticate(&self, m: Authenticate) -> StoreFuture<Option<Account>>;
    /// See [`Deliver`].
    fn deliver(&self, m: Deliver) -> StoreFuture<Outcome<Vec<Delivered>>>;
    /// See [`Append`].
    fn append(&self, m: Append) -> StoreFuture<Outcome<Appended>>;
    /// See [`ListMailboxes`].
    fn list_mailboxes(&self, m: ListMailboxes) -> StoreFuture<Vec<MailboxInfo>>;
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
    /// See [`SetFlags`].
    fn set_flags(&self, m: SetFlags) -> StoreFuture<Outcome<FlagsResult>>;
    /// See [`Copy`].
    fn copy(&self, m: Copy) -> StoreFuture<Outcome<Vec<(u32, u32)>>>;
    /// See [`Move`].
    fn move_messages(&self, m: Move) -> StoreFuture<Outcome<Vec<(u32, u32)>>>;
    /// See [`Expunge`].
    fn expunge(&self, m: Expunge) -> StoreFuture<Outcome<Vec<u32>>>;
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
    /// Group-commit counters so far.
    fn stats(&self) -> StoreStats;
    /// Commit everything submitted before, then close: later writes fail with `Unavailable`.
    fn flush(&self) -> StoreFuture<()>;
    /// See [`OpenBody`].
    fn open_body(&self, m: OpenBody) -> StoreFuture<BodySource>;
    /// See [`RemoveMessages`].
    fn remove_messages(&self, m: RemoveMessages) -> StoreFuture<Outcome<Vec<u32>>>;
    /// See [`ReadBayes`].
    fn read_bayes(&self, m: ReadBayes) -> StoreFuture<Vec<(i64, BayesCounts)>>;
    /// See [`TrainBayes`].
    fn train_bayes(&self, m: TrainBayes) -> StoreFuture<Outcome<Trained>>;
    /// See [`RecordSpamDecisions`].
    fn record_spam_decisions(&self, m: RecordSpamDecisions) -> StoreFuture<Outcome<()>>;
    /// See [`FetchSpamDecision`].
    fn fetch_spam_decision(&self, m: FetchSpamDecision) -> StoreFuture<Option<StoredSpamDecision>>;
    /// See [`DeliverSorted`].
    fn deliver_sorted(&self, m: DeliverSorted) -> StoreFuture<Outcome<Vec<Delivered>>>;
    /// See [`HostedDomains`].
    fn hosted_domains(&self, m: HostedDomains) -> StoreFuture<Vec<String>>;
    /// See [`FetchBlob`].
    fn fetch_blob(&self, m: FetchBlob) -> StoreFuture<Arc<[u8]>>;
}
