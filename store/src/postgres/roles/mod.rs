//! The PostgreSQL engine's role traits ([`crate::engine`]), one file per role; the
//! lifecycle is here.

mod accounts;
mod directory;
mod events;
mod mailboxes;
mod policy;
mod queue;
mod reports;

use super::PgEngine;
use crate::engine::{Lifecycle, StoreFuture};
use crate::types::StoreStats;

impl Lifecycle for PgEngine {
    fn stats(&self) -> StoreStats {
        PgEngine::stats(self)
    }

    fn flush(&self) -> StoreFuture<()> {
        // Every write is committed when it answers: nothing is held back to flush.
        self.close();
        Box::pin(async { Ok(()) })
    }
}
