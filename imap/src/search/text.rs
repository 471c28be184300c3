//! The text SEARCH looks into: case-insensitive substrings, the raw header block (for HEADER
//! and TEXT) and the body (for BODY and TEXT), with RFC 2047 encoded words and RFC 2045
//! transfer encodings decoded where we can.
//!
//! What it owns: splitting a raw message into header fields and body, unfolding, and the
//! "contains" test. What it must not do: store anything, or panic — mail-parser is called
//! inside `catch_unwind` (as the store's analysis does) so a parser bug makes a key not match
//! instead of ending the session.

use mail_parser::parsers::MessageStream;
use mail_parser::{HeaderValue, Message, MessageParser, PartType};

/// Deepest message/rfc822 nesting whose text parts BODY looks into.
const MAX_NESTING: usize = 8;

/// A search string, case-folded once.
///
/// RFC 9051 §6.4.4: matching is case-insensitive substring matching. We fold with Unicode
/// `to_lowercase` on both sides, which also covers non-ASCII letters (É / é).
pub(crate) struct Needle(String);

impl Needle {
    /// Fold `raw` (the search key's string, UTF-8; invalid octets become U+FFFD).
    pub(crate) fn new(raw: &[u8]) -> Self {
        Self(String::from_utf8_lossy(raw).to_lowercase())
    }

    /// The empty string matches everything.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Does `hay` contain the needle, ignoring case?
    pub(crate) fn in_str(&self, hay: &str) -> bool {
        self.is_empty() || hay.to_lowercase().contains(&self.0)
    }

    /// Same for octets, read as UTF-8 (invalid octets never match a letter).
    pub(crate) fn in_bytes(&self, hay: &[u8]) -> bool {
        self.is_empty() || self.in_str(&String::from_utf8_lossy(hay))
    }
}

/// The header block and the body; see [`mailroom_store::mime::split_header`].
pub(crate) use mailroom_store::mime::split_header as split;

/// One header field: its name and its unfolded value (RFC 5322 §2.2.3: a line end followed
/// by WSP is removed, the WSP kept), without the surrounding whitespace.
pub(crate) struct Field<'a> {
    pub(crate) name: &'a [u8],
    pub(crate) value: Vec<u8>,
}

/// The fields of a header block, in order. A line that is neither a field (`name:`) nor a
/// continuation is skipped, as is a continuation with no field before it.
pub(crate) fn fields(header: &[u8]) -> Vec<Field<'_>> {
    let mut out: Vec<Field<'_>> = Vec::new();
    for line in header.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some(last) = out.last_mut() {
                last.value.extend_from_slice(line);
            }
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        // RFC 5322 §4.5.1 (obsolete syntax) allows WSP between the name and the colon.
        let name = trim(&line[..colon]);
        if name.is_empty() {
            continue;
        }
        out.push(Field {
            name,
            value: line[colon + 1..].to_vec(),
        });
    }
    for field in &mut out {
        field.value = trim(&field.value).to_vec();
    }
    out
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    s.get(start..end).unwrap_or_default()
}

/// Does a header value contain the needle, either as it is on the wire or with its RFC 2047
/// encoded words decoded (so `HEADER Subject "café"` finds `=?UTF-8?Q?caf=C3=A9?=`)?
pub(crate) fn value_matches(value: &[u8], needle: &Needle) -> bool {
    needle.in_bytes(value) || decode_words(value).is_some_and(|text| needle.in_str(&text))
}

/// The value with encoded words decoded, when it has any.
fn decode_words(value: &[u8]) -> Option<String> {
    if !value.windows(2).any(|w| w == b"=?") {
        return None;
    }
    // mail-parser's unstructured parser reads up to a line end not followed by WSP.
    let mut line = value.to_vec();
    line.extend_from_slice(b"\r\n");
    let decoded =
        std::panic::catch_unwind(|| match MessageStream::new(&line).parse_unstructured() {
            HeaderValue::Text(text) => Some(text.into_owned()),
            _ => None,
        });
    decoded.ok().flatten()
}

