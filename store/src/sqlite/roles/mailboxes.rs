//! The embedded engine's [`Mailboxes`]: writes go to the writer thread, reads to the read
//! pool, body files to the blocking pool.

use std::sync::Arc;

use super::super::writer::{AppendOp, DeliverOp};
use super::super::{SqliteBackend, blobs, reads, unix_now};
use crate::engine::{Mailboxes, Outcome, StoreFuture};
use crate::error::StoreError;
use crate::mime::{self, MessageMeta};
use crate::requests::{
    Append, Changes, ClaimRecent, Copy, CreateMailbox, DeleteMailbox, Deliver, Expunge,
    FetchBodies, FetchBody, FetchHeaders, FetchMeta, ListMailboxes, LostSubscriptions, Move,
    OpenBody, RemoveMessages, RenameMailbox, Select, SetFlags, SetSubscribed,
};
use crate::types::{
    Appended, BodySource, ChangeSet, Delivered, FlagsResult, MailboxInfo, MessageInfo,
};

impl Mailboxes for SqliteBackend {
    fn deliver(&self, m: Deliver) -> StoreFuture<Outcome<Vec<Delivered>>> {
        let (blobs, writer) = (self.blobs.clone(), self.writer.clone());
        Box::pin(async move {
            let op = DeliverOp::prepare(m, unix_now(), Self::body_key(blobs)).await?;
            writer.deliver(op).await
        })
    }

    fn append(&self, m: Append) -> StoreFuture<Outcome<Appended>> {
        let (blobs, writer) = (self.blobs.clone(), self.writer.clone());
        Box::pin(async move {
            let op = AppendOp::prepare(m, unix_now(), Self::body_key(blobs)).await?;
            writer.append(op).await
        })
    }

    fn list_mailboxes(&self, m: ListMailboxes) -> StoreFuture<Vec<MailboxInfo>> {
        let pool = self.pool.clone();
        Box::pin(Self::read(pool, move |c| {
            reads::list_mailboxes(c, m.account_id)
        }))
    }

    fn lost_subscriptions(&self, m: LostSubscriptions) -> StoreFuture<Vec<String>> {
        let pool = self.pool.clone();
        Box::pin(Self::read(pool, move |c| {
            reads::lost_subscriptions(c, m.account_id)
        }))
    }

    fn select(&self, m: Select) -> StoreFuture<(MailboxInfo, Vec<MessageInfo>)> {
        let pool = self.pool.clone();
        Box::pin(Self::read(pool, move |c| {
            reads::select(c, m.account_id, &m.name)
        }))
    }

    fn fetch_meta(&self, m: FetchMeta) -> StoreFuture<Vec<(MessageInfo, Arc<MessageMeta>)>> {
        let (pool, cache) = (self.pool.clone(), self.metas.clone());
        Box::pin(Self::read(pool, move |c| {
            // One snapshot: a message expunged meanwhile takes its blob row with it.
            let tx = c.transaction()?;
            let found = reads::messages_with_blob(&tx, m.account_id, m.mailbox_id, &m.uids)?;
            let mut out = Vec::with_capacity(found.len());
            for (info, hash) in found {
                if let Some(meta) = cache.get(&hash) {
                    out.push((info, meta));
                    continue;
                }
                let json = reads::stored_meta(&tx, &hash)?;
                let meta = Arc::new(serde_json::from_str::<MessageMeta>(&json)?);
                cache.insert(&hash, meta.clone(), json.len());
                out.push((info, meta));
            }
            Ok(out)
        }))
    }

    fn fetch_body(&self, m: FetchBody) -> StoreFuture<Arc<[u8]>> {
        let (pool, blobs) = (self.pool.clone(), self.blobs.clone());
        Box::pin(async move {
            let (hash, size, inline) = Self::read(pool, move |c| {
                reads::body_location(c, m.account_id, m.mailbox_id, m.uid)
            })
            .await?;
            if let Some(data) = inline {
                return blobs::check_inline(&hash, size, data).map(Arc::from);
            }
            tokio::task::spawn_blocking(move || blobs.read(&hash, size))
                .await
                .map_err(|e| StoreError::Unavailable(format!("body read task: {e}")))?
                .map(Arc::from)
        })
    }

    fn fetch_bodies(&self, m: FetchBodies) -> StoreFuture<Vec<(u32, Arc<[u8]>)>> {
        let (pool, blobs) = (self.pool.clone(), self.blobs.clone());
        // One read connection and one blocking task for all of them: inline bodies come
        // with their rows, files are read on the same blocking thread.
        Box::pin(Self::read(pool, move |c| {
            let mut uids = m.uids;
            uids.sort_unstable();
            uids.dedup();
            let mut out = Vec::with_capacity(uids.len());
            for uid in uids {
                let (hash, size, inline) =
                    match reads::body_location(c, m.account_id, m.mailbox_id, uid) {
                        Ok(found) => found,
                        Err(StoreError::NotFound(_)) => continue,
                        Err(e) => return Err(e),
                    };
                let body = match inline {
                    Some(data) => blobs::check_inline(&hash, size, data)?,
                    None => match blobs.read(&hash, size) {
                        Ok(body) => body,
                        Err(StoreError::NotFound(_)) => continue, // expunged meanwhile
                        Err(e) => return Err(e),
                    },
                };
                out.push((uid, Arc::from(body)));
            }
            Ok(out)
        }))
    }

