//! The embedded engine's [`PolicyState`]: greylist, spam filter, DKIM keys.

use std::sync::Arc;

use super::super::{SqliteBackend, blobs, dkim, greylist, spam};
use crate::dkim::{DkimKey, DkimKeys};
use crate::engine::{Outcome, PolicyState, StoreFuture};
use crate::error::StoreError;
use crate::greylist::{
    ExpireGreylist, GreylistLookup, GreylistRows, LoadGreylist, LookupGreylist, SaveGreylist,
};
use crate::spam::{
    BayesCounts, FetchBlob, FetchSpamDecision, HostedDomains, ReadBayes, RecordSpamDecisions,
    StoredSpamDecision, TrainBayes, Trained,
};

impl PolicyState for SqliteBackend {
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

    fn hosted_domains(&self, m: HostedDomains) -> StoreFuture<Vec<String>> {
        let pool = self.pool.clone();
        Box::pin(Self::read(pool, move |c| {
            spam::hosted_domains(c, &m.domains)
        }))
    }

    fn dkim_keys(&self, m: DkimKeys) -> StoreFuture<Vec<DkimKey>> {
        let pool = self.pool.clone();
        Box::pin(Self::read(pool, move |c| dkim::keys_of(c, &m.domain)))
    }
}
