//! The selected mailbox as this session knows it: the message list that gives sequence
//! numbers their meaning, and the untagged updates that bring it up to date with the store.
//!
//! Sequence numbers (RFC 9051 §2.3.1.2) are positions in `messages`, which only changes when
//! this session announces it: new messages are appended and announced with EXISTS, expunged
//! ones removed and announced with EXPUNGE — never while a FETCH, STORE or SEARCH by sequence
//! number runs (RFC 9051 §7.5.1), so a client's numbers stay valid for the whole command.
//!
//! Every message enters or changes in `messages` through [`Selected::new`],
//! [`Selected::apply`] or [`Selected::take_updated`], and the last two announce a keyword
//! FLAGS has not listed before they write any FETCH, so no FETCH ever carries a keyword
//! the client was not told of in FLAGS (RFC 3501 §7.2.6). `\Recent` is the store's to give
//! (see `recent_mark` in the session): a session only records which UIDs it was given.

use std::collections::HashSet;

use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use mailroom_store::{MailboxInfo, MessageInfo};

use crate::proto::write::{self, Status};

/// The system flags in FLAGS and PERMANENTFLAGS, in the order clients are used to.
const SYSTEM_FLAGS: &str = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";

/// A mailbox opened by SELECT or EXAMINE.
#[derive(Debug)]
pub(crate) struct Selected {
    /// The mailbox as last read.
    pub(crate) info: MailboxInfo,
    /// EXAMINE, or SELECT of a mailbox we may not change.
    pub(crate) read_only: bool,
    /// Messages by ascending UID; index + 1 is the sequence number.
    pub(crate) messages: Vec<MessageInfo>,
    /// UIDs that are `\Recent` in this session (RFC 3501 §2.3.2): the ones it claimed from
    /// the store at SELECT or when they arrived, or, read-only, the ones no session claimed.
    pub(crate) recent: HashSet<u32>,
    /// The keywords the client was last told of in FLAGS (RFC 3501 §7.2.6): a FETCH may
    /// carry no other, so a new one is announced first ([`Selected::learn_keywords`]).
    pub(crate) flags: Vec<String>,
    /// HIGHESTMODSEQ up to which changes have been taken in.
    pub(crate) modseq: u64,
    /// UIDs expunged in the store but not yet announced (a sequence-number command was
    /// running); they stay in `messages` until then.
    pub(crate) pending_expunges: Vec<u32>,
    /// The store changed this mailbox since `modseq` (a `MailboxChanged` event arrived).
    pub(crate) dirty: bool,
}

/// A sequence set that names a message number the mailbox does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadSequence;

impl Selected {
    pub(crate) fn new(info: MailboxInfo, messages: Vec<MessageInfo>, read_only: bool) -> Self {
        let mut selected = Self {
            modseq: info.highestmodseq,
            info,
            read_only,
            messages,
            recent: HashSet::new(),
            flags: Vec::new(),
            pending_expunges: Vec::new(),
            dirty: false,
        };
        selected.flags = selected.keywords();
        selected
    }

    /// Make the messages with a UID above `mark` `\Recent` in this session.
    pub(crate) fn recent_above(&mut self, mark: u32) {
        let start = self.messages.partition_point(|m| m.uid <= mark);
        self.recent
            .extend(self.messages[start..].iter().map(|m| m.uid));
    }

    /// `* FLAGS (…)`: the system flags and every keyword announced (RFC 9051 §7.3.5).
    pub(crate) fn write_flags(&self, out: &mut Vec<u8>) {
        let mut line = format!("FLAGS ({SYSTEM_FLAGS}");
        for k in &self.flags {
            line.push(' ');
            line.push_str(k);
        }
        line.push(')');
        write::untagged(out, &line);
    }

