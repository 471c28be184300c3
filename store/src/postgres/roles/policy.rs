//! The PostgreSQL engine's [`PolicyState`]: greylist rows, the spam filter's counts and
//! decisions, hosted domains and DKIM keys. What each request means is documented with it
//! (`crate::greylist`, `crate::spam`); the rules shared with the embedded engine are in
//! `common::policy`.
//!
//! Training is serialised per account by a lock on its `bayes_totals` row, so two nodes
//! training the same message at once count it once.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use tokio_postgres::Transaction;

use super::super::directory as dir;
use super::super::{PgEngine, pg, pool_err, unix_now};
use crate::common::directory::dkim_domain;
use crate::common::policy::{
    check_score, count, tokens_from_blob, tokens_to_blob, triplet_state, unit,
};
use crate::dkim::{DkimKey, DkimKeys};
use crate::engine::{Outcome, PolicyState, StoreFuture};
use crate::error::StoreError;
use crate::greylist::{
    ExpireGreylist, GreylistLookup, GreylistRows, KnownSender, LoadGreylist, LookupGreylist,
    SaveGreylist, Triplet,
};
use crate::spam::{
    BayesCounts, FetchBlob, FetchSpamDecision, HostedDomains, ReadBayes, RecordSpamDecisions,
    StoredSpamDecision, TrainBayes, Trained,
};

const RECENT_TRIPLETS: &str = "SELECT net, sender, recipient, first_seen, last_seen, passed_at, \
     count FROM greylist_triplets ORDER BY last_seen DESC LIMIT $1";
const RECENT_KNOWN: &str =
    "SELECT kind, key, last_seen FROM greylist_known ORDER BY last_seen DESC LIMIT $1";
const ONE_TRIPLET: &str = "SELECT first_seen, last_seen, passed_at, count FROM greylist_triplets \
     WHERE net = $1 AND sender = $2 AND recipient = $3";
const ONE_KNOWN: &str = "SELECT last_seen FROM greylist_known WHERE kind = $1 AND key = $2";
// The actor's state is the newer one: it replaces the row whole.
const UPSERT_TRIPLET: &str = "INSERT INTO greylist_triplets \
     (net, sender, recipient, first_seen, last_seen, passed_at, count) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (net, sender, recipient) DO UPDATE SET first_seen = excluded.first_seen, \
     last_seen = excluded.last_seen, passed_at = excluded.passed_at, count = excluded.count";
const UPSERT_KNOWN: &str = "INSERT INTO greylist_known (kind, key, last_seen) VALUES ($1, $2, $3) \
     ON CONFLICT (kind, key) DO UPDATE \
     SET last_seen = GREATEST(greylist_known.last_seen, excluded.last_seen)";
const FORGET_TRIPLET: &str =
    "DELETE FROM greylist_triplets WHERE net = $1 AND sender = $2 AND recipient = $3";
const EXPIRE_PENDING: &str =
    "DELETE FROM greylist_triplets WHERE passed_at IS NULL AND first_seen < $1";
const EXPIRE_PASSED: &str =
    "DELETE FROM greylist_triplets WHERE passed_at IS NOT NULL AND last_seen < $1";
const EXPIRE_KNOWN: &str = "DELETE FROM greylist_known WHERE last_seen < $1";

const ACCOUNT_EXISTS: &str = "SELECT 1 FROM accounts WHERE id = $1 FOR KEY SHARE";
const TOTALS_ENSURE: &str =
    "INSERT INTO bayes_totals (account_id) VALUES ($1) ON CONFLICT (account_id) DO NOTHING";
const TOTALS_LOCK: &str = "SELECT 1 FROM bayes_totals WHERE account_id = $1 FOR UPDATE";
const TRAINED_GET: &str =
    "SELECT class, tokens FROM bayes_trained WHERE account_id = $1 AND blob = $2";
const TRAINED_SET: &str = "INSERT INTO bayes_trained (account_id, blob, class, tokens, at) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, blob) DO UPDATE SET \
     class = excluded.class, tokens = excluded.tokens, at = excluded.at";
const TOKENS_ADD: &str = "INSERT INTO bayes_tokens (account_id, token_hash, spam, ham) \
     SELECT $1, t, $3, $4 FROM unnest($2::BIGINT[]) AS t \
     ON CONFLICT (account_id, token_hash) DO UPDATE SET \
     spam = bayes_tokens.spam + excluded.spam, ham = bayes_tokens.ham + excluded.ham";
const TOKENS_SUB: &str = "UPDATE bayes_tokens SET spam = GREATEST(spam - $3, 0), \
     ham = GREATEST(ham - $4, 0) WHERE account_id = $1 AND token_hash = ANY($2)";
