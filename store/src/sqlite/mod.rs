//! The embedded backend: SQLite (WAL) for metadata and small bodies, one content-addressed
//! file per larger body.
//!
//! Layout of the data directory:
//! ```text
//! mailroom.db (+ -wal, -shm)   metadata and bodies up to 128 KiB; see schema/migrations.rs
//! blobs/<2 hex>/<62 hex>       larger bodies, named by their SHA-256
//! tmp/                         bodies being written; emptied at open
//! ```
//! Writes go through the one writer thread ([`writer`]), which group-commits them; reads use a
//! pool of read-only connections ([`reads`]); the admin CLI uses its own short transactions
//! ([`admin`]), safe next to a running server.
//!
//! One server process per data directory: the orphan sweep at open assumes no other process
//! writes blobs.

pub mod admin;
mod api_tokens;
mod blob_cache;
mod blobs;
mod dkim;
mod events;
mod greylist;
mod health;
mod local_reads;
mod logins;
mod ops;
mod queue;
#[cfg(test)]
mod queue_tests;
mod reads;
mod recent;
mod schema;
mod spam;
#[cfg(test)]
mod tests;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deadpool_sqlite::{Hook, HookError, Pool, Runtime};
use mailroom_shared::fsutil;
use rusqlite::Connection;

use crate::actor::ClaimRecent;
use crate::actor::Submit;
use crate::actor::{
    Append, Authenticate, Changes, CheckRecipient, Copy, CreateMailbox, DeleteMailbox, Deliver,
    Expunge, FetchBodies, FetchBody, FetchHeaders, FetchMeta, LastEventId, ListMailboxes,
    LostSubscriptions, Move, OpenBody, OwnsAddresses, PruneEvents, ReadEvents, RecordEvent,
    RemoveMessages, RenameMailbox, ResolveRecipient, Select, SetFlags, SetSubscribed,
    SetWebhookCursor, WebhookCursor,
};
use crate::backend::{Backend, Outcome, StoreFuture};
use crate::dkim::{DkimKey, DkimKeys};
use crate::error::StoreError;
use crate::greylist::{
    ExpireGreylist, GreylistLookup, GreylistRows, LoadGreylist, LookupGreylist, SaveGreylist,
};
use crate::mime::{self, MessageMeta};
use crate::outbound::{DueQueue, QueuedMessage, RecordAttempts, Submitted};
use crate::spam::{
    BayesCounts, FetchBlob, FetchSpamDecision, HostedDomains, ReadBayes, RecordSpamDecisions,
    StoredSpamDecision, TrainBayes, Trained,
};
use crate::types::{
    Appended, BodySource, ChangeSet, Delivered, FlagsResult, LockoutScope, LoginOutcome,
    MailboxInfo, MessageInfo, Resolution, StoreStats,
};
use blob_cache::BlobCache;
use blobs::{BlobStore, INLINE_MAX};
use mailroom_shared::events::EventRecorded;
use mailroom_shared::queue::{QueueReply, QueueRequest};
use writer::{AppendOp, Body, DeliverOp, LoginUpdate, WriterHandle};

pub use admin::Admin;

/// File name of the metadata database inside the data directory.
pub const DB_FILE: &str = "mailroom.db";

/// How long a connection waits for another's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest body analysed on the delivering session's own thread (some tens of microseconds
/// of parsing); larger ones are analysed on the blocking pool.
const ANALYZE_IN_PLACE_MAX: usize = 16 * 1024;
// Analysing in place must never mean writing a body file on the caller's thread.
const _: () = assert!(ANALYZE_IN_PLACE_MAX as u64 <= INLINE_MAX);

/// Most read connections open at once.
const READ_POOL_SIZE: usize = 8;

