//! The embedded engine's [`Reports`]: all on the read pool.

use super::super::{SqliteBackend, directory};
use crate::engine::{Reports, StoreFuture};
use crate::requests::{
    GreylistEntries, HourlyCounts, RecentEvents, Sizes, SpamDecisions, VerifyBodies,
};
use crate::types::{GreylistEntry, HourCount, SpamDecisionRow, StoreSizes};

impl Reports for SqliteBackend {
    fn hourly_counts(&self, m: HourlyCounts) -> StoreFuture<Vec<HourCount>> {
        Box::pin(Self::read(self.pool.clone(), move |c| {
            directory::hourly_counts(c, m.since)
        }))
    }

    fn sizes(&self, _: Sizes) -> StoreFuture<StoreSizes> {
        Box::pin(Self::read(self.pool.clone(), |c| directory::sizes(c)))
    }

    fn recent_events(&self, m: RecentEvents) -> StoreFuture<Vec<(i64, i64, String)>> {
        Box::pin(Self::read(self.pool.clone(), move |c| {
            directory::recent_events(c, &m.kind, m.limit)
        }))
    }

    fn spam_decisions(&self, m: SpamDecisions) -> StoreFuture<Vec<SpamDecisionRow>> {
        Box::pin(Self::read(self.pool.clone(), move |c| {
            directory::spam_decisions(c, m.limit)
        }))
    }

    fn greylist_entries(&self, m: GreylistEntries) -> StoreFuture<Vec<GreylistEntry>> {
        Box::pin(Self::read(self.pool.clone(), move |c| {
            directory::greylist_entries(c, &m.query, m.limit)
        }))
    }

    fn verify_bodies(&self, _: VerifyBodies) -> StoreFuture<Vec<String>> {
        let blobs = self.blobs.clone();
        Box::pin(Self::read(self.pool.clone(), move |c| {
            directory::verify(c, &blobs)
        }))
    }
}
