//! Evaluating one search key against one message (RFC 9051 §6.4.4, RFC 3501 §6.4.4).
//!
//! What it owns: the meaning of every [`SearchKey`] variant imap-codec decodes with our
//! features. What it must not do: load anything (see [`needs`]), or recurse without bound.

use imap_codec::imap_types::datetime::NaiveDate;
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use mailroom_store::{FLAG_ANSWERED, FLAG_DELETED, FLAG_DRAFT, FLAG_FLAGGED, FLAG_SEEN};

use super::sent;
use super::text::{self, Needle};
use super::{Candidate, Needs, Scope};

/// Deeper programs than this do not match. imap-codec already stops at 9 levels; this guards
/// keys built some other way.
const MAX_DEPTH: usize = 64;

const SECS_PER_DAY: i64 = 86_400;

/// What the session must load per message to evaluate `key`.
pub fn needs(key: &SearchKey<'_>) -> Needs {
    needs_at(key, 0)
}

/// [`needs`] for a whole search program (its keys are ANDed).
pub fn needs_all(keys: &[SearchKey<'_>]) -> Needs {
    keys.iter()
        .fold(Needs::default(), |acc, k| or(acc, needs(k)))
}

fn or(a: Needs, b: Needs) -> Needs {
    Needs {
        meta: a.meta || b.meta,
        header: a.header || b.header,
        body: a.body || b.body,
    }
}

fn needs_at(key: &SearchKey<'_>, depth: usize) -> Needs {
    if depth > MAX_DEPTH {
        return Needs::default();
    }
    match key {
        SearchKey::And(keys) => keys
            .as_ref()
            .iter()
            .fold(Needs::default(), |acc, k| or(acc, needs_at(k, depth + 1))),
        SearchKey::Not(k) => needs_at(k, depth + 1),
        SearchKey::Or(a, b) => or(needs_at(a, depth + 1), needs_at(b, depth + 1)),
        SearchKey::From(_)
        | SearchKey::To(_)
        | SearchKey::Cc(_)
        | SearchKey::Bcc(_)
        | SearchKey::Subject(_)
        | SearchKey::SentBefore(_)
        | SearchKey::SentOn(_)
        | SearchKey::SentSince(_) => Needs {
            meta: true,
            ..Needs::default()
        },
        // HEADER reads the raw header block itself: the stored meta keeps only a few fields.
        SearchKey::Header(..) => Needs {
            header: true,
            ..Needs::default()
        },
        SearchKey::Body(_) | SearchKey::Text(_) => Needs {
            body: true,
            ..Needs::default()
        },
        _ => Needs::default(),
    }
}

/// Does the program use MODSEQ? RFC 7162 §3.1.5: then the SEARCH / ESEARCH reply carries the
/// highest MODSEQ of the matching messages.
pub fn uses_modseq(keys: &[SearchKey<'_>]) -> bool {
    keys.iter().any(|k| modseq_at(k, 0))
}

fn modseq_at(key: &SearchKey<'_>, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    match key {
        SearchKey::ModSequence { .. } => true,
        SearchKey::And(keys) => keys.as_ref().iter().any(|k| modseq_at(k, depth + 1)),
        SearchKey::Not(k) => modseq_at(k, depth + 1),
        SearchKey::Or(a, b) => modseq_at(a, depth + 1) || modseq_at(b, depth + 1),
        _ => false,
    }
}

/// Does the message `c` match `key`? A program nested deeper than we evaluate matches
/// nothing (cutting it off part-way would let a NOT above the cut invert the answer).
pub fn matches(key: &SearchKey<'_>, c: &Candidate<'_>, scope: &Scope) -> bool {
    !too_deep(key, 0) && matches_at(key, c, scope, 0)
}

/// Is any path through `key` longer than [`MAX_DEPTH`]? Looks no deeper than that itself.
fn too_deep(key: &SearchKey<'_>, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return true;
    }
    match key {
        SearchKey::And(keys) => keys.as_ref().iter().any(|k| too_deep(k, depth + 1)),
        SearchKey::Not(k) => too_deep(k, depth + 1),
        SearchKey::Or(a, b) => too_deep(a, depth + 1) || too_deep(b, depth + 1),
        _ => false,
    }
}

