//! The PostgreSQL engine: everything in one database that any number of mailroom nodes
//! share. Implements the same role traits as the embedded engine ([`crate::engine`]).
//!
//! - Every request runs on the engine's own small tokio runtime, whatever runtime the caller
//!   is on, so the pool's connections are driven by threads that live as long as the engine
//!   (actix arbiters each run a runtime of their own).
//! - Writes are transactions on a pooled connection; a write is durable when its COMMIT
//!   returns (the server's `synchronous_commit`, on by default). There is no writer thread:
//!   concurrent writers on one node and on other nodes are ordered by row locks. UIDs and
//!   MODSEQs are taken with `UPDATE mailboxes … RETURNING` on the mailbox's row, which
//!   holds its lock to the end of the transaction, so allocations on one mailbox are
//!   serialised and commit in the order they were made.
//! - When the database cannot be reached, requests fail with `Unavailable` (a temporary
//!   failure to clients) and succeed again once it is back; nothing is fatal.

mod directory;
mod event_rows;
mod events;
mod logins;
mod mail_reads;
mod mail_writes;
mod mailbox_tree;
mod roles;
mod schema;
mod txn;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::runtime::Runtime;

use crate::error::StoreError;
use crate::types::StoreStats;

/// The PostgreSQL engine; cheap to clone pieces out of.
pub(crate) struct PgEngine {
    pool: Pool,
    runtime: Arc<EngineRuntime>,
    /// This node's name, written into queue leases.
    node: Arc<str>,
    counters: Arc<Counters>,
}

#[derive(Default)]
pub(crate) struct Counters {
    commits: AtomicU64,
    ops: AtomicU64,
}

/// The runtime the engine's requests run on. Shut down in the background when dropped, so
/// dropping the engine inside an async context does not panic.
struct EngineRuntime(Option<Runtime>);

impl Drop for EngineRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Map a PostgreSQL error to the store's: a temporary failure, with the database's text
/// (which never contains the connection string).
pub(crate) fn pg(e: tokio_postgres::Error) -> StoreError {
    StoreError::Unavailable(format!("postgresql: {e}"))
}

/// Map a pool error (no connection could be had) to the store's.
pub(crate) fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Unavailable(format!("postgresql: {e}"))
}

/// The SQLSTATE of `e`, if the server sent one.
pub(crate) fn sqlstate(e: &tokio_postgres::Error) -> Option<&str> {
    e.code().map(|c| c.code())
}

/// SQLSTATE of a unique violation.
pub(crate) const UNIQUE_VIOLATION: &str = "23505";

impl PgEngine {
    /// Connect to `url`, migrate, and keep a pool of at most `pool_size` connections.
    /// Blocks; call at startup (from any thread, inside an async context or not).
    pub(crate) fn open(url: &str, pool_size: usize, node: &str) -> Result<Self, StoreError> {
        let pg_config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Invalid(format!("store.url: {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("mailroom-pg")
            .enable_all()
            .build()?;
        let manager = Manager::from_config(
            pg_config.clone(),
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Unavailable(format!("postgresql pool: {e}")))?;
        let migrating = pool.clone();
        let handle = runtime.handle().clone();
        // A scoped thread: block_on must not run on a thread that is inside a runtime.
        std::thread::scope(|s| {
            s.spawn(|| {
                handle.block_on(async move {
                    let mut client = migrating.get().await.map_err(pool_err)?;
                    schema::migrate(&mut client).await
                })
            })
            .join()
            .map_err(|_| StoreError::Unavailable("postgresql migration panicked".into()))?
        })?;
        Ok(PgEngine {
            pool,
            runtime: Arc::new(EngineRuntime(Some(runtime))),
            node: Arc::from(node),
            counters: Arc::new(Counters::default()),
        })
    }

    /// Run `work` with the pool on the engine's runtime and hand its result back to a caller
    /// on any runtime.
    pub(crate) fn run<T, F, Fut>(&self, work: F) -> crate::engine::StoreFuture<T>
    where
        T: Send + 'static,
        F: FnOnce(Pool) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let pool = self.pool.clone();
        let spawned = self.runtime.0.as_ref().map(|rt| rt.spawn(work(pool)));
        Box::pin(async move {
            match spawned {
                Some(task) => task
                    .await
                    .map_err(|e| StoreError::Unavailable(format!("postgresql task: {e}")))?,
                None => Err(StoreError::Unavailable("the store is closed".into())),
            }
        })
    }

    /// Like [`Self::run`] for a write: counted in [`Self::stats`].
    pub(crate) fn write<T, F, Fut>(&self, work: F) -> crate::engine::StoreFuture<T>
    where
        T: Send + 'static,
        F: FnOnce(Pool) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let counters = self.counters.clone();
        let done = self.run(work);
        Box::pin(async move {
            let result = done.await;
            counters.ops.fetch_add(1, Ordering::Relaxed);
            if result.is_ok() {
                counters.commits.fetch_add(1, Ordering::Relaxed);
            }
            result
        })
    }

    pub(crate) fn node(&self) -> Arc<str> {
        self.node.clone()
    }

    pub(crate) fn stats(&self) -> StoreStats {
        StoreStats {
            commits: self.counters.commits.load(Ordering::Relaxed),
            ops: self.counters.ops.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn close(&self) {
        self.pool.close();
    }
}

/// Seconds since the epoch.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
