//! Group commit: the one thread that writes the database.
//!
//! Callers submit a [`Request`] with a reply channel. The writer takes one request, drains
//! whatever else is already queued (up to [`MAX_BATCH`]), runs them all in ONE transaction
//! (each in its own SAVEPOINT, so a failing op — over quota, say — fails alone), COMMITs (one
//! fsync of the WAL for the whole batch), and only then answers each caller. Small bodies are
//! written into their row by that same transaction; blob files of larger ones and their
//! directories were made durable by the callers before they submitted. Throughput comes from
//! sharing the sync, never from skipping it: an `Ok` reply means durable.
//!
//! After the COMMIT it deletes the files of bodies that lost their last reference. That is
//! safe because only this thread creates or deletes blob rows, and it re-creates a missing
//! file whenever it creates a row ([`BlobStore::ensure`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Savepoint, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use super::blobs::{BlobStore, INLINE_MAX};
use super::ops;
use crate::actor::{
    Copy, CreateMailbox, DeleteMailbox, Expunge, Move, RemoveMessages, RenameMailbox, SetFlags,
    SetSubscribed,
};
use crate::backend::Outcome;
use crate::error::StoreError;
use crate::types::{Appended, Delivered, FlagsResult, MailboxInfo, StoreStats};

/// Most requests in one transaction; bounds the latency one batch adds to the next.
pub(crate) const MAX_BATCH: usize = 256;

const BLOB_ROW_EXISTS: &str = "SELECT 1 FROM blobs WHERE sha256 = ?1";
const CHECKPOINT: &str = "PRAGMA wal_checkpoint(TRUNCATE)";
const PASSIVE_CHECKPOINT: &str = "PRAGMA wal_checkpoint(PASSIVE)";
/// How often the checkpointer folds the WAL back into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// A body already written to its blob file, ready to be referenced.
#[derive(Debug, Clone)]
pub(crate) struct Body {
    pub hash: String,
    pub size: u64,
    /// `mime::MessageMeta` as JSON, stored with the blob row.
    pub meta_json: String,
    /// Stored in the row when the body is small, else kept so the writer can re-create the
    /// file if it vanished (see [`BlobStore::ensure`]).
    pub raw: Arc<[u8]>,
    /// Octets of `raw` that are the header block, blank line included.
    pub header_len: usize,
}

impl Body {
    /// Whether this body lives in its `blobs` row rather than in a file.
    pub(crate) fn inline(&self) -> bool {
        self.size <= INLINE_MAX
    }
}

/// Deliver one body to the INBOX (or Junk) of each recipient, all or nothing.
#[derive(Debug)]
pub(crate) struct DeliverOp {
    pub recipients: Vec<i64>,
    /// Recipients whose copy is filed in Junk.
    pub junk: Vec<i64>,
    pub body: Body,
    pub internal_date: i64,
}

/// APPEND one body to a named mailbox.
#[derive(Debug)]
pub(crate) struct AppendOp {
    pub account_id: i64,
    pub mailbox: String,
    pub flags: u8,
    pub keywords: Vec<String>,
    pub internal_date: i64,
    pub body: Body,
}

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// One write, with where to send its answer.
pub(crate) enum Request {
    Deliver(DeliverOp, Reply<Outcome<Vec<Delivered>>>),
    Append(AppendOp, Reply<Outcome<Appended>>),
    SetFlags(SetFlags, Reply<Outcome<FlagsResult>>),
    Copy(Copy, Reply<Outcome<Vec<(u32, u32)>>>),
    Move(Move, Reply<Outcome<Vec<(u32, u32)>>>),
    Expunge(Expunge, Reply<Outcome<Vec<u32>>>),
    CreateMailbox(CreateMailbox, Reply<Outcome<MailboxInfo>>),
    DeleteMailbox(DeleteMailbox, Reply<Outcome<()>>),
    RenameMailbox(RenameMailbox, Reply<Outcome<()>>),
    SetSubscribed(SetSubscribed, Reply<Outcome<()>>),
    RemoveMessages(RemoveMessages, Reply<Outcome<Vec<u32>>>),
    /// Commit what came before, checkpoint, close the database, end the thread.
    Close(Reply<()>),
}

#[derive(Debug, Default)]
struct Counters {
    commits: AtomicU64,
    ops: AtomicU64,
}

