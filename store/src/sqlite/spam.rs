//! The spam scorer's tables (schema version 6): the writes [`train`] and [`record_decisions`],
//! run by the writer inside its group commit, and the reads [`bayes_counts`],
//! [`decision_of`] and [`blob_of_account`]. See `crate::spam` for what each request means.

use std::collections::{BTreeSet, HashMap};

use rusqlite::{Connection, OptionalExtension, params};

use super::unix_now;
use crate::common::directory::dkim_domain;
use crate::common::policy::{check_score, count, tokens_from_blob, tokens_to_blob, unit};
use crate::error::StoreError;
use crate::spam::{BayesCounts, RecordSpamDecisions, StoredSpamDecision, TrainBayes, Trained};

const DOMAIN_EXISTS: &str = "SELECT 1 FROM domains WHERE name = ?1";
const ACCOUNT_EXISTS: &str = "SELECT 1 FROM accounts WHERE id = ?1";
const TRAINED_GET: &str =
    "SELECT class, tokens FROM bayes_trained WHERE account_id = ?1 AND blob = ?2";
const TRAINED_SET: &str = "INSERT INTO bayes_trained (account_id, blob, class, tokens, at) \
     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (account_id, blob) DO UPDATE SET \
     class = excluded.class, tokens = excluded.tokens, at = excluded.at";
const TOKEN_ADD: &str = "INSERT INTO bayes_tokens (account_id, token_hash, spam, ham) \
     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (account_id, token_hash) DO UPDATE SET \
     spam = spam + excluded.spam, ham = ham + excluded.ham";
const TOKEN_SUB: &str = "UPDATE bayes_tokens SET spam = max(spam - ?3, 0), \
     ham = max(ham - ?4, 0) WHERE account_id = ?1 AND token_hash = ?2";
const TOKEN_DROP_EMPTY: &str = "DELETE FROM bayes_tokens \
     WHERE account_id = ?1 AND token_hash = ?2 AND spam = 0 AND ham = 0";
const TOTALS_ADD: &str = "INSERT INTO bayes_totals (account_id, spam, ham) VALUES (?1, ?2, ?3) \
     ON CONFLICT (account_id) DO UPDATE SET \
     spam = spam + excluded.spam, ham = ham + excluded.ham";
const TOTALS_SUB: &str = "UPDATE bayes_totals SET spam = max(spam - ?2, 0), \
     ham = max(ham - ?3, 0) WHERE account_id = ?1";
const TOTALS_GET: &str = "SELECT spam, ham FROM bayes_totals WHERE account_id = ?1";
const TOKEN_GET: &str =
    "SELECT spam, ham FROM bayes_tokens WHERE account_id = ?1 AND token_hash = ?2";
const MESSAGE_BLOB: &str = "SELECT m.blob FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id \
     WHERE m.mailbox_id = ?1 AND b.account_id = ?2 AND m.uid = ?3";
const DECISION_SET: &str = "INSERT INTO spam_decisions \
     (account_id, blob, score, action, rules, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
     ON CONFLICT (account_id, blob) DO UPDATE SET score = excluded.score, \
     action = excluded.action, rules = excluded.rules, at = excluded.at";
const DECISION_GET: &str =
    "SELECT score, action, rules, at FROM spam_decisions WHERE account_id = ?1 AND blob = ?2";
const BLOB_OF_ACCOUNT: &str = "SELECT bl.size, bl.data FROM messages m \
     JOIN mailboxes b ON b.id = m.mailbox_id JOIN blobs bl ON bl.sha256 = m.blob \
     WHERE m.blob = ?2 AND b.account_id = ?1 LIMIT 1";

