//! The LIST-EXTENDED pre-parser (RFC 5258 §3, RFC 9051 §6.3.9): selection options, a
//! parenthesised pattern list and return options, which imap-codec 2.0.0-alpha.10 does not
//! parse with our features, are taken out of a LIST command and what is left is the plain
//! `tag LIST reference pattern` that imap-codec does decode.
//!
//! What it owns: the option grammar and its rules (unknown option, RECURSIVEMATCH alone).
//! What it must not do: decide what gets listed (see `list`), or panic on any input.

use std::borrow::Cow;

use super::ListOptions;
use crate::search::{ArgError, Args, Item, printable};

/// Take selection options `LIST (opts) ...`, a pattern list `LIST ref (pat1 pat2)` and
/// return options `... RETURN (opts)` out of a whole LIST command (`tag SP LIST SP ...`,
/// possibly with literals), returning the options and the plain `tag LIST ref pat` bytes for
/// imap-codec; `Ok(None)` when none of them is present (or the command is no LIST).
/// With a pattern list, [`ListOptions::patterns`] holds every pattern and the plain command
/// carries the first. An unknown option, RECURSIVEMATCH without SUBSCRIBED, an empty pattern
/// list or a malformed clause is `Err` with a text for a BAD reply.
///
/// ```abnf
/// list             = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
///                    [SP list-return-opts]                       ; RFC 5258 §6, RFC 9051 §9
/// list-select-opts = "(" [list-select-opt *(SP list-select-opt)] ")"
/// list-select-opt  = "SUBSCRIBED" / "REMOTE" / "RECURSIVEMATCH" / "SPECIAL-USE"  ; RFC 6154
/// mbox-or-pat      = list-mailbox / patterns
/// patterns         = "(" list-mailbox *(SP list-mailbox) ")"
/// list-return-opts = "RETURN" SP "(" [return-option *(SP return-option)] ")"
/// return-option    = "SUBSCRIBED" / "CHILDREN" / "SPECIAL-USE"
///                  / "STATUS" SP "(" status-att *(SP status-att) ")"  ; RFC 5819
/// ```
pub fn strip_list_extended(message: &[u8]) -> Result<Option<(ListOptions, Vec<u8>)>, String> {
    let mut args = Args::new(message);
    if args.atom().is_err() {
        return Ok(None);
    }
    let tag_end = args.pos();
    if args.sp().is_err() {
        return Ok(None);
    }
    match args.atom() {
        Ok(name) if name.eq_ignore_ascii_case(b"LIST") => {}
        _ => return Ok(None),
    }
    if args.sp().is_err() {
        return Ok(None);
    }

    let mut opts = ListOptions::default();
    // Once an extension is seen, a malformed rest is ours to refuse; before that it may be a
    // plain LIST that imap-codec refuses in its own words.
    let mut extended = false;
    let fail = |extended: bool, e: ArgError| {
        if extended {
            Err(format!("LIST: {e}"))
        } else {
            Ok(None)
        }
    };

    if args.rest().starts_with(b"(") {
        extended = true;
        let items = args
            .list()
            .map_err(|e| format!("LIST selection options: {e}"))?;
        selection(&items, &mut opts)?;
        args.sp().map_err(|e| format!("LIST: {e}"))?;
    }

    let reference_start = args.pos();
    if let Err(e) = args.astring() {
        return fail(extended, e);
    }
    let reference = &message[reference_start..args.pos()];
    if let Err(e) = args.sp() {
        return fail(extended, e);
    }

    let pattern: Cow<'_, [u8]> = if args.rest().starts_with(b"(") {
        extended = true;
        let items = args.list().map_err(|e| format!("LIST patterns: {e}"))?;
        opts.patterns = patterns(&items)?;
        let first = opts
            .patterns
            .first()
            .map(String::as_bytes)
            .unwrap_or_default();
        Cow::Owned(wire_string(first))
    } else {
        let start = args.pos();
        if let Err(e) = args.astring() {
            return fail(extended, e);
        }
        Cow::Borrowed(&message[start..args.pos()])
    };

    if args.eat(b' ') {
        match args.atom() {
            Ok(word) if word.eq_ignore_ascii_case(b"RETURN") => {}
            _ if !extended => return Ok(None),
            _ => return Err("LIST: expected RETURN after the pattern".to_owned()),
        }
        extended = true;
        args.sp().map_err(|e| format!("LIST RETURN: {e}"))?;
        let items = args.list().map_err(|e| format!("LIST RETURN: {e}"))?;
        returns(&items, &mut opts)?;
    }
    if !args.at_end() {
        return if extended {
            Err("LIST: unexpected text after the arguments".to_owned())
        } else {
            Ok(None)
        };
    }
    if !extended {
        return Ok(None);
    }

    let mut plain = Vec::with_capacity(message.len());
    plain.extend_from_slice(&message[..tag_end]);
    plain.extend_from_slice(b" LIST ");
    plain.extend_from_slice(reference);
    plain.push(b' ');
    plain.extend_from_slice(&pattern);
    plain.extend_from_slice(args.rest());
    Ok(Some((opts, plain)))
}

