//! The PostgreSQL engine's [`Queue`], shared by every node: what [`DueQueue`] returns is
//! LEASED to this node.
//!
//! Leases: `due_queue` locks the due recipients with `FOR UPDATE SKIP LOCKED` (a node never
//! waits for, nor takes, rows another node is leasing at that moment) and keeps only those
//! whose lease is free, ran out, or is this node's own; it sets `leased_by = node,
//! lease_until = now + DueQueue::lease_secs` and commits. Another node's scan then passes them by
//! until `record_attempts` finishes or defers them (releasing the lease) or, if this node
//! died, the lease runs out and the first node to scan takes them over. The node's own
//! leases stay its to take again, so the outbound actor's in-memory bookkeeping (in-flight
//! messages excluded from its scans) works as on the embedded engine. Lease times use the
//! caller's clock (`DueQueue::now`), so the nodes' clocks must agree to well within a lease.
//!
//! Local copies (a submission's local recipients, DSNs) are stored by the Mailboxes role's
//! `mail_writes::deliver`, inside the queue's own transaction.

use std::collections::HashMap;
use std::sync::Arc;

use deadpool_postgres::Transaction;
use mailroom_shared::events::EventData;
use mailroom_shared::queue::{QueueReply, QueueRequest, QueueRow};

use super::super::mail_writes;
use super::super::txn::{self, TxError, TxResult};
use super::super::{PgEngine, event_rows, unix_now};
use super::mailboxes::prepare;
use crate::common::messages::Body;
use crate::common::messages::DeliverOp;
use crate::common::queue::{attempts, check_submission, domain_of, lease_until};
use crate::engine::{Outcome, Queue, StoreFuture};
use crate::outbound::{
    AttemptResult, DsnRet, DueQueue, Notify, OutboundRecipient, QueuedMessage, QueuedRecipient,
    RecordAttempts, Submitted,
};
use crate::requests::Submit;

const MESSAGE_INSERT: &str = "INSERT INTO queue_messages \
     (account_id, sender, ret, envid, created, size, body) VALUES ($1, $2, $3, $4, $5, $6, $7) \
     RETURNING id";
const RECIPIENT_INSERT: &str = "INSERT INTO queue_recipients \
     (message_id, address, domain, status, next_attempt, notify, orcpt) \
     VALUES ($1, $2, $3, 'queued', $4, $5, $6) RETURNING id";
/// Due recipients this node may lease, oldest message first; rows another transaction holds
/// locked (another node leasing them right now) are skipped, not waited for.
const DUE_LOCK: &str = "SELECT id, message_id FROM queue_recipients \
     WHERE status = 'queued' AND next_attempt <= $1 \
     AND (lease_until <= $1 OR leased_by = $2) AND NOT (message_id = ANY($3)) \
     ORDER BY message_id, id LIMIT $4 FOR UPDATE SKIP LOCKED";
const LEASE: &str =
    "UPDATE queue_recipients SET leased_by = $2, lease_until = $3 WHERE id = ANY($1)";
const MESSAGES_GET: &str = "SELECT id, account_id, sender, ret, envid, created, body \
     FROM queue_messages WHERE id = ANY($1) ORDER BY id";
const RECIPIENTS_GET: &str = "SELECT id, message_id, address, domain, attempts, notify, orcpt, \
     delay_notified FROM queue_recipients WHERE id = ANY($1) ORDER BY message_id, id";
/// A finished row leaves the queue with its lease.
const RECIPIENT_DONE: &str = "UPDATE queue_recipients SET status = $2, attempts = attempts + 1, \
     last_error = $3, last_reply = $4, leased_by = NULL, lease_until = 0 \
     WHERE id = $1 AND status = 'queued' RETURNING message_id";
/// A deferred row is free for any node at its next attempt.
const RECIPIENT_DEFER: &str = "UPDATE queue_recipients SET attempts = attempts + 1, \
     last_error = $2, next_attempt = $3, delay_notified = delay_notified OR $4, \
     leased_by = NULL, lease_until = 0 \
     WHERE id = $1 AND status = 'queued' RETURNING message_id";
const RECIPIENTS_FINISHED: &str = "DELETE FROM queue_recipients \
     WHERE message_id = $1 AND status IN ('delivered', 'failed')";
