//! A small reader over one IMAP command as received (tag, atoms, quoted strings, literals,
//! parenthesised lists), for the pre-parsers that take out the clauses imap-codec
//! 2.0.0-alpha.10 cannot decode: SEARCH `RETURN (...)` (here) and the LIST-EXTENDED options
//! (`crate::names`). It lives beside its first user because this crate keeps such helpers in
//! the module that needs them.
//!
//! What it owns: splitting bytes into the tokens of RFC 9051 §9 closely enough that a string
//! or a literal is never mistaken for an atom (so a search string holding `RETURN (` stays a
//! string). What it must not do: interpret commands, allocate from a length the client
//! declared (a literal's octets are borrowed, never copied ahead of time), recurse without a
//! bound, or panic on any input.

use std::borrow::Cow;

/// Deepest nesting of parenthesised lists we read; the options we look for nest two deep
/// (`RETURN (STATUS (MESSAGES))`), so anything deeper is hostile.
const MAX_DEPTH: usize = 8;

/// Why the bytes are not a well-formed command; the text goes into a BAD reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ArgError {
    #[error("unexpected end of command")]
    End,
    #[error("expected a space at octet {0}")]
    Space(usize),
    #[error("expected an atom at octet {0}")]
    Atom(usize),
    #[error("expected \"(\" at octet {0}")]
    Open(usize),
    #[error("malformed quoted string at octet {0}")]
    Quoted(usize),
    #[error("malformed literal at octet {0}")]
    Literal(usize),
    #[error("parenthesised lists nested too deeply")]
    Depth,
}

