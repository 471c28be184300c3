//! The PostgreSQL engine's [`Mailboxes`]: every write is one transaction (retried on a
//! deadlock or serialization failure, see [`txn`]), every read that needs one snapshot a
//! read-only REPEATABLE READ transaction. Bodies live in their `blobs` rows.

use std::future::{Future, ready};
use std::sync::Arc;

use deadpool_postgres::Transaction;

use super::super::txn::{self, TxFuture};
use super::super::{PgEngine, mail_reads, mail_writes, mailbox_tree, unix_now};
use crate::common::messages::{AppendOp, DeliverOp, check_stored, prepare_body};
use crate::engine::{Mailboxes, Outcome, StoreFuture};
use crate::error::StoreError;
use crate::mime::MessageMeta;
use crate::requests::{
    Append, Changes, ClaimRecent, Copy, CreateMailbox, DeleteMailbox, Deliver, Expunge,
    FetchBodies, FetchBody, FetchHeaders, FetchMeta, ListMailboxes, LostSubscriptions, Move,
    OpenBody, RemoveMessages, RenameMailbox, Select, SetFlags, SetSubscribed,
};
use crate::types::{
    Appended, BodySource, ChangeSet, Delivered, FlagsResult, MailboxInfo, MessageInfo, blob_hash,
};

impl PgEngine {
    /// Make `op` (on the engine's runtime), then run `work` on it as one write transaction,
    /// each attempt on a fresh copy.
    pub(super) fn write_tx<O, P, T, W>(&self, op: P, work: W) -> StoreFuture<T>
    where
        O: Clone + Send + Sync + 'static,
        P: Future<Output = Result<O, StoreError>> + Send + 'static,
        T: Send + 'static,
        W: for<'t> Fn(&'t Transaction<'t>, O) -> TxFuture<'t, T>
            + std::marker::Copy
            + Send
            + Sync
            + 'static,
    {
        self.write(move |pool| async move {
            let op = op.await?;
            txn::write(&pool, |tx| work(tx, op.clone())).await
        })
    }

    /// Run `work` on `op` in one read-only snapshot.
    fn read_tx<O, T, W>(&self, op: O, work: W) -> StoreFuture<T>
    where
        O: Send + 'static,
        T: Send + 'static,
        W: for<'t> FnOnce(&'t Transaction<'t>, O) -> TxFuture<'t, T> + Send + 'static,
    {
        self.run(move |pool| async move { txn::snapshot(&pool, |tx| work(tx, op)).await })
    }

    /// Bodies of `uids` of an owned mailbox, checked against their recorded sizes.
    fn bodies(
        &self,
        account_id: i64,
        mailbox_id: i64,
        uids: Vec<u32>,
    ) -> StoreFuture<Vec<(u32, Arc<[u8]>)>> {
        self.read_tx((account_id, mailbox_id, uids), |tx, (a, m, uids)| {
            Box::pin(async move {
                let mut out = Vec::new();
                for (uid, hash, size, data) in mail_reads::bodies(tx, a, m, &uids).await? {
                    out.push((uid, Arc::from(check_stored(&hash, size, data)?)));
                }
                Ok(out)
            })
        })
    }

    /// The body of one message, NotFound when it (or the account's mailbox) is not there.
    fn one_body(&self, account_id: i64, mailbox_id: i64, uid: u32) -> StoreFuture<Arc<[u8]>> {
        let found = self.bodies(account_id, mailbox_id, vec![uid]);
        Box::pin(async move {
            found.await?.pop().map(|(_, body)| body).ok_or_else(|| {
                StoreError::NotFound(format!("message {uid} in mailbox {mailbox_id}"))
            })
        })
    }
}

/// How this engine keys a body: every node reads it from its row, so there is no file to
/// write first.
fn body_key(raw: &Arc<[u8]>) -> Result<String, StoreError> {
    Ok(blob_hash(raw))
}

/// Key and analyse a body (for the queue's local copies and DSNs).
pub(super) async fn prepare(raw: Arc<[u8]>) -> Result<crate::common::messages::Body, StoreError> {
    prepare_body(raw, body_key).await
}

impl Mailboxes for PgEngine {
    fn deliver(&self, m: Deliver) -> StoreFuture<Outcome<Vec<Delivered>>> {
        let op = DeliverOp::prepare(m, unix_now(), body_key);
        self.write_tx(op, |tx, op| {
            Box::pin(async move { mail_writes::deliver(tx, &op).await })
        })
    }

    fn append(&self, m: Append) -> StoreFuture<Outcome<Appended>> {
        let op = AppendOp::prepare(m, unix_now(), body_key);
        self.write_tx(op, |tx, op| {
            Box::pin(async move { mail_writes::append(tx, &op).await })
        })
    }

    fn list_mailboxes(&self, m: ListMailboxes) -> StoreFuture<Vec<MailboxInfo>> {
        self.read_tx(m, |tx, m| {
            Box::pin(async move { mail_reads::list_mailboxes(tx, m.account_id).await })
        })
    }

    fn lost_subscriptions(&self, m: LostSubscriptions) -> StoreFuture<Vec<String>> {
        self.read_tx(m, |tx, m| {
            Box::pin(async move { mail_reads::lost_subscriptions(tx, m.account_id).await })
        })
    }

    fn select(&self, m: Select) -> StoreFuture<(MailboxInfo, Vec<MessageInfo>)> {
        self.read_tx(m, |tx, m| {
            Box::pin(async move { mail_reads::select(tx, m.account_id, &m.name).await })
        })
    }

