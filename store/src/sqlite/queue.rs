//! The outbound queue tables (schema V9): submitting (local copies and queue rows in one
//! transaction), reading due work, recording attempt results with their DSNs, and the admin
//! operations. Functions take a connection inside the caller's transaction: the writer's for
//! the server, the CLI's own for [`super::Admin`].

use std::sync::Arc;

use mailroom_shared::queue::{QueueReply, QueueRequest, QueueRow};
use rusqlite::{Connection, OptionalExtension, params};

use super::blobs::BlobStore;
use super::writer::{Body, DeliverOp};
use super::{events, ops, unix_now};
use crate::common::queue::{attempts, domain_of};
use crate::engine::Outcome;
use crate::error::StoreError;
use crate::outbound::{
    AttemptResult, DsnRet, Notify, OutboundRecipient, QueuedMessage, QueuedRecipient, Submitted,
};
use mailroom_shared::events::EventData;

const MESSAGE_INSERT: &str = "INSERT INTO queue_messages \
     (account_id, sender, ret, envid, created, size, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
     RETURNING id";
const RECIPIENT_INSERT: &str = "INSERT INTO queue_recipients \
     (message_id, address, domain, status, next_attempt, notify, orcpt) \
     VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?6) RETURNING id";
const DUE_MESSAGES: &str = "SELECT DISTINCT message_id FROM queue_recipients \
     WHERE status = 'queued' AND next_attempt <= ?1 ORDER BY message_id LIMIT ?2";
const MESSAGE_GET: &str = "SELECT account_id, sender, ret, envid, created, body \
     FROM queue_messages WHERE id = ?1";
const DUE_RECIPIENTS: &str = "SELECT id, address, domain, attempts, notify, orcpt, \
     delay_notified FROM queue_recipients \
     WHERE message_id = ?1 AND status = 'queued' AND next_attempt <= ?2 ORDER BY id";
const RECIPIENT_DONE: &str = "UPDATE queue_recipients SET status = ?2, attempts = attempts + 1, \
     last_error = ?3, last_reply = ?4 WHERE id = ?1 AND status = 'queued' RETURNING message_id";
const RECIPIENT_DEFER: &str = "UPDATE queue_recipients SET attempts = attempts + 1, \
     last_error = ?2, next_attempt = ?3, delay_notified = delay_notified OR ?4 \
     WHERE id = ?1 AND status = 'queued' RETURNING message_id";
const RECIPIENTS_FINISHED: &str = "DELETE FROM queue_recipients \
     WHERE message_id = ?1 AND status IN ('delivered', 'failed')";
const MESSAGE_DELETE_IF_EMPTY: &str = "DELETE FROM queue_messages WHERE id = ?1 \
     AND NOT EXISTS (SELECT 1 FROM queue_recipients WHERE message_id = ?1)";
const LIST: &str = "SELECT r.message_id, r.id, m.sender, r.address, r.status, r.attempts, \
     r.next_attempt, r.last_error, m.created, m.size \
     FROM queue_recipients r JOIN queue_messages m ON m.id = r.message_id \
     WHERE r.status IN ('queued', 'held') ORDER BY r.message_id, r.id";
const RETRY: &str = "UPDATE queue_recipients SET status = 'queued', next_attempt = ?2 \
     WHERE message_id = ?1 AND status IN ('queued', 'held')";
const RETRY_ALL: &str =
    "UPDATE queue_recipients SET next_attempt = ?1 WHERE status = 'queued' AND next_attempt > ?1";
const HOLD: &str =
    "UPDATE queue_recipients SET status = 'held' WHERE message_id = ?1 AND status = 'queued'";
const RELEASE: &str = "UPDATE queue_recipients SET status = 'queued', next_attempt = ?2 \
     WHERE message_id = ?1 AND status = 'held'";
const DELETE_RECIPIENTS: &str = "DELETE FROM queue_recipients WHERE message_id = ?1";
const DELETE_MESSAGE: &str = "DELETE FROM queue_messages WHERE id = ?1";