/// What the ops of a batch leave for the end of the batch.
#[derive(Debug, Default)]
pub(crate) struct BatchEffects {
    /// Bodies that may have lost their last reference; their files go if no row remains.
    pub maybe_orphaned: Vec<String>,
}

/// The submitting side; clone freely.
#[derive(Clone)]
pub(crate) struct WriterHandle {
    tx: mpsc::Sender<Request>,
    counters: Arc<Counters>,
}

/// Start the writer thread on `conn`.
pub(crate) fn spawn(conn: Connection, blobs: Arc<BlobStore>) -> Result<WriterHandle, StoreError> {
    // SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold: the
    // batch waits while pages are copied and the database file is synced, and so does every
    // client behind it. A thread of its own checkpoints instead, beside the writer (WAL lets
    // a checkpoint and a writer run at once).
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    let checkpointer = match conn.path().filter(|p| !p.is_empty()) {
        Some(db) => Some(Checkpointer::spawn(std::path::PathBuf::from(db))?),
        None => None, // an in-memory database has no WAL
    };
    let (tx, rx) = mpsc::channel();
    let counters = Arc::new(Counters::default());
    let thread_counters = counters.clone();
    std::thread::Builder::new()
        .name("mailroom-store-writer".into())
        .spawn(move || run(conn, rx, &blobs, &thread_counters, checkpointer))?;
    Ok(WriterHandle { tx, counters })
}

/// The thread that checkpoints the WAL every [`CHECKPOINT_EVERY`] (PASSIVE: it copies what no
/// reader still needs and never blocks the writer). Stopped by [`Checkpointer::stop`].
struct Checkpointer {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Checkpointer {
    fn spawn(db: std::path::PathBuf) -> Result<Self, StoreError> {
        let conn = Connection::open(&db)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        // The checkpoint syncs the database file before the WAL may be reused.
        conn.pragma_update(None, "synchronous", "FULL")?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("mailroom-store-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_EVERY)
                {
                    if let Err(e) = conn.query_row(PASSIVE_CHECKPOINT, [], |_| Ok(())) {
                        tracing::warn!(error = %e, "WAL checkpoint failed; retrying later.");
                    }
                }
            })?;
        Ok(Self { stop, thread })
    }

    fn stop(self) {
        drop(self.stop);
        if self.thread.join().is_err() {
            tracing::warn!("The WAL checkpoint thread panicked.");
        }
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the store writer has stopped".into())
}

impl WriterHandle {
    fn submit<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> Request,
    ) -> Result<oneshot::Receiver<Result<T, StoreError>>, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).map_err(|_| closed())?;
        Ok(rx)
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Request) -> Result<T, StoreError> {
        // A dropped reply means the writer thread died mid-batch: nothing was acknowledged.
        self.submit(make)?.await.map_err(|_| closed())?
    }

    /// Submit and wait on a plain thread; tests only (the actor awaits instead). Panics inside
    /// an async runtime (tokio's blocking_recv rule).
    #[cfg(test)]
    pub(crate) fn call_blocking<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> Request,
    ) -> Result<T, StoreError> {
        self.submit(make)?.blocking_recv().map_err(|_| closed())?
    }

    pub(crate) async fn deliver(
        &self,
        op: DeliverOp,
    ) -> Result<Outcome<Vec<Delivered>>, StoreError> {
        self.call(|r| Request::Deliver(op, r)).await
    }

    pub(crate) async fn append(&self, op: AppendOp) -> Result<Outcome<Appended>, StoreError> {
        self.call(|r| Request::Append(op, r)).await
    }

    pub(crate) async fn set_flags(&self, op: SetFlags) -> Result<Outcome<FlagsResult>, StoreError> {
        self.call(|r| Request::SetFlags(op, r)).await
    }

    pub(crate) async fn copy(&self, op: Copy) -> Result<Outcome<Vec<(u32, u32)>>, StoreError> {
        self.call(|r| Request::Copy(op, r)).await
    }

    pub(crate) async fn move_messages(
        &self,
        op: Move,
    ) -> Result<Outcome<Vec<(u32, u32)>>, StoreError> {
        self.call(|r| Request::Move(op, r)).await
    }

    pub(crate) async fn expunge(&self, op: Expunge) -> Result<Outcome<Vec<u32>>, StoreError> {
        self.call(|r| Request::Expunge(op, r)).await
    }

    pub(crate) async fn create_mailbox(
        &self,
        op: CreateMailbox,
    ) -> Result<Outcome<MailboxInfo>, StoreError> {
        self.call(|r| Request::CreateMailbox(op, r)).await
    }

    pub(crate) async fn delete_mailbox(
        &self,
        op: DeleteMailbox,
    ) -> Result<Outcome<()>, StoreError> {
        self.call(|r| Request::DeleteMailbox(op, r)).await
    }

    pub(crate) async fn rename_mailbox(
        &self,
        op: RenameMailbox,
    ) -> Result<Outcome<()>, StoreError> {
        self.call(|r| Request::RenameMailbox(op, r)).await
    }

    pub(crate) async fn set_subscribed(
        &self,
        op: SetSubscribed,
    ) -> Result<Outcome<()>, StoreError> {
        self.call(|r| Request::SetSubscribed(op, r)).await
    }

    pub(crate) async fn remove_messages(
        &self,
        op: RemoveMessages,
    ) -> Result<Outcome<Vec<u32>>, StoreError> {
        self.call(|r| Request::RemoveMessages(op, r)).await
    }

    /// Wait until everything submitted before is committed, then stop the writer.
    /// Closing twice is fine.
    pub(crate) async fn close(&self) -> Result<(), StoreError> {
        match self.submit(Request::Close) {
            Ok(rx) => rx.await.unwrap_or(Ok(())),
            // Already closed: everything before was committed then.
            Err(_) => Ok(()),
        }
    }

    pub(crate) fn stats(&self) -> StoreStats {
        StoreStats {
            commits: self.counters.commits.load(Ordering::Relaxed),
            ops: self.counters.ops.load(Ordering::Relaxed),
        }
    }
}

