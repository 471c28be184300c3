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
//!
//! A failure it cannot come back from (its thread panics, the database file is gone, I/O
//! errors persist: see [`super::health`]) raises the store's [`FatalAlarm`], so the server
//! stops instead of answering "unavailable" forever.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, Savepoint, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use mailroom_shared::events::{EventData, EventRecorded};
use mailroom_shared::metrics::metrics;

use super::blobs::{BlobStore, INLINE_MAX};
use super::directory::{self, DirectoryDone, DirectoryOp};
use super::health::Health;
use super::queue::{RecordOp, SubmitOp};
use super::{events, greylist, logins, ops, queue, unix_now};
use crate::engine::Outcome;
use crate::error::StoreError;
use crate::fatal::{FatalAlarm, FatalWatch, fatal_channel};
use crate::greylist::{ExpireGreylist, SaveGreylist};
use crate::outbound::Submitted;
use crate::requests::ClaimRecent;
use crate::requests::{
    Copy, CreateMailbox, DeleteMailbox, Expunge, Move, PruneEvents, RemoveMessages, RenameMailbox,
    SetFlags, SetSubscribed, SetWebhookCursor,
};
use crate::spam::{RecordSpamDecisions, TrainBayes, Trained};
use crate::types::{Appended, Delivered, FlagsResult, LockoutScope, MailboxInfo, StoreStats};
use mailroom_shared::queue::{QueueReply, QueueRequest};

/// Most requests in one transaction; bounds the latency one batch adds to the next.
pub(crate) const MAX_BATCH: usize = 256;

const BLOB_ROW_EXISTS: &str = "SELECT 1 FROM blobs WHERE sha256 = ?1";
const CHECKPOINT: &str = "PRAGMA wal_checkpoint(TRUNCATE)";
const PASSIVE_CHECKPOINT: &str = "PRAGMA wal_checkpoint(PASSIVE)";
/// How often the checkpointer folds the WAL back into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// The WAL size past which the writer, after a commit, checkpoints it and starts it over.
///
/// The PASSIVE checkpoints of [`Checkpointer`] copy frames back but never start the WAL over:
/// only a writer that finds every frame copied AND no reader left on the WAL does, and under
/// continuous writes (and reads) that moment never comes, so the file grew without end
/// (hundreds of MB beside a database a tenth of that) until shutdown. The writer's TRUNCATE
/// checkpoint waits, briefly, for the readers to leave the WAL, then empties the file. (A
/// RESTART checkpoint leaves the start-over to the next commit, which skips it without waiting
/// when a reader has come back meanwhile: in tests the WAL still reached 33 MB that way.)
/// `journal_size_limit` cuts back a WAL that SQLite starts over by itself.
///
/// The limit grows with the database ([`wal_limit`]): a fixed few MiB of WAL would be most of
/// the data directory while it holds little mail, and checkpointing more often than that
/// costs a sync each time.
pub(crate) const WAL_LIMIT_MIN: u64 = 1 << 20;
pub(crate) const WAL_LIMIT_MAX: u64 = 16 << 20;

/// The WAL size past which the writer checkpoints, for a database of `db_bytes`: a sixteenth
/// of it, within [`WAL_LIMIT_MIN`]..=[`WAL_LIMIT_MAX`].
pub(crate) fn wal_limit(db_bytes: u64) -> u64 {
    (db_bytes / 16).clamp(WAL_LIMIT_MIN, WAL_LIMIT_MAX)
}
/// How long the writer's TRUNCATE checkpoint waits for readers to leave the WAL (and for
/// another connection's write: a CLI's engine beside the server) before giving up until
/// [`WAL_RETRY_AFTER`].
/// Every client behind the writer waits too, but only when the WAL is past its limit and
/// something holds it.
const WAL_RESTART_WAIT: Duration = Duration::from_secs(1);
/// After a TRUNCATE that something kept from completing, commits go on this long before the
/// next attempt; the pause doubles after each failed attempt, up to [`WAL_RETRY_MAX`], so that
/// a passing hold is retried soon and a long reader costs the writer little of its time.
const WAL_RETRY_AFTER: Duration = Duration::from_millis(100);
const WAL_RETRY_MAX: Duration = Duration::from_secs(4);

