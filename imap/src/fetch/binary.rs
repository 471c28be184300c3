//! FETCH `BINARY[part]`: a part's content with its Content-Transfer-Encoding removed.
//!
//! What it owns: RFC 3516 / RFC 9051 §6.4.5 BINARY on top of the part tree, and total
//! (never failing, never panicking) base64 and quoted-printable decoders.
//! What it must not do: touch charsets or encoded words (RFC 3516 §5), or pick the wire form
//! (string or literal8): that is the session's choice once it sees the octets.
use std::{borrow::Cow, num::NonZeroU32};

use super::parts::{Kind, Parts};

/// Why BINARY cannot return a part.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BinaryError {
    /// RFC 3516 §4.3: "If the server does not know how to decode the section's CTE, it MUST
    /// fail the request and issue a NO response that contains the UNKNOWN-CTE extended
    /// response code." The session answers `NO [UNKNOWN-CTE]`. Holds the value as written.
    #[error("unknown content-transfer-encoding {0:?}")]
    UnknownCte(String),
    /// The part is a multipart: it has body parts, not content of its own to decode. The
    /// session answers `NO`; the client can ask for BINARY of the parts.
    #[error("part is a multipart")]
    Multipart,
}

/// How a part's octets are turned into its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cte {
    /// 7bit, 8bit, binary: RFC 2045 §6.2, identity encodings.
    Identity,
    Base64,
    QuotedPrintable,
}

impl Cte {
    fn parse(value: Option<&str>) -> Result<Cte, BinaryError> {
        // RFC 2045 §6.1: no Content-Transfer-Encoding means 7bit.
        let Some(value) = value else {
            return Ok(Cte::Identity);
        };
        // RFC 2045 §6.1: the mechanism is a token; comments ("base64 (x)") follow it.
        let token = value
            .trim_matches(|c: char| c.is_ascii_whitespace())
            .split(|c: char| c.is_ascii_whitespace() || c == '(' || c == ';')
            .next()
            .unwrap_or_default();
        // RFC 2045 §6.1: the values are not case sensitive.
        match token.to_ascii_lowercase().as_str() {
            "" | "7bit" | "8bit" | "binary" => Ok(Cte::Identity),
            "base64" => Ok(Cte::Base64),
            "quoted-printable" => Ok(Cte::QuotedPrintable),
            _ => Err(BinaryError::UnknownCte(value.trim().to_string())),
        }
    }
}

impl<'a> Parts<'a> {
    /// The content of `BINARY[part]`. See [`super::binary`].
    pub fn binary(&self, part: &[NonZeroU32]) -> Result<Cow<'a, [u8]>, BinaryError> {
        // RFC 9051 §6.4.5 / RFC 3516 §7: section-binary = "[" [section-part] "]"; the empty
        // one is the whole message, whose own CTE is identity for a valid message (RFC 2045
        // §6.4: composite types are never encoded), so it is returned as is.
        if part.is_empty() {
            return Ok(Cow::Borrowed(self.raw()));
        }
        // Like BODY[section], a part that does not exist is empty (see `super::section`).
        let Some(node) = self.find(part) else {
            return Ok(Cow::Borrowed(&[]));
        };
        if let Kind::Multipart(_) = node.kind {
            return Err(BinaryError::Multipart);
        }
        let octets = self.bytes(node.body.clone());
        Ok(match Cte::parse(node.encoding.as_deref())? {
            Cte::Identity => Cow::Borrowed(octets),
            Cte::Base64 => Cow::Owned(base64(octets)),
            Cte::QuotedPrintable => Cow::Owned(quoted_printable(octets)),
        })
    }
}

