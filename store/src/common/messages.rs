//! Engine-neutral rules for messages and mailboxes: how a body is prepared for storage
//! (hash, analysis, header block), how keywords are stored, what STORE makes of a message's
//! flags, the quota rule, UIDVALIDITY arithmetic, the plan of a RENAME, and the
//! announcements and events a write produces. Both engines call these, so the two cannot
//! drift apart.

use std::collections::BTreeSet;
use std::sync::Arc;

use mailroom_shared::events::{EventData, MessageMoved};
use mailroom_shared::msg::{MailboxChange, MailboxChanged};

use crate::engine::Outcome;
use crate::error::StoreError;
use crate::mime;
use crate::requests::{Append, Deliver};
use crate::types::{
    FlagOp, FlagsResult, HIERARCHY_DELIMITER, MessageInfo, check_flags, mailbox_name,
    normalize_keywords,
};

/// Largest body analysed on the caller's own thread (some tens of microseconds); larger ones
/// go to the blocking pool, so an async thread never stalls on a big message.
pub(crate) const ANALYZE_IN_PLACE_MAX: usize = 16 * 1024;

/// A body ready to be referenced: its key, analysis and header block.
#[derive(Debug, Clone)]
pub(crate) struct Body {
    /// Lowercase hex SHA-256 ([`crate::types::blob_hash`]).
    pub hash: String,
    pub size: u64,
    /// `mime::MessageMeta` as JSON, stored with the body.
    pub meta_json: String,
    /// The message itself.
    pub raw: Arc<[u8]>,
    /// Octets of `raw` that are the header block, blank line included.
    pub header_len: usize,
}

impl Body {
    /// Analyse `raw`, whose key is `hash`.
    pub(crate) fn analyze(raw: Arc<[u8]>, hash: String) -> Result<Self, StoreError> {
        let meta = mime::analyze(&raw);
        Ok(Body {
            hash,
            size: raw.len() as u64,
            meta_json: serde_json::to_string(&meta)?,
            header_len: mime::header_len(&raw),
            raw,
        })
    }

    /// The header block, blank line included.
    pub(crate) fn header(&self) -> &[u8] {
        &self.raw[..self.header_len]
    }
}

/// Key and analyse `raw`: `hash` gives its key (and may store it somewhere first). Small
/// bodies are done in place, large ones on the blocking pool.
pub(crate) async fn prepare_body<H>(raw: Arc<[u8]>, hash: H) -> Result<Body, StoreError>
where
    H: FnOnce(&Arc<[u8]>) -> Result<String, StoreError> + Send + 'static,
{
    let in_place = raw.len() <= ANALYZE_IN_PLACE_MAX;
    let work = move || {
        let key = hash(&raw)?;
        Body::analyze(raw, key)
    };
    if in_place {
        return work();
    }
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Unavailable(format!("body task: {e}")))?
}

/// Deliver one body to the INBOX (or Junk) of each recipient, all or nothing.
#[derive(Debug, Clone)]
pub(crate) struct DeliverOp {
    pub recipients: Vec<i64>,
    /// Recipients whose copy is filed in Junk.
    pub junk: Vec<i64>,
    pub body: Body,
    pub internal_date: i64,
    /// Logged by the delivery's transaction: both or neither.
    pub event: Option<EventData>,
}

impl DeliverOp {
    /// The delivery `m` asks for, its body prepared with `hash` (see [`prepare_body`]);
    /// `Invalid` without a recipient. An absent INTERNALDATE is `now`.
    pub(crate) async fn prepare<H>(m: Deliver, now: i64, hash: H) -> Result<Self, StoreError>
    where
        H: FnOnce(&Arc<[u8]>) -> Result<String, StoreError> + Send + 'static,
    {
        if m.recipients.is_empty() {
            return Err(StoreError::Invalid("a delivery needs a recipient".into()));
        }
        Ok(DeliverOp {
            recipients: m.recipients,
            junk: m.junk,
            body: prepare_body(m.raw, hash).await?,
            internal_date: m.internal_date.unwrap_or(now),
            event: m.event,
        })
    }
}

/// APPEND one body to a named mailbox, with checked flags and keywords.
#[derive(Debug, Clone)]
pub(crate) struct AppendOp {
    pub account_id: i64,
    pub mailbox: String,
    pub flags: u8,
    pub keywords: Vec<String>,
    pub internal_date: i64,
    pub body: Body,
}