/// A body already written to its blob file (when large), ready to be referenced.
pub(crate) use crate::common::messages::Body;

impl Body {
    /// Whether this body lives in its `blobs` row rather than in a file.
    pub(crate) fn inline(&self) -> bool {
        self.size <= INLINE_MAX
    }
}

pub(crate) use crate::common::messages::{AppendOp, DeliverOp};

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
    ClaimRecent(ClaimRecent, Reply<Outcome<u32>>),
    RemoveMessages(RemoveMessages, Reply<Outcome<Vec<u32>>>),
    SaveGreylist(SaveGreylist, Reply<()>),
    ExpireGreylist(ExpireGreylist, Reply<u64>),
    RecordEvent(EventData, Reply<Outcome<EventRecorded>>),
    SetCursor(SetWebhookCursor, Reply<Outcome<()>>),
    PruneEvents(PruneEvents, Reply<Outcome<u64>>),
    TrainBayes(TrainBayes, Reply<Outcome<Trained>>),
    RecordSpamDecisions(RecordSpamDecisions, Reply<Outcome<()>>),
    Login(LoginUpdate, Reply<Outcome<logins::Counts>>),
    Submit(Box<SubmitOp>, Reply<Outcome<Submitted>>),
    RecordAttempts(RecordOp, Reply<Outcome<()>>),
    QueueAdmin(QueueRequest, Reply<Outcome<QueueReply>>),
    Directory(Box<DirectoryOp>, Reply<Outcome<DirectoryDone>>),
    /// Commit what came before, checkpoint, close the database, end the thread.
    Close(Reply<()>),
}

/// A change to the failed-login counters ([`logins`]).
#[derive(Debug, Clone)]
pub(crate) enum LoginUpdate {
    /// Count a failure of the account `account_key` from `ip`.
    Failed {
        account_key: String,
        ip: String,
        forget_after: i64,
    },
    /// Forget one counter; the value says whether it existed.
    Clear { scope: LockoutScope, key: String },
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
    /// An op added to or took from the outbound queue: its size is counted again.
    pub queue_changed: bool,
}

/// The submitting side; clone freely.
#[derive(Clone)]
pub(crate) struct WriterHandle {
    tx: mpsc::Sender<Request>,
    counters: Arc<Counters>,
    fatal: FatalWatch,
}

/// Whether this process owns the data directory (a server) or works beside a server that
/// does (the CLI while the server runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tenancy {
    /// Checkpoints the WAL and deletes the files of bodies that lost their last row.
    Owner,
    /// Leaves both to the owner: it may be about to reference a body this process saw
    /// unreferenced, and its next start sweeps unreferenced files.
    Guest,
}

/// Start the writer thread on `conn`.
pub(crate) fn spawn(
    conn: Connection,
    blobs: Arc<BlobStore>,
    tenancy: Tenancy,
) -> Result<WriterHandle, StoreError> {
    // SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold: the
    // batch waits while pages are copied and the database file is synced, and so does every
    // client behind it. A thread of its own checkpoints instead, beside the writer (WAL lets
    // a checkpoint and a writer run at once).
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    // Each op's savepoint journal stays in memory: a batch whose journal outgrew SQLite's
    // spill threshold otherwise made, wrote and deleted a temporary file every commit.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // A WAL started over is cut back to this size instead of keeping its high-water mark.
    conn.pragma_update(None, "journal_size_limit", WAL_LIMIT_MIN as i64)?;
    // SQLite runs one checkpoint at a time and fails the second at once, busy handler or not:
    // the checkpointer's PASSIVE runs and the writer's TRUNCATE take turns on this lock.
    let turn = Arc::new(Mutex::new(()));
    let db_path = conn
        .path()
        .filter(|p| !p.is_empty() && tenancy == Tenancy::Owner);
    let (checkpointer, wal) = match db_path {
        Some(db) => (
            Some(Checkpointer::spawn(
                std::path::PathBuf::from(db),
                turn.clone(),
            )?),
            Some(WalBound::new(
                std::path::PathBuf::from(format!("{db}-wal")),
                turn,
            )),
        ),
        None => (None, None), // an in-memory database has no WAL
    };
    let health = Health::new(
        conn.path()
            .filter(|p| !p.is_empty())
            .map(std::path::Path::new),
    );
    let (tx, rx) = mpsc::channel();
    let counters = Arc::new(Counters::default());
    let thread_counters = counters.clone();
    let (alarm, fatal) = fatal_channel();
    std::thread::Builder::new()
        .name("mailroom-store-writer".into())
        .spawn(move || {
            let parts = (&*blobs, &*thread_counters, &alarm);
            alarm.watch_thread("the store writer thread", || {
                run(conn, rx, parts, (checkpointer, wal), tenancy, health)
            })
        })?;
    Ok(WriterHandle {
        tx,
        counters,
        fatal,
    })
}