/// A whole search program: RFC 9051 §6.4.4, several keys are ANDed.
pub fn matches_all(keys: &[SearchKey<'_>], c: &Candidate<'_>, scope: &Scope) -> bool {
    keys.iter().all(|k| matches(k, c, scope))
}

fn matches_at(key: &SearchKey<'_>, c: &Candidate<'_>, scope: &Scope, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    let flag = |f: u8| c.info.flags & f != 0;
    match key {
        SearchKey::And(keys) => keys
            .as_ref()
            .iter()
            .all(|k| matches_at(k, c, scope, depth + 1)),
        SearchKey::Not(k) => !matches_at(k, c, scope, depth + 1),
        SearchKey::Or(a, b) => {
            matches_at(a, c, scope, depth + 1) || matches_at(b, c, scope, depth + 1)
        }
        SearchKey::All => true,
        SearchKey::SequenceSet(set) => in_set(set, c.seq, scope.max_seq),
        // RFC 9051 §6.4.8: `*` in a UID set is the largest UID in use.
        SearchKey::Uid(set) => in_set(set, c.info.uid, scope.max_uid),

        SearchKey::Answered => flag(FLAG_ANSWERED),
        SearchKey::Deleted => flag(FLAG_DELETED),
        SearchKey::Draft => flag(FLAG_DRAFT),
        SearchKey::Flagged => flag(FLAG_FLAGGED),
        SearchKey::Seen => flag(FLAG_SEEN),
        SearchKey::Unanswered => !flag(FLAG_ANSWERED),
        SearchKey::Undeleted => !flag(FLAG_DELETED),
        SearchKey::Undraft => !flag(FLAG_DRAFT),
        SearchKey::Unflagged => !flag(FLAG_FLAGGED),
        SearchKey::Unseen => !flag(FLAG_SEEN),
        // RFC 9051 §2.3.2: keywords are atoms compared case-insensitively.
        SearchKey::Keyword(k) => has_keyword(c, k.as_ref()),
        SearchKey::Unkeyword(k) => !has_keyword(c, k.as_ref()),
        // RFC 3501 §6.4.4: NEW is "(RECENT UNSEEN)", OLD is "NOT RECENT".
        SearchKey::New => c.recent && !flag(FLAG_SEEN),
        SearchKey::Old => !c.recent,
        SearchKey::Recent => c.recent,

        // RFC 9051 §6.4.4: LARGER / SMALLER compare RFC822.SIZE, strictly.
        SearchKey::Larger(n) => c.info.size > u64::from(*n),
        SearchKey::Smaller(n) => c.info.size < u64::from(*n),

        // RFC 9051 §6.4.4: BEFORE / ON / SINCE compare INTERNALDATE's date "disregarding time
        // and timezone". We keep INTERNALDATE as unix seconds, so the date we compare is its
        // UTC date (a message received 23:30 -0500 on the 1st counts as the 2nd).
        SearchKey::Before(d) => day(d).is_some_and(|d| unix_day(c.info.internal_date) < d),
        SearchKey::On(d) => day(d).is_some_and(|d| unix_day(c.info.internal_date) == d),
        SearchKey::Since(d) => day(d).is_some_and(|d| unix_day(c.info.internal_date) >= d),
        // RFC 3501 §6.4.4: SENT* compare the Date: header's date in its own zone; without a
        // usable Date: the INTERNALDATE's (see `sent`).
        SearchKey::SentBefore(d) => sent_day(c).zip(day(d)).is_some_and(|(s, d)| s < d),
        SearchKey::SentOn(d) => sent_day(c).zip(day(d)).is_some_and(|(s, d)| s == d),
        SearchKey::SentSince(d) => sent_day(c).zip(day(d)).is_some_and(|(s, d)| s >= d),

        // RFC 9051 §6.4.4: substring of the decoded (RFC 2047) header text.
        SearchKey::From(s) => meta_contains(c, s.as_ref(), |f| f.from.as_deref()),
        SearchKey::To(s) => meta_contains(c, s.as_ref(), |f| f.to.as_deref()),
        SearchKey::Cc(s) => meta_contains(c, s.as_ref(), |f| f.cc.as_deref()),
        SearchKey::Bcc(s) => meta_contains(c, s.as_ref(), |f| f.bcc.as_deref()),
        SearchKey::Subject(s) => meta_contains(c, s.as_ref(), |f| f.subject.as_deref()),

        SearchKey::Header(name, value) => {
            let needle = Needle::new(value.as_ref());
            c.raw
                .or(c.header)
                .is_some_and(|raw| text::header_matches(raw, name.as_ref(), &needle))
        }
        SearchKey::Body(s) => raw_contains(c, s.as_ref(), text::body_matches),
        SearchKey::Text(s) => raw_contains(c, s.as_ref(), text::text_matches),

        // RFC 7162 §3.1.5: MODSEQ n matches mod-sequences >= n. We keep one MODSEQ per
        // message, not one per flag; §3.1.5 lets such a server answer the optional entry name
        // (`"/flags/\seen" all`) with the message's MODSEQ, so the entry is ignored.
        SearchKey::ModSequence { modseq, .. } => c.info.modseq >= *modseq,
    }
}

/// Is `n` in `set`, `*` standing for `max`? RFC 9051 §9: a range `a:b` is the same as `b:a`,
/// so `559:*` includes the largest number even when 559 is beyond it (§6.4.8 says so for UIDs).
fn in_set(set: &SequenceSet, n: u32, max: u32) -> bool {
    let value = |s: &SeqOrUid| match s {
        SeqOrUid::Value(v) => v.get(),
        SeqOrUid::Asterisk => max,
    };
    set.0.as_ref().iter().any(|seq| match seq {
        Sequence::Single(s) => value(s) == n,
        Sequence::Range(a, b) => {
            let (a, b) = (value(a), value(b));
            (a.min(b)..=a.max(b)).contains(&n)
        }
    })
}

fn has_keyword(c: &Candidate<'_>, keyword: &str) -> bool {
    c.info
        .keywords
        .iter()
        .any(|k| k.eq_ignore_ascii_case(keyword))
}

/// Days since 1970-01-01 of a search date (its midnight, read as UTC).
fn day(date: &NaiveDate) -> Option<i64> {
    let midnight = date.as_ref().and_hms_opt(0, 0, 0)?;
    Some(midnight.and_utc().timestamp().div_euclid(SECS_PER_DAY))
}

/// Days since 1970-01-01 of unix seconds, in UTC.
fn unix_day(secs: i64) -> i64 {
    secs.div_euclid(SECS_PER_DAY)
}

/// The sent date (days since 1970-01-01) from the Date: text kept in the stored ENVELOPE;
/// None only when the metadata was not loaded.
fn sent_day(c: &Candidate<'_>) -> Option<i64> {
    let date = c.meta?.envelope.date.as_deref();
    Some(sent::sent_day(date, c.info.internal_date))
}

fn meta_contains(
    c: &Candidate<'_>,
    needle: &[u8],
    field: impl Fn(&mailroom_store::mime::SearchFields) -> Option<&str>,
) -> bool {
    let needle = Needle::new(needle);
    if needle.is_empty() {
        return true;
    }
    c.meta
        .and_then(|m| field(&m.search))
        .is_some_and(|hay| needle.in_str(hay))
}

fn raw_contains(c: &Candidate<'_>, needle: &[u8], test: fn(&[u8], &Needle) -> bool) -> bool {
    let needle = Needle::new(needle);
    if needle.is_empty() {
        return true;
    }
    c.raw.is_some_and(|raw| test(raw, &needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use imap_codec::CommandCodec;
    use imap_codec::decode::Decoder;
    use imap_codec::imap_types::command::CommandBody;
    use imap_codec::imap_types::core::Vec1;
    use mailroom_store::MessageInfo;
    use mailroom_store::mime::{MessageMeta, analyze};

    /// The header of RFC 3501 §6.4.5's FETCH example, plain text.
    const RAW1: &[u8] = b"Date: Tue, 01 Feb 1994 21:52:25 +0000\r\n\
From: Terry Gray <gray@cac.washington.edu>\r\n\
To: imap@cac.washington.edu\r\n\
Cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\r\n\
Subject: IMAP4rev1 WG mtg summary and minutes\r\n\
Message-Id: <B27397-0100000@cac.washington.edu>\r\n\
X-Priority: 1\r\n\
MIME-Version: 1.0\r\n\
Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\
\r\n\
Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";

    /// Encoded words, a folded field, a Bcc and a base64 body.
    const RAW2: &[u8] = b"Date: Wed, 02 Feb 1994 10:00:00 +0000\r\n\
From: =?UTF-8?Q?Ren=C3=A9e?= <renee@example.org>\r\n\
To: Smith <smith@example.com>\r\n\
Bcc: hidden@example.net\r\n\
Subject: =?UTF-8?B?w4ljb2xl?=\r\n\
X-Folded: first\r\n second\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
UsOpc3Vtw6kgYXR0YWNoZWQsIHZvaWzDoC4=\r\n";

    /// No Date:, no Subject:, a body that looks like a command clause.
    const RAW3: &[u8] = b"From: nobody@example.com\r\n\r\nplain body with RETURN (MIN) inside\r\n";

    struct Fixture {
        infos: Vec<MessageInfo>,
        recent: Vec<bool>,
        metas: Vec<MessageMeta>,
        raws: Vec<&'static [u8]>,
    }

    fn info(
        uid: u32,
        flags: u8,
        keywords: &[&str],
        modseq: u64,
        date: i64,
        size: u64,
    ) -> MessageInfo {
        MessageInfo {
            uid,
            flags,
            keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
            modseq,
            internal_date: date,
            size,
        }
    }

    fn fixture() -> Fixture {
        let raws = vec![RAW1, RAW2, RAW3];
        Fixture {
            infos: vec![
                // 1994-02-01 00:00:00 UTC
                info(
                    10,
                    FLAG_SEEN | FLAG_ANSWERED,
                    &["$Forwarded", "Work"],
                    5,
                    760_060_800,
                    100,
                ),
                // 1994-02-01 23:59:59 UTC
                info(
                    20,
                    FLAG_FLAGGED | FLAG_DELETED | FLAG_DRAFT,
                    &[],
                    10,
                    760_147_199,
                    2000,
                ),
                // 1994-02-03 00:00:00 UTC
                info(30, FLAG_SEEN, &["Later"], 15, 760_233_600, 50),
            ],
            recent: vec![false, true, true],
            metas: raws.iter().map(|r| analyze(r)).collect(),
            raws,
        }
    }

    /// Decode `a SEARCH <program>` with imap-codec, as the session will.
    fn key(program: &str) -> SearchKey<'static> {
        let line: &'static [u8] = Box::leak(
            format!("a SEARCH {program}\r\n")
                .into_bytes()
                .into_boxed_slice(),
        );
        let (_, cmd) = CommandCodec::default()
            .decode(line)
            .unwrap_or_else(|e| panic!("{program}: {e:?}"));
        let CommandBody::Search { criteria, .. } = cmd.body else {
            panic!("{program}: not a SEARCH");
        };
        let mut keys = criteria.into_inner();
        if keys.len() == 1 {
            keys.pop().unwrap()
        } else {
            SearchKey::And(Vec1::try_from(keys).unwrap())
        }
    }

    /// Sequence numbers that match, loading only what `needs` asks for (so a wrong `needs`
    /// makes the test fail).
    fn hits(program: &str) -> Vec<u32> {
        let f = fixture();
        let k = key(program);
        let need = needs(&k);
        let scope = Scope {
            max_seq: 3,
            max_uid: 30,
        };
        (0..3)
            .filter(|&i| {
                let c = Candidate {
                    seq: i as u32 + 1,
                    info: &f.infos[i],
                    recent: f.recent[i],
                    meta: need.meta.then(|| &f.metas[i]),
                    header: need
                        .header
                        .then(|| &f.raws[i][..mailroom_store::mime::header_len(f.raws[i])]),
                    raw: need.body.then(|| f.raws[i]),
                };
                matches(&k, &c, &scope)
            })
            .map(|i| i as u32 + 1)
            .collect()
    }

    fn table(cases: &[(&str, &[u32])]) {
        for (program, want) in cases {
            assert_eq!(hits(program), *want, "SEARCH {program}");
        }
    }

    #[test]
    fn sequence_and_uid_sets() {
        table(&[
            ("ALL", &[1, 2, 3]),
            ("1", &[1]),
            ("2:*", &[2, 3]),
            ("*", &[3]),
            ("*:2", &[2, 3]),
            ("1,3", &[1, 3]),
            ("3:1", &[1, 2, 3]),
            // `*` is 3, so 4:* is 3:4.
            ("4:*", &[3]),
            ("5", &[]),
            ("5:7", &[]),
            ("UID 10", &[1]),
            ("UID 15:25", &[2]),
            ("UID *", &[3]),
            ("UID 10,30", &[1, 3]),
            // RFC 9051 §6.4.8: 559:* includes the largest UID even above it.
            ("UID 559:*", &[3]),
            ("UID 1:9", &[]),
            ("UID 31:40", &[]),
        ]);
    }

    #[test]
    fn flags_and_keywords() {
        table(&[
            ("ANSWERED", &[1]),
            ("UNANSWERED", &[2, 3]),
            ("SEEN", &[1, 3]),
            ("UNSEEN", &[2]),
            ("FLAGGED", &[2]),
            ("UNFLAGGED", &[1, 3]),
            ("DELETED", &[2]),
            ("UNDELETED", &[1, 3]),
            ("DRAFT", &[2]),
            ("UNDRAFT", &[1, 3]),
            ("KEYWORD Work", &[1]),
            ("KEYWORD wORK", &[1]),
            ("KEYWORD $Forwarded", &[1]),
            ("KEYWORD $forwarded", &[1]),
            ("KEYWORD Nope", &[]),
            ("UNKEYWORD Work", &[2, 3]),
            ("UNKEYWORD later", &[1, 2]),
            ("UNKEYWORD Nope", &[1, 2, 3]),
            // RFC 3501 §6.4.4: NEW = RECENT UNSEEN, OLD = NOT RECENT.
            ("RECENT", &[2, 3]),
            ("NEW", &[2]),
            ("OLD", &[1]),
            ("NOT NEW", &[1, 3]),
        ]);
    }

    #[test]
    fn sizes() {
        table(&[
            ("LARGER 100", &[2]),
            ("LARGER 99", &[1, 2]),
            ("LARGER 0", &[1, 2, 3]),
            ("LARGER 4294967295", &[]),
            ("SMALLER 100", &[3]),
            ("SMALLER 101", &[1, 3]),
            ("SMALLER 0", &[]),
            ("LARGER 50 SMALLER 2000", &[1]),
        ]);
    }

    #[test]
    fn internal_dates_compare_utc_days() {
        table(&[
            ("BEFORE 1-Feb-1994", &[]),
            ("BEFORE 2-Feb-1994", &[1, 2]),
            ("BEFORE 4-Feb-1994", &[1, 2, 3]),
            ("ON 1-Feb-1994", &[1, 2]),
            ("ON 2-Feb-1994", &[]),
            ("ON 3-Feb-1994", &[3]),
            ("SINCE 1-Feb-1994", &[1, 2, 3]),
            ("SINCE 2-Feb-1994", &[3]),
            ("SINCE 4-Feb-1994", &[]),
            ("SINCE 31-Jan-1994 BEFORE 3-Feb-1994", &[1, 2]),
            ("ON \"01-Feb-1994\"", &[1, 2]),
        ]);
    }

    #[test]
    fn sent_dates_are_the_date_header_or_the_internaldate() {
        table(&[
            ("SENTBEFORE 2-Feb-1994", &[1]),
            ("SENTBEFORE 1-Feb-1994", &[]),
            ("SENTBEFORE 4-Feb-1994", &[1, 2, 3]),
            ("SENTON 1-Feb-1994", &[1]),
            ("SENTON 2-Feb-1994", &[2]),
            // Message 3 has no Date:; RFC 5256 §2.2: its INTERNALDATE (3 Feb) stands in.
            ("SENTON 3-Feb-1994", &[3]),
            ("SENTSINCE 1-Feb-1994", &[1, 2, 3]),
            ("SENTSINCE 3-Feb-1994", &[3]),
            ("SENTSINCE 4-Feb-1994", &[]),
            ("NOT SENTON 1-Feb-1994", &[2, 3]),
            ("NOT SENTSINCE 1-Jan-1970", &[]),
        ]);
    }

    #[test]
    fn address_and_subject_substrings() {
        table(&[
            ("FROM gray", &[1]),
            ("FROM \"TERRY GRAY\"", &[1]),
            ("FROM \"RENÉE\"", &[2]),
            ("FROM renee@example", &[2]),
            ("FROM nobody", &[3]),
            ("FROM example", &[2, 3]),
            ("FROM \"\"", &[1, 2, 3]),
            ("FROM zzz", &[]),
            ("TO smith", &[2]),
            ("TO imap@cac", &[1]),
            ("TO nobody", &[]),
            ("CC klensin@mit.edu", &[1]),
            ("CC smith", &[]),
            ("CC \"\"", &[1, 2, 3]),
            ("BCC hidden", &[2]),
            ("BCC gray", &[]),
            ("SUBJECT \"école\"", &[2]),
            ("SUBJECT \"ÉCOLE\"", &[2]),
            ("SUBJECT imap4REV1", &[1]),
            ("SUBJECT \"mtg summary\"", &[1]),
            ("SUBJECT w4ljb2xl", &[]),
            ("SUBJECT \"\"", &[1, 2, 3]),
            ("SUBJECT {5}\r\nminut", &[1]),
            ("CHARSET UTF-8 SUBJECT \"école\"", &[2]),
        ]);
    }

    #[test]
    fn header_fields() {
        table(&[
            ("HEADER X-Priority 1", &[1]),
            ("HEADER x-priority \"\"", &[1]),
            ("HEADER X-Priority 2", &[]),
            // RFC 5322 §2.2.3: matched unfolded.
            ("HEADER X-Folded \"first second\"", &[2]),
            ("HEADER X-Folded \"FIRST\"", &[2]),
            // Encoded words are decoded, and also matched as on the wire.
            ("HEADER Subject \"école\"", &[2]),
            ("HEADER Subject w4ljb2xl", &[2]),
            ("HEADER Message-Id \"<B27397\"", &[1]),
            ("HEADER From \"\"", &[1, 2, 3]),
            ("HEADER Date \"\"", &[1, 2]),
            ("HEADER X-Nope \"\"", &[]),
            // The body is not the header.
            ("HEADER From joe", &[]),
        ]);
    }

    #[test]
    fn body_and_text() {
        table(&[
            ("BODY joe", &[1]),
            ("BODY \"MEET AT 3:30\"", &[1]),
            // The base64 body is decoded (and also matched as on the wire).
            ("BODY \"voilà\"", &[2]),
            ("BODY {8}\r\nRÉSUMÉ", &[2]),
            ("BODY UsOpc3Vt", &[2]),
            ("BODY \"RETURN (MIN)\"", &[3]),
            ("BODY gray", &[]),
            ("BODY \"\"", &[1, 2, 3]),
            ("TEXT gray", &[1]),
            ("TEXT joe", &[1]),
            ("TEXT \"VOILÀ\"", &[2]),
            ("TEXT hidden", &[2]),
            ("TEXT \"x-priority: 1\"", &[1]),
            ("TEXT example", &[2, 3]),
            ("TEXT zzz", &[]),
            ("TEXT \"\"", &[1, 2, 3]),
        ]);
    }

    #[test]
    fn boolean_structure() {
        table(&[
            ("NOT SEEN", &[2]),
            ("NOT NOT SEEN", &[1, 3]),
            ("OR SEEN FLAGGED", &[1, 2, 3]),
            ("OR DRAFT 1", &[1, 2]),
            ("OR 1 OR 2 3", &[1, 2, 3]),
            ("(SEEN FLAGGED)", &[]),
            ("SEEN UNANSWERED", &[3]),
            ("NOT (OR 1 2)", &[3]),
            ("(OR SEEN DRAFT) (NOT UID 10)", &[2, 3]),
            ("UID 10:30 UNSEEN LARGER 1000", &[2]),
            ("OR FROM gray BODY \"voilà\"", &[1, 2]),
            ("NOT (FROM gray SUBJECT imap)", &[2, 3]),
        ]);
    }

    #[test]
    fn modseq() {
        table(&[
            ("MODSEQ 10", &[2, 3]),
            ("MODSEQ 1", &[1, 2, 3]),
            ("MODSEQ 16", &[]),
            // RFC 7162 §3.1.5: a per-flag entry is answered with the message's MODSEQ.
            ("MODSEQ \"/flags/\\\\seen\" all 10", &[2, 3]),
            ("NOT MODSEQ 10", &[1]),
        ]);
        assert!(uses_modseq(&[key("SEEN"), key("OR 1 NOT MODSEQ 5")]));
        assert!(!uses_modseq(&[key("SEEN"), key("OR 1 NOT UID 5")]));
    }

    #[test]
    fn needs_table() {
        let none = Needs::default();
        let meta = Needs { meta: true, ..none };
        let header = Needs {
            header: true,
            ..none
        };
        let body = Needs { body: true, ..none };
        let both = Needs {
            meta: true,
            body: true,
            ..none
        };
        let cases: &[(&str, Needs)] = &[
            ("ALL", none),
            ("1:* UID 3 SEEN LARGER 5 BEFORE 1-Jan-2000 MODSEQ 3", none),
            ("FROM x", meta),
            ("TO x", meta),
            ("CC x", meta),
            ("BCC x", meta),
            ("SUBJECT x", meta),
            ("SENTBEFORE 1-Jan-2000", meta),
            ("SENTON 1-Jan-2000", meta),
            ("SENTSINCE 1-Jan-2000", meta),
            ("HEADER X-A b", header),
            (
                "OR HEADER X-A b BODY c",
                Needs {
                    header: true,
                    ..body
                },
            ),
            ("BODY x", body),
            ("TEXT x", body),
            ("NOT (OR FROM a BODY b)", both),
            ("SEEN (OR 1 (NOT SUBJECT a))", meta),
        ];
        for (program, want) in cases {
            assert_eq!(needs(&key(program)), *want, "{program}");
        }
        assert_eq!(needs_all(&[key("FROM a"), key("BODY b")]), both);
        assert_eq!(needs_all(&[]), none);
    }

    #[test]
    fn missing_data_does_not_match() {
        let f = fixture();
        let c = Candidate {
            seq: 1,
            info: &f.infos[0],
            recent: false,
            meta: None,
            header: None,
            raw: None,
        };
        let scope = Scope {
            max_seq: 1,
            max_uid: 10,
        };
        for program in [
            "FROM gray",
            "SENTON 1-Feb-1994",
            "HEADER X-Priority \"\"",
            "BODY joe",
            "TEXT joe",
        ] {
            assert!(!matches(&key(program), &c, &scope), "{program}");
        }
        for program in ["FROM \"\"", "BODY \"\"", "TEXT \"\"", "NOT BODY joe"] {
            assert!(matches(&key(program), &c, &scope), "{program}");
        }
        assert!(matches_all(&[key("SEEN"), key("UID 10")], &c, &scope));
        assert!(!matches_all(&[key("SEEN"), key("UID 11")], &c, &scope));
        // An empty mailbox: `*` is 0 and matches nothing real.
        let empty = Scope::default();
        assert!(!matches(&key("*"), &c, &empty));
    }

    #[test]
    fn deep_programs_are_bounded() {
        let mut k = key("SEEN");
        for _ in 0..10_000 {
            k = SearchKey::Not(Box::new(k));
        }
        let f = fixture();
        let c = Candidate {
            seq: 1,
            info: &f.infos[0],
            recent: false,
            meta: None,
            header: None,
            raw: None,
        };
        // Too deep to evaluate: it does not match, and it does not overflow the stack.
        assert!(!matches(&k, &c, &Scope::default()));
        assert_eq!(needs(&k), Needs::default());
        assert!(!uses_modseq(std::slice::from_ref(&k)));
        // Dropping 10 000 nested boxes recurses too; do it on a thread with room.
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(move || drop(k))
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn hostile_messages_never_panic() {
        let programs = [
            "HEADER X-Folded \"\"",
            "HEADER Subject \"é\"",
            "BODY \"é\"",
            "TEXT =?",
            "FROM \"é\"",
            "SENTON 1-Feb-1994",
        ];
        let keys: Vec<_> = programs.iter().map(|p| key(p)).collect();
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        for raw in [RAW1, RAW2, RAW3] {
            for cut in 0..raw.len() {
                inputs.push(raw[..cut].to_vec());
            }
        }
        inputs.push(vec![0xff; 300]);
        inputs.push(b"=?utf-8?b?====?= =?x?q?=ZZ?=\r\n\r\n".to_vec());
        inputs.push(b"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n--\r\n".to_vec());
        inputs.push([b"X: ".as_slice(), &[b' '; 10_000], b"\r\n\r\n"].concat());
        let info = info(1, 0, &[], 1, i64::MIN, 0);
        let scope = Scope {
            max_seq: 1,
            max_uid: 1,
        };
        for raw in &inputs {
            let meta = analyze(raw);
            let c = Candidate {
                seq: 1,
                info: &info,
                recent: false,
                meta: Some(&meta),
                header: None,
                raw: Some(raw),
            };
            for k in &keys {
                let _ = matches(k, &c, &scope);
            }
        }
        // Extreme INTERNALDATE values do not overflow the day arithmetic.
        let late = MessageInfo {
            internal_date: i64::MAX,
            ..info.clone()
        };
        let c = Candidate {
            seq: 1,
            info: &late,
            recent: false,
            meta: None,
            header: None,
            raw: None,
        };
        assert!(matches(&key("SINCE 1-Jan-1970"), &c, &scope));
    }
}