impl AppendOp {
    /// The APPEND `m` asks for: flags and keywords checked first (before a body is stored
    /// anywhere), then its body prepared with `hash`. An absent INTERNALDATE is `now`.
    pub(crate) async fn prepare<H>(m: Append, now: i64, hash: H) -> Result<Self, StoreError>
    where
        H: FnOnce(&Arc<[u8]>) -> Result<String, StoreError> + Send + 'static,
    {
        let flags = check_flags(m.flags)?;
        let keywords = normalize_keywords(&m.keywords)?;
        Ok(AppendOp {
            account_id: m.account_id,
            mailbox: m.mailbox,
            flags,
            keywords,
            internal_date: m.internal_date.unwrap_or(now),
            body: prepare_body(m.raw, hash).await?,
        })
    }
}

/// The per-message columns of a new message: what a delivery, an APPEND or a copy stores.
pub(crate) struct Stored {
    pub flags: u8,
    /// As [`keywords_to_text`] stores them.
    pub keywords: String,
    pub internal_date: i64,
    pub size: u64,
}

impl Stored {
    /// A delivered message: no flags.
    pub(crate) fn delivered(op: &DeliverOp) -> Self {
        Stored {
            flags: 0,
            keywords: String::new(),
            internal_date: op.internal_date,
            size: op.body.size,
        }
    }

    /// An appended message, with its flags and keywords.
    pub(crate) fn appended(op: &AppendOp) -> Self {
        Stored {
            flags: op.flags,
            keywords: keywords_to_text(&op.keywords),
            internal_date: op.internal_date,
            size: op.body.size,
        }
    }

    /// A copy of `m`: same flags, keywords and INTERNALDATE (RFC 9051 §6.4.7).
    pub(crate) fn copy_of(m: &MessageInfo) -> Self {
        Stored {
            flags: m.flags,
            keywords: keywords_to_text(&m.keywords),
            internal_date: m.internal_date,
            size: m.size,
        }
    }
}

/// A body read back, checked against the length recorded for it.
pub(crate) fn check_stored(hash: &str, size: u64, data: Vec<u8>) -> Result<Vec<u8>, StoreError> {
    if data.len() as u64 != size {
        return Err(StoreError::Unavailable(format!(
            "blob {hash} has {} octets, expected {size}",
            data.len()
        )));
    }
    Ok(data)
}

/// Keywords as stored: space-separated (keywords are atoms, so they hold no space).
pub(crate) fn keywords_to_text(keywords: &[String]) -> String {
    keywords.join(" ")
}