const TOKENS_DROP_EMPTY: &str = "DELETE FROM bayes_tokens \
     WHERE account_id = $1 AND token_hash = ANY($2) AND spam = 0 AND ham = 0";
const TOTALS_ADD: &str = "UPDATE bayes_totals SET spam = spam + $2, ham = ham + $3 \
     WHERE account_id = $1";
const TOTALS_SUB: &str = "UPDATE bayes_totals SET spam = GREATEST(spam - $2, 0), \
     ham = GREATEST(ham - $3, 0) WHERE account_id = $1";
const TOTALS_GET: &str = "SELECT spam, ham FROM bayes_totals WHERE account_id = $1";
const TOKENS_GET: &str = "SELECT token_hash, spam, ham FROM bayes_tokens \
     WHERE account_id = $1 AND token_hash = ANY($2)";

const MESSAGE_BLOB: &str = "SELECT m.blob FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id \
     WHERE m.mailbox_id = $1 AND b.account_id = $2 AND m.uid = $3";
const DECISION_SET: &str = "INSERT INTO spam_decisions \
     (account_id, blob, score, action, rules, at) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (account_id, blob) DO UPDATE SET score = excluded.score, \
     action = excluded.action, rules = excluded.rules, at = excluded.at";
const DECISION_GET: &str =
    "SELECT score, action, rules, at FROM spam_decisions WHERE account_id = $1 AND blob = $2";
const BLOB_OF_ACCOUNT: &str = "SELECT bl.data FROM messages m \
     JOIN mailboxes b ON b.id = m.mailbox_id JOIN blobs bl ON bl.sha256 = m.blob \
     WHERE m.blob = $2 AND b.account_id = $1 LIMIT 1";
const DOMAINS_HOSTED: &str = "SELECT name FROM domains WHERE name = ANY($1)";

/// A row limit as PostgreSQL takes it.
fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

impl PolicyState for PgEngine {
    fn load_greylist(&self, m: LoadGreylist) -> StoreFuture<GreylistRows> {
        self.run(move |pool| async move {
            let mut client = pool.get().await.map_err(pool_err)?;
            let tx = client
                .build_transaction()
                .read_only(true)
                .start()
                .await
                .map_err(pg)?;
            let limit = limit_of(m.limit);
            let triplets: Vec<_> = tx
                .query(RECENT_TRIPLETS, &[&limit])
                .await
                .map_err(pg)?
                .iter()
                .map(|r| {
                    let triplet = Triplet {
                        net: r.get(0),
                        sender: r.get(1),
                        recipient: r.get(2),
                    };
                    (
                        triplet,
                        triplet_state(r.get(3), r.get(4), r.get(5), r.get(6)),
                    )
                })
                .collect();
            let rows = tx.query(RECENT_KNOWN, &[&limit]).await.map_err(pg)?;
            let all_known = rows.len() < m.limit;
            let known = rows
                .iter()
                .filter_map(|r| {
                    let (kind, key): (String, String) = (r.get(0), r.get(1));
                    KnownSender::from_columns(&kind, &key).map(|k| (k, r.get::<_, i64>(2)))
                })
                .collect();
            tx.commit().await.map_err(pg)?;
            Ok(GreylistRows {
                all_triplets: triplets.len() < m.limit,
                triplets,
                known,
                all_known,
            })
        })
    }