/// The thread that checkpoints the WAL every [`CHECKPOINT_EVERY`] (PASSIVE: it copies what no
/// reader still needs and never blocks the writer). Stopped by [`Checkpointer::stop`].
struct Checkpointer {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Checkpointer {
    fn spawn(db: std::path::PathBuf, turn: Arc<Mutex<()>>) -> Result<Self, StoreError> {
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
                    let _turn = turn.lock().unwrap_or_else(|p| p.into_inner());
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
    /// The watch on this writer's fatal failures.
    pub(crate) fn fatal(&self) -> FatalWatch {
        self.fatal.clone()
    }

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

    pub(crate) async fn claim_recent(&self, op: ClaimRecent) -> Result<Outcome<u32>, StoreError> {
        self.call(|r| Request::ClaimRecent(op, r)).await
    }

    pub(crate) async fn remove_messages(
        &self,
        op: RemoveMessages,
    ) -> Result<Outcome<Vec<u32>>, StoreError> {
        self.call(|r| Request::RemoveMessages(op, r)).await
    }

    pub(crate) async fn save_greylist(&self, op: SaveGreylist) -> Result<(), StoreError> {
        self.call(|r| Request::SaveGreylist(op, r)).await
    }

    pub(crate) async fn expire_greylist(&self, op: ExpireGreylist) -> Result<u64, StoreError> {
        self.call(|r| Request::ExpireGreylist(op, r)).await
    }

    pub(crate) async fn record_event(
        &self,
        event: EventData,
    ) -> Result<Outcome<EventRecorded>, StoreError> {
        self.call(|r| Request::RecordEvent(event, r)).await
    }

    pub(crate) async fn set_cursor(&self, op: SetWebhookCursor) -> Result<Outcome<()>, StoreError> {
        self.call(|r| Request::SetCursor(op, r)).await
    }

    pub(crate) async fn prune_events(&self, op: PruneEvents) -> Result<Outcome<u64>, StoreError> {
        self.call(|r| Request::PruneEvents(op, r)).await
    }

    pub(crate) async fn train_bayes(&self, op: TrainBayes) -> Result<Outcome<Trained>, StoreError> {
        self.call(|r| Request::TrainBayes(op, r)).await
    }

    pub(crate) async fn record_spam_decisions(
        &self,
        op: RecordSpamDecisions,
    ) -> Result<Outcome<()>, StoreError> {
        self.call(|r| Request::RecordSpamDecisions(op, r)).await
    }

    pub(crate) async fn submit_mail(&self, op: SubmitOp) -> Result<Outcome<Submitted>, StoreError> {
        self.call(|r| Request::Submit(Box::new(op), r)).await
    }

    pub(crate) async fn record_attempts(&self, op: RecordOp) -> Result<Outcome<()>, StoreError> {
        self.call(|r| Request::RecordAttempts(op, r)).await
    }

    pub(crate) async fn queue_admin(
        &self,
        op: QueueRequest,
    ) -> Result<Outcome<QueueReply>, StoreError> {
        self.call(|r| Request::QueueAdmin(op, r)).await
    }

    pub(crate) async fn directory(
        &self,
        op: DirectoryOp,
    ) -> Result<Outcome<DirectoryDone>, StoreError> {
        self.call(|r| Request::Directory(Box::new(op), r)).await
    }

    pub(crate) async fn login(
        &self,
        op: LoginUpdate,
    ) -> Result<Outcome<logins::Counts>, StoreError> {
        self.call(|r| Request::Login(op, r)).await
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
    /// Whether the op itself failed.
    fn failed(&self) -> bool;
    /// The request again, unanswered, for running the batch once more.
    fn retract(self: Box<Self>) -> Request;
}

struct Held<O, T> {
    op: O,
    reply: Reply<T>,
    result: Result<T, StoreError>,
    rebuild: fn(O, Reply<T>) -> Request,
}

impl<O: Send, T: Send> Pending for Held<O, T> {
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

    fn failed(&self) -> bool {
        self.result.is_err()
    }

    fn retract(self: Box<Self>) -> Request {
        (self.rebuild)(self.op, self.reply)
    }
}

fn run(
    mut conn: Connection,
    rx: mpsc::Receiver<Request>,
    (blobs, counters, alarm): (&BlobStore, &Counters, &FatalAlarm),
    (checkpointer, mut wal): (Option<Checkpointer>, Option<WalBound>),
    tenancy: Tenancy,
    mut health: Health,
) {
    count_queue(&conn);
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
            // Committing into a database file that is no longer at its path would lose every
            // write acknowledged from now on: refuse them instead.
            if let Err(fatal) = health.check_file() {
                let error = StoreError::Unavailable(fatal.to_string());
                // Raised before the refusals go out: whoever hears one finds the cause set.
                alarm.raise(fatal);
                for request in batch {
                    fail(request, &error).finish(&Err(error.clone()));
                }
            } else {
                run_batch(&mut conn, batch, blobs, counters, tenancy, &mut health);
                if let Some(fatal) = health.verdict() {
                    alarm.raise(fatal);
                }
                if let Some(wal) = &mut wal {
                    wal.after_commit(&conn);
                }
            }
        }
        if close.is_some() {
            break close;
        }
    };
    if let Some(checkpointer) = checkpointer {
        checkpointer.stop();
    }
    // Fold the WAL back into the database so the files at rest are just mailroom.db (the
    // owner's job: a guest would wait for the owner's readers).
    if tenancy == Tenancy::Owner
        && let Err(e) = conn.query_row(CHECKPOINT, [], |_| Ok(()))
    {
        tracing::warn!(error = %e, "Final WAL checkpoint failed; the WAL will be replayed at next open.");
    }
    if let Some(wal) = &wal {
        metrics().set_store_wal_bytes(wal.size());
    }
    let result = conn.close().map_err(|(_, e)| StoreError::from(e));
    if let Some(reply) = close_reply {
        let _ = reply.send(result);
    }
    tracing::info!("Store writer stopped.");
}

fn run_batch(
    conn: &mut Connection,
    batch: Vec<Request>,
    blobs: &BlobStore,
    counters: &Counters,
    tenancy: Tenancy,
    health: &mut Health,
) {
    let started = Instant::now();
    let size = batch.len();
    counters.ops.fetch_add(size as u64, Ordering::Relaxed);
    // Almost no batch has a failing op, and a savepoint per op costs a copy of every page the
    // op touches: run the ops straight in the transaction, and only when one fails roll the
    // whole attempt back and run the batch again with a savepoint per op.
    let (pending, effects, commit) = match attempt(conn, batch, blobs, Isolation::Direct, health) {
        Attempt::Done(done) => done,
        Attempt::Retry(batch) => match attempt(conn, batch, blobs, Isolation::Savepoint, health) {
            Attempt::Done(done) => done,
            Attempt::Retry(_) => unreachable!("savepoint isolation never asks for a retry"),
        },
    };
    match &commit {
        Ok(()) => {
            counters.commits.fetch_add(1, Ordering::Relaxed);
            metrics().store_commit(size, started.elapsed());
            if effects.queue_changed {
                count_queue(conn);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "Store batch failed to commit; no op in it took effect.")
        }
    }
    // Unlinking is cheap (no fsync needed: a file that survives a crash is swept at open),
    // and doing it before the replies lets a caller rely on the file being gone.
    if tenancy == Tenancy::Owner {
        remove_orphans(conn, blobs, &effects.maybe_orphaned);
    }
    for p in pending {
        p.finish(&commit);
    }
}

/// Keeps the WAL near [`wal_limit`]: after each commit the writer looks at the file's size
/// (one `stat`), publishes it as `mailroom_store_wal_bytes`, and when it is past the limit runs
/// a TRUNCATE checkpoint. The writer is the only writer, so nothing new enters the WAL while it
/// runs; readers are short (one closure on a pooled connection), so waiting for them is short.
struct WalBound {
    path: std::path::PathBuf,
    /// No TRUNCATE before this instant (set after one that readers kept from completing).
    quiet_until: Option<Instant>,
    /// The pause after the next failed attempt.
    backoff: Duration,
    /// Taken while checkpointing, shared with the [`Checkpointer`].
    turn: Arc<Mutex<()>>,
}

impl WalBound {
    fn new(path: std::path::PathBuf, turn: Arc<Mutex<()>>) -> Self {
        Self {
            path,
            quiet_until: None,
            backoff: WAL_RETRY_AFTER,
            turn,
        }
    }

