//! The embedded engine's role traits ([`crate::engine`]), one file per role; the lifecycle
//! is here.

mod directory;
mod events;
mod mailboxes;
mod policy;
mod queue;

use super::SqliteBackend;
use crate::engine::{Lifecycle, StoreFuture};
use crate::types::StoreStats;

impl Lifecycle for SqliteBackend {
    fn stats(&self) -> StoreStats {
        self.writer.stats()
    }

    fn flush(&self) -> StoreFuture<()> {
        let (writer, pool) = (self.writer.clone(), self.pool.clone());
        Box::pin(async move {
            writer.close().await?;
            pool.close();
            Ok(())
        })
    }
}
