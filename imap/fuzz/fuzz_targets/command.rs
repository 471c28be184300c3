//! Any bytes as what a client sends, down the path the server takes with them: imap-codec's
//! `Fragmentizer` (with a maximum message size and literal refusal, as `actor/connection.rs`
//! drives it), then for each whole message the ESEARCH / LIST-EXTENDED pre-parsers and
//! `CommandCodec` decoding (as `Session::command` does). Mailbox names are fed to the
//! modified UTF-7 functions, and numbers made from the input to `compact_set`.
//!
//! Byte 0 sets the knobs: its low nibble is the size of the chunks the input arrives in (0:
//! all at once), its high nibble the maximum message size (15: the server's default,
//! `max_message_size + COMMAND_OVERHEAD`; n < 15: `16 << n` octets, literals up to half).
//!
//! Checked: no panic; the driver loop ends within a bound; the same messages come out
//! whatever the chunking; a pre-parser's refusal becomes one well-formed BAD line; a decoded
//! command, encoded again by `CommandCodec`, decodes to an equal command with nothing left
//! over; `encode_mutf7(decode_mutf7(x)) == x` for every name that decodes, and
//! `decode_mutf7(encode_mutf7(u)) == u`; `compact_set` gives exactly the set it was given.
#![no_main]

use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::encode::Encoder;
use imap_codec::fragmentizer::{FragmentInfo, Fragmentizer, LiteralAnnouncement};
use imap_codec::imap_types::command::{Command, CommandBody, SelectParameter};
use imap_codec::imap_types::core::{LiteralMode, Vec1};
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::search::SearchKey;
use libfuzzer_sys::fuzz_target;
use mailroom_config::Limits;
use mailroom_imap::names::{decode_mutf7, encode_mutf7, strip_list_extended};
use mailroom_imap::proto::write::{self, Status};
use mailroom_imap::proto::{COMMAND_OVERHEAD, MAX_SMALL_LITERAL};
use mailroom_imap::search::{compact_set, strip_search_return};

/// What the driver did with one client message.
#[derive(Debug, PartialEq, Eq)]
enum Event {
    /// A whole message, handed to the session.
    Message(Vec<u8>),
    /// A literal over the limit: refused (sync: skipped at once; non-sync: read and dropped).
    LiteralRefused,
    /// Over the maximum message size: refused with the tag imap-codec found, if any.
    TooLong(Option<String>),
}

/// The connection driver's use of the `Fragmentizer`, without the socket: `input` arrives in
/// `chunk`-octet pieces (0: all at once).
fn drive(input: &[u8], chunk: usize, max_message: u32, literal_limit: u64) -> Vec<Event> {
    let mut fz = Fragmentizer::new(max_message);
    let size = if chunk == 0 {
        input.len().max(1)
    } else {
        chunk
    };
    let mut pieces = input.chunks(size);
    let mut events = Vec::new();
    let mut refused_literal = false;
    // Each fragment but a zero-length literal consumes an octet, and a zero-length literal
    // follows a line of at least 5 (`{0}\r\n`); each `None` is answered by one piece.
    let budget = 2 * input.len() + input.len() / size + 8;
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(
            steps <= budget,
            "fragmentizer loop did not end ({steps} steps)"
        );
        match fz.progress() {
            Some(info) => {
                if let FragmentInfo::Line {
                    announcement: Some(LiteralAnnouncement { mode, length }),
                    ..
                } = info
                {
                    if u64::from(length) > literal_limit {
                        if mode == LiteralMode::Sync {
                            // RFC 9051 §7.5: refused, so the client does not send it.
                            events.push(Event::LiteralRefused);
                            fz.skip_message();
                        } else {
                            // RFC 7888 §4: a non-synchronizing literal comes anyway.
                            fz.poison_message();
                            refused_literal = true;
                        }
                    }
                    continue;
                }
                if !fz.is_message_complete() {
                    continue;
                }
                if std::mem::take(&mut refused_literal) {
                    events.push(Event::LiteralRefused);
                    continue;
                }
                if fz.is_max_message_size_exceeded() {
                    let tag = fz.decode_tag().map(|t| t.as_ref().to_string());
                    events.push(Event::TooLong(tag));
                    continue;
                }
                assert!(
                    fz.message_bytes().len() <= max_message as usize,
                    "message over the limit passed"
                );
                events.push(Event::Message(fz.message_bytes().to_vec()));
            }
            None => match pieces.next() {
                Some(piece) => fz.enqueue_bytes(piece),
                None => break,
            },
        }
    }
    events
}