    fn back_off(&mut self) {
        self.quiet_until = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(WAL_RETRY_MAX);
    }

    /// The checkpoint threshold for the database as it is now (one more `stat`, only once
    /// the WAL is past the smallest limit).
    fn limit(&self) -> u64 {
        let db = self.path.with_extension("db");
        wal_limit(std::fs::metadata(db).map(|m| m.len()).unwrap_or(0))
    }

    /// The WAL file's size now; 0 when it does not exist.
    fn size(&self) -> u64 {
        std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0)
    }

    fn after_commit(&mut self, conn: &Connection) {
        let size = self.size();
        metrics().set_store_wal_bytes(size);
        if size <= WAL_LIMIT_MIN
            || size <= self.limit()
            || self.quiet_until.is_some_and(|t| Instant::now() < t)
        {
            return;
        }
        // Waits for a PASSIVE run in progress, which leaves this one less to copy.
        let restarted = {
            let _turn = self.turn.lock().unwrap_or_else(|p| p.into_inner());
            restart_wal(conn)
        };
        match restarted {
            Ok(true) => {
                self.quiet_until = None;
                self.backoff = WAL_RETRY_AFTER;
                metrics().store_wal_checkpoint(true);
            }
            Ok(false) => {
                self.back_off();
                metrics().store_wal_checkpoint(false);
                tracing::debug!(
                    wal_bytes = size,
                    "A reader kept the WAL from starting over; retrying later."
                );
            }
            Err(e) => {
                self.back_off();
                tracing::warn!(error = %e, wal_bytes = size, "WAL checkpoint failed; retrying later.");
            }
        }
    }
}