/// An answer held back until its batch commits.
trait Pending: Send {
    /// Send the op's result, or the commit's error if the batch did not commit.
    fn finish(self: Box<Self>, commit: &Result<(), StoreError>);
}

struct Held<T> {
    reply: Reply<T>,
    result: Result<T, StoreError>,
}

impl<T: Send> Pending for Held<T> {
    fn finish(self: Box<Self>, commit: &Result<(), StoreError>) {
        let result = match (commit, self.result) {
            (Ok(()), r) => r,
            // Its own error says more than the batch's.
            (Err(_), Err(own)) => Err(own),
            (Err(e), Ok(_)) => Err(e.clone()),
        };
        // The caller may have given up waiting; its write stands either way.
        let _ = self.reply.send(result);
    }
}

fn run(
    mut conn: Connection,
    rx: mpsc::Receiver<Request>,
    blobs: &BlobStore,
    counters: &Counters,
    checkpointer: Option<Checkpointer>,
) {
    let close_reply = loop {
        let Ok(first) = rx.recv() else {
            break None; // every handle dropped
        };
        let mut batch = Vec::new();
        let mut close = None;
        let mut next = Some(first);
        while let Some(request) = next.take() {
            if let Request::Close(reply) = request {
                close = Some(reply);
                break;
            }
            batch.push(request);
            if batch.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            run_batch(&mut conn, batch, blobs, counters);
        }
        if close.is_some() {
            break close;
        }
    };
    if let Some(checkpointer) = checkpointer {
        checkpointer.stop();
    }
    // Fold the WAL back into the database so the files at rest are just mailroom.db.
    if let Err(e) = conn.query_row(CHECKPOINT, [], |_| Ok(())) {
        tracing::warn!(error = %e, "Final WAL checkpoint failed; the WAL will be replayed at next open.");
    }
    let result = conn.close().map_err(|(_, e)| StoreError::from(e));
    if let Some(reply) = close_reply {
        let _ = reply.send(result);
    }
    tracing::info!("Store writer stopped.");
}

fn run_batch(conn: &mut Connection, batch: Vec<Request>, blobs: &BlobStore, counters: &Counters) {
    counters
        .ops
        .fetch_add(batch.len() as u64, Ordering::Relaxed);
    let mut effects = BatchEffects::default();
    let mut pending: Vec<Box<dyn Pending>> = Vec::with_capacity(batch.len());
    let commit = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(mut tx) => {
            for request in batch {
                pending.push(run_request(&mut tx, request, blobs, &mut effects));
            }
            tx.commit().map_err(StoreError::from)
        }
        Err(e) => {
            let error = StoreError::from(e);
            for request in batch {
                pending.push(fail(request, &error));
            }
            Err(error)
        }
    };
    match &commit {
        Ok(()) => {
            counters.commits.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            tracing::error!(error = %e, "Store batch failed to commit; no op in it took effect.")
        }
    }
    // Unlinking is cheap (no fsync needed: a file that survives a crash is swept at open),
    // and doing it before the replies lets a caller rely on the file being gone.
    remove_orphans(conn, blobs, &effects.maybe_orphaned);
    for p in pending {
        p.finish(&commit);
    }
}