/// One argument: an atom, a string (quoted or literal, unescaped) or a parenthesised list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item<'a> {
    Atom(&'a [u8]),
    Str(Cow<'a, [u8]>),
    List(Vec<Item<'a>>),
}

/// A cursor over a whole command message.
#[derive(Debug, Clone)]
pub(crate) struct Args<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// RFC 9051 §9: ATOM-CHAR is any CHAR except atom-specials. We are more lenient than the
/// grammar (we allow `\`, `%`, `*`, `]` and 8-bit octets, which flags, list patterns and
/// resp-specials need) because imap-codec validates whatever we hand on; we only have to
/// stop where a string, a literal, a list or a space begins.
fn is_atom_byte(b: u8) -> bool {
    b > b' ' && b != 0x7f && !matches!(b, b'(' | b')' | b'"' | b'{')
}

impl<'a> Args<'a> {
    /// A cursor at the start of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Octet offset of the cursor.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// What has not been read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// True when only the line end (CRLF, or nothing) is left.
    pub(crate) fn at_end(&self) -> bool {
        matches!(self.rest(), b"" | b"\r\n")
    }

    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Consume `b` if it is next.
    pub(crate) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Exactly one SP.
    pub(crate) fn sp(&mut self) -> Result<(), ArgError> {
        if self.eat(b' ') {
            Ok(())
        } else if self.peek().is_none() {
            Err(ArgError::End)
        } else {
            Err(ArgError::Space(self.pos))
        }
    }

    /// One or more atom octets (also used for the tag and for list-mailbox tokens).
    pub(crate) fn atom(&mut self) -> Result<&'a [u8], ArgError> {
        let start = self.pos;
        let len = self.rest().iter().take_while(|&&b| is_atom_byte(b)).count();
        if len == 0 {
            return Err(if self.peek().is_none() {
                ArgError::End
            } else {
                ArgError::Atom(start)
            });
        }
        self.pos += len;
        Ok(&self.buf[start..self.pos])
    }

    /// `string = quoted / literal`, unescaped.
    pub(crate) fn string(&mut self) -> Result<Cow<'a, [u8]>, ArgError> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal().map(Cow::Borrowed),
            None => Err(ArgError::End),
            Some(_) => Err(ArgError::Quoted(self.pos)),
        }
    }

    /// `astring = 1*ASTRING-CHAR / string`.
    pub(crate) fn astring(&mut self) -> Result<Cow<'a, [u8]>, ArgError> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => self.atom().map(Cow::Borrowed),
        }
    }

    /// RFC 9051 §9: `quoted = DQUOTE *QUOTED-CHAR DQUOTE`, where only `\"` and `\\` are
    /// escapes and CR / LF may not appear.
    fn quoted(&mut self) -> Result<Cow<'a, [u8]>, ArgError> {
        let start = self.pos;
        if !self.eat(b'"') {
            return Err(ArgError::Quoted(start));
        }
        let body_start = self.pos;
        let mut owned: Option<Vec<u8>> = None;
        loop {
            let Some(b) = self.peek() else {
                return Err(ArgError::End);
            };
            self.pos += 1;
            match b {
                b'"' => {
                    let text = match owned {
                        Some(v) => Cow::Owned(v),
                        None => Cow::Borrowed(&self.buf[body_start..self.pos - 1]),
                    };
                    return Ok(text);
                }
                b'\\' => {
                    let escaped = match self.peek() {
                        Some(e @ (b'"' | b'\\')) => e,
                        None => return Err(ArgError::End),
                        Some(_) => return Err(ArgError::Quoted(self.pos)),
                    };
                    let v =
                        owned.get_or_insert_with(|| self.buf[body_start..self.pos - 1].to_vec());
                    v.push(escaped);
                    self.pos += 1;
                }
                b'\r' | b'\n' | 0 => return Err(ArgError::Quoted(self.pos - 1)),
                other => {
                    if let Some(v) = owned.as_mut() {
                        v.push(other);
                    }
                }
            }
        }
    }

    /// RFC 9051 §9 `literal = "{" number64 ["+"] "}" CRLF *CHAR8` (RFC 7888 `{n+}` too).
    /// The octets are borrowed from the message; a length beyond the message is an error.
    fn literal(&mut self) -> Result<&'a [u8], ArgError> {
        let start = self.pos;
        if !self.eat(b'{') {
            return Err(ArgError::Literal(start));
        }
        let digits = self
            .rest()
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        // number64 has at most 20 digits; more cannot fit any message we were given.
        if digits == 0 || digits > 20 {
            return Err(ArgError::Literal(start));
        }
        let mut len: usize = 0;
        for &d in &self.rest()[..digits] {
            len = len
                .checked_mul(10)
                .and_then(|l| l.checked_add(usize::from(d - b'0')))
                .ok_or(ArgError::Literal(start))?;
        }
        self.pos += digits;
        self.eat(b'+');
        if !self.rest().starts_with(b"}\r\n") {
            // A line cut inside the prefix is incomplete, anything else is malformed.
            return Err(if b"}\r\n".starts_with(self.rest()) {
                ArgError::End
            } else {
                ArgError::Literal(start)
            });
        }
        self.pos += 3;
        if len > self.rest().len() {
            return Err(ArgError::End);
        }
        let data = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(data)
    }

    fn item_at(&mut self, depth: usize) -> Result<Item<'a>, ArgError> {
        match self.peek() {
            Some(b'(') => self.list_at(depth).map(Item::List),
            Some(b'"' | b'{') => self.string().map(Item::Str),
            _ => self.atom().map(Item::Atom),
        }
    }

    /// `"(" [item *(SP item)] ")"`.
    pub(crate) fn list(&mut self) -> Result<Vec<Item<'a>>, ArgError> {
        self.list_at(0)
    }

    fn list_at(&mut self, depth: usize) -> Result<Vec<Item<'a>>, ArgError> {
        if depth >= MAX_DEPTH {
            return Err(ArgError::Depth);
        }
        if !self.eat(b'(') {
            return Err(if self.peek().is_none() {
                ArgError::End
            } else {
                ArgError::Open(self.pos)
            });
        }
        let mut items = Vec::new();
        if self.eat(b')') {
            return Ok(items);
        }
        loop {
            items.push(self.item_at(depth + 1)?);
            if self.eat(b')') {
                return Ok(items);
            }
            self.sp()?;
        }
    }
}

/// Client bytes made safe to echo in a reply text: printable ASCII only, at most 40 octets.
pub(crate) fn printable(bytes: &[u8]) -> String {
    let mut out: String = bytes
        .iter()
        .take(40)
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect();
    if bytes.len() > 40 {
        out.push_str("...");
    }
    out
}