/// Copy every WAL frame into the database, wait (at most [`WAL_RESTART_WAIT`]) until no
/// reader uses the WAL, and truncate it to nothing. `Ok(false)`: a reader (or another
/// connection's checkpoint) was still busy; nothing is lost, the WAL just grows on.
fn restart_wal(conn: &Connection) -> Result<bool, StoreError> {
    conn.busy_timeout(WAL_RESTART_WAIT)?;
    // Columns: busy (1 when it could not finish), WAL frames, frames checkpointed.
    let result = conn.query_row(CHECKPOINT, [], |r| r.get::<_, i64>(0));
    conn.busy_timeout(super::BUSY_TIMEOUT)?;
    Ok(result? == 0)
}

/// Set `mailroom_queue_messages` from the queue table; one indexed count, after a commit that
/// changed the queue. A failed count leaves the gauge as it was: it is only a number to show.
fn count_queue(conn: &Connection) {
    match conn.query_row("SELECT COUNT(*) FROM queue_messages", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(n) => metrics().set_queue_messages(u64::try_from(n).unwrap_or(0)),
        Err(e) => tracing::debug!(error = %e, "Counting the outbound queue failed."),
    }
}

/// How the ops of one attempt at a batch are kept apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isolation {
    /// Straight in the transaction: the first failing op abandons the attempt.
    Direct,
    /// Each op in its own savepoint, so that a failing op is undone alone.
    Savepoint,
}

/// The answers of a batch, what it leaves to do after the commit, and the commit's result.
type Finished = (Vec<Box<dyn Pending>>, BatchEffects, Result<(), StoreError>);

