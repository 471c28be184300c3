//! The embedded engine's role traits ([`crate::engine`]), one file per role; the lifecycle
//! is here.

mod accounts;
mod directory;
mod events;
mod mailboxes;
mod policy;
mod queue;
mod reports;

use super::SqliteBackend;
use crate::engine::{Lifecycle, StoreFuture};
use crate::types::StoreStats;

impl Lifecycle for SqliteBackend {
    fn stats(&self) -> StoreStats {
        self.writer.stats()
    }

    fn fatal(&self) -> crate::fatal::FatalWatch {
        self.writer.fatal()
    }

    fn flush(&self) -> StoreFuture<()> {
        let (writer, pool, lock) = (self.writer.clone(), self.pool.clone(), self.lock.clone());
        Box::pin(async move {
            writer.close().await?;
            pool.close();
            // Closed: another engine may open the directory now (a no-op for a guest).
            let _ = lock.unlock();
            Ok(())
        })
    }
}