const MESSAGE_DELETE_IF_EMPTY: &str = "DELETE FROM queue_messages WHERE id = $1 \
     AND NOT EXISTS (SELECT 1 FROM queue_recipients WHERE message_id = $1)";
const LIST: &str = "SELECT r.message_id, r.id, m.sender, r.address, r.status, r.attempts, \
     r.next_attempt, r.last_error, m.created, m.size \
     FROM queue_recipients r JOIN queue_messages m ON m.id = r.message_id \
     WHERE r.status IN ('queued', 'held') ORDER BY r.message_id, r.id";
const RETRY: &str = "UPDATE queue_recipients SET status = 'queued', next_attempt = $2 \
     WHERE message_id = $1 AND status IN ('queued', 'held')";
const RETRY_ALL: &str =
    "UPDATE queue_recipients SET next_attempt = $1 WHERE status = 'queued' AND next_attempt > $1";
const HOLD: &str =
    "UPDATE queue_recipients SET status = 'held' WHERE message_id = $1 AND status = 'queued'";
const RELEASE: &str = "UPDATE queue_recipients SET status = 'queued', next_attempt = $2 \
     WHERE message_id = $1 AND status = 'held'";
const DELETE_RECIPIENTS: &str = "DELETE FROM queue_recipients WHERE message_id = $1";
const DELETE_MESSAGE: &str = "DELETE FROM queue_messages WHERE id = $1";

/// Recipient rows locked per message asked for: enough for the messages of one scan, few
/// enough that a scan never locks the whole queue.
const ROWS_PER_MESSAGE: usize = 64;

/// A submission as its transaction runs it (the local copy's body already analysed).
#[derive(Debug, Clone)]
struct SubmitOp {
    local: Option<DeliverOp>,
    sender: String,
    account_id: i64,
    remote: Vec<OutboundRecipient>,
    raw: Arc<[u8]>,
    ret: Option<DsnRet>,
    envid: Option<String>,
    event: Option<EventData>,
}

/// Attempt results and their DSNs, analysed, as the transaction runs them.
#[derive(Debug, Clone)]
struct RecordOp {
    results: Vec<(i64, AttemptResult)>,
    dsns: Vec<(i64, Body)>,
}

impl Queue for PgEngine {
    fn submit(&self, m: Submit) -> StoreFuture<Outcome<Submitted>> {
        let op = async move {
            check_submission(&m.local, m.remote.len())?;
            let raw: Arc<[u8]> = Arc::from(m.raw);
            let local = match m.local.is_empty() {
                true => None,
                false => Some(DeliverOp {
                    recipients: m.local,
                    junk: Vec::new(),
                    body: prepare(raw.clone()).await?,
                    internal_date: unix_now(),
                    event: None,
                }),
            };
            Ok(SubmitOp {
                local,
                sender: m.sender,
                account_id: m.account_id,
                remote: m.remote,
                raw,
                ret: m.ret,
                envid: m.envid,
                event: m.event,
            })
        };
        self.write_tx(op, |tx, op| Box::pin(async move { submit(tx, &op).await }))
    }

    fn due_queue(&self, m: DueQueue) -> StoreFuture<Vec<QueuedMessage>> {
        let node = self.node();
        // A write: it takes leases.
        self.write(move |pool| async move {
            txn::write(&pool, |tx| {
                let (node, m) = (node.clone(), m.clone());
                Box::pin(async move { lease_due(tx, &node, &m).await })
            })
            .await
        })
    }

    fn record_attempts(&self, m: RecordAttempts) -> StoreFuture<Outcome<()>> {
        let op = async move {
            let mut dsns = Vec::with_capacity(m.dsns.len());
            for (account_id, raw) in m.dsns {
                dsns.push((account_id, prepare(raw).await?));
            }
            Ok(RecordOp {
                results: m.results,
                dsns,
            })
        };
        self.write_tx(op, |tx, op| Box::pin(async move { record(tx, &op).await }))
    }

    fn queue_admin(&self, m: QueueRequest) -> StoreFuture<Outcome<QueueReply>> {
        self.write(move |pool| async move {
            txn::write(&pool, |tx| {
                let m = m.clone();
                Box::pin(async move { Ok(Outcome::quiet(admin(tx, &m).await?)) })
            })
            .await
        })
    }
}