/// A submission as the writer runs it.
#[derive(Debug)]
pub(crate) struct SubmitOp {
    /// The local copies, when there are local recipients.
    pub local: Option<DeliverOp>,
    pub sender: String,
    pub account_id: i64,
    pub remote: Vec<OutboundRecipient>,
    pub raw: Arc<[u8]>,
    pub ret: Option<DsnRet>,
    pub envid: Option<String>,
    pub event: Option<EventData>,
}

/// Results of attempts and the DSNs they produced, as the writer runs them.
#[derive(Debug)]
pub(crate) struct RecordOp {
    pub results: Vec<(i64, AttemptResult)>,
    /// Prepared DSN bodies, each for one account's INBOX.
    pub dsns: Vec<(i64, Body)>,
}

/// Store the local copies and queue the remote recipients: both or neither.
pub(crate) fn submit(
    conn: &Connection,
    blobs: &BlobStore,
    op: &SubmitOp,
) -> Result<Outcome<Submitted>, StoreError> {
    let mut outcome = match &op.local {
        Some(local) => ops::deliver(conn, blobs, local)?,
        None => Outcome {
            value: Vec::new(),
            changes: Vec::new(),
            events: Vec::new(),
        },
    };
    let mut queued = Vec::with_capacity(op.remote.len());
    if !op.remote.is_empty() {
        let now = unix_now();
        let message_id: i64 = conn.prepare_cached(MESSAGE_INSERT)?.query_row(
            params![
                op.account_id,
                op.sender,
                op.ret.map(DsnRet::as_str),
                op.envid,
                now,
                op.raw.len() as i64,
                &op.raw[..]
            ],
            |r| r.get(0),
        )?;
        for rcpt in &op.remote {
            let domain = domain_of(&rcpt.address)?;
            let id: i64 = conn.prepare_cached(RECIPIENT_INSERT)?.query_row(
                params![
                    message_id,
                    rcpt.address,
                    domain,
                    now,
                    rcpt.notify.bits(),
                    rcpt.orcpt
                ],
                |r| r.get(0),
            )?;
            queued.push(id);
        }
    }
    let mut events = std::mem::take(&mut outcome.events);
    if let Some(event) = &op.event {
        events.push(events::insert(conn, event, unix_now())?);
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

/// Messages with recipients due at `now`, oldest first.
pub(crate) fn due(
    conn: &Connection,
    now: i64,
    limit: usize,
    exclude: &[i64],
) -> Result<Vec<QueuedMessage>, StoreError> {
    // Enough ids to fill `limit` after skipping the excluded ones.
    let want = limit.saturating_add(exclude.len()).min(i64::MAX as usize) as i64;
    let ids: Vec<i64> = conn
        .prepare_cached(DUE_MESSAGES)?
        .query_map(params![now, want], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for id in ids.into_iter().filter(|id| !exclude.contains(id)) {
        if out.len() >= limit {
            break;
        }
        let Some((account_id, sender, ret, envid, created, body)) = conn
            .prepare_cached(MESSAGE_GET)?
            .query_row([id], |r| {
                Ok((
                    r.get::<_, Option<i64>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Vec<u8>>(5)?,
                ))
            })
            .optional()?
        else {
            continue;
        };
        let recipients = conn
            .prepare_cached(DUE_RECIPIENTS)?
            .query_map(params![id, now], |r| {
                Ok(QueuedRecipient {
                    id: r.get(0)?,
                    address: r.get(1)?,
                    domain: r.get(2)?,
                    attempts: attempts(r.get(3)?),
                    notify: Notify::from_bits(r.get(4)?),
                    orcpt: r.get(5)?,
                    delay_notified: r.get(6)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        if recipients.is_empty() {
            continue;
        }
        out.push(QueuedMessage {
            id,
            account_id,
            sender,
            ret: ret.as_deref().and_then(DsnRet::from_stored),
            envid,
            created,
            body: Arc::from(body),
            recipients,
        });
    }
    Ok(out)
}

/// Record attempt results, deliver the DSNs, and drop finished recipients and messages.
/// A DSN that cannot be stored (its account over quota, say) is logged and dropped rather
/// than undoing the results: recording a 250 must never fail because of a bounce.
pub(crate) fn record(
    conn: &Connection,
    blobs: &BlobStore,
    op: &RecordOp,
) -> Result<Outcome<()>, StoreError> {
    let mut touched = Vec::new();
    for (id, result) in &op.results {
        let message: Option<i64> = match result {
            AttemptResult::Delivered(reply) => conn
                .prepare_cached(RECIPIENT_DONE)?
                .query_row(params![id, "delivered", None::<String>, reply], |r| {
                    r.get(0)
                })
                .optional()?,
            AttemptResult::Failed(error) => conn
                .prepare_cached(RECIPIENT_DONE)?
                .query_row(params![id, "failed", error, None::<String>], |r| r.get(0))
                .optional()?,
            AttemptResult::Deferred {
                error,
                next_attempt,
                delay_notified,
            } => conn
                .prepare_cached(RECIPIENT_DEFER)?
                .query_row(params![id, error, next_attempt, delay_notified], |r| {
                    r.get(0)
                })
                .optional()?,
        };
        if let Some(message) = message
            && !touched.contains(&message)
        {
            touched.push(message);
        }
    }
    for message in touched {
        conn.prepare_cached(RECIPIENTS_FINISHED)?
            .execute([message])?;
        conn.prepare_cached(MESSAGE_DELETE_IF_EMPTY)?
            .execute([message])?;
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
        conn.execute_batch("SAVEPOINT dsn")?;
        match ops::deliver(conn, blobs, &deliver) {
            Ok(outcome) => {
                conn.execute_batch("RELEASE dsn")?;
                changes.extend(outcome.changes);
            }
            Err(e) => {
                conn.execute_batch("ROLLBACK TO dsn; RELEASE dsn")?;
                tracing::warn!(account_id, error = %e, "Could not store a delivery status notification; it is dropped.");
            }
        }
    }
    Ok(Outcome {
        value: (),
        changes,
        events: Vec::new(),
    })
}

/// The recipients still in the queue.
pub(crate) fn list(conn: &Connection) -> Result<Vec<QueueRow>, StoreError> {
    Ok(conn
        .prepare_cached(LIST)?
        .query_map([], |r| {
            Ok(QueueRow {
                message_id: r.get(0)?,
                recipient_id: r.get(1)?,
                sender: r.get(2)?,
                recipient: r.get(3)?,
                status: r.get(4)?,
                attempts: attempts(r.get(5)?),
                next_attempt: r.get(6)?,
                last_error: r.get(7)?,
                created: r.get(8)?,
                size: r.get::<_, i64>(9)?.max(0) as u64,
            })
        })?
        .collect::<Result<_, _>>()?)
}

/// Run an admin request; writes happen in the caller's transaction.
pub(crate) fn admin(conn: &Connection, request: &QueueRequest) -> Result<QueueReply, StoreError> {
    let now = unix_now();
    let changed = match request {
        QueueRequest::List => return Ok(QueueReply::Rows(list(conn)?)),
        QueueRequest::Retry(id) => conn.prepare_cached(RETRY)?.execute(params![id, now])?,
        QueueRequest::RetryAll => conn.prepare_cached(RETRY_ALL)?.execute([now])?,
        QueueRequest::Hold(id) => conn.prepare_cached(HOLD)?.execute([id])?,
        QueueRequest::Release(id) => conn.prepare_cached(RELEASE)?.execute(params![id, now])?,
        QueueRequest::Delete(id) => {
            let n = conn.prepare_cached(DELETE_RECIPIENTS)?.execute([id])?;
            conn.prepare_cached(DELETE_MESSAGE)?.execute([id])?;
            n
        }
    };
    Ok(QueueReply::Changed(changed as u64))
}
