//! ESEARCH (RFC 4731, RFC 9051 §6.4.4.1 / §7.3.4) and SEARCHRES's SAVE (RFC 5182 §2.1):
//! taking `RETURN (...)` out of a SEARCH command, and writing the `* ESEARCH` reply.
//!
//! What it owns: the return-option grammar and the reply format. What it must not do: decide
//! which messages match (see `eval`), or touch any state — the session keeps the saved result.

use super::args::{Args, Item, printable};

/// The SEARCH result options (RFC 9051 §6.4.4.1, RFC 4731 §3.1, RFC 5182 §2.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReturnOptions {
    /// MIN: the lowest matching number.
    pub min: bool,
    /// MAX: the highest matching number.
    pub max: bool,
    /// COUNT: how many matched.
    pub count: bool,
    /// ALL: every matching number, as a sequence set.
    pub all: bool,
    /// SAVE (RFC 5182): keep the result as `$`.
    pub save: bool,
}

/// If `message` (a whole command as received: `tag SP [UID SP] SEARCH SP ...`, possibly with
/// literals) has a `RETURN (...)` clause right after SEARCH, return the options and the
/// message without the clause (so imap-codec can decode the rest); `Ok(None)` when there is
/// none, or when the message is not a SEARCH at all. `RETURN ()` means `RETURN (ALL)`.
/// An unknown or malformed option is `Err` with a text for a BAD reply.
///
/// ```abnf
/// search             = "SEARCH" [search-return-opts] SP search-program   ; RFC 9051 §9
/// search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"
/// search-return-opt  = "MIN" / "MAX" / "ALL" / "COUNT" / "SAVE"
/// ```
pub fn strip_search_return(message: &[u8]) -> Result<Option<(ReturnOptions, Vec<u8>)>, String> {
    let mut args = Args::new(message);
    // Anything that is not `tag SP [UID SP] SEARCH SP RETURN` is imap-codec's to judge.
    if args.atom().is_err() || args.sp().is_err() {
        return Ok(None);
    }
    let Ok(mut name) = args.atom() else {
        return Ok(None);
    };
    if name.eq_ignore_ascii_case(b"UID") {
        if args.sp().is_err() {
            return Ok(None);
        }
        let Ok(next) = args.atom() else {
            return Ok(None);
        };
        name = next;
    }
    if !name.eq_ignore_ascii_case(b"SEARCH") {
        return Ok(None);
    }
    // The clause starts with the SP after SEARCH; removing `SP RETURN SP (...)` leaves
    // `... SEARCH SP search-program` intact.
    let clause_start = args.pos();
    if !args.eat(b' ') {
        return Ok(None);
    }
    match args.atom() {
        Ok(word) if word.eq_ignore_ascii_case(b"RETURN") => {}
        _ => return Ok(None),
    }
    args.sp().map_err(|e| format!("RETURN: {e}"))?;
    let items = args.list().map_err(|e| format!("RETURN: {e}"))?;
    let clause_end = args.pos();

    let mut opts = ReturnOptions::default();
    // RFC 4731 §3.1: "RETURN ()" is the same as "RETURN (ALL)".
    if items.is_empty() {
        opts.all = true;
    }
    for item in &items {
        let Item::Atom(word) = item else {
            return Err("SEARCH return options are atoms".to_owned());
        };
        let word = word.to_ascii_uppercase();
        match word.as_slice() {
            b"MIN" => opts.min = true,
            b"MAX" => opts.max = true,
            b"COUNT" => opts.count = true,
            b"ALL" => opts.all = true,
            b"SAVE" => opts.save = true,
            // An option we do not know may change what the reply means, so it cannot be
            // ignored: the command fails with BAD.
            _ => return Err(format!("unknown SEARCH return option {}", printable(&word))),
        }
    }

    let mut rest = Vec::with_capacity(message.len() - (clause_end - clause_start));
    rest.extend_from_slice(&message[..clause_start]);
    rest.extend_from_slice(&message[clause_end..]);
    Ok(Some((opts, rest)))
}

/// `* ESEARCH (TAG "tag") [UID] [MIN n] [MAX n] [COUNT n] [ALL set]\r\n` (RFC 9051 §7.3.4);
/// `results` are ascending numbers (UIDs when `uid`). MIN / MAX / ALL are omitted when
/// nothing matched, COUNT is always given when asked (RFC 4731 §3.1).
///
/// RFC 5182 §2.1: with SAVE as the only option no ESEARCH is sent, so this returns nothing.
pub fn esearch(tag: &str, uid: bool, results: &[u32], opts: &ReturnOptions) -> Vec<u8> {
    esearch_with_modseq(tag, uid, results, opts, None)
}