/// Feed `check` every prefix of each seed, 3,000 random mutations of each (bytes changed,
/// removed, or IMAP-special bytes inserted), and 3,000 random short inputs: the pre-parsers'
/// tests use this to show no input makes them panic. Deterministic (xorshift64 from `state`).
#[cfg(test)]
pub(crate) fn hostile_inputs(seeds: &[&[u8]], mut state: u64, mut check: impl FnMut(&[u8])) {
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for seed in seeds {
        for cut in 0..=seed.len() {
            check(&seed[..cut]);
        }
        for _ in 0..3000 {
            let mut m = seed.to_vec();
            for _ in 0..(next() % 4 + 1) {
                let i = (next() as usize) % m.len();
                match next() % 3 {
                    0 => m[i] = next() as u8,
                    1 => {
                        m.remove(i);
                    }
                    _ => m.insert(i, b"(){}\" \r\n\\+0"[(next() % 11) as usize]),
                }
                if m.is_empty() {
                    break;
                }
            }
            check(&m);
        }
    }
    for _ in 0..3000 {
        let len = (next() % 64) as usize;
        let m: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        check(&m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(input: &[u8]) -> Result<Vec<Item<'_>>, ArgError> {
        Args::new(input).list()
    }

    #[test]
    fn atoms_stop_at_specials() {
        let mut a = Args::new(b"abc(def");
        assert_eq!(a.atom(), Ok(&b"abc"[..]));
        assert_eq!(a.atom(), Err(ArgError::Atom(3)));
        let mut a = Args::new(b"%/*] x");
        assert_eq!(a.atom(), Ok(&b"%/*]"[..]));
        assert!(Args::new(b"").atom() == Err(ArgError::End));
    }

    #[test]
    fn quoted_strings_unescape() {
        type Case = (&'static [u8], Result<&'static [u8], ArgError>);
        let cases: &[Case] = &[
            (br#""""#, Ok(b"")),
            (br#""abc""#, Ok(b"abc")),
            (br#""a\"b""#, Ok(b"a\"b")),
            (br#""a\\b""#, Ok(b"a\\b")),
            (br#""RETURN (MIN)""#, Ok(b"RETURN (MIN)")),
            (br#""a\b""#, Err(ArgError::Quoted(3))),
            (b"\"a\r\n\"", Err(ArgError::Quoted(2))),
            (br#""abc"#, Err(ArgError::End)),
            (br#""abc\"#, Err(ArgError::End)),
        ];
        for (input, want) in cases {
            let got = Args::new(input).string();
            assert_eq!(
                got.as_deref().map_err(Clone::clone),
                want.clone(),
                "{input:?}"
            );
        }
    }

    #[test]
    fn literals_borrow_their_octets() {
        let mut a = Args::new(b"{3}\r\nab) rest");
        assert_eq!(a.string().as_deref(), Ok(&b"ab)"[..]));
        assert_eq!(a.rest(), b" rest");
        let mut a = Args::new(b"{2+}\r\n\"(");
        assert_eq!(a.string().as_deref(), Ok(&b"\"("[..]));
        let cases: &[&[u8]] = &[
            b"{}\r\n",
            b"{3}\nabc",
            b"{3}abc",
            b"{99999999999999999999999}\r\n",
            b"{x}\r\n",
        ];
        for input in cases {
            assert!(
                matches!(Args::new(input).string(), Err(ArgError::Literal(0))),
                "{input:?}"
            );
        }
        // A declared length beyond the message is "need more", never an allocation.
        assert_eq!(
            Args::new(b"{18446744073709551615}\r\nab").string(),
            Err(ArgError::End)
        );
        assert_eq!(Args::new(b"{5}\r\nab").string(), Err(ArgError::End));
        assert_eq!(Args::new(b"{5}").string(), Err(ArgError::End));
    }

    #[test]
    fn lists_nest_and_are_bounded() {
        assert_eq!(items(b"()"), Ok(vec![]));
        assert_eq!(
            items(b"(A \"b c\" (D))"),
            Ok(vec![
                Item::Atom(b"A"),
                Item::Str(Cow::Borrowed(b"b c")),
                Item::List(vec![Item::Atom(b"D")])
            ])
        );
        assert_eq!(items(b"(A  B)"), Err(ArgError::Atom(3)));
        assert_eq!(items(b"(A"), Err(ArgError::End));
        assert_eq!(items(b"A"), Err(ArgError::Open(0)));
        let deep = [vec![b'('; 100], vec![b')'; 100]].concat();
        assert_eq!(items(&deep), Err(ArgError::Depth));
    }

    #[test]
    fn at_end_accepts_crlf_or_nothing() {
        assert!(Args::new(b"").at_end());
        assert!(Args::new(b"\r\n").at_end());
        assert!(!Args::new(b" \r\n").at_end());
    }

    #[test]
    fn printable_cleans_and_truncates() {
        assert_eq!(printable(b"a\r\nb"), "a??b");
        assert_eq!(printable(&[b'x'; 50]), format!("{}...", "x".repeat(40)));
    }
}