    fn fetch_meta(&self, m: FetchMeta) -> StoreFuture<Vec<(MessageInfo, Arc<MessageMeta>)>> {
        self.read_tx(m, |tx, m| {
            Box::pin(async move {
                let found =
                    mail_reads::messages_with_blob(tx, m.account_id, m.mailbox_id, &m.uids).await?;
                let mut out = Vec::with_capacity(found.len());
                let mut parsed: Vec<(String, Arc<MessageMeta>)> = Vec::new();
                for (info, hash) in found {
                    // A body copied within the mailbox is analysed once.
                    let known = parsed
                        .iter()
                        .find(|(h, _)| *h == hash)
                        .map(|(_, m)| m.clone());
                    let meta = match known {
                        Some(meta) => meta,
                        None => {
                            let json = mail_reads::stored_meta(tx, &hash).await?;
                            let meta = Arc::new(serde_json::from_str::<MessageMeta>(&json)?);
                            parsed.push((hash, meta.clone()));
                            meta
                        }
                    };
                    out.push((info, meta));
                }
                Ok(out)
            })
        })
    }

    fn fetch_body(&self, m: FetchBody) -> StoreFuture<Arc<[u8]>> {
        self.one_body(m.account_id, m.mailbox_id, m.uid)
    }

    fn fetch_bodies(&self, m: FetchBodies) -> StoreFuture<Vec<(u32, Arc<[u8]>)>> {
        self.bodies(m.account_id, m.mailbox_id, m.uids)
    }

    fn fetch_headers(&self, m: FetchHeaders) -> StoreFuture<Vec<(u32, Arc<[u8]>)>> {
        self.read_tx(m, |tx, m| {
            Box::pin(async move {
                let found = mail_reads::headers(tx, m.account_id, m.mailbox_id, &m.uids).await?;
                Ok(found
                    .into_iter()
                    .map(|(uid, header)| (uid, Arc::from(header)))
                    .collect())
            })
        })
    }

    fn open_body(&self, m: OpenBody) -> StoreFuture<BodySource> {
        // Every body is in its row: it comes whole, in memory.
        let body = self.one_body(m.account_id, m.mailbox_id, m.uid);
        Box::pin(async move { Ok(BodySource::Inline(body.await?)) })
    }

    fn set_flags(&self, m: SetFlags) -> StoreFuture<Outcome<FlagsResult>> {
        self.write_tx(ready(Ok(m)), |tx, op| {
            Box::pin(async move { mail_writes::set_flags(tx, &op).await })
        })
    }

    fn copy(&self, m: Copy) -> StoreFuture<Outcome<Vec<(u32, u32)>>> {
        self.write_tx(ready(Ok(m)), |tx, op| {
            Box::pin(
                async move { mail_writes::copy(tx, op.account_id, op.from, &op.uids, op.to).await },
            )
        })
    }

    fn move_messages(&self, m: Move) -> StoreFuture<Outcome<Vec<(u32, u32)>>> {
        self.write_tx(ready(Ok(m)), |tx, op| {
            Box::pin(async move { mail_writes::move_messages(tx, &op).await })
        })
    }

    fn expunge(&self, m: Expunge) -> StoreFuture<Outcome<Vec<u32>>> {
        self.write_tx(ready(Ok(m)), |tx, op| {
            Box::pin(async move { mail_writes::expunge(tx, &op).await })
        })
    }

    fn remove_messages(&self, m: RemoveMessages) -> StoreFuture<Outcome<Vec<u32>>> {
        self.write_tx(ready(Ok(m)), |tx, op| {
            Box::pin(async move { mail_writes::remove_messages(tx, &op).await })
        })
    }

    fn create_mailbox(&self, m: CreateMailbox) -> StoreFuture<Outcome<MailboxInfo>> {
        self.write_tx(ready(Ok(m)), |tx, op| {
            Box::pin(async move { mailbox_tree::create_mailbox(tx, &op).await })
        })
    }

    fn delete_mailbox(&self, m: DeleteMailbox) -> StoreFuture<Outcome<()>> {
        self.write_tx(ready(Ok(m)), |tx, op| {
            Box::pin(async move { mailbox_tree::delete_mailbox(tx, &op).await })
        })
    }

    fn rename_mailbox(&self, m: RenameMailbox) -> StoreFuture<Outcome<()>> {
        self.write_tx(ready(Ok(m)), |tx, op| {
            Box::pin(async move { mailbox_tree::rename_mailbox(tx, &op).await })
        })
    }

    fn set_subscribed(&self, m: SetSubscribed) -> StoreFuture<Outcome<()>> {
        self.write_tx(ready(Ok(m)), |tx, op| {
            Box::pin(async move { mailbox_tree::set_subscribed(tx, &op).await })
        })
    }

    fn changes(&self, m: Changes) -> StoreFuture<ChangeSet> {
        self.read_tx(m, |tx, m| {
            Box::pin(async move {
                mail_reads::changes(tx, m.account_id, m.mailbox_id, m.since_modseq).await
            })
        })
    }

    fn claim_recent(&self, m: ClaimRecent) -> StoreFuture<Outcome<u32>> {
        // Nothing else changes, so nothing is announced.
        self.write_tx(ready(Ok(m)), |tx, op| {
            Box::pin(async move { Ok(Outcome::quiet(mailbox_tree::claim_recent(tx, &op).await?)) })
        })
    }
}