/// Run one request in its own savepoint and hold its answer.
fn run_request(
    tx: &mut Transaction<'_>,
    request: Request,
    blobs: &BlobStore,
    fx: &mut BatchEffects,
) -> Box<dyn Pending> {
    match request {
        Request::Deliver(op, reply) => {
            let r = in_savepoint(tx, |sp| ops::deliver(sp, blobs, &op));
            if r.is_err() {
                fx.maybe_orphaned.push(op.body.hash.clone());
            }
            held(reply, r)
        }
        Request::Append(op, reply) => {
            let r = in_savepoint(tx, |sp| ops::append(sp, blobs, &op));
            if r.is_err() {
                fx.maybe_orphaned.push(op.body.hash.clone());
            }
            held(reply, r)
        }
        Request::SetFlags(op, reply) => held(reply, in_savepoint(tx, |sp| ops::set_flags(sp, &op))),
        Request::Copy(op, reply) => held(
            reply,
            in_savepoint(tx, |sp| {
                ops::copy(sp, op.account_id, op.from, &op.uids, op.to)
            }),
        ),
        Request::Move(op, reply) => held(
            reply,
            in_savepoint(tx, |sp| ops::move_messages(sp, fx, &op)),
        ),
        Request::Expunge(op, reply) => {
            held(reply, in_savepoint(tx, |sp| ops::expunge(sp, fx, &op)))
        }
        Request::CreateMailbox(op, reply) => {
            held(reply, in_savepoint(tx, |sp| ops::create_mailbox(sp, &op)))
        }
        Request::DeleteMailbox(op, reply) => held(
            reply,
            in_savepoint(tx, |sp| ops::delete_mailbox(sp, fx, &op)),
        ),
        Request::RenameMailbox(op, reply) => held(
            reply,
            in_savepoint(tx, |sp| ops::rename_mailbox(sp, fx, &op)),
        ),
        Request::SetSubscribed(op, reply) => {
            held(reply, in_savepoint(tx, |sp| ops::set_subscribed(sp, &op)))
        }
        Request::RemoveMessages(op, reply) => {
            held(reply, in_savepoint(tx, |sp| ops::remove_uids(sp, fx, &op)))
        }
        // Filtered out by `run`.
        Request::Close(reply) => held(reply, Ok(())),
    }
}

fn held<T: Send + 'static>(reply: Reply<T>, result: Result<T, StoreError>) -> Box<dyn Pending> {
    Box::new(Held { reply, result })
}

fn fail(request: Request, error: &StoreError) -> Box<dyn Pending> {
    let e = error.clone();
    match request {
        Request::Deliver(_, r) => held(r, Err(e)),
        Request::Append(_, r) => held(r, Err(e)),
        Request::SetFlags(_, r) => held(r, Err(e)),
        Request::Copy(_, r) => held(r, Err(e)),
        Request::Move(_, r) => held(r, Err(e)),
        Request::Expunge(_, r) => held(r, Err(e)),
        Request::CreateMailbox(_, r) => held(r, Err(e)),
        Request::DeleteMailbox(_, r) => held(r, Err(e)),
        Request::RenameMailbox(_, r) => held(r, Err(e)),
        Request::SetSubscribed(_, r) => held(r, Err(e)),
        Request::RemoveMessages(_, r) => held(r, Err(e)),
        Request::Close(r) => held(r, Ok(())),
    }
}