    /// `* OK [PERMANENTFLAGS (…)]`: all of FLAGS and `\*` (new keywords may be made), or
    /// nothing in a read-only mailbox (RFC 9051 §7.1).
    pub(crate) fn write_permanent_flags(&self, out: &mut Vec<u8>) {
        let mut list = String::new();
        if !self.read_only {
            list.push_str(SYSTEM_FLAGS);
            for k in &self.flags {
                list.push(' ');
                list.push_str(k);
            }
            list.push_str(" \\*");
        }
        write::status(
            out,
            None,
            Status::Ok,
            Some(&format!("PERMANENTFLAGS ({list})")),
            "flags you can change",
        );
    }

    /// Announce the keywords among `keywords` that FLAGS has not listed yet: FLAGS, then
    /// PERMANENTFLAGS unless read-only. Call before writing any FETCH that may carry them
    /// (RFC 3501 §7.2.6, RFC 9051 §7.3.5: FLAGS lists every flag the mailbox uses).
    pub(crate) fn learn_keywords<'a>(
        &mut self,
        keywords: impl IntoIterator<Item = &'a String>,
        out: &mut Vec<u8>,
    ) {
        let before = self.flags.len();
        for k in keywords {
            // Flag names are case-insensitive (RFC 9051 §2.3.2).
            if !self.flags.iter().any(|f| f.eq_ignore_ascii_case(k)) {
                self.flags.push(k.clone());
            }
        }
        if self.flags.len() == before {
            return;
        }
        self.flags.sort_by_key(|k| k.to_ascii_lowercase());
        self.write_flags(out);
        if !self.read_only {
            self.write_permanent_flags(out);
        }
    }

    /// Take in the messages a flag change of this session returned (STORE, FETCH setting
    /// `\Seen`), announcing new keywords first; they may carry another session's keywords too.
    pub(crate) fn take_updated(&mut self, updated: Vec<MessageInfo>, out: &mut Vec<u8>) {
        self.learn_keywords(updated.iter().flat_map(|m| &m.keywords), out);
        for m in updated {
            if let Some(known) = self.get_mut(m.uid) {
                *known = m;
            }
        }
    }

    /// Number of messages the client knows of (EXISTS).
    pub(crate) fn exists(&self) -> u32 {
        self.messages.len() as u32
    }

    /// Sequence number of `uid`, if the session knows the message.
    pub(crate) fn seq_of(&self, uid: u32) -> Option<u32> {
        self.messages
            .binary_search_by_key(&uid, |m| m.uid)
            .ok()
            .map(|i| i as u32 + 1)
    }

    /// The message with `uid`.
    fn get_mut(&mut self, uid: u32) -> Option<&mut MessageInfo> {
        let i = self.messages.binary_search_by_key(&uid, |m| m.uid).ok()?;
        self.messages.get_mut(i)
    }

    /// (sequence number, UID) of every message `set` names, ascending, without duplicates.
    ///
    /// By UID (RFC 9051 §6.4.9): UIDs that do not exist are ignored, and `*` is the highest
    /// UID, so `n:*` names at least the last message. By sequence number: a number above
    /// EXISTS is an error (RFC 9051 §9 `seq-number`), and in an empty mailbox `*` is too.
    pub(crate) fn resolve(
        &self,
        set: &SequenceSet,
        uid: bool,
    ) -> Result<Vec<(u32, u32)>, BadSequence> {
        let n = self.messages.len();
        let mut picked = vec![false; n];
        for seq in set.0.as_ref() {
            let (a, b) = match seq {
                Sequence::Single(x) => (*x, *x),
                Sequence::Range(x, y) => (*x, *y),
            };
            if uid {
                let Some(last) = self.messages.last().map(|m| m.uid) else {
                    continue;
                };
                let value = |x: SeqOrUid| match x {
                    SeqOrUid::Value(v) => v.get(),
                    SeqOrUid::Asterisk => last,
                };
                let (lo, hi) = ordered(value(a), value(b));
                let start = self.messages.partition_point(|m| m.uid < lo);
                let end = self.messages.partition_point(|m| m.uid <= hi);
                picked[start..end.max(start)]
                    .iter_mut()
                    .for_each(|p| *p = true);
            } else {
                let value = |x: SeqOrUid| match x {
                    SeqOrUid::Value(v) => Ok(v.get() as usize),
                    SeqOrUid::Asterisk if n > 0 => Ok(n),
                    SeqOrUid::Asterisk => Err(BadSequence),
                };
                let (lo, hi) = ordered(value(a)?, value(b)?);
                if hi > n {
                    return Err(BadSequence);
                }
                picked[lo - 1..hi].iter_mut().for_each(|p| *p = true);
            }
        }
        Ok(picked
            .iter()
            .enumerate()
            .filter(|(_, p)| **p)
            .map(|(i, _)| (i as u32 + 1, self.messages[i].uid))
            .collect())
    }

    /// Whether the mailbox may be changed; if not, the `NO [READ-ONLY]` is written.
    pub(crate) fn check_writable(&self, tag: &str, out: &mut Vec<u8>) -> bool {
        if self.read_only {
            write::status(
                out,
                Some(tag),
                Status::No,
                Some("READ-ONLY"),
                "the mailbox is read-only",
            );
        }
        !self.read_only
    }

    /// [`Selected::resolve`], writing the BAD for a sequence number the mailbox does not have.
    pub(crate) fn pick(
        &self,
        set: &SequenceSet,
        uid: bool,
        tag: &str,
        out: &mut Vec<u8>,
    ) -> Option<Vec<(u32, u32)>> {
        match self.resolve(set, uid) {
            Ok(picked) => Some(picked),
            Err(BadSequence) => {
                write::status(
                    out,
                    Some(tag),
                    Status::Bad,
                    None,
                    "invalid message sequence number",
                );
                None
            }
        }
    }

    /// The UID of the newest message in `changes` that this session does not know yet.
    pub(crate) fn newest_unknown(&self, changes: &mailroom_store::ChangeSet) -> Option<u32> {
        let last = self.messages.last().map_or(0, |m| m.uid);
        changes
            .changed
            .last()
            .map(|m| m.uid)
            .filter(|&uid| uid > last)
    }

    /// Take in what the store reports changed since `self.modseq`, writing the untagged
    /// responses for it: keywords new to FLAGS (FLAGS, PERMANENTFLAGS) before anything that
    /// carries them, new messages (EXISTS, and RECENT for IMAP4rev1; those above
    /// `recent_mark` are `\Recent` here), flag changes (FETCH FLAGS, with UID), and — when
    /// `expunge_ok` — expunges (EXPUNGE), else they wait.
    pub(crate) fn apply(
        &mut self,
        changes: mailroom_store::ChangeSet,
        recent_mark: u32,
        expunge_ok: bool,
        rev2: bool,
        out: &mut Vec<u8>,
    ) {
        self.pending_expunges.extend(changes.expunged);
        if expunge_ok {
            self.announce_expunges(out);
        }
        self.learn_keywords(changes.changed.iter().flat_map(|m| &m.keywords), out);
        let before = self.messages.len();
        let mut last_uid = self.messages.last().map_or(0, |m| m.uid);
        for m in changes.changed {
            let seq = self.seq_of(m.uid);
            match seq {
                Some(seq) => {
                    let known = &mut self.messages[seq as usize - 1];
                    if known.flags != m.flags || known.keywords != m.keywords {
                        let recent = self.recent.contains(&m.uid);
                        let flags = write::flag_list(m.flags, &m.keywords, recent && !rev2);
                        write::untagged(out, &format!("{seq} FETCH (UID {} FLAGS {flags})", m.uid));
                    }
                    *known = m;
                }
                // Messages are added with ascending UIDs; anything older than the last one
                // we know and not in our list was expunged before we learned of it.
                None if m.uid > last_uid => {
                    last_uid = m.uid;
                    if m.uid > recent_mark {
                        self.recent.insert(m.uid);
                    }
                    self.messages.push(m);
                }
                None => {}
            }
        }
        if self.messages.len() != before {
            write::untagged(out, &format!("{} EXISTS", self.messages.len()));
            if !rev2 {
                write::untagged(out, &format!("{} RECENT", self.recent.len()));
            }
        }
        self.info = changes.mailbox;
        self.modseq = self.modseq.max(self.info.highestmodseq);
        self.dirty = false;
    }

    /// Announce and forget the expunges that waited (RFC 9051 §7.5.1: each EXPUNGE
    /// renumbers the messages after it at once).
    pub(crate) fn announce_expunges(&mut self, out: &mut Vec<u8>) {
        let mut uids = std::mem::take(&mut self.pending_expunges);
        uids.sort_unstable();
        uids.dedup();
        for uid in uids {
            self.remove(uid, Some(out));
        }
    }

    /// Forget `uid`, announcing it when `out` is given.
    pub(crate) fn remove(&mut self, uid: u32, out: Option<&mut Vec<u8>>) {
        if let Some(seq) = self.seq_of(uid) {
            self.messages.remove(seq as usize - 1);
            self.recent.remove(&uid);
            if let Some(out) = out {
                write::untagged(out, &format!("{seq} EXPUNGE"));
            }
        }
    }

    /// The keywords in use in the mailbox, for FLAGS (RFC 9051 §7.3.5).
    pub(crate) fn keywords(&self) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        for m in &self.messages {
            for k in &m.keywords {
                if !all.iter().any(|a| a.eq_ignore_ascii_case(k)) {
                    all.push(k.clone());
                }
            }
        }
        all.sort_by_key(|k| k.to_ascii_lowercase());
        all
    }
}