enum Attempt {
    /// Committed (or failed to); answer the callers.
    Done(Finished),
    /// An op failed without isolation: rolled back, run these again with savepoints.
    Retry(Vec<Request>),
}

fn attempt(
    conn: &mut Connection,
    batch: Vec<Request>,
    blobs: &BlobStore,
    isolation: Isolation,
    health: &mut Health,
) -> Attempt {
    let mut effects = BatchEffects::default();
    let mut pending: Vec<Box<dyn Pending>> = Vec::with_capacity(batch.len());
    let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            health.failed(&e);
            let error = StoreError::from(e);
            let failed = batch.into_iter().map(|r| fail(r, &error)).collect();
            return Attempt::Done((failed, effects, Err(error)));
        }
    };
    let mut requests = batch.into_iter();
    while let Some(request) = requests.next() {
        let answer = run_request(&mut tx, request, blobs, &mut effects, isolation);
        let abandon = isolation == Isolation::Direct && answer.failed();
        pending.push(answer);
        if abandon {
            if let Err(e) = tx.rollback() {
                // Dropping the connection's transaction state is all a retry needs; a failed
                // rollback shows up again as the retry's BEGIN error.
                tracing::warn!(error = %e, "Rolling back a store batch failed.");
            }
            let mut again: Vec<Request> = pending.into_iter().map(|p| p.retract()).collect();
            again.extend(requests);
            return Attempt::Retry(again);
        }
    }
    let commit = match tx.commit() {
        Ok(()) => {
            health.committed();
            Ok(())
        }
        Err(e) => {
            health.failed(&e);
            Err(StoreError::from(e))
        }
    };
    Attempt::Done((pending, effects, commit))
}