/// Open a connection that may write: WAL so readers never block the writer, FULL sync so
/// every COMMIT is on disk before it returns, and enforced foreign keys.
fn open_write_connection(db: &Path) -> Result<Connection, StoreError> {
    // Made here, 0600, before SQLite would make it with the umask's mode: the -wal and -shm
    // files SQLite creates beside it take the database file's mode.
    fsutil::create_private_file(db)?;
    let conn = Connection::open(db)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!(
            "database refused WAL mode (got {mode})"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    // 64 MiB of page cache (negative = KiB): index pages keyed by content hashes are hit at
    // random, and re-reading them from disk on every batch costs more than the memory.
    conn.pragma_update(None, "cache_size", -65536)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Create the data directory 0700, or tighten an existing one (see
/// [`fsutil::secure_data_dir`]); a path that cannot be made private stops the open.
fn secure_data_dir(data_dir: &Path) -> Result<(), StoreError> {
    fsutil::secure_data_dir(data_dir)
        .map(drop)
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

/// Now, in unix seconds (0 if the clock is before 1970).
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The lookup key of an address: lowercase, with the domain as IDNA A-labels, so lookups
/// ignore case and a U-label domain finds its A-label (RFC 6531 §3.3).
fn address_key(address: &str) -> String {
    mailroom_shared::address::canonical(address)
}

/// The store's key of a body: its lowercase hex SHA-256, as `MessageMoved::blobs` and
/// [`crate::spam::FetchBlob`] name it.
pub fn blob_hash(raw: &[u8]) -> String {
    blobs::sha256_hex(raw)
}

/// The embedded backend. Cheap to share behind an `Arc`.
pub struct SqliteBackend {
    writer: WriterHandle,
    pool: Pool,
    /// The database file, for [`local_reads`].
    db: PathBuf,
    blobs: Arc<BlobStore>,
    headers: Arc<BlobCache<[u8]>>,
    metas: Arc<BlobCache<MessageMeta>>,
    /// Held for the backend's life: the orphan sweep at open and the writer's file deletions
    /// are only safe with one server per data directory.
    _lock: std::fs::File,
}

/// The lock file a running server holds in its data directory.
const LOCK_FILE: &str = "server.lock";

impl SqliteBackend {
    /// Open (creating if needed) the store in `data_dir`: run migrations, clear `tmp/`,
    /// delete unreferenced blob files, start the writer thread.
    ///
    /// Blocks for as long as that takes; call it at startup. The read pool needs a tokio
    /// runtime when it is first used, not here.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        secure_data_dir(data_dir)?;
        let lock = fsutil::create_private_file(&data_dir.join(LOCK_FILE))?;
        lock.try_lock().map_err(|_| {
            StoreError::Unavailable(format!(
                "another mailroom server is using {}",
                data_dir.display()
            ))
        })?;
        let db = data_dir.join(DB_FILE);
        let mut conn = open_write_connection(&db)?;
        schema::migrations::migrate(&mut conn)?;
        // Domains created before DKIM keys existed (or by an older mailroom) get theirs now,
        // so that everything the submission path signs for has a key.
        dkim::backfill(&mut conn)?;
        let blobs = Arc::new(BlobStore::open(data_dir)?);
        // No writer runs yet, so nothing can be between "file written" and "row committed".
        let removed = blobs.sweep_orphans(&conn)?;
        if removed > 0 {
            tracing::info!(removed, "Removed unreferenced blob files.");
        }
        let pool = read_pool(&db)?;
        let writer = writer::spawn(conn, blobs.clone())?;
        Ok(Self {
            writer,
            pool,
            db: db.clone(),
            blobs,
            headers: Arc::new(BlobCache::new(blob_cache::HEADER_BYTES)),
            metas: Arc::new(BlobCache::new(blob_cache::META_BYTES)),
            _lock: lock,
        })
    }

    /// Run `f` on a pooled read-only connection, on a blocking thread.
    async fn read<T, F>(pool: Pool, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let conn = pool
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(format!("read pool: {e}")))?;
        conn.interact(f)
            .await
            .map_err(|e| StoreError::Unavailable(format!("read task: {e}")))?
    }

    /// Analyse, hash and (when large) durably write a body: the part of a delivery that runs
    /// in parallel, outside the writer. A small body is analysed right here on the caller's
    /// thread, which costs less than the two thread switches of the blocking pool; a larger
    /// one goes to the blocking pool so that no session's arbiter stalls on it.
    async fn prepare_body(blobs: Arc<BlobStore>, raw: Arc<[u8]>) -> Result<Body, StoreError> {
        if raw.len() <= ANALYZE_IN_PLACE_MAX {
            return Self::analyze_body(&blobs, raw);
        }
        tokio::task::spawn_blocking(move || Self::analyze_body(&blobs, raw))
            .await
            .map_err(|e| StoreError::Unavailable(format!("body task: {e}")))?
    }

    fn analyze_body(blobs: &BlobStore, raw: Arc<[u8]>) -> Result<Body, StoreError> {
        let meta = mime::analyze(&raw);
        let meta_json = serde_json::to_string(&meta)?;
        // A small body is written by the writer's transaction, inside the group commit.
        let hash = if raw.len() as u64 > INLINE_MAX {
            blobs.put(&raw)?.hash
        } else {
            blobs::sha256_hex(&raw)
        };
        Ok(Body {
            hash,
            size: raw.len() as u64,
            meta_json,
            header_len: mime::header_len(&raw),
            raw,
        })
    }
}

/// The read-only pool: `query_only` makes a stray write fail instead of competing with the
/// writer for the lock.
fn read_pool(db: &Path) -> Result<Pool, StoreError> {
    let hook = Hook::sync_fn(|conn, _| {
        let guard = conn
            .lock()
            .map_err(|_| HookError::message("read connection mutex poisoned"))?;
        guard
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(HookError::Backend)?;
        guard
            .pragma_update(None, "query_only", "ON")
            .map_err(HookError::Backend)?;
        Ok(())
    });
    deadpool_sqlite::Config::new(PathBuf::from(db))
        .builder(Runtime::Tokio1)
        .map_err(|e| StoreError::Unavailable(format!("read pool: {e}")))?
        .max_size(READ_POOL_SIZE)
        .post_create(hook)
        .build()
        .map_err(|e| StoreError::Unavailable(format!("read pool: {e}")))
}

impl Backend for SqliteBackend {
    fn resolve_recipient(&self, m: ResolveRecipient) -> StoreFuture<Resolution> {
        let pool = self.pool.clone();
        Box::pin(Self::read(pool, move |c| {
            reads::resolve_recipient(c, &m.address)
        }))
    }

    fn check_recipient(&self, m: CheckRecipient) -> StoreFuture<(Resolution, Vec<i64>)> {
        fn check(c: &Connection, m: &CheckRecipient) -> Result<(Resolution, Vec<i64>), StoreError> {
            let resolution = reads::resolve_recipient(c, &m.address)?;
            let over = match &resolution {
                Resolution::Local(ids) => reads::over_quota(c, ids, m.size)?,
                _ => Vec::new(),
            };
            Ok((resolution, over))
        }
        // A few index lookups: on this thread, unless its connection fails (then the pool).
        let here = local_reads::run(&self.db, |c| check(c, &m));
        let pool = self.pool.clone();
        Box::pin(async move {
            match here {
                Ok(answer) => Ok(answer),
                Err(e) => {
                    tracing::debug!(error = %e, "local read failed; retrying on the pool");
                    Self::read(pool, move |c| check(c, &m)).await
                }
            }
        })
    }

    fn owns_addresses(&self, m: OwnsAddresses) -> StoreFuture<Vec<bool>> {
        let pool = self.pool.clone();
        Box::pin(Self::read(pool, move |c| {
            m.addresses
                .iter()
                .map(|a| reads::owns_address(c, m.account_id, a))
                .collect()
        }))
    }

    fn authenticate(&self, m: Authenticate) -> StoreFuture<LoginOutcome> {
        let (pool, writer) = (self.pool.clone(), self.writer.clone());
        Box::pin(async move {
            let key = address_key(&m.address);
            let ip = m.attempt.client.to_string();
            let policy = *m.guard.policy();
            let lookup = (key.clone(), ip.clone());
            let found = Self::read(pool, move |c| {
                let (key, ip) = lookup;
                // A locked login is refused before its password is looked at: the answer
                // cannot depend on it.
                if let Some(l) = logins::locked(c, &key, &ip, unix_now(), &policy)? {
                    return Ok(Err(l));
                }
                let failed_before = logins::has_failures(c, &key)?;
                Ok(Ok((reads::account_with_hash(c, &key)?, failed_before)))
            })
            .await?;
            let (found, failed_before) = match found {
                Ok(found) => found,
                Err(lockout) => return Ok(LoginOutcome::LockedOut(lockout)),
            };
            // argon2 is slow by design: run it on the blocking pool, and run it even for an
            // unknown address so timing does not reveal which accounts exist.
            let account =
                tokio::task::spawn_blocking(move || reads::check_password(found, &m.password))
                    .await
                    .map_err(|e| StoreError::Unavailable(format!("password task: {e}")))?;
            match account {
                Some(account) => {
                    // A login that works ends the account's run of failures (not the
                    // client's: one good password must not clear a guesser's record).
                    if failed_before {
                        writer
                            .login(LoginUpdate::Clear {
                                scope: LockoutScope::Account,
                                key,
                            })
                            .await?;
                    }
                    Ok(LoginOutcome::Accepted(account))
                }
                None => {
                    let counts = writer
                        .login(LoginUpdate::Failed {
                            account_key: key.clone(),
                            ip: ip.clone(),
                            forget_after: policy.secs as i64,
                        })
                        .await?
                        .value;
                    let now = unix_now();
                    // Lockouts this failure began: no later failure is counted while one
                    // holds (the login is refused unchecked), so each is reported once.
                    let locked = [
                        (LockoutScope::Account, key, counts.account),
                        (LockoutScope::Ip, ip, counts.ip),
                    ]
                    .into_iter()
                    .map(|(scope, key, n)| logins::judge(scope, key, n, now, now, &policy))
                    .filter(|(_, active)| *active)
                    .map(|(lockout, _)| lockout)
                    .collect();
                    Ok(LoginOutcome::Refused { locked })
                }
            }
        })
    }

    fn deliver(&self, m: Deliver) -> StoreFuture<Outcome<Vec<Delivered>>> {
        let (blobs, writer) = (self.blobs.clone(), self.writer.clone());
        Box::pin(async move {
            if m.recipients.is_empty() {
                return Err(StoreError::Invalid("a delivery needs a recipient".into()));
            }
            let body = Self::prepare_body(blobs, m.raw).await?;
            let op = DeliverOp {
                recipients: m.recipients,
                junk: m.junk,
                body,
                internal_date: m.internal_date.unwrap_or_else(unix_now),
                event: m.event,
            };
            writer.deliver(op).await
        })
    }

    fn append(&self, m: Append) -> StoreFuture<Outcome<Appended>> {
        let (blobs, writer) = (self.blobs.clone(), self.writer.clone());
        Box::pin(async move {
            // Check what we can before writing a file that would then be orphaned.
            let flags = crate::types::check_flags(m.flags)?;
            let keywords = crate::types::normalize_keywords(&m.keywords)?;
            let body = Self::prepare_body(blobs, m.raw).await?;
            let op = AppendOp {
                account_id: m.account_id,
                mailbox: m.mailbox,
                flags,
                keywords,
                internal_date: m.internal_date.unwrap_or_else(unix_now),
                body,
            };
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

    fn stats(&self) -> StoreStats {
        self.writer.stats()
    }

    fn fatal(&self) -> crate::fatal::FatalWatch {
        self.writer.fatal()
    }

    fn flush(&self) -> StoreFuture<()> {
        let (writer, pool) = (self.writer.clone(), self.pool.clone());
        Box::pin(async move {
            writer.close().await?;
            pool.close();
            Ok(())
        })
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
                Ok(file) => Ok(BodySource::File(file, size)),
                // Expunged (and its file removed) between the row read and the open.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::NotFound(
                    format!("message {uid} in mailbox {}", m.mailbox_id),
                )),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn remove_messages(&self, m: RemoveMessages) -> StoreFuture<Outcome<Vec<u32>>> {
        let writer = self.writer.clone();
        Box::pin(async move { writer.remove_messages(m).await })
    }

    fn load_greylist(&self, m: LoadGreylist) -> StoreFuture<GreylistRows> {
        let pool = self.pool.clone();
        Box::pin(Self::read(pool, move |c| greylist::load(c, m.limit)))
    }

    fn lookup_greylist(&self, m: LookupGreylist) -> StoreFuture<GreylistLookup> {
        let pool = self.pool.clone();
        Box::pin(Self::read(pool, move |c| {
            greylist::lookup(c, &m.triplet, &m.known)
        }))
    }

    fn save_greylist(&self, m: SaveGreylist) -> StoreFuture<()> {
        let writer = self.writer.clone();
        Box::pin(async move { writer.save_greylist(m).await })
    }

    fn expire_greylist(&self, m: ExpireGreylist) -> StoreFuture<u64> {
        let writer = self.writer.clone();
        Box::pin(async move { writer.expire_greylist(m).await })
    }

    fn record_event(&self, m: RecordEvent) -> StoreFuture<Outcome<EventRecorded>> {
        let writer = self.writer.clone();
        Box::pin(async move { writer.record_event(m.0).await })
    }

    fn read_events(&self, m: ReadEvents) -> StoreFuture<Vec<EventRecorded>> {
        let pool = self.pool.clone();
        Box::pin(Self::read(pool, move |c| {
            events::read_after(c, m.after, m.limit)
        }))
    }

    fn last_event_id(&self, _: LastEventId) -> StoreFuture<i64> {
        let pool = self.pool.clone();
        Box::pin(Self::read(pool, |c| events::last_id(c)))
    }

    fn webhook_cursor(&self, m: WebhookCursor) -> StoreFuture<Option<i64>> {
        let pool = self.pool.clone();
        Box::pin(Self::read(pool, move |c| events::cursor(c, &m.target)))
    }

    fn set_webhook_cursor(&self, m: SetWebhookCursor) -> StoreFuture<Outcome<()>> {
        let writer = self.writer.clone();
        Box::pin(async move { writer.set_cursor(m).await })
    }

    fn prune_events(&self, m: PruneEvents) -> StoreFuture<Outcome<u64>> {
        let writer = self.writer.clone();
        Box::pin(async move { writer.prune_events(m).await })
    }

    fn read_bayes(&self, m: ReadBayes) -> StoreFuture<Vec<(i64, BayesCounts)>> {
        let pool = self.pool.clone();
        Box::pin(Self::read(pool, move |c| {
            spam::bayes_counts(c, &m.account_ids, &m.tokens)
        }))
    }

    fn train_bayes(&self, m: TrainBayes) -> StoreFuture<Outcome<Trained>> {
        let writer = self.writer.clone();
        Box::pin(async move { writer.train_bayes(m).await })
    }

    fn record_spam_decisions(&self, m: RecordSpamDecisions) -> StoreFuture<Outcome<()>> {
        let writer = self.writer.clone();
        Box::pin(async move { writer.record_spam_decisions(m).await })
    }

    fn fetch_spam_decision(&self, m: FetchSpamDecision) -> StoreFuture<Option<StoredSpamDecision>> {
        let pool = self.pool.clone();
        Box::pin(Self::read(pool, move |c| {
            spam::decision_of(c, m.account_id, m.mailbox_id, m.uid)
        }))
    }

    fn hosted_domains(&self, m: HostedDomains) -> StoreFuture<Vec<String>> {
        let pool = self.pool.clone();
        Box::pin(Self::read(pool, move |c| {
            spam::hosted_domains(c, &m.domains)
        }))
    }

    fn submit(&self, m: Submit) -> StoreFuture<Outcome<Submitted>> {
        let (blobs, writer) = (self.blobs.clone(), self.writer.clone());
        Box::pin(async move {
            if m.local.is_empty() && m.remote.is_empty() {
                return Err(StoreError::Invalid("a submission needs a recipient".into()));
            }
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

    fn dkim_keys(&self, m: DkimKeys) -> StoreFuture<Vec<DkimKey>> {
        let pool = self.pool.clone();
        Box::pin(Self::read(pool, move |c| dkim::keys_of(c, &m.domain)))
    }

    fn fetch_blob(&self, m: FetchBlob) -> StoreFuture<Arc<[u8]>> {
        let (pool, blobs) = (self.pool.clone(), self.blobs.clone());
        Box::pin(async move {
            let hash = m.blob.clone();
            let (size, inline) = Self::read(pool, move |c| {
                spam::blob_of_account(c, m.account_id, &m.blob)
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
}

impl Drop for SqliteBackend {
    fn drop(&mut self) {
        // deadpool-sqlite closes each connection through tokio's spawn_blocking, which panics
        // outside a runtime — as when an actix System is dropped with the store in it. Close
        // them now, inside a runtime; a short-lived one if need be (its drop waits for them).
        if tokio::runtime::Handle::try_current().is_ok() {
            self.pool.close();
        } else if let Ok(rt) = tokio::runtime::Builder::new_current_thread().build() {
            let _inside = rt.enter();
            self.pool.close();
        }
    }
}