    fn lookup_greylist(&self, m: LookupGreylist) -> StoreFuture<GreylistLookup> {
        self.run(move |pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            let t = &m.triplet;
            let found = client
                .query_opt(ONE_TRIPLET, &[&t.net, &t.sender, &t.recipient])
                .await
                .map_err(pg)?
                .map(|r| triplet_state(r.get(0), r.get(1), r.get(2), r.get(3)));
            let mut seen = Vec::new();
            for k in &m.known {
                if let Some(r) = client
                    .query_opt(ONE_KNOWN, &[&k.kind(), &k.key()])
                    .await
                    .map_err(pg)?
                {
                    seen.push((k.clone(), r.get::<_, i64>(0)));
                }
            }
            Ok((found, seen))
        })
    }

    fn save_greylist(&self, m: SaveGreylist) -> StoreFuture<()> {
        self.write(move |pool| async move {
            let mut client = pool.get().await.map_err(pool_err)?;
            let tx = client.transaction().await.map_err(pg)?;
            for (t, s) in &m.triplets {
                let count = i64::from(s.count);
                tx.execute(
                    UPSERT_TRIPLET,
                    &[
                        &t.net,
                        &t.sender,
                        &t.recipient,
                        &s.first_seen,
                        &s.last_seen,
                        &s.passed_at,
                        &count,
                    ],
                )
                .await
                .map_err(pg)?;
            }
            for (k, seen) in &m.known {
                tx.execute(UPSERT_KNOWN, &[&k.kind(), &k.key(), seen])
                    .await
                    .map_err(pg)?;
            }
            for t in &m.forget {
                tx.execute(FORGET_TRIPLET, &[&t.net, &t.sender, &t.recipient])
                    .await
                    .map_err(pg)?;
            }
            tx.commit().await.map_err(pg)
        })
    }

    fn expire_greylist(&self, m: ExpireGreylist) -> StoreFuture<u64> {
        self.write(move |pool| async move {
            let mut client = pool.get().await.map_err(pool_err)?;
            let tx = client.transaction().await.map_err(pg)?;
            let mut n = tx
                .execute(EXPIRE_PENDING, &[&m.pending_before])
                .await
                .map_err(pg)?;
            n += tx
                .execute(EXPIRE_PASSED, &[&m.passed_before])
                .await
                .map_err(pg)?;
            n += tx
                .execute(EXPIRE_KNOWN, &[&m.passed_before])
                .await
                .map_err(pg)?;
            tx.commit().await.map_err(pg)?;
            Ok(n)
        })
    }

    fn read_bayes(&self, m: ReadBayes) -> StoreFuture<Vec<(i64, BayesCounts)>> {
        self.run(move |pool| async move {
            let mut client = pool.get().await.map_err(pool_err)?;
            // One snapshot for all accounts, as the embedded engine's read transaction.
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(pg)?;
            let wanted: Vec<i64> = m
                .tokens
                .iter()
                .copied()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let mut out = Vec::with_capacity(m.account_ids.len());
            for &account_id in &m.account_ids {
                let (spam, ham) = tx
                    .query_opt(TOTALS_GET, &[&account_id])
                    .await
                    .map_err(pg)?
                    .map_or((0, 0), |r| (r.get::<_, i64>(0), r.get::<_, i64>(1)));
                let mut counts = BayesCounts {
                    spam_messages: count(spam),
                    ham_messages: count(ham),
                    tokens: HashMap::new(),
                };
                // An untrained account has no token rows: skip the lookup.
                if spam + ham > 0 && !wanted.is_empty() {
                    for r in tx
                        .query(TOKENS_GET, &[&account_id, &wanted])
                        .await
                        .map_err(pg)?
                    {
                        let (hash, s, h): (i64, i64, i64) = (r.get(0), r.get(1), r.get(2));
                        counts.tokens.insert(hash, (count(s), count(h)));
                    }
                }
                out.push((account_id, counts));
            }
            tx.commit().await.map_err(pg)?;
            Ok(out)
        })
    }

    fn train_bayes(&self, m: TrainBayes) -> StoreFuture<Outcome<Trained>> {
        self.write(move |pool| async move {
            let mut client = pool.get().await.map_err(pool_err)?;
            let tx = client.transaction().await.map_err(pg)?;
            let trained = train(&tx, &m).await?;
            tx.commit().await.map_err(pg)?;
            Ok(Outcome::quiet(trained))
        })
    }

    fn record_spam_decisions(&self, m: RecordSpamDecisions) -> StoreFuture<Outcome<()>> {
        self.write(move |pool| async move {
            let mut client = pool.get().await.map_err(pool_err)?;
            let tx = client.transaction().await.map_err(pg)?;
            let now = unix_now();
            for d in &m.decisions {
                let uid = i64::from(d.uid);
                let blob: Option<String> = tx
                    .query_opt(MESSAGE_BLOB, &[&d.mailbox_id, &d.account_id, &uid])
                    .await
                    .map_err(pg)?
                    .map(|r| r.get(0));
                // Expunged (or never this account's) meanwhile: nothing to explain any more.
                let Some(blob) = blob else { continue };
                check_score(d.score)?;
                tx.execute(
                    DECISION_SET,
                    &[
                        &d.account_id,
                        &blob,
                        &d.score,
                        &d.action,
                        &d.rules_json,
                        &now,
                    ],
                )
                .await
                .map_err(pg)?;
            }
            tx.commit().await.map_err(pg)?;
            Ok(Outcome::quiet(()))
        })
    }

    fn fetch_spam_decision(&self, m: FetchSpamDecision) -> StoreFuture<Option<StoredSpamDecision>> {
        self.run(move |pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            let uid = i64::from(m.uid);
            let blob: String = client
                .query_opt(MESSAGE_BLOB, &[&m.mailbox_id, &m.account_id, &uid])
                .await
                .map_err(pg)?
                .map(|r| r.get(0))
                .ok_or_else(|| {
                    StoreError::NotFound(format!("message {} in mailbox {}", m.uid, m.mailbox_id))
                })?;
            Ok(client
                .query_opt(DECISION_GET, &[&m.account_id, &blob])
                .await
                .map_err(pg)?
                .map(|r| StoredSpamDecision {
                    score: r.get(0),
                    action: r.get(1),
                    rules_json: r.get(2),
                    at: r.get(3),
                }))
        })
    }

    fn fetch_blob(&self, m: FetchBlob) -> StoreFuture<Arc<[u8]>> {
        self.run(move |pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            // The body and its size are one row here, written together: no file to disagree.
            let data: Vec<u8> = client
                .query_opt(BLOB_OF_ACCOUNT, &[&m.account_id, &m.blob])
                .await
                .map_err(pg)?
                .map(|r| r.get(0))
                .ok_or_else(|| StoreError::NotFound(format!("message with body {}", m.blob)))?;
            Ok(Arc::from(data))
        })
    }

    fn hosted_domains(&self, m: HostedDomains) -> StoreFuture<Vec<String>> {
        self.run(move |pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            let keys: Vec<String> = m.domains.iter().map(|d| dkim_domain(d)).collect();
            let hosted: BTreeSet<String> = client
                .query(DOMAINS_HOSTED, &[&keys])
                .await
                .map_err(pg)?
                .iter()
                .map(|r| r.get(0))
                .collect();
            Ok(m.domains
                .into_iter()
                .zip(keys)
                .filter(|(_, key)| hosted.contains(key))
                .map(|(domain, _)| domain)
                .collect())
        })
    }

    fn dkim_keys(&self, m: DkimKeys) -> StoreFuture<Vec<DkimKey>> {
        self.run(move |pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            match dir::domain_dkim(&**client, &m.domain).await {
                // Signing asks about any sender domain: one not hosted simply has no keys.
                Err(StoreError::NotFound(_) | StoreError::Invalid(_)) => Ok(Vec::new()),
                found => found,
            }
        })
    }
}