/// Keywords as [`keywords_to_text`] stored them.
pub(crate) fn keywords_from_text(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

/// `uids` ascending, each once.
pub(crate) fn sorted_unique(uids: &[u32]) -> Vec<u32> {
    let set: BTreeSet<u32> = uids.iter().copied().collect();
    set.into_iter().collect()
}

/// What STORE (RFC 9051 §6.4.6) makes of `current` with `op` on checked `flags` and
/// normalized `keywords`; `None` when nothing changes (RFC 7162 §3.1: then neither does the
/// MODSEQ).
pub(crate) fn apply_flags(
    op: FlagOp,
    flags: u8,
    keywords: &[String],
    current: &MessageInfo,
) -> Result<Option<(u8, Vec<String>)>, StoreError> {
    let (new_flags, new_keywords) = match op {
        FlagOp::Add => (current.flags | flags, {
            let mut all = current.keywords.clone();
            all.extend(keywords.iter().cloned());
            normalize_keywords(&all)?
        }),
        FlagOp::Remove => (
            current.flags & !flags,
            current
                .keywords
                .iter()
                .filter(|k| !keywords.iter().any(|r| r.eq_ignore_ascii_case(k)))
                .cloned()
                .collect(),
        ),
        FlagOp::Replace => (flags, keywords.to_vec()),
    };
    if new_flags == current.flags && new_keywords == current.keywords {
        return Ok(None);
    }
    Ok(Some((new_flags, new_keywords)))
}

/// The account's usage after adding `bytes`, unless that goes over its quota (0 = none):
/// then `QuotaExceeded` naming `address`.
pub(crate) fn charged_usage(
    address: &str,
    quota: i64,
    used: i64,
    bytes: u64,
) -> Result<u64, StoreError> {
    let after = (used.max(0) as u64).saturating_add(bytes);
    if quota > 0 && after > quota as u64 {
        return Err(StoreError::QuotaExceeded {
            address: address.to_string(),
        });
    }
    Ok(after)
}

/// A UIDVALIDITY never used before: one more than `last`, and at least `now`, so a store
/// rebuilt from scratch does not repeat values clients have cached (RFC 9051 §2.3.1.1).
pub(crate) fn next_uidvalidity(last: i64, now: i64) -> Result<u32, StoreError> {
    let next = last.saturating_add(1).max(now);
    u32::try_from(next)
        .map_err(|_| StoreError::Unavailable("UIDVALIDITY values are exhausted".into()))
}

/// RENAME (RFC 9051 §6.3.6) of `from` (id `from_id`, not INBOX) to a checked `to`, given
/// every (id, name) of the account: the (id, new name) of the mailbox and its inferiors
/// (`a/x` → `b/x`). `Invalid` for a `to` inside `from` or an inferior name too long;
/// `Exists` when a new name is taken by a mailbox that does not move.
pub(crate) fn plan_rename(
    all: &[(i64, String)],
    from_id: i64,
    from: &str,
    to: &str,
) -> Result<Vec<(i64, String)>, StoreError> {
    let inferior_prefix = format!("{from}{HIERARCHY_DELIMITER}");
    if to.starts_with(&inferior_prefix) {
        return Err(StoreError::Invalid(format!(
            "cannot rename {from} to its own inferior {to}"
        )));
    }
    let mut moving = Vec::new();
    for (id, old) in all {
        // The part after `from`: empty for the mailbox itself, `/x…` for an inferior.
        let suffix = if *id == from_id {
            ""
        } else if old.starts_with(&inferior_prefix) {
            &old[from.len()..]
        } else {
            continue;
        };
        let new = format!("{to}{suffix}");
        // An inferior's new name must obey the length limits too.
        mailbox_name(&new)?;
        moving.push((*id, new));
    }
    // It is an error to rename to an existing name; names this rename vacates are free.
    for (_, new) in &moving {
        let taken = all
            .iter()
            .any(|(id, old)| old == new && !moving.iter().any(|(m, _)| m == id));
        if taken {
            return Err(StoreError::Exists(format!("mailbox {new}")));
        }
    }
    Ok(moving)
}

/// The interim name of a mailbox in the middle of a RENAME: a new name may be another moving
/// mailbox's old one (`a/b` → `a` turns `a/b/b/x` into `a/b/x`) and uniqueness is checked
/// row by row, so every mover first takes a name that holds a control character, which no
/// valid name does (and which, unlike NUL, PostgreSQL text can hold).
pub(crate) fn interim_name(id: i64) -> String {
    format!("\u{1}renaming\u{1}{id}")
}

/// The announcement of a change of `change` to a mailbox, at its HIGHESTMODSEQ `modseq`.
pub(crate) fn changed(
    account_id: i64,
    mailbox_id: i64,
    change: MailboxChange,
    modseq: u64,
) -> MailboxChanged {
    MailboxChanged {
        account_id,
        mailbox_id,
        change,
        modseq,
    }
}

/// STORE's outcome: one `Flags` change, at the last MODSEQ given out, if anything changed.
pub(crate) fn flags_outcome(
    account_id: i64,
    mailbox_id: i64,
    result: FlagsResult,
) -> Outcome<FlagsResult> {
    let changes = result
        .updated
        .last()
        .map(|m| changed(account_id, mailbox_id, MailboxChange::Flags, m.modseq))
        .into_iter()
        .collect();
    Outcome {
        value: result,
        changes,
        events: Vec::new(),
    }
}

/// The outcome of a removal (EXPUNGE, POP3's): one `Expunged` change at the removal's
/// MODSEQ, if there was one.
pub(crate) fn expunged_outcome(
    account_id: i64,
    mailbox_id: i64,
    uids: Vec<u32>,
    modseq: Option<u64>,
) -> Outcome<Vec<u32>> {
    Outcome {
        value: uids,
        changes: modseq
            .map(|m| changed(account_id, mailbox_id, MailboxChange::Expunged, m))
            .into_iter()
            .collect(),
        events: Vec::new(),
    }
}

/// The changes of RENAME INBOX (RFC 9051 §6.3.6) after `superiors`: the new mailbox (at the
/// MODSEQ of the last message moved in, else its first) and INBOX's expunges, if any.
pub(crate) fn inbox_renamed(
    account_id: i64,
    mut superiors: Vec<MailboxChanged>,
    (to_id, to_modseq): (i64, u64),
    (inbox_id, inbox_modseq): (i64, Option<u64>),
) -> Outcome<()> {
    superiors.push(changed(
        account_id,
        to_id,
        MailboxChange::Mailbox,
        to_modseq,
    ));
    if let Some(m) = inbox_modseq {
        superiors.push(changed(account_id, inbox_id, MailboxChange::Expunged, m));
    }
    Outcome {
        value: (),
        changes: superiors,
        events: Vec::new(),
    }
}

/// The changes of a MOVE: the target's addition and the source's expunges, as far as each
/// happened.
pub(crate) fn move_changes(
    account_id: i64,
    (to, to_modseq): (i64, Option<u64>),
    (from, from_modseq): (i64, Option<u64>),
) -> Vec<MailboxChanged> {
    let mut changes = Vec::new();
    if let Some(m) = to_modseq {
        changes.push(added(account_id, to, m));
    }
    if let Some(m) = from_modseq {
        changes.push(changed(account_id, from, MailboxChange::Expunged, m));
    }
    changes
}

/// The announcement of messages added to a mailbox.
pub(crate) fn added(account_id: i64, mailbox_id: i64, modseq: u64) -> MailboxChanged {
    changed(account_id, mailbox_id, MailboxChange::Added, modseq)
}

/// The event a delivery logs: the caller's, with a `Delivered`'s recipients set to the
/// addresses of the accounts that got it (only the store knows whose accounts an alias led
/// to).
pub(crate) fn delivery_event(event: &EventData, addresses: Vec<String>) -> EventData {
    let mut event = event.clone();
    if let EventData::Delivered(d) = &mut event {
        d.recipients = addresses;
    }
    event
}

/// A mailbox's name and special use, as events name it.
pub(crate) type NamedMailbox = (String, Option<String>);

/// The `MessageMoved` event of a MOVE of the bodies `blobs` (the spam scorer learns from
/// moves into and out of Junk).
pub(crate) fn moved_event(
    account: String,
    account_id: i64,
    from: NamedMailbox,
    to: NamedMailbox,
    blobs: Vec<String>,
) -> EventData {
    EventData::MessageMoved(MessageMoved {
        account,
        account_id,
        from_mailbox: from.0,
        from_special_use: from.1,
        to_mailbox: to.0,
        to_special_use: to.1,
        blobs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(flags: u8, keywords: &[&str]) -> MessageInfo {
        MessageInfo {
            uid: 1,
            flags,
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
            modseq: 1,
            internal_date: 0,
            size: 1,
        }
    }

    #[test]
    fn store_changes_only_what_differs() {
        let kw = |v: &[&str]| v.iter().map(|k| k.to_string()).collect::<Vec<_>>();
        assert_eq!(
            apply_flags(FlagOp::Add, 1, &kw(&["b"]), &info(2, &["a"])).expect("add"),
            Some((3, kw(&["a", "b"])))
        );
        assert_eq!(
            apply_flags(FlagOp::Remove, 2, &kw(&["A"]), &info(3, &["a", "b"])).expect("remove"),
            Some((1, kw(&["b"])))
        );
        assert_eq!(
            apply_flags(FlagOp::Add, 1, &kw(&["a"]), &info(1, &["a"])).expect("same"),
            None
        );
    }

    #[test]
    fn quota_and_uidvalidity_rules() {
        assert_eq!(charged_usage("a@x", 0, 5, 10), Ok(15));
        assert_eq!(charged_usage("a@x", 15, 5, 10), Ok(15));
        assert_eq!(
            charged_usage("a@x", 14, 5, 10),
            Err(StoreError::QuotaExceeded {
                address: "a@x".into()
            })
        );
        assert_eq!(next_uidvalidity(5, 100), Ok(100));
        assert_eq!(next_uidvalidity(100, 100), Ok(101));
        assert!(next_uidvalidity(i64::from(u32::MAX), 0).is_err());
    }

    #[test]
    fn rename_plans_inferiors_and_refuses_taken_names() {
        let all = vec![
            (1, "a".to_string()),
            (2, "a/x".to_string()),
            (3, "b".to_string()),
            (4, "ab".to_string()),
        ];
        assert_eq!(
            plan_rename(&all, 1, "a", "c").expect("plan"),
            vec![(1, "c".to_string()), (2, "c/x".to_string())]
        );
        assert!(matches!(
            plan_rename(&all, 1, "a", "b"),
            Err(StoreError::Exists(_))
        ));
        assert!(matches!(
            plan_rename(&all, 1, "a", "a/y"),
            Err(StoreError::Invalid(_))
        ));
    }
}