/// [`esearch`] with RFC 7162 §3.1.5's `MODSEQ n` (the highest MODSEQ of the matching
/// messages) appended when the program used MODSEQ and something matched.
pub fn esearch_with_modseq(
    tag: &str,
    uid: bool,
    results: &[u32],
    opts: &ReturnOptions,
    modseq: Option<u64>,
) -> Vec<u8> {
    if !(opts.min || opts.max || opts.count || opts.all) {
        return Vec::new();
    }
    let mut out = format!("* ESEARCH (TAG \"{}\")", quote(tag));
    if uid {
        out.push_str(" UID");
    }
    if let (true, Some(min)) = (opts.min, results.iter().min()) {
        out.push_str(&format!(" MIN {min}"));
    }
    if let (true, Some(max)) = (opts.max, results.iter().max()) {
        out.push_str(&format!(" MAX {max}"));
    }
    if opts.count {
        out.push_str(&format!(" COUNT {}", results.len()));
    }
    if opts.all && !results.is_empty() {
        out.push_str(" ALL ");
        out.push_str(&compact_set(results));
    }
    if let (Some(modseq), false) = (modseq, results.is_empty()) {
        out.push_str(&format!(" MODSEQ {modseq}"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// What SAVE keeps as `$` (RFC 5182 §2.1): everything found, except that with only MIN
/// and/or MAX (no ALL, no COUNT) it is just those one or two messages.
pub fn saved_result(results: &[u32], opts: &ReturnOptions) -> Vec<u32> {
    if opts.all || opts.count || !(opts.min || opts.max) {
        return results.to_vec();
    }
    let mut saved = Vec::with_capacity(2);
    if let (true, Some(&min)) = (opts.min, results.iter().min()) {
        saved.push(min);
    }
    if let (true, Some(&max)) = (opts.max, results.iter().max())
        && !saved.contains(&max)
    {
        saved.push(max);
    }
    saved
}

/// A sequence set in its compact form: ascending `numbers` become `1:3,5,7:9`; duplicates
/// are dropped, and input that is not ascending still gives a correct (longer) set.
pub fn compact_set(numbers: &[u32]) -> String {
    let mut out = String::new();
    let mut iter = numbers.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while let Some(&next) = iter.peek() {
            if next == end || Some(next) == end.checked_add(1) {
                end = next;
                iter.next();
            } else {
                break;
            }
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
    }
    out
}

/// A tag inside a quoted string: RFC 9051 §9 tags cannot hold `"` or `\`, but escape them
/// rather than trust the caller, and drop line ends.
fn quote(tag: &str) -> String {
    let mut out = String::with_capacity(tag.len());
    for ch in tag.chars() {
        match ch {
            '"' | '\\' => {
                out.push('\\');
                out.push(ch);
            }
            '\r' | '\n' => {}
            _ => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(s: &str) -> ReturnOptions {
        let mut o = ReturnOptions::default();
        for w in s.split_whitespace() {
            match w {
                "MIN" => o.min = true,
                "MAX" => o.max = true,
                "COUNT" => o.count = true,
                "ALL" => o.all = true,
                "SAVE" => o.save = true,
                _ => panic!("{w}"),
            }
        }
        o
    }

    fn strip(input: &[u8]) -> Result<Option<(ReturnOptions, Vec<u8>)>, String> {
        strip_search_return(input)
    }

    #[test]
    fn strip_table() {
        let cases: &[(&[u8], &str, &[u8])] = &[
            // After the examples of RFC 4731 §3.1 and RFC 9051 §6.4.4.1.
            (
                b"A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n",
                "MIN COUNT",
                b"A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n",
            ),
            (
                b"A283 SEARCH RETURN () FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n",
                "ALL",
                b"A283 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n",
            ),
            (
                b"A284 SEARCH RETURN (MIN) UNSEEN\r\n",
                "MIN",
                b"A284 SEARCH UNSEEN\r\n",
            ),
            (
                b"A285 UID SEARCH RETURN (MIN MAX) 1:5000\r\n",
                "MIN MAX",
                b"A285 UID SEARCH 1:5000\r\n",
            ),
            (
                b"A286 SEARCH RETURN (ALL) CHARSET UTF-8 SUBJECT x\r\n",
                "ALL",
                b"A286 SEARCH CHARSET UTF-8 SUBJECT x\r\n",
            ),
            // Case-insensitive everywhere; SAVE (RFC 5182).
            (
                b"t uid search return (save min) deleted\r\n",
                "SAVE MIN",
                b"t uid search deleted\r\n",
            ),
            (
                b"t SEARCH RETURN (COUNT ALL MIN MAX SAVE COUNT) ALL",
                "MIN MAX COUNT ALL SAVE",
                b"t SEARCH ALL",
            ),
            // A literal after the clause is carried over untouched.
            (
                b"t SEARCH RETURN (COUNT) SUBJECT {9}\r\nRETURN (x)\r\n",
                "COUNT",
                b"t SEARCH SUBJECT {9}\r\nRETURN (x)\r\n",
            ),
            // Nothing after the clause: imap-codec will reply BAD to "t SEARCH".
            (b"t SEARCH RETURN (MIN)\r\n", "MIN", b"t SEARCH\r\n"),
        ];
        for (input, want_opts, want_rest) in cases {
            let (o, rest) = strip(input).unwrap().unwrap();
            assert_eq!(o, opts(want_opts), "{}", String::from_utf8_lossy(input));
            assert_eq!(
                String::from_utf8_lossy(&rest),
                String::from_utf8_lossy(want_rest)
            );
        }
    }

    #[test]
    fn strip_leaves_other_commands_alone() {
        let cases: &[&[u8]] = &[
            b"a SEARCH ALL\r\n",
            b"a UID SEARCH 1:*\r\n",
            b"a SEARCH SUBJECT \"RETURN (MIN)\"\r\n",
            b"a SEARCH SUBJECT {12}\r\nRETURN (MIN)\r\n",
            b"a SEARCH CHARSET UTF-8 RETURN (MIN) ALL\r\n",
            b"a FETCH 1 RETURN (MIN)\r\n",
            b"a UID FETCH 1 (FLAGS)\r\n",
            b"a SEARCHX RETURN (MIN) ALL\r\n",
            b"\"a\" SEARCH RETURN (MIN) ALL\r\n",
            b"a SEARCH\r\n",
            b"a SEARCH",
            b"a",
            b"",
            b"a UID",
            b"a  SEARCH RETURN (MIN) ALL",
            b"a SEARCH RETURNS (MIN) ALL\r\n",
        ];
        for input in cases {
            assert_eq!(strip(input), Ok(None), "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn strip_rejects_bad_clauses() {
        let cases: &[(&[u8], &str)] = &[
            (
                b"a SEARCH RETURN (FOO) ALL\r\n",
                "unknown SEARCH return option FOO",
            ),
            (
                b"a SEARCH RETURN (min partial) ALL\r\n",
                "unknown SEARCH return option PARTIAL",
            ),
            (
                b"a SEARCH RETURN (\"MIN\") ALL\r\n",
                "SEARCH return options are atoms",
            ),
            (
                b"a SEARCH RETURN ((MIN)) ALL\r\n",
                "SEARCH return options are atoms",
            ),
            (
                b"a SEARCH RETURN MIN ALL\r\n",
                "RETURN: expected \"(\" at octet 16",
            ),
            (
                b"a SEARCH RETURN(MIN) ALL\r\n",
                "RETURN: expected a space at octet 15",
            ),
            (
                b"a SEARCH RETURN (MIN\r\n",
                "RETURN: expected a space at octet 20",
            ),
            (b"a SEARCH RETURN (MIN", "RETURN: unexpected end of command"),
            (b"a SEARCH RETURN", "RETURN: unexpected end of command"),
        ];
        for (input, want) in cases {
            assert_eq!(
                strip(input),
                Err((*want).to_owned()),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn stripped_commands_decode_with_imap_codec() {
        use imap_codec::CommandCodec;
        use imap_codec::decode::Decoder;
        use imap_codec::imap_types::command::CommandBody;
        let input = b"A1 UID SEARCH RETURN (MIN MAX) CHARSET UTF-8 SUBJECT {4+}\r\ncaf\xc3 1:*\r\n";
        let (_, rest) = strip(input).unwrap().unwrap();
        let (remaining, cmd) = CommandCodec::default().decode(&rest).unwrap();
        assert!(remaining.is_empty());
        assert!(matches!(cmd.body, CommandBody::Search { uid: true, .. }));
    }

    #[test]
    fn esearch_table() {
        let cases: &[(&str, bool, &[u32], &str, &str)] = &[
            // After RFC 4731 §3.1's examples (A282, A283, A285 are the RFC's own).
            (
                "A282",
                false,
                &[2, 10, 11],
                "MIN COUNT",
                "* ESEARCH (TAG \"A282\") MIN 2 COUNT 3\r\n",
            ),
            (
                "A283",
                false,
                &[2, 10, 11],
                "ALL",
                "* ESEARCH (TAG \"A283\") ALL 2,10:11\r\n",
            ),
            (
                "A284",
                false,
                &[4],
                "MIN",
                "* ESEARCH (TAG \"A284\") MIN 4\r\n",
            ),
            (
                "A285",
                true,
                &[7, 3800],
                "MIN MAX",
                "* ESEARCH (TAG \"A285\") UID MIN 7 MAX 3800\r\n",
            ),
            (
                "A286",
                false,
                &[],
                "COUNT",
                "* ESEARCH (TAG \"A286\") COUNT 0\r\n",
            ),
            // Nothing matched: MIN, MAX and ALL are left out.
            (
                "A287",
                true,
                &[],
                "MIN MAX ALL",
                "* ESEARCH (TAG \"A287\") UID\r\n",
            ),
            (
                "A288",
                false,
                &[],
                "MIN MAX ALL COUNT",
                "* ESEARCH (TAG \"A288\") COUNT 0\r\n",
            ),
            (
                "t",
                true,
                &[1, 2, 3, 5, 7, 8, 9],
                "MIN MAX COUNT ALL SAVE",
                "* ESEARCH (TAG \"t\") UID MIN 1 MAX 9 COUNT 7 ALL 1:3,5,7:9\r\n",
            ),
            // SAVE alone: no ESEARCH at all (RFC 5182 §2.1).
            ("t", false, &[1, 2], "SAVE", ""),
            ("t", false, &[1, 2], "", ""),
        ];
        for (tag, uid, results, o, want) in cases {
            let got = esearch(tag, *uid, results, &opts(o));
            assert_eq!(String::from_utf8(got).unwrap(), *want, "{tag} {o}");
        }
    }

    #[test]
    fn esearch_modseq_and_quoting() {
        let got = esearch_with_modseq("A1", false, &[1, 2], &opts("ALL"), Some(917162500));
        assert_eq!(got, b"* ESEARCH (TAG \"A1\") ALL 1:2 MODSEQ 917162500\r\n");
        let none = esearch_with_modseq("A1", false, &[], &opts("ALL"), Some(5));
        assert_eq!(none, b"* ESEARCH (TAG \"A1\")\r\n");
        let odd = esearch("a\"b\\c\r\n", false, &[], &opts("COUNT"));
        assert_eq!(odd, b"* ESEARCH (TAG \"a\\\"b\\\\c\") COUNT 0\r\n");
    }

    #[test]
    fn saved_result_table() {
        let r = [3, 5, 9];
        assert_eq!(saved_result(&r, &opts("SAVE")), vec![3, 5, 9]);
        assert_eq!(saved_result(&r, &opts("SAVE ALL")), vec![3, 5, 9]);
        assert_eq!(saved_result(&r, &opts("SAVE COUNT MIN")), vec![3, 5, 9]);
        assert_eq!(saved_result(&r, &opts("SAVE MIN")), vec![3]);
        assert_eq!(saved_result(&r, &opts("SAVE MAX")), vec![9]);
        assert_eq!(saved_result(&r, &opts("SAVE MIN MAX")), vec![3, 9]);
        assert_eq!(saved_result(&[4], &opts("SAVE MIN MAX")), vec![4]);
        assert_eq!(saved_result(&[], &opts("SAVE MIN MAX")), Vec::<u32>::new());
    }

    #[test]
    fn compact_set_table() {
        let cases: &[(&[u32], &str)] = &[
            (&[], ""),
            (&[1], "1"),
            (&[1, 2], "1:2"),
            (&[1, 2, 3, 5, 7, 8, 9], "1:3,5,7:9"),
            (&[1, 1, 2, 2, 4], "1:2,4"),
            (&[5, 3], "5,3"),
            (&[u32::MAX - 1, u32::MAX], "4294967294:4294967295"),
            (&[u32::MAX, u32::MAX], "4294967295"),
            (&[2, 4, 6], "2,4,6"),
        ];
        for (input, want) in cases {
            assert_eq!(compact_set(input), *want, "{input:?}");
        }
    }

    #[test]
    fn hostile_inputs_never_panic() {
        let seeds: &[&[u8]] = &[
            b"A1 UID SEARCH RETURN (MIN MAX COUNT ALL SAVE) CHARSET UTF-8 SUBJECT {5+}\r\nhello OR 1:* UID 4\r\n",
            b"t SEARCH RETURN () \"quoted \\\" RETURN (\" {3}\r\nabc\r\n",
        ];
        crate::search::hostile_inputs(seeds, 0x9e37_79b9_7f4a_7c15, |m| {
            if let Ok(Some((_, rest))) = strip(m) {
                assert!(rest.len() < m.len());
            }
        });
    }
}