fn ordered<T: Ord>(a: T, b: T) -> (T, T) {
    if a <= b { (a, b) } else { (b, a) }
}

/// A sequence set of one number, for tests and internal use.
#[cfg(test)]
pub(crate) fn single(n: u32) -> SequenceSet {
    let v = std::num::NonZeroU32::new(n).unwrap_or(std::num::NonZeroU32::MIN);
    SequenceSet::from(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use imap_codec::imap_types::core::Vec1;
    use std::num::NonZeroU32;

    fn info() -> MailboxInfo {
        MailboxInfo {
            id: 1,
            name: "INBOX".into(),
            special_use: None,
            uidvalidity: 7,
            uidnext: 20,
            highestmodseq: 5,
            subscribed: true,
            exists: 3,
            unseen: 3,
            deleted: 0,
            size: 0,
            recent_uid: 0,
            recent: 0,
        }
    }

    fn msg(uid: u32, flags: u8, modseq: u64) -> MessageInfo {
        MessageInfo {
            uid,
            flags,
            keywords: vec![],
            modseq,
            internal_date: 0,
            size: 10,
        }
    }

    fn set(items: &[(u32, Option<u32>)]) -> SequenceSet {
        let v = |n: u32| {
            if n == 0 {
                SeqOrUid::Asterisk
            } else {
                SeqOrUid::Value(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
            }
        };
        let seqs: Vec<Sequence> = items
            .iter()
            .map(|&(a, b)| match b {
                None => Sequence::Single(v(a)),
                Some(b) => Sequence::Range(v(a), v(b)),
            })
            .collect();
        SequenceSet(Vec1::try_from(seqs).expect("non-empty"))
    }

    fn mailbox() -> Selected {
        Selected::new(
            info(),
            vec![msg(3, 0, 1), msg(7, 0, 2), msg(9, 0, 3)],
            false,
        )
    }

    #[test]
    fn sequence_numbers_and_uids_resolve() {
        let s = mailbox();
        // 0 stands for `*` in these tables.
        assert_eq!(
            s.resolve(&set(&[(2, Some(0))]), false),
            Ok(vec![(2, 7), (3, 9)])
        );
        assert_eq!(
            s.resolve(&set(&[(0, Some(2))]), false),
            Ok(vec![(2, 7), (3, 9)])
        );
        assert_eq!(
            s.resolve(&set(&[(1, None), (1, Some(1))]), false),
            Ok(vec![(1, 3)])
        );
        assert_eq!(s.resolve(&set(&[(4, None)]), false), Err(BadSequence));
        // RFC 9051 §6.4.9: UIDs that do not exist are ignored; `n:*` includes the last.
        assert_eq!(s.resolve(&set(&[(4, Some(8))]), true), Ok(vec![(2, 7)]));
        assert_eq!(s.resolve(&set(&[(100, Some(0))]), true), Ok(vec![(3, 9)]));
        assert_eq!(s.resolve(&set(&[(10, Some(20))]), true), Ok(vec![]));
        let empty = Selected::new(info(), vec![], false);
        assert_eq!(empty.resolve(&set(&[(1, Some(0))]), true), Ok(vec![]));
        assert_eq!(
            empty.resolve(&set(&[(1, Some(0))]), false),
            Err(BadSequence)
        );
    }

    #[test]
    fn updates_renumber_in_order() {
        let mut s = mailbox();
        let mut out = Vec::new();
        let mut newer = info();
        newer.highestmodseq = 9;
        s.apply(
            mailroom_store::ChangeSet {
                mailbox: newer.clone(),
                changed: vec![msg(9, mailroom_store::FLAG_SEEN, 8), msg(12, 0, 9)],
                expunged: vec![3, 7],
            },
            0,
            true,
            false,
            &mut out,
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            "* 1 EXPUNGE\r\n* 1 EXPUNGE\r\n* 1 FETCH (UID 9 FLAGS (\\Seen))\r\n\
             * 2 EXISTS\r\n* 1 RECENT\r\n"
        );
        assert_eq!(s.seq_of(12), Some(2));
        assert_eq!(s.modseq, 9);

        // During a FETCH by sequence number, expunges wait; the message stays addressable.
        let mut out = Vec::new();
        newer.highestmodseq = 10;
        s.apply(
            mailroom_store::ChangeSet {
                mailbox: newer,
                changed: vec![],
                expunged: vec![9],
            },
            0,
            false,
            true,
            &mut out,
        );
        assert!(out.is_empty());
        assert_eq!(s.seq_of(9), Some(1));
        s.announce_expunges(&mut out);
        assert_eq!(String::from_utf8_lossy(&out), "* 1 EXPUNGE\r\n");
        assert_eq!(s.seq_of(12), Some(1));
    }

    #[test]
    fn a_new_keyword_is_announced_before_the_fetch_that_carries_it() {
        let mut s = mailbox();
        let mut out = Vec::new();
        let mut tagged = msg(7, 0, 8);
        tagged.keywords = vec!["$Work".into()];
        let mut newer = info();
        newer.highestmodseq = 8;
        let changes = |changed| mailroom_store::ChangeSet {
            mailbox: newer.clone(),
            changed,
            expunged: vec![],
        };
        s.apply(changes(vec![tagged.clone()]), 0, true, false, &mut out);
        // RFC 3501 §7.2.6: FLAGS (and PERMANENTFLAGS) first, then the FETCH with $Work.
        assert_eq!(
            String::from_utf8_lossy(&out),
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)\r\n\
             * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work \\*)] \
             flags you can change\r\n* 2 FETCH (UID 7 FLAGS ($Work))\r\n"
        );
        // Known now, in any case: no second FLAGS.
        let mut out = Vec::new();
        let mut other = msg(9, 0, 9);
        other.keywords = vec!["$WORK".into()];
        s.apply(changes(vec![other]), 0, true, false, &mut out);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "* 3 FETCH (UID 9 FLAGS ($WORK))\r\n"
        );
        // Read-only: FLAGS only, PERMANENTFLAGS stays empty.
        let mut ro = Selected::new(info(), vec![msg(3, 0, 1)], true);
        let mut out = Vec::new();
        let mut first = msg(3, 0, 8);
        first.keywords = vec!["$x".into()];
        ro.take_updated(vec![first], &mut out);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $x)\r\n"
        );
    }

    #[test]
    fn single_helper() {
        assert_eq!(mailbox().resolve(&single(3), false), Ok(vec![(3, 9)]));
    }
}