    fn fetch_headers(&self, m: FetchHeaders) -> StoreFuture<Vec<(u32, Arc<[u8]>)>> {
        let (pool, blobs, cache) = (self.pool.clone(), self.blobs.clone(), self.headers.clone());
        Box::pin(Self::read(pool, move |c| {
            // One snapshot: a message expunged meanwhile takes its blob row with it.
            let tx = c.transaction()?;
            let found = reads::message_blobs(&tx, m.account_id, m.mailbox_id, &m.uids)?;
            let mut out = Vec::with_capacity(found.len());
            for (uid, hash, size) in found {
                if let Some(header) = cache.get(&hash) {
                    out.push((uid, header));
                    continue;
                }
                let header = match reads::stored_header(&tx, &hash)? {
                    Some(data) => data,
                    // A body stored before schema version 3: cut its header out of it.
                    None => {
                        let mut body = match reads::inline_body(&tx, &hash)? {
                            Some(data) => blobs::check_inline(&hash, size, data)?,
                            None => match blobs.read(&hash, size) {
                                Ok(body) => body,
                                Err(StoreError::NotFound(_)) => continue, // expunged meanwhile
                                Err(e) => return Err(e),
                            },
                        };
                        body.truncate(mime::header_len(&body));
                        body
                    }
                };
                let header: Arc<[u8]> = Arc::from(header);
                cache.insert(&hash, header.clone(), header.len());
                out.push((uid, header));
            }
            Ok(out)
        }))
    }

    fn open_body(&self, m: OpenBody) -> StoreFuture<BodySource> {
        let (pool, blobs) = (self.pool.clone(), self.blobs.clone());
        Box::pin(async move {
            let (hash, size, inline) = Self::read(pool, move |c| {
                reads::body_location(c, m.account_id, m.mailbox_id, m.uid)
            })
            .await?;
            if let Some(data) = inline {
                let data = blobs::check_inline(&hash, size, data)?;
                return Ok(BodySource::Inline(Arc::from(data)));
            }
            let uid = m.uid;
            let file = tokio::task::spawn_blocking(move || blobs.open_file(&hash, size))
                .await
                .map_err(|e| StoreError::Unavailable(format!("body open task: {e}")))?;
            match file {
                Ok(file) => Ok(BodySource::Stream(
                    Box::new(tokio::fs::File::from_std(file)),
                    size,
                )),
                // Expunged (and its file removed) between the row read and the open.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::NotFound(
                    format!("message {uid} in mailbox {}", m.mailbox_id),
                )),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn set_flags(&self, m: SetFlags) -> StoreFuture<Outcome<FlagsResult>> {
        let writer = self.writer.clone();
        Box::pin(async move { writer.set_flags(m).await })
    }

    fn copy(&self, m: Copy) -> StoreFuture<Outcome<Vec<(u32, u32)>>> {
        let writer = self.writer.clone();
        Box::pin(async move { writer.copy(m).await })
    }

    fn move_messages(&self, m: Move) -> StoreFuture<Outcome<Vec<(u32, u32)>>> {
        let writer = self.writer.clone();
        Box::pin(async move { writer.move_messages(m).await })
    }

    fn expunge(&self, m: Expunge) -> StoreFuture<Outcome<Vec<u32>>> {
        let writer = self.writer.clone();
        Box::pin(async move { writer.expunge(m).await })
    }

    fn remove_messages(&self, m: RemoveMessages) -> StoreFuture<Outcome<Vec<u32>>> {
        let writer = self.writer.clone();
        Box::pin(async move { writer.remove_messages(m).await })
    }

    fn create_mailbox(&self, m: CreateMailbox) -> StoreFuture<Outcome<MailboxInfo>> {
        let writer = self.writer.clone();
        Box::pin(async move { writer.create_mailbox(m).await })
    }

    fn delete_mailbox(&self, m: DeleteMailbox) -> StoreFuture<Outcome<()>> {
        let writer = self.writer.clone();
        Box::pin(async move { writer.delete_mailbox(m).await })
    }

    fn rename_mailbox(&self, m: RenameMailbox) -> StoreFuture<Outcome<()>> {
        let writer = self.writer.clone();
        Box::pin(async move { writer.rename_mailbox(m).await })
    }

    fn set_subscribed(&self, m: SetSubscribed) -> StoreFuture<Outcome<()>> {
        let writer = self.writer.clone();
        Box::pin(async move { writer.set_subscribed(m).await })
    }

    fn changes(&self, m: Changes) -> StoreFuture<ChangeSet> {
        let pool = self.pool.clone();
        Box::pin(Self::read(pool, move |c| {
            reads::changes(c, m.account_id, m.mailbox_id, m.since_modseq)
        }))
    }

    fn claim_recent(&self, m: ClaimRecent) -> StoreFuture<Outcome<u32>> {
        let writer = self.writer.clone();
        Box::pin(async move { writer.claim_recent(m).await })
    }
}