/// Store the local copies and queue the remote recipients: both or neither. The event goes
/// last (see `event_rows`).
async fn submit(tx: &Transaction<'_>, op: &SubmitOp) -> TxResult<Outcome<Submitted>> {
    let mut outcome = match &op.local {
        Some(local) => mail_writes::deliver(tx, local).await?,
        None => Outcome::quiet(Vec::new()),
    };
    let now = unix_now();
    let queued = enqueue(tx, op, now).await?;
    let mut events = std::mem::take(&mut outcome.events);
    if let Some(event) = &op.event {
        events.push(event_rows::insert(tx, event, now).await?);
    }
    Ok(Outcome {
        value: Submitted {
            delivered: outcome.value,
            queued,
        },
        changes: outcome.changes,
        events,
    })
}

/// Record attempt results, deliver the DSNs, and drop finished recipients and messages.
/// A DSN that cannot be stored (its account over quota, say) is logged and dropped rather
/// than undoing the results: recording a 250 must never fail because of a bounce.
async fn record(tx: &Transaction<'_>, op: &RecordOp) -> TxResult<Outcome<()>> {
    let mut results: Vec<&(i64, AttemptResult)> = op.results.iter().collect();
    // One lock order for every writer: no deadlock between nodes recording at once.
    results.sort_by_key(|(id, _)| *id);
    let mut touched = Vec::new();
    for (id, result) in results {
        let row = match result {
            AttemptResult::Delivered(reply) => {
                tx.query_opt(RECIPIENT_DONE, &[id, &"delivered", &None::<&str>, reply])
                    .await?
            }
            AttemptResult::Failed(error) => {
                tx.query_opt(RECIPIENT_DONE, &[id, &"failed", error, &None::<&str>])
                    .await?
            }
            AttemptResult::Deferred {
                error,
                next_attempt,
                delay_notified,
            } => {
                tx.query_opt(RECIPIENT_DEFER, &[id, error, next_attempt, delay_notified])
                    .await?
            }
        };
        if let Some(row) = row {
            let message: i64 = row.get(0);
            if !touched.contains(&message) {
                touched.push(message);
            }
        }
    }
    for message in touched {
        tx.execute(RECIPIENTS_FINISHED, &[&message]).await?;
        tx.execute(MESSAGE_DELETE_IF_EMPTY, &[&message]).await?;
    }
    let mut changes = Vec::new();
    for (account_id, body) in &op.dsns {
        let deliver = DeliverOp {
            recipients: vec![*account_id],
            junk: Vec::new(),
            body: body.clone(),
            internal_date: unix_now(),
            event: None,
        };
        tx.batch_execute("SAVEPOINT dsn").await?;
        match mail_writes::deliver(tx, &deliver).await {
            Ok(outcome) => {
                tx.batch_execute("RELEASE SAVEPOINT dsn").await?;
                changes.extend(outcome.changes);
            }
            // The account refused it (gone, over quota): drop the DSN, keep the results.
            Err(TxError::Store(e)) => {
                tx.batch_execute("ROLLBACK TO SAVEPOINT dsn; RELEASE SAVEPOINT dsn")
                    .await?;
                tracing::warn!(account_id, error = %e, "Could not store a delivery status notification; it is dropped.");
            }
            // The database's trouble (a deadlock, say): the whole write is retried or fails.
            Err(e) => return Err(e),
        }
    }
    Ok(Outcome {
        value: (),
        changes,
        events: Vec::new(),
    })
}

/// Queue the remote recipients of `m` (none: nothing); their row ids in order.
async fn enqueue(tx: &Transaction<'_>, m: &SubmitOp, now: i64) -> TxResult<Vec<i64>> {
    let mut queued = Vec::with_capacity(m.remote.len());
    if m.remote.is_empty() {
        return Ok(queued);
    }
    let size = m.raw.len() as i64;
    let message_id: i64 = tx
        .query_one(
            MESSAGE_INSERT,
            &[
                &m.account_id,
                &m.sender,
                &m.ret.map(DsnRet::as_str),
                &m.envid,
                &now,
                &size,
                &&m.raw[..],
            ],
        )
        .await?
        .get(0);
    for rcpt in &m.remote {
        let domain = domain_of(&rcpt.address)?;
        let id: i64 = tx
            .query_one(
                RECIPIENT_INSERT,
                &[
                    &message_id,
                    &rcpt.address,
                    &domain,
                    &now,
                    &rcpt.notify.bits(),
                    &rcpt.orcpt,
                ],
            )
            .await?
            .get(0);
        queued.push(id);
    }
    Ok(queued)
}