/// RFC 2045 §6.8 base64, leniently: "Any characters outside of the base64 alphabet are to be
/// ignored", and the first "=" is "evidence that the end of the data has been reached". A
/// last group of one sextet holds no whole octet and is dropped; stray bits are ignored.
pub(super) fn base64(encoded: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded.len() / 4 * 3 + 2);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in encoded {
        let sextet = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// RFC 2045 §6.7 quoted-printable. "=XX" is an octet (lower-case hex accepted, as note (2)
/// suggests for robustness); "=" at a line end is a soft line break; white space at the end
/// of a line is transport padding and is deleted (rule 3); every hard line break becomes CRLF
/// (rule 4: line breaks are CRLF in canonical form, RFC 3516 §6). Any other "=" is kept as
/// it is (note (2)).
pub(super) fn quoted_printable(encoded: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded.len());
    // Literal white space not yet known to be inside a line (it may be trailing padding).
    let mut blanks: Vec<u8> = Vec::new();
    let mut i = 0;
    while let Some(&c) = encoded.get(i) {
        match c {
            b' ' | b'\t' => {
                blanks.push(c);
                i += 1;
                continue;
            }
            b'\r' if encoded.get(i + 1) == Some(&b'\n') => {
                blanks.clear();
                out.extend_from_slice(b"\r\n");
                i += 2;
                continue;
            }
            b'\n' => {
                blanks.clear();
                out.extend_from_slice(b"\r\n");
                i += 1;
                continue;
            }
            _ => {}
        }
        out.append(&mut blanks);
        if c != b'=' {
            out.push(c);
            i += 1;
            continue;
        }
        let hex = |at: usize| encoded.get(at).and_then(|&h| (h as char).to_digit(16));
        if let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        // Soft line break: "=", optional padding, then the line end (or the end of data).
        let mut j = i + 1;
        while matches!(encoded.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        match encoded.get(j..) {
            Some([b'\r', b'\n', ..]) => i = j + 2,
            Some([b'\n', ..]) => i = j + 1,
            Some([]) | None => i = j,
            Some(_) => {
                out.push(b'=');
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_table() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"TWFu", b"Man"),
            (b"TWE=", b"Ma"),
            (b"TQ==", b"M"),
            (b"TWE", b"Ma"),
            (b"TQ", b"M"),
            // RFC 2045 §6.8: line breaks and other non-alphabet octets are ignored.
            (b"SGVs\r\nbG8g\r\nd29y\r\nbGQ=\r\n", b"Hello world"),
            (b"S G V s*b G 8", b"Hello"),
            // The first "=" ends the data.
            (b"TQ==TWFu", b"M"),
            // A lone sextet is no octet.
            (b"TWFuT", b"Man"),
            (b"!!!", b""),
            (b"AAECAwQF", &[0, 1, 2, 3, 4, 5]),
            (b"/+/+", &[0xff, 0xef, 0xfe]),
        ];
        for (encoded, decoded) in cases {
            assert_eq!(
                base64(encoded),
                *decoded,
                "{:?}",
                String::from_utf8_lossy(encoded)
            );
        }
    }

    #[test]
    fn quoted_printable_table() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"plain", b"plain"),
            (b"J=C3=B6rg", "Jörg".as_bytes()),
            (b"lower =c3=b6", "lower ö".as_bytes()),
            // RFC 2045 §6.7 rule 5: soft line breaks disappear.
            (b"long=\r\nline", b"longline"),
            (b"long= \t\r\nline", b"longline"),
            (b"bare=\nlf", b"barelf"),
            (b"ends with=", b"ends with"),
            // Rule 3: trailing white space is padding; "=20" is real.
            (b"pad   \r\nnext", b"pad\r\nnext"),
            (b"keep=20\r\n", b"keep \r\n"),
            (b"in the middle", b"in the middle"),
            (b"tail \t", b"tail"),
            // Rule 4: hard line breaks are CRLF, bare LF included; encoded LF stays LF.
            (b"a\nb\r\nc", b"a\r\nb\r\nc"),
            (b"a=0Ab", b"a\nb"),
            // Note (2): a "=" that starts nothing valid is kept.
            (b"1=2", b"1=2"),
            (b"=G0", b"=G0"),
            (b"=4", b"=4"),
            (b"==41", b"=A"),
            (b"\r", b"\r"),
        ];
        for (encoded, decoded) in cases {
            let got = quoted_printable(encoded);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(decoded),
                "{:?}",
                String::from_utf8_lossy(encoded)
            );
        }
    }

    #[test]
    fn cte_names() {
        let ok = |v: Option<&str>| Cte::parse(v);
        assert_eq!(ok(None), Ok(Cte::Identity));
        for v in ["7bit", "8BIT", " Binary ", "7bit (comment)"] {
            assert_eq!(ok(Some(v)), Ok(Cte::Identity), "{v}");
        }
        assert_eq!(ok(Some("BASE64")), Ok(Cte::Base64));
        assert_eq!(ok(Some("Quoted-Printable")), Ok(Cte::QuotedPrintable));
        let unknown = BinaryError::UnknownCte("x-uuencode".into());
        assert_eq!(ok(Some(" x-uuencode ")), Err(unknown));
    }
}