fn atom_word(item: &Item<'_>, what: &str) -> Result<Vec<u8>, String> {
    match item {
        Item::Atom(word) => Ok(word.to_ascii_uppercase()),
        _ => Err(format!("LIST {what} must be atoms")),
    }
}

/// RFC 5258 §3.1 selection options (RFC 6154 §3 adds SPECIAL-USE).
fn selection(items: &[Item<'_>], opts: &mut ListOptions) -> Result<(), String> {
    for item in items {
        let word = atom_word(item, "selection options")?;
        match word.as_slice() {
            b"SUBSCRIBED" => opts.select_subscribed = true,
            // RFC 5258 §3.1: REMOTE adds remote mailboxes; we have none, so it changes nothing.
            b"REMOTE" => {}
            b"RECURSIVEMATCH" => opts.recursive_match = true,
            b"SPECIAL-USE" => opts.select_special_use = true,
            // RFC 5258 §3.1: an unrecognized selection option makes the command BAD.
            _ => {
                return Err(format!(
                    "unknown LIST selection option {}",
                    printable(&word)
                ));
            }
        }
    }
    // RFC 5258 §3.1: RECURSIVEMATCH MUST NOT occur alone or only with REMOTE; its CHILDINFO
    // is defined for SUBSCRIBED only (RFC 6154 gives SPECIAL-USE none), so it needs that.
    if opts.recursive_match && !opts.select_subscribed {
        return Err("RECURSIVEMATCH must be used together with SUBSCRIBED".to_owned());
    }
    Ok(())
}

/// RFC 5258 §3.2 return options, RFC 6154 §2 SPECIAL-USE, RFC 5819 STATUS.
fn returns(items: &[Item<'_>], opts: &mut ListOptions) -> Result<(), String> {
    let mut iter = items.iter();
    while let Some(item) = iter.next() {
        let word = atom_word(item, "return options")?;
        match word.as_slice() {
            b"SUBSCRIBED" => opts.return_subscribed = true,
            b"CHILDREN" => opts.return_children = true,
            b"SPECIAL-USE" => opts.return_special_use = true,
            b"STATUS" => {
                if opts.return_status.is_some() {
                    return Err("LIST RETURN has STATUS twice".to_owned());
                }
                // RFC 5819 §2: "STATUS" SP "(" status-att *(SP status-att) ")".
                let Some(Item::List(atts)) = iter.next() else {
                    return Err("LIST RETURN STATUS needs a list of items".to_owned());
                };
                if atts.is_empty() {
                    return Err("LIST RETURN STATUS needs a list of items".to_owned());
                }
                let names = atts
                    .iter()
                    .map(|att| {
                        atom_word(att, "STATUS items")
                            .map(|w| String::from_utf8_lossy(&w).into_owned())
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                opts.return_status = Some(names);
            }
            // Refused rather than ignored, like an unknown selection option: the client
            // would otherwise wait for data that never comes.
            _ => return Err(format!("unknown LIST return option {}", printable(&word))),
        }
    }
    Ok(())
}

/// RFC 5258 §3: `patterns = "(" list-mailbox *(SP list-mailbox) ")"`, at least one.
fn patterns(items: &[Item<'_>]) -> Result<Vec<String>, String> {
    if items.is_empty() {
        return Err("LIST expects a mailbox pattern or a list of patterns".to_owned());
    }
    items
        .iter()
        .map(|item| {
            let bytes: &[u8] = match item {
                Item::Atom(a) => a,
                Item::Str(s) => s,
                Item::List(_) => return Err("LIST patterns do not nest".to_owned()),
            };
            String::from_utf8(bytes.to_vec()).map_err(|_| "LIST pattern is not UTF-8".to_owned())
        })
        .collect()
}

/// A pattern as an IMAP string imap-codec will decode back to the same octets: quoted when
/// it is plain ASCII, else a literal.
fn wire_string(bytes: &[u8]) -> Vec<u8> {
    let quotable = bytes.iter().all(|&b| (0x20..0x7f).contains(&b));
    if quotable {
        let mut out = Vec::with_capacity(bytes.len() + 2);
        out.push(b'"');
        for &b in bytes {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
        out
    } else {
        let mut out = format!("{{{}}}\r\n", bytes.len()).into_bytes();
        out.extend_from_slice(bytes);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(input: &[u8]) -> Result<Option<(ListOptions, Vec<u8>)>, String> {
        strip_list_extended(input)
    }

    fn ok(input: &[u8]) -> (ListOptions, String) {
        let (o, rest) = strip(input).unwrap().unwrap();
        (o, String::from_utf8(rest).unwrap())
    }

    #[test]
    fn rfc5258_examples() {
        let sub = ListOptions {
            select_subscribed: true,
            ..ListOptions::default()
        };
        let cases: Vec<(&[u8], ListOptions, &str)> = vec![
            // RFC 5258 §5 example 2.
            (
                b"A02 LIST (SUBSCRIBED) \"\" \"*\"\r\n",
                sub.clone(),
                "A02 LIST \"\" \"*\"\r\n",
            ),
            // Example 3.
            (
                b"A03 LIST () \"\" \"%\" RETURN (CHILDREN)\r\n",
                ListOptions {
                    return_children: true,
                    ..ListOptions::default()
                },
                "A03 LIST \"\" \"%\"\r\n",
            ),
            // Example 4.
            (
                b"A04 LIST (REMOTE) \"\" \"%\" RETURN (CHILDREN)\r\n",
                ListOptions {
                    return_children: true,
                    ..ListOptions::default()
                },
                "A04 LIST \"\" \"%\"\r\n",
            ),
            // Example 5.
            (
                b"A05 LIST (REMOTE SUBSCRIBED) \"\" \"*\"\r\n",
                sub.clone(),
                "A05 LIST \"\" \"*\"\r\n",
            ),
            // Example 6.
            (
                b"A06 LIST (REMOTE) \"\" \"*\" RETURN (SUBSCRIBED)\r\n",
                ListOptions {
                    return_subscribed: true,
                    ..ListOptions::default()
                },
                "A06 LIST \"\" \"*\"\r\n",
            ),
            // Example 7: a pattern list.
            (
                b"A07 LIST \"\" (\"%\" \"foo/%\")\r\n",
                ListOptions {
                    patterns: vec!["%".into(), "foo/%".into()],
                    ..ListOptions::default()
                },
                "A07 LIST \"\" \"%\"\r\n",
            ),
            // Example 8.
            (
                b"C04 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\" RETURN (CHILDREN)\r\n",
                ListOptions {
                    select_subscribed: true,
                    recursive_match: true,
                    return_children: true,
                    ..ListOptions::default()
                },
                "C04 LIST \"\" \"%\"\r\n",
            ),
            // RFC 6154 §5.1 and §5.2 examples.
            (
                b"t1 LIST (SPECIAL-USE) \"\" \"*\"\r\n",
                ListOptions {
                    select_special_use: true,
                    ..ListOptions::default()
                },
                "t1 LIST \"\" \"*\"\r\n",
            ),
            (
                b"t1 LIST \"\" \"%\" RETURN (SPECIAL-USE)\r\n",
                ListOptions {
                    return_special_use: true,
                    ..ListOptions::default()
                },
                "t1 LIST \"\" \"%\"\r\n",
            ),
            // RFC 5819 §4 example.
            (
                b"A01 LIST \"\" % RETURN (STATUS (MESSAGES UNSEEN))\r\n",
                ListOptions {
                    return_status: Some(vec!["MESSAGES".into(), "UNSEEN".into()]),
                    ..ListOptions::default()
                },
                "A01 LIST \"\" %\r\n",
            ),
        ];
        for (input, want_opts, want_plain) in cases {
            let (o, plain) = ok(input);
            assert_eq!(o, want_opts, "{}", String::from_utf8_lossy(input));
            assert_eq!(plain, want_plain);
        }
    }

    #[test]
    fn options_mix_case_literals_and_no_crlf() {
        let (o, plain) =
            ok(b"a list (subscribed) {2}\r\nx/ {4+}\r\n%/%) return (subscribed status (messages size) special-use)");
        assert!(o.select_subscribed && o.return_subscribed && o.return_special_use);
        assert_eq!(
            o.return_status,
            Some(vec!["MESSAGES".into(), "SIZE".into()])
        );
        assert_eq!(plain, "a LIST {2}\r\nx/ {4+}\r\n%/%)");
        // A pattern list with a literal, an atom and an escaped quoted string.
        let (o, plain) = ok(b"a LIST \"\" ({3}\r\nA B INBOX \"q\\\"\")\r\n");
        assert_eq!(o.patterns, ["A B", "INBOX", "q\""]);
        assert_eq!(plain, "a LIST \"\" \"A B\"\r\n");
        let (o, plain) = ok("a LIST \"\" (\"台北/%\" x)\r\n".as_bytes());
        assert_eq!(o.patterns, ["台北/%", "x"]);
        assert_eq!(plain, "a LIST \"\" {8}\r\n台北/%\r\n");
        // A single pattern in parentheses is still a pattern list.
        let (o, _) = ok(b"a LIST \"\" (INBOX)\r\n");
        assert_eq!(o.patterns, ["INBOX"]);
        // RETURN () is allowed and asks for nothing.
        let (o, plain) = ok(b"a LIST \"\" * RETURN ()\r\n");
        assert_eq!(o, ListOptions::default());
        assert_eq!(plain, "a LIST \"\" *\r\n");
    }

    #[test]
    fn plain_lists_and_other_commands_are_left_alone() {
        let cases: &[&[u8]] = &[
            b"a LIST \"\" *\r\n",
            b"a LIST \"\" \"RETURN (CHILDREN)\"\r\n",
            b"a LIST {8}\r\nRETURN ( *\r\n",
            b"a LIST \"(SUBSCRIBED)\" %\r\n",
            b"a LIST ~/Mail/ %\r\n",
            b"a LSUB (SUBSCRIBED) \"\" *\r\n",
            b"a LISTX (SUBSCRIBED) \"\" *\r\n",
            b"a LIST\r\n",
            b"a LIST \"\"\r\n",
            b"a LIST \"\" * EXTRA\r\n",
            b"a LIST \"unterminated *\r\n",
            b"a LIST \"\" *  RETURN (CHILDREN)\r\n",
            b"a",
            b"",
        ];
        for input in cases {
            assert_eq!(strip(input), Ok(None), "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn bad_options_table() {
        let cases: &[(&[u8], &str)] = &[
            (
                b"a LIST (BOGUS) \"\" *\r\n",
                "unknown LIST selection option BOGUS",
            ),
            (
                b"a LIST (RECURSIVEMATCH) \"\" *\r\n",
                "RECURSIVEMATCH must be used together with SUBSCRIBED",
            ),
            (
                b"a LIST (REMOTE RECURSIVEMATCH) \"\" *\r\n",
                "RECURSIVEMATCH must be used together with SUBSCRIBED",
            ),
            (
                b"a LIST (SPECIAL-USE RECURSIVEMATCH) \"\" *\r\n",
                "RECURSIVEMATCH must be used together with SUBSCRIBED",
            ),
            (
                b"a LIST \"\" * RETURN (\"CHILDREN\")\r\n",
                "LIST return options must be atoms",
            ),
            (
                b"a LIST \"\" * RETURN (BOGUS)\r\n",
                "unknown LIST return option BOGUS",
            ),
            (
                b"a LIST \"\" * RETURN (STATUS)\r\n",
                "LIST RETURN STATUS needs a list of items",
            ),
            (
                b"a LIST \"\" * RETURN (STATUS ())\r\n",
                "LIST RETURN STATUS needs a list of items",
            ),
            (
                b"a LIST \"\" * RETURN (STATUS (MESSAGES) STATUS (UNSEEN))\r\n",
                "LIST RETURN has STATUS twice",
            ),
            (
                b"a LIST \"\" * RETURN (STATUS (\"MESSAGES\"))\r\n",
                "LIST STATUS items must be atoms",
            ),
            (
                b"a LIST (\"SUBSCRIBED\") \"\" *\r\n",
                "LIST selection options must be atoms",
            ),
            (
                b"a LIST \"\" ()\r\n",
                "LIST expects a mailbox pattern or a list of patterns",
            ),
            (b"a LIST \"\" ((a))\r\n", "LIST patterns do not nest"),
            (b"a LIST \"\" (\"\xff\")\r\n", "LIST pattern is not UTF-8"),
            (b"a LIST () \"\"\r\n", "LIST: expected a space at octet 12"),
            (b"a LIST ()\"\" *\r\n", "LIST: expected a space at octet 9"),
            (
                b"a LIST (SUBSCRIBED \"\" *\r\n",
                "LIST selection options: expected a space at octet 23",
            ),
            (
                b"a LIST () \"\" * RETURN\r\n",
                "LIST RETURN: expected a space at octet 21",
            ),
            (
                b"a LIST () \"\" * EXTRA\r\n",
                "LIST: expected RETURN after the pattern",
            ),
            (
                b"a LIST \"\" * RETURN (CHILDREN) x\r\n",
                "LIST: unexpected text after the arguments",
            ),
            (
                b"a LIST \"\" * RETURN CHILDREN\r\n",
                "LIST RETURN: expected \"(\" at octet 19",
            ),
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
        let inputs: &[&[u8]] = &[
            b"A1 LIST (SUBSCRIBED RECURSIVEMATCH) {0}\r\n {3+}\r\nx/% RETURN (CHILDREN)\r\n",
            b"A2 LIST \"\" (\"%\" \"a\\\\b\" \"q\\\"\") RETURN (SPECIAL-USE)\r\n",
            "A3 LIST \"\" (\"Entwürfe\" INBOX)\r\n".as_bytes(),
        ];
        for input in inputs {
            let (_, plain) = strip(input).unwrap().unwrap();
            let (remaining, cmd) = CommandCodec::default()
                .decode(&plain)
                .unwrap_or_else(|e| panic!("{e:?}: {}", String::from_utf8_lossy(&plain)));
            assert!(remaining.is_empty());
            assert!(matches!(cmd.body, CommandBody::List { .. }));
        }
    }

    #[test]
    fn hostile_inputs_never_panic() {
        let seeds: &[&[u8]] = &[
            b"A1 LIST (SUBSCRIBED REMOTE RECURSIVEMATCH SPECIAL-USE) {3}\r\nabc (\"%\" {2+}\r\nx% y) RETURN (SUBSCRIBED CHILDREN STATUS (MESSAGES UIDNEXT) SPECIAL-USE)\r\n",
            b"t LIST \"a\\\"b\" \"RETURN (\" RETURN ()\r\n",
        ];
        crate::search::hostile_inputs(seeds, 0x2545_f491_4f6c_dd1d, |m| {
            let _ = strip(m);
        });
    }
}