/// HEADER name value (RFC 9051 §6.4.4): a field with that name (case-insensitive) whose text
/// contains the value; an empty value matches any message that has the field.
pub(crate) fn header_matches(raw: &[u8], name: &[u8], needle: &Needle) -> bool {
    let (header, _) = split(raw);
    values_of(header, name)
        .iter()
        .any(|v| needle.is_empty() || value_matches(v, needle))
}

/// The values of the fields called `name` (case-insensitive) as [`fields`] gives them, without
/// building the other fields: SEARCH HEADER runs this over every message of a mailbox.
fn values_of(header: &[u8], name: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    // The value being read, when the field being read is one of ours.
    let mut current: Option<Vec<u8>> = None;
    for line in header.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some(value) = current.as_mut() {
                value.extend_from_slice(line);
            }
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let field = trim(&line[..colon]);
        if field.is_empty() {
            continue;
        }
        if let Some(value) = current.take() {
            out.push(trim(&value).to_vec());
        }
        if field.eq_ignore_ascii_case(name) {
            current = Some(line[colon + 1..].to_vec());
        }
    }
    if let Some(value) = current {
        out.push(trim(&value).to_vec());
    }
    out
}

/// BODY (RFC 9051 §6.4.4): the text after the header. It matches when the raw body contains
/// the needle, or when the decoded content of a text part does (base64 / quoted-printable
/// undone and the charset converted to UTF-8 by mail-parser), so an encoded body is found by
/// its words; nested message/rfc822 parts are looked into as well.
pub(crate) fn body_matches(raw: &[u8], needle: &Needle) -> bool {
    if needle.is_empty() {
        return true;
    }
    let (_, body) = split(raw);
    if needle.in_bytes(body) {
        return true;
    }
    let decoded = std::panic::catch_unwind(|| {
        MessageParser::default()
            .parse(raw)
            .is_some_and(|msg| parts_match(&msg, needle, 0))
    });
    decoded.unwrap_or(false)
}

fn parts_match(msg: &Message<'_>, needle: &Needle, depth: usize) -> bool {
    msg.parts.iter().any(|part| match &part.body {
        PartType::Text(text) | PartType::Html(text) => needle.in_str(text),
        PartType::Message(inner) if depth < MAX_NESTING => parts_match(inner, needle, depth + 1),
        _ => false,
    })
}