/// See [`TrainBayes`]; the same steps as the embedded engine's `train`, with the account's
/// totals row locked first.
async fn train(tx: &Transaction<'_>, op: &TrainBayes) -> Result<Trained, StoreError> {
    if tx
        .query_opt(ACCOUNT_EXISTS, &[&op.account_id])
        .await
        .map_err(pg)?
        .is_none()
    {
        return Err(StoreError::NotFound(format!("account {}", op.account_id)));
    }
    tx.execute(TOTALS_ENSURE, &[&op.account_id])
        .await
        .map_err(pg)?;
    tx.execute(TOTALS_LOCK, &[&op.account_id])
        .await
        .map_err(pg)?;
    let tokens: BTreeSet<i64> = op.tokens.iter().copied().collect();
    let before: Option<(String, Vec<u8>)> = tx
        .query_opt(TRAINED_GET, &[&op.account_id, &op.blob])
        .await
        .map_err(pg)?
        .map(|r| (r.get(0), r.get(1)));
    let outcome = match &before {
        Some((class, _)) if class == op.class.as_str() => return Ok(Trained::Unchanged),
        Some((_, old_tokens)) => {
            // Take back exactly what the earlier training added.
            let (spam, ham) = unit(op.class.other());
            let old = tokens_from_blob(old_tokens);
            tx.execute(TOKENS_SUB, &[&op.account_id, &old, &spam, &ham])
                .await
                .map_err(pg)?;
            tx.execute(TOKENS_DROP_EMPTY, &[&op.account_id, &old])
                .await
                .map_err(pg)?;
            tx.execute(TOTALS_SUB, &[&op.account_id, &spam, &ham])
                .await
                .map_err(pg)?;
            Trained::Moved
        }
        None => Trained::New,
    };
    let (spam, ham) = unit(op.class);
    let list: Vec<i64> = tokens.iter().copied().collect();
    tx.execute(TOKENS_ADD, &[&op.account_id, &list, &spam, &ham])
        .await
        .map_err(pg)?;
    tx.execute(TOTALS_ADD, &[&op.account_id, &spam, &ham])
        .await
        .map_err(pg)?;
    tx.execute(
        TRAINED_SET,
        &[
            &op.account_id,
            &op.blob,
            &op.class.as_str(),
            &tokens_to_blob(&tokens),
            &unix_now(),
        ],
    )
    .await
    .map_err(pg)?;
    Ok(outcome)
}