/// Run one request under `isolation` and hold its answer.
fn run_request(
    tx: &mut Transaction<'_>,
    request: Request,
    blobs: &BlobStore,
    fx: &mut BatchEffects,
    isolation: Isolation,
) -> Box<dyn Pending> {
    match request {
        Request::Deliver(op, reply) => {
            let r = isolated(tx, isolation, |c| {
                let mut outcome = ops::deliver(c, blobs, &op)?;
                // With the delivery itself: a failed delivery logs nothing.
                if let Some(event) = &op.event {
                    // Only the store knows whose accounts an alias led to.
                    let ids: Vec<i64> = outcome.value.iter().map(|d| d.account_id).collect();
                    let event = crate::common::messages::delivery_event(
                        event,
                        ops::account_addresses(c, &ids)?,
                    );
                    outcome.events.push(events::insert(c, &event, unix_now())?);
                }
                Ok(outcome)
            });
            if r.is_err() {
                fx.maybe_orphaned.push(op.body.hash.clone());
            }
            held(op, reply, r, Request::Deliver)
        }
        Request::Append(op, reply) => {
            let r = isolated(tx, isolation, |c| ops::append(c, blobs, &op));
            if r.is_err() {
                fx.maybe_orphaned.push(op.body.hash.clone());
            }
            held(op, reply, r, Request::Append)
        }
        Request::SetFlags(op, reply) => {
            let r = isolated(tx, isolation, |c| ops::set_flags(c, &op));
            held(op, reply, r, Request::SetFlags)
        }
        Request::Copy(op, reply) => {
            let r = isolated(tx, isolation, |c| {
                ops::copy(c, op.account_id, op.from, &op.uids, op.to)
            });
            held(op, reply, r, Request::Copy)
        }
        Request::Move(op, reply) => {
            let r = isolated(tx, isolation, |c| ops::move_messages(c, fx, &op));
            held(op, reply, r, Request::Move)
        }
        Request::Expunge(op, reply) => {
            let r = isolated(tx, isolation, |c| ops::expunge(c, fx, &op));
            held(op, reply, r, Request::Expunge)
        }
        Request::CreateMailbox(op, reply) => {
            let r = isolated(tx, isolation, |c| ops::create_mailbox(c, &op));
            held(op, reply, r, Request::CreateMailbox)
        }
        Request::DeleteMailbox(op, reply) => {
            let r = isolated(tx, isolation, |c| ops::delete_mailbox(c, fx, &op));
            held(op, reply, r, Request::DeleteMailbox)
        }
        Request::RenameMailbox(op, reply) => {
            let r = isolated(tx, isolation, |c| ops::rename_mailbox(c, fx, &op));
            held(op, reply, r, Request::RenameMailbox)
        }
        Request::SetSubscribed(op, reply) => {
            let r = isolated(tx, isolation, |c| ops::set_subscribed(c, &op));
            held(op, reply, r, Request::SetSubscribed)
        }
        Request::ClaimRecent(op, reply) => {
            let r = isolated(tx, isolation, |c| super::recent::claim(c, &op)).map(no_changes);
            held(op, reply, r, Request::ClaimRecent)
        }
        Request::RemoveMessages(op, reply) => {
            let r = isolated(tx, isolation, |c| ops::remove_uids(c, fx, &op));
            held(op, reply, r, Request::RemoveMessages)
        }
        Request::SaveGreylist(op, reply) => {
            let r = isolated(tx, isolation, |c| greylist::save(c, &op));
            held(op, reply, r, Request::SaveGreylist)
        }
        Request::ExpireGreylist(op, reply) => {
            let r = isolated(tx, isolation, |c| greylist::expire(c, &op));
            held(op, reply, r, Request::ExpireGreylist)
        }
        Request::Login(op, reply) => {
            let r = isolated(tx, isolation, |c| {
                let value = match &op {
                    LoginUpdate::Failed {
                        account_key,
                        ip,
                        forget_after,
                    } => logins::record_failure(c, account_key, ip, unix_now(), *forget_after)?,
                    LoginUpdate::Clear { scope, key } => {
                        logins::clear(c, *scope, key)?;
                        logins::Counts::default()
                    }
                };
                Ok(Outcome {
                    value,
                    changes: Vec::new(),
                    events: Vec::new(),
                })
            });
            held(op, reply, r, Request::Login)
        }
        Request::RecordEvent(event, reply) => {
            let r = isolated(tx, isolation, |c| {
                let recorded = events::insert(c, &event, unix_now())?;
                Ok(Outcome {
                    value: recorded.clone(),
                    changes: Vec::new(),
                    events: vec![recorded],
                })
            });
            held(event, reply, r, Request::RecordEvent)
        }
        Request::SetCursor(op, reply) => {
            let r = isolated(tx, isolation, |c| {
                events::set_cursor(c, &op.target, op.last_id)?;
                Ok(Outcome {
                    value: (),
                    changes: Vec::new(),
                    events: Vec::new(),
                })
            });
            held(op, reply, r, Request::SetCursor)
        }
        Request::PruneEvents(op, reply) => {
            let r = isolated(tx, isolation, |c| {
                Ok(Outcome {
                    value: events::prune(c, op.before, &op.targets)?,
                    changes: Vec::new(),
                    events: Vec::new(),
                })
            });
            held(op, reply, r, Request::PruneEvents)
        }
        // The spam tables change no mailbox: nothing to announce.
        Request::TrainBayes(op, reply) => {
            let r = isolated(tx, isolation, |c| super::spam::train(c, &op)).map(no_changes);
            held(op, reply, r, Request::TrainBayes)
        }
        Request::RecordSpamDecisions(op, reply) => {
            let r =
                isolated(tx, isolation, |c| super::spam::record_decisions(c, &op)).map(no_changes);
            held(op, reply, r, Request::RecordSpamDecisions)
        }
        Request::Submit(op, reply) => {
            fx.queue_changed = true;
            let r = isolated(tx, isolation, |c| queue::submit(c, blobs, &op));
            if r.is_err()
                && let Some(local) = &op.local
            {
                fx.maybe_orphaned.push(local.body.hash.clone());
            }
            held(op, reply, r, Request::Submit)
        }
        Request::RecordAttempts(op, reply) => {
            fx.queue_changed = true;
            let r = isolated(tx, isolation, |c| queue::record(c, blobs, &op));
            for (_, body) in &op.dsns {
                // A DSN that failed to store may leave its file behind.
                fx.maybe_orphaned.push(body.hash.clone());
            }
            held(op, reply, r, Request::RecordAttempts)
        }
        Request::QueueAdmin(op, reply) => {
            fx.queue_changed = true;
            let r = isolated(tx, isolation, |c| queue::admin(c, &op)).map(no_changes);
            held(op, reply, r, Request::QueueAdmin)
        }
        Request::Directory(op, reply) => {
            let r = isolated(tx, isolation, |c| directory::apply(c, fx, &op)).map(no_changes);
            held(op, reply, r, Request::Directory)
        }
        // Filtered out by `run`.
        Request::Close(reply) => held((), reply, Ok(()), |(), r| Request::Close(r)),
    }
}