/// `Extras::take` in `imap/src/session/mod.rs` (private there), kept line for line: the
/// command name after the tag (and an optional UID) picks the pre-parser; `Ok(None)` means
/// the message goes to imap-codec as it is.
fn take_extras(bytes: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let name = bytes
        .split(|&b| b == b' ')
        .skip(1)
        .find(|w| !w.eq_ignore_ascii_case(b"UID"));
    match name {
        Some(w) if w.eq_ignore_ascii_case(b"SEARCH") => {
            Ok(strip_search_return(bytes)?.map(|(_, rest)| rest))
        }
        Some(w) if w.eq_ignore_ascii_case(b"LIST") => {
            Ok(strip_list_extended(bytes)?.map(|(_, rest)| rest))
        }
        _ => Ok(None),
    }
}

/// One written status line: `tag SP BAD SP text CRLF`, CR and LF only at the end.
fn check_line(out: &[u8]) {
    assert!(out.ends_with(b"\r\n"), "{out:?}");
    let body = &out[..out.len() - 2];
    assert!(
        !body.contains(&b'\r') && !body.contains(&b'\n'),
        "stray CR/LF in {out:?}"
    );
}

/// `Session::command` up to dispatch: pre-parsers, then imap-codec; a decoded command must
/// survive an encode/decode round trip.
fn command(bytes: &[u8]) {
    let rewritten = match take_extras(bytes) {
        Ok(r) => r,
        Err(text) => {
            let mut out = Vec::new();
            write::status(&mut out, Some("a"), Status::Bad, None, &text);
            check_line(&out);
            return;
        }
    };
    let bytes = rewritten.as_deref().unwrap_or(bytes);
    let codec = CommandCodec::default();
    let Ok((b"", command)) = codec.decode(bytes) else {
        return;
    };
    for name in mailboxes(&command) {
        names(name);
    }
    let wire = codec.encode(&command).dump();
    let again = match codec.decode(&wire) {
        Ok((rest, again)) => {
            assert!(rest.is_empty(), "left over {rest:?} from {wire:?}");
            again
        }
        Err(e) => panic!("the re-encoding {wire:?} of {bytes:?} does not decode: {e:?}"),
    };
    // imap-codec's default `quirk_always_normalize_sequence_sets` makes the encoder write
    // every sequence set normalized (sorted, merged, `1:1` as `1`; and, a semantic change
    // it brings along, a lone `*` as `4294967295`): compare with the command so normalized.
    let mut expected = command.clone();
    normalize_sets(&mut expected.body);
    assert_eq!(expected, again, "round trip changed the command: {wire:?}");
    // And encoding is then a fixed point.
    assert_eq!(codec.encode(&again).dump(), wire, "second encoding differs");
}

/// Every sequence set in `body` normalized as imap-codec's encoder does it.
fn normalize_sets(body: &mut CommandBody<'_>) {
    use CommandBody as C;
    match body {
        C::Fetch { sequence_set, .. }
        | C::Store { sequence_set, .. }
        | C::Copy { sequence_set, .. }
        | C::Move { sequence_set, .. }
        | C::ExpungeUid { sequence_set } => {
            sequence_set.normalize();
        }
        C::Search { criteria, .. }
        | C::Sort {
            search_criteria: criteria,
            ..
        }
        | C::Thread {
            search_criteria: criteria,
            ..
        } => normalize_keys(criteria),
        C::Select { parameters, .. } | C::Examine { parameters, .. } => {
            for p in parameters {
                if let SelectParameter::QResync {
                    known_uids,
                    seq_match_data,
                    ..
                } = p
                {
                    if let Some(set) = known_uids {
                        set.normalize();
                    }
                    if let Some((seqs, uids)) = seq_match_data {
                        seqs.normalize();
                        uids.normalize();
                    }
                }
            }
        }
        _ => {}
    }
}

fn normalize_keys(keys: &mut Vec1<SearchKey<'_>>) {
    // `Vec1` gives no mutable access: take the keys out and put them back.
    let mut inner = std::mem::replace(keys, Vec1::from(SearchKey::All)).into_inner();
    inner.iter_mut().for_each(normalize_key);
    *keys = Vec1::unvalidated(inner);
}

fn normalize_key(key: &mut SearchKey<'_>) {
    match key {
        SearchKey::SequenceSet(set) | SearchKey::Uid(set) => {
            set.normalize();
        }
        SearchKey::And(keys) => normalize_keys(keys),
        SearchKey::Not(key) => normalize_key(key),
        SearchKey::Or(a, b) => {
            normalize_key(a);
            normalize_key(b);
        }
        _ => {}
    }
}