/// TEXT (RFC 9051 §6.4.4): the header or the body. Each header field is tried as
/// `Name: value`, raw and decoded.
pub(crate) fn text_matches(raw: &[u8], needle: &Needle) -> bool {
    if needle.is_empty() {
        return true;
    }
    let (header, _) = split(raw);
    let in_header = fields(header).iter().any(|f| {
        let mut line = f.name.to_vec();
        line.extend_from_slice(b": ");
        line.extend_from_slice(&f.value);
        value_matches(&line, needle)
    });
    in_header || body_matches(raw, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_table() {
        let cases: &[(&[u8], &[u8], &[u8])] = &[
            (b"A: 1\r\n\r\nbody", b"A: 1\r\n", b"body"),
            (b"A: 1\n\nbody", b"A: 1\n", b"body"),
            (b"A: 1\r\nB: 2\r\n\r\n", b"A: 1\r\nB: 2\r\n", b""),
            (b"\r\nbody", b"", b"body"),
            (b"\nbody", b"", b"body"),
            (b"A: 1\r\n", b"A: 1\r\n", b""),
            (b"no header at all", b"no header at all", b""),
            (b"", b"", b""),
            (b"A: 1\r\n\r\nx\r\n\r\ny", b"A: 1\r\n", b"x\r\n\r\ny"),
        ];
        for (raw, header, body) in cases {
            assert_eq!(split(raw), (*header, *body), "{raw:?}");
        }
    }

    #[test]
    fn fields_unfold_and_trim() {
        let header = b"Subject: hello\r\n  world\r\nX-Empty:\r\nX-Sp : v \r\n\tstray\r\nbad line\r\n: no name\r\n";
        let f = fields(header);
        let got: Vec<(&[u8], &[u8])> = f.iter().map(|f| (f.name, &f.value[..])).collect();
        assert_eq!(
            got,
            vec![
                (&b"Subject"[..], &b"hello  world"[..]),
                (b"X-Empty", b""),
                (b"X-Sp", b"v \tstray"),
            ]
        );
        // A continuation before any field is dropped.
        assert!(fields(b" lead\r\n").is_empty());
    }

    #[test]
    fn needle_is_unicode_case_insensitive() {
        let n = Needle::new("CAFÉ".as_bytes());
        assert!(n.in_str("un café noir"));
        assert!(!n.in_str("un cafe noir"));
        assert!(Needle::new(b"").in_bytes(b""));
        assert!(Needle::new(b"abc").in_bytes(b"xxABCxx"));
        assert!(!Needle::new(b"abc").in_bytes(b"ab c"));
        // Invalid UTF-8 in the haystack does not panic and does not match letters.
        assert!(!Needle::new(b"a").in_bytes(&[0xff, 0xfe]));
    }

    #[test]
    fn encoded_words_are_decoded_for_header_values() {
        let n = Needle::new("café".as_bytes());
        assert!(value_matches(b"=?UTF-8?Q?caf=C3=A9?=", &n));
        assert!(value_matches(b"=?ISO-8859-1?Q?caf=E9?= au lait", &n));
        assert!(value_matches(b"=?utf-8?B?Y2Fmw6k=?=", &n));
        assert!(!value_matches(b"=?UTF-8?Q?cafe?=", &n));
        // Broken encoded words fall back to the raw text.
        assert!(value_matches(b"=?x", &Needle::new(b"=?X")));
    }

    #[test]
    fn body_search_decodes_transfer_encodings() {
        let b64 = b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\naMOpbGxvIHfDtnJsZA==\r\n";
        assert!(body_matches(b64, &Needle::new("WÖRLD".as_bytes())));
        assert!(body_matches(b64, &Needle::new(b"aMOpbGxv")));
        assert!(!body_matches(b64, &Needle::new(b"planet")));
        let qp = b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ngar=E7on soft=\r\nbreak\r\n";
        assert!(body_matches(qp, &Needle::new("garçon".as_bytes())));
        assert!(body_matches(qp, &Needle::new(b"softbreak")));
    }

    #[test]
    fn body_search_looks_into_multipart_and_nested_messages() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Transfer-Encoding: base64\r\n\r\nc2VjcmV0\r\n--b--\r\n";
        assert!(body_matches(raw, &Needle::new(b"secret")));
        assert!(!body_matches(raw, &Needle::new(b"Content-Type: multipart")));
    }

    #[test]
    fn values_of_agrees_with_fields() {
        let headers: &[&[u8]] = &[
            b"Subject: a\r\n b\r\nX-A: 1\r\nx-a :  2 \r\n\r\n",
            b"garbage\r\n continued\r\nX-A: v\r\nnot a field\r\n\tmore\r\n: empty\r\n",
            b" leading continuation\nX-A:\nX-A:x\n\ty\n",
            b"",
            b"X-A",
            b"X-A:\xff\xfe\r\n",
        ];
        for header in headers {
            for name in [&b"X-A"[..], b"subject", b"none"] {
                let want: Vec<Vec<u8>> = fields(header)
                    .into_iter()
                    .filter(|f| f.name.eq_ignore_ascii_case(name))
                    .map(|f| f.value)
                    .collect();
                assert_eq!(values_of(header, name), want, "{header:?} {name:?}");
            }
        }
    }

    #[test]
    fn header_and_text_are_not_body() {
        let raw = b"Subject: alpha\r\nX-Tag: beta\r\n\r\ngamma\r\n";
        assert!(header_matches(raw, b"x-tag", &Needle::new(b"BET")));
        assert!(header_matches(raw, b"X-TAG", &Needle::new(b"")));
        assert!(!header_matches(raw, b"X-Other", &Needle::new(b"")));
        assert!(!header_matches(raw, b"Subject", &Needle::new(b"gamma")));
        assert!(!body_matches(raw, &Needle::new(b"alpha")));
        assert!(body_matches(raw, &Needle::new(b"gamma")));
        assert!(text_matches(raw, &Needle::new(b"alpha")));
        assert!(text_matches(raw, &Needle::new(b"x-tag: beta")));
        assert!(text_matches(raw, &Needle::new(b"gamma")));
        assert!(!text_matches(raw, &Needle::new(b"delta")));
    }
}
