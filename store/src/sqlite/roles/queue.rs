//! The embedded engine's [`Queue`].

use std::sync::Arc;

use mailroom_shared::queue::{QueueReply, QueueRequest};

use super::super::writer::DeliverOp;
use super::super::{SqliteBackend, queue, unix_now};
use crate::common::queue::check_submission;
use crate::engine::{Outcome, Queue, StoreFuture};
use crate::outbound::{DueQueue, QueuedMessage, RecordAttempts, Submitted};
use crate::requests::Submit;

impl Queue for SqliteBackend {
    fn submit(&self, m: Submit) -> StoreFuture<Outcome<Submitted>> {
        let (blobs, writer) = (self.blobs.clone(), self.writer.clone());
        Box::pin(async move {
            check_submission(&m.local, m.remote.len())?;
            let raw: Arc<[u8]> = Arc::from(m.raw);
            let local = if m.local.is_empty() {
                None
            } else {
                let body = Self::prepare_body(blobs, raw.clone()).await?;
                Some(DeliverOp {
                    recipients: m.local,
                    junk: Vec::new(),
                    body,
                    internal_date: unix_now(),
                    event: None,
                })
            };
            let op = queue::SubmitOp {
                local,
                sender: m.sender,
                account_id: m.account_id,
                remote: m.remote,
                raw,
                ret: m.ret,
                envid: m.envid,
                event: m.event,
            };
            writer.submit_mail(op).await
        })
    }

    fn due_queue(&self, m: DueQueue) -> StoreFuture<Vec<QueuedMessage>> {
        let pool = self.pool.clone();
        Box::pin(Self::read(pool, move |c| {
            let tx = c.transaction()?;
            queue::due(&tx, m.now, m.limit, &m.exclude)
        }))
    }

    fn record_attempts(&self, m: RecordAttempts) -> StoreFuture<Outcome<()>> {
        let (blobs, writer) = (self.blobs.clone(), self.writer.clone());
        Box::pin(async move {
            let mut dsns = Vec::with_capacity(m.dsns.len());
            for (account_id, raw) in m.dsns {
                dsns.push((account_id, Self::prepare_body(blobs.clone(), raw).await?));
            }
            let op = queue::RecordOp {
                results: m.results,
                dsns,
            };
            writer.record_attempts(op).await
        })
    }

    fn queue_admin(&self, m: QueueRequest) -> StoreFuture<Outcome<QueueReply>> {
        let (pool, writer) = (self.pool.clone(), self.writer.clone());
        Box::pin(async move {
            if m == QueueRequest::List {
                let rows = Self::read(pool, |c| queue::list(c)).await?;
                return Ok(Outcome {
                    value: QueueReply::Rows(rows),
                    changes: Vec::new(),
                    events: Vec::new(),
                });
            }
            writer.queue_admin(m).await
        })
    }
}