/// Lease the due recipients of at most `m.limit` messages to `node` and read them.
async fn lease_due(tx: &Transaction<'_>, node: &str, m: &DueQueue) -> TxResult<Vec<QueuedMessage>> {
    if m.limit == 0 {
        return Ok(Vec::new());
    }
    let rows_wanted = i64::try_from(m.limit.saturating_mul(ROWS_PER_MESSAGE)).unwrap_or(i64::MAX);
    let locked = tx
        .query(DUE_LOCK, &[&m.now, &node, &m.exclude, &rows_wanted])
        .await?;
    let mut messages: Vec<i64> = Vec::new();
    let mut recipients: Vec<i64> = Vec::new();
    for row in &locked {
        let (id, message): (i64, i64) = (row.get(0), row.get(1));
        if !messages.contains(&message) {
            if messages.len() == m.limit {
                break;
            }
            messages.push(message);
        }
        recipients.push(id);
    }
    if recipients.is_empty() {
        return Ok(Vec::new());
    }
    tx.execute(
        LEASE,
        &[&recipients, &node, &lease_until(m.now, m.lease_secs)],
    )
    .await?;
    let mut due: HashMap<i64, Vec<QueuedRecipient>> = HashMap::new();
    for r in tx.query(RECIPIENTS_GET, &[&recipients]).await? {
        due.entry(r.get(1)).or_default().push(QueuedRecipient {
            id: r.get(0),
            address: r.get(2),
            domain: r.get(3),
            attempts: attempts(r.get(4)),
            notify: Notify::from_bits(r.get(5)),
            orcpt: r.get(6),
            delay_notified: r.get(7),
        });
    }
    let mut out = Vec::with_capacity(messages.len());
    for r in tx.query(MESSAGES_GET, &[&messages]).await? {
        let id: i64 = r.get(0);
        let Some(recipients) = due.remove(&id) else {
            continue;
        };
        out.push(QueuedMessage {
            id,
            account_id: r.get(1),
            sender: r.get(2),
            ret: r
                .get::<_, Option<String>>(3)
                .as_deref()
                .and_then(DsnRet::from_stored),
            envid: r.get(4),
            created: r.get(5),
            body: Arc::from(r.get::<_, Vec<u8>>(6)),
            recipients,
        });
    }
    Ok(out)
}

/// The recipients still in the queue.
async fn list(tx: &Transaction<'_>) -> TxResult<Vec<QueueRow>> {
    Ok(tx
        .query(LIST, &[])
        .await?
        .iter()
        .map(|r| QueueRow {
            message_id: r.get(0),
            recipient_id: r.get(1),
            sender: r.get(2),
            recipient: r.get(3),
            status: r.get(4),
            attempts: attempts(r.get(5)),
            next_attempt: r.get(6),
            last_error: r.get(7),
            created: r.get(8),
            size: r.get::<_, i64>(9).max(0) as u64,
        })
        .collect())
}

/// Run an admin request inside `tx`.
async fn admin(tx: &Transaction<'_>, request: &QueueRequest) -> TxResult<QueueReply> {
    let now = unix_now();
    let changed = match request {
        QueueRequest::List => return Ok(QueueReply::Rows(list(tx).await?)),
        QueueRequest::Retry(id) => tx.execute(RETRY, &[id, &now]).await,
        QueueRequest::RetryAll => tx.execute(RETRY_ALL, &[&now]).await,
        QueueRequest::Hold(id) => tx.execute(HOLD, &[id]).await,
        QueueRequest::Release(id) => tx.execute(RELEASE, &[id, &now]).await,
        QueueRequest::Delete(id) => {
            let n = tx.execute(DELETE_RECIPIENTS, &[id]).await?;
            tx.execute(DELETE_MESSAGE, &[id]).await?;
            Ok(n)
        }
    }?;
    Ok(QueueReply::Changed(changed))
}