/// See [`TrainBayes`].
pub(crate) fn train(conn: &Connection, op: &TrainBayes) -> Result<Trained, StoreError> {
    if conn
        .query_row(ACCOUNT_EXISTS, [op.account_id], |_| Ok(()))
        .optional()?
        .is_none()
    {
        return Err(StoreError::NotFound(format!("account {}", op.account_id)));
    }
    let tokens: BTreeSet<i64> = op.tokens.iter().copied().collect();
    let before: Option<(String, Vec<u8>)> = conn
        .query_row(TRAINED_GET, params![op.account_id, op.blob], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let outcome = match &before {
        Some((class, _)) if class == op.class.as_str() => return Ok(Trained::Unchanged),
        Some((_, old_tokens)) => {
            // Take back exactly what the earlier training added.
            let (spam, ham) = unit(op.class.other());
            let mut sub = conn.prepare_cached(TOKEN_SUB)?;
            let mut drop_empty = conn.prepare_cached(TOKEN_DROP_EMPTY)?;
            for token in tokens_from_blob(old_tokens) {
                sub.execute(params![op.account_id, token, spam, ham])?;
                drop_empty.execute(params![op.account_id, token])?;
            }
            conn.execute(TOTALS_SUB, params![op.account_id, spam, ham])?;
            Trained::Moved
        }
        None => Trained::New,
    };
    let (spam, ham) = unit(op.class);
    let mut add = conn.prepare_cached(TOKEN_ADD)?;
    for token in &tokens {
        add.execute(params![op.account_id, token, spam, ham])?;
    }
    conn.execute(TOTALS_ADD, params![op.account_id, spam, ham])?;
    conn.execute(
        TRAINED_SET,
        params![
            op.account_id,
            op.blob,
            op.class.as_str(),
            tokens_to_blob(&tokens),
            unix_now()
        ],
    )?;
    Ok(outcome)
}

/// See [`RecordSpamDecisions`].
pub(crate) fn record_decisions(
    conn: &Connection,
    op: &RecordSpamDecisions,
) -> Result<(), StoreError> {
    let now = unix_now();
    let mut blob_of = conn.prepare_cached(MESSAGE_BLOB)?;
    let mut set = conn.prepare_cached(DECISION_SET)?;
    for d in &op.decisions {
        let blob: Option<String> = blob_of
            .query_row(params![d.mailbox_id, d.account_id, d.uid], |r| r.get(0))
            .optional()?;
        // Expunged (or never this account's) meanwhile: nothing to explain any more.
        let Some(blob) = blob else { continue };
        check_score(d.score)?;
        set.execute(params![
            d.account_id,
            blob,
            d.score,
            d.action,
            d.rules_json,
            now
        ])?;
    }
    Ok(())
}

/// See [`crate::spam::ReadBayes`]: one snapshot for all accounts.
pub(crate) fn bayes_counts(
    conn: &mut Connection,
    account_ids: &[i64],
    tokens: &[i64],
) -> Result<Vec<(i64, BayesCounts)>, StoreError> {
    let tx = conn.transaction()?;
    let wanted: BTreeSet<i64> = tokens.iter().copied().collect();
    let mut out = Vec::with_capacity(account_ids.len());
    {
        let mut totals = tx.prepare_cached(TOTALS_GET)?;
        let mut token = tx.prepare_cached(TOKEN_GET)?;
        for &account_id in account_ids {
            let (spam_messages, ham_messages) = totals
                .query_row([account_id], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
                })
                .optional()?
                .unwrap_or((0, 0));
            let mut counts = BayesCounts {
                spam_messages: count(spam_messages),
                ham_messages: count(ham_messages),
                tokens: HashMap::new(),
            };
            // An untrained account has no token rows: skip the lookups.
            if spam_messages + ham_messages > 0 {
                for &hash in &wanted {
                    let found: Option<(i64, i64)> = token
                        .query_row(params![account_id, hash], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()?;
                    if let Some((s, h)) = found {
                        counts.tokens.insert(hash, (count(s), count(h)));
                    }
                }
            }
            out.push((account_id, counts));
        }
    }
    tx.finish()?;
    Ok(out)
}

/// See [`crate::spam::FetchSpamDecision`].
pub(crate) fn decision_of(
    conn: &mut Connection,
    account_id: i64,
    mailbox_id: i64,
    uid: u32,
) -> Result<Option<StoredSpamDecision>, StoreError> {
    let tx = conn.transaction()?;
    let blob: Option<String> = tx
        .query_row(MESSAGE_BLOB, params![mailbox_id, account_id, uid], |r| {
            r.get(0)
        })
        .optional()?;
    let Some(blob) = blob else {
        return Err(StoreError::NotFound(format!(
            "message {uid} in mailbox {mailbox_id}"
        )));
    };
    let found = tx
        .query_row(DECISION_GET, params![account_id, blob], |r| {
            Ok(StoredSpamDecision {
                score: r.get(0)?,
                action: r.get(1)?,
                rules_json: r.get(2)?,
                at: r.get(3)?,
            })
        })
        .optional()?;
    Ok(found)
}

/// See [`crate::spam::HostedDomains`].
pub(crate) fn hosted_domains(
    conn: &Connection,
    domains: &[String],
) -> Result<Vec<String>, StoreError> {
    let mut exists = conn.prepare_cached(DOMAIN_EXISTS)?;
    let mut out = Vec::new();
    for domain in domains {
        let key = dkim_domain(domain);
        if exists.query_row([&key], |_| Ok(())).optional()?.is_some() {
            out.push(domain.clone());
        }
    }
    Ok(out)
}

/// Where the body `blob` is, if a message of `account_id` has it: (size, inline data).
pub(crate) fn blob_of_account(
    conn: &Connection,
    account_id: i64,
    blob: &str,
) -> Result<(u64, Option<Vec<u8>>), StoreError> {
    conn.query_row(BLOB_OF_ACCOUNT, params![account_id, blob], |r| {
        Ok((r.get::<_, i64>(0)?.max(0) as u64, r.get(1)?))
    })
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("message with body {blob}")))
}