/// Run `f` in a savepoint: released on success, rolled back on error, so one op's failure
/// leaves no trace in the shared transaction.
fn in_savepoint<T>(
    tx: &mut Transaction<'_>,
    f: impl FnOnce(&Savepoint<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let sp = tx.savepoint()?;
    let value = f(&sp)?; // dropping `sp` on error rolls it back
    sp.commit()?;
    Ok(value)
}

/// Delete the files of bodies whose row is gone. Errors only cost disk space: the next open
/// sweeps again.
fn remove_orphans(conn: &Connection, blobs: &BlobStore, hashes: &[String]) {
    for hash in hashes {
        let still_referenced = conn
            .query_row(BLOB_ROW_EXISTS, [hash], |_| Ok(()))
            .optional();
        match still_referenced {
            Ok(Some(())) => {}
            Ok(None) => {
                if let Err(e) = blobs.remove(hash) {
                    tracing::warn!(blob = %hash, error = %e, "Could not remove an unreferenced blob file.");
                }
            }
            Err(e) => tracing::warn!(blob = %hash, error = %e, "Could not check a blob reference."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::{Admin, DB_FILE, open_write_connection};
    use crate::types::Role;
    use mailroom_shared::Secret;

    fn body(blobs: &BlobStore, text: &str) -> Body {
        let raw: Arc<[u8]> = Arc::from(text.as_bytes());
        let stored = blobs.put(&raw).expect("put");
        Body {
            hash: stored.hash,
            size: raw.len() as u64,
            meta_json: serde_json::to_string(&crate::mime::analyze(&raw)).expect("json"),
            header_len: crate::mime::header_len(&raw),
            raw,
        }
    }

    #[test]
    fn one_batch_is_one_commit_and_a_failing_op_fails_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let admin = Admin::open(dir.path()).expect("admin");
        admin.domain_add("example.test").expect("domain");
        let pw = Secret::new("password1");
        let alice = admin
            .user_add("a@example.test", &pw, Role::User, None)
            .expect("a")
            .id;
        let bob = admin
            .user_add("b@example.test", &pw, Role::User, None)
            .expect("b")
            .id;
        let mut conn = open_write_connection(&dir.path().join(DB_FILE)).expect("conn");
        let blobs = BlobStore::open(dir.path()).expect("blobs");
        let counters = Counters::default();

        let deliver = |to: Vec<i64>, text: &str| DeliverOp {
            recipients: to,
            junk: Vec::new(),
            body: body(&blobs, text),
            internal_date: 0,
        };
        let (r1, mut a1) = oneshot::channel();
        let (r2, mut a2) = oneshot::channel();
        let (r3, mut a3) = oneshot::channel();
        let (r4, mut a4) = oneshot::channel();
        let batch = vec![
            Request::Deliver(deliver(vec![alice], "one"), r1),
            Request::Deliver(deliver(vec![alice, 999], "two"), r2),
            Request::Expunge(
                Expunge {
                    account_id: alice,
                    mailbox_id: 999,
                    uids: None,
                },
                r3,
            ),
            Request::Deliver(deliver(vec![alice, bob], "three"), r4),
        ];
        run_batch(&mut conn, batch, &blobs, &counters);

        let uids = |r: Result<Outcome<Vec<Delivered>>, StoreError>| {
            r.expect("delivered")
                .value
                .iter()
                .map(|d| d.uid)
                .collect::<Vec<_>>()
        };
        assert_eq!(uids(a1.try_recv().expect("answered")), [1]);
        assert!(matches!(a2.try_recv(), Ok(Err(StoreError::NotFound(_)))));
        assert!(matches!(a3.try_recv(), Ok(Err(StoreError::NotFound(_)))));
        // The failed delivery's UID was rolled back with it.
        assert_eq!(uids(a4.try_recv().expect("answered")), [2, 1]);
        assert_eq!(counters.commits.load(Ordering::Relaxed), 1);
        assert_eq!(counters.ops.load(Ordering::Relaxed), 4);
        let blob_rows: i64 = conn
            .query_row("SELECT count(*) FROM blobs", [], |r| r.get(0))
            .expect("count");
        assert_eq!(blob_rows, 2, "the failed delivery left no blob row");
    }

    #[test]
    fn blocking_callers_work_without_a_runtime() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = open_write_connection(&dir.path().join(DB_FILE)).expect("conn");
        crate::sqlite::schema::migrations::migrate(&mut conn).expect("migrate");
        let blobs = Arc::new(BlobStore::open(dir.path()).expect("blobs"));
        let handle = spawn(conn, blobs).expect("spawn");
        let gone = Expunge {
            account_id: 1,
            mailbox_id: 1,
            uids: None,
        };
        let r = handle.call_blocking(|reply| Request::Expunge(gone, reply));
        assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
        assert_eq!(handle.call_blocking(Request::Close), Ok(()));
        let after = handle.call_blocking(|reply| {
            Request::Expunge(
                Expunge {
                    account_id: 1,
                    mailbox_id: 1,
                    uids: None,
                },
                reply,
            )
        });
        assert!(
            matches!(after, Err(StoreError::Unavailable(_))),
            "{after:?}"
        );
    }
}