/// The mailbox names a command carries, as the session reads them.
fn mailboxes<'a>(command: &'a Command<'_>) -> Vec<&'a [u8]> {
    use CommandBody as C;
    let list: Vec<&Mailbox<'_>> = match &command.body {
        C::Select { mailbox, .. }
        | C::Examine { mailbox, .. }
        | C::Create { mailbox }
        | C::Delete { mailbox }
        | C::Subscribe { mailbox }
        | C::Unsubscribe { mailbox }
        | C::Status { mailbox, .. }
        | C::Append { mailbox, .. }
        | C::Copy { mailbox, .. }
        | C::Move { mailbox, .. } => vec![mailbox],
        C::Rename { from, to } => vec![from, to],
        C::List { reference, .. } | C::Lsub { reference, .. } => vec![reference],
        _ => Vec::new(),
    };
    list.into_iter()
        .filter_map(|m| match m {
            Mailbox::Inbox => None,
            Mailbox::Other(other) => Some(other.as_ref()),
        })
        .collect()
}

/// Modified UTF-7 both ways: one wire form per name.
fn names(raw: &[u8]) {
    let Ok(text) = std::str::from_utf8(raw) else {
        return;
    };
    if let Ok(utf8) = decode_mutf7(text) {
        // RFC 3501 §5.1.3 and our decoder's promise: it refuses every spelling but ours.
        assert_eq!(encode_mutf7(&utf8), text, "{text:?} decoded to {utf8:?}");
    }
    let wire = encode_mutf7(text);
    assert!(
        wire.bytes().all(|b| (b' '..=b'~').contains(&b)),
        "non-ASCII in {wire:?}"
    );
    match decode_mutf7(&wire) {
        Ok(back) => assert_eq!(back, text, "via {wire:?}"),
        Err(e) => panic!("our encoding {wire:?} of {text:?} does not decode: {e:?}"),
    }
}

/// `compact_set` must describe exactly the numbers it was given, in ascending disjoint
/// ranges when they were ascending.
fn sets(input: &[u8]) {
    let Some((&first, rest)) = input.split_first() else {
        return;
    };
    // Small steps make runs and duplicates; a start near u32::MAX reaches the overflow edge.
    let mut n: u32 = if first & 0x80 != 0 { u32::MAX - 600 } else { 1 };
    let ascending: Vec<u32> = rest
        .iter()
        .map(|&b| {
            n = n.saturating_add(u32::from(b % 4));
            n
        })
        .collect();
    check_set(&ascending, true);
    let unordered: Vec<u32> = rest.iter().map(|&b| u32::from(b % 32) + 1).collect();
    check_set(&unordered, false);
}

fn check_set(numbers: &[u32], ascending: bool) {
    let text = compact_set(numbers);
    let mut ranges = Vec::new();
    if !text.is_empty() {
        for item in text.split(',') {
            let (a, b) = item.split_once(':').unwrap_or((item, item));
            let a: u32 = a.parse().unwrap_or_else(|_| panic!("{item:?} in {text:?}"));
            let b: u32 = b.parse().unwrap_or_else(|_| panic!("{item:?} in {text:?}"));
            assert!(a <= b, "{item:?} in {text:?}");
            ranges.push((a, b));
        }
    }
    assert_eq!(ranges.is_empty(), numbers.is_empty(), "{text:?}");
    let mut distinct = numbers.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    for &(a, b) in &ranges {
        // Every number of the range was given.
        let given = distinct.iter().filter(|&&x| (a..=b).contains(&x)).count();
        assert_eq!(
            given as u64,
            u64::from(b - a) + 1,
            "{a}:{b} in {text:?} of {numbers:?}"
        );
    }
    for x in numbers {
        assert!(
            ranges.iter().any(|&(a, b)| (a..=b).contains(x)),
            "{x} missing from {text:?}"
        );
    }
    if ascending {
        for pair in ranges.windows(2) {
            // Disjoint, ascending and not adjacent: the shortest form.
            assert!(u64::from(pair[0].1) + 1 < u64::from(pair[1].0), "{text:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, input)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(knobs & 0x0f);
    let (max_message, literal_limit) = match knobs >> 4 {
        15 => {
            let most = Limits::default().max_message_size + u64::from(COMMAND_OVERHEAD);
            // Any command but APPEND: the small-literal limit (what fuzz inputs can reach).
            (
                u32::try_from(most).unwrap_or(u32::MAX),
                u64::from(MAX_SMALL_LITERAL),
            )
        }
        n => (16u32 << n, u64::from(8u32 << n)),
    };

    let events = drive(input, chunk, max_message, literal_limit);
    if chunk != 0 {
        assert_eq!(
            events,
            drive(input, 0, max_message, literal_limit),
            "chunking changed the messages"
        );
    }
    for event in &events {
        if let Event::Message(bytes) = event {
            command(bytes);
        }
    }

    for word in input.split(|b| b" \r\n()\"{}[]".contains(b)) {
        names(word);
    }
    sets(input);
});