fn no_changes<T>(value: T) -> Outcome<T> {
    Outcome {
        value,
        changes: Vec::new(),
        events: Vec::new(),
    }
}

fn held<O: Send + 'static, T: Send + 'static>(
    op: O,
    reply: Reply<T>,
    result: Result<T, StoreError>,
    rebuild: fn(O, Reply<T>) -> Request,
) -> Box<dyn Pending> {
    Box::new(Held {
        op,
        reply,
        result,
        rebuild,
    })
}

fn fail(request: Request, error: &StoreError) -> Box<dyn Pending> {
    let e = error.clone();
    match request {
        Request::Deliver(op, r) => held(op, r, Err(e), Request::Deliver),
        Request::Append(op, r) => held(op, r, Err(e), Request::Append),
        Request::SetFlags(op, r) => held(op, r, Err(e), Request::SetFlags),
        Request::Copy(op, r) => held(op, r, Err(e), Request::Copy),
        Request::Move(op, r) => held(op, r, Err(e), Request::Move),
        Request::Expunge(op, r) => held(op, r, Err(e), Request::Expunge),
        Request::CreateMailbox(op, r) => held(op, r, Err(e), Request::CreateMailbox),
        Request::DeleteMailbox(op, r) => held(op, r, Err(e), Request::DeleteMailbox),
        Request::RenameMailbox(op, r) => held(op, r, Err(e), Request::RenameMailbox),
        Request::SetSubscribed(op, r) => held(op, r, Err(e), Request::SetSubscribed),
        Request::ClaimRecent(op, r) => held(op, r, Err(e), Request::ClaimRecent),
        Request::RemoveMessages(op, r) => held(op, r, Err(e), Request::RemoveMessages),
        Request::SaveGreylist(op, r) => held(op, r, Err(e), Request::SaveGreylist),
        Request::ExpireGreylist(op, r) => held(op, r, Err(e), Request::ExpireGreylist),
        Request::RecordEvent(op, r) => held(op, r, Err(e), Request::RecordEvent),
        Request::Login(op, r) => held(op, r, Err(e), Request::Login),
        Request::SetCursor(op, r) => held(op, r, Err(e), Request::SetCursor),
        Request::PruneEvents(op, r) => held(op, r, Err(e), Request::PruneEvents),
        Request::TrainBayes(op, r) => held(op, r, Err(e), Request::TrainBayes),
        Request::RecordSpamDecisions(op, r) => held(op, r, Err(e), Request::RecordSpamDecisions),
        Request::Submit(op, r) => held(op, r, Err(e), Request::Submit),
        Request::RecordAttempts(op, r) => held(op, r, Err(e), Request::RecordAttempts),
        Request::QueueAdmin(op, r) => held(op, r, Err(e), Request::QueueAdmin),
        Request::Directory(op, r) => held(op, r, Err(e), Request::Directory),
        Request::Close(r) => held((), r, Ok(()), |(), r| Request::Close(r)),
    }
}

/// Run `f` straight in the transaction, or in a savepoint of its own.
fn isolated<T>(
    tx: &mut Transaction<'_>,
    isolation: Isolation,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match isolation {
        Isolation::Direct => f(tx),
        Isolation::Savepoint => in_savepoint(tx, |sp| f(sp)),
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
            event: None,
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
        run_batch(
            &mut conn,
            batch,
            &blobs,
            &counters,
            Tenancy::Owner,
            &mut Health::new(None),
        );

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
        let handle = spawn(conn, blobs, Tenancy::Owner).expect("spawn");
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
