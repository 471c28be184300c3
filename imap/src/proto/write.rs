//! The response lines we write by hand: status responses (RFC 9051 §7.1) with their response
//! codes, continuation requests, and the small pieces of data lines (flag lists, strings).
//! Everything here ends lines in CRLF and never lets a CR or LF of its input through, so a
//! name or a text can never inject a response line.

use mailroom_store::{FLAG_ANSWERED, FLAG_DELETED, FLAG_DRAFT, FLAG_FLAGGED, FLAG_SEEN};

/// The three status conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `OK`
    Ok,
    /// `NO`
    No,
    /// `BAD`
    Bad,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
        }
    }
}

/// Push `text` with every CR, LF and NUL replaced by a space (resp-text is TEXT-CHAR only).
fn push_text(out: &mut Vec<u8>, text: &str) {
    out.extend(text.bytes().map(|b| {
        if matches!(b, b'\r' | b'\n' | 0) {
            b' '
        } else {
            b
        }
    }));
}

/// `tag STATUS [CODE] text CRLF`; `tag` None writes `*`.
pub fn status(
    out: &mut Vec<u8>,
    tag: Option<&str>,
    status: Status,
    code: Option<&str>,
    text: &str,
) {
    out.extend_from_slice(tag.unwrap_or("*").as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    if let Some(code) = code {
        out.push(b'[');
        push_text(out, code);
        out.extend_from_slice(b"] ");
    }
    push_text(out, if text.is_empty() { "done" } else { text });
    out.extend_from_slice(b"\r\n");
}

/// `* BYE text CRLF` (RFC 9051 §7.1.5).
pub fn bye(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"* BYE ");
    push_text(out, text);
    out.extend_from_slice(b"\r\n");
}

/// `+ text CRLF` (RFC 9051 §7.6).
pub fn continuation(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"+ ");
    push_text(out, text);
    out.extend_from_slice(b"\r\n");
}

/// An untagged data line `* rest CRLF`; `rest` must come from our own code, not a client.
pub fn untagged(out: &mut Vec<u8>, rest: &str) {
    out.extend_from_slice(b"* ");
    push_text(out, rest);
    out.extend_from_slice(b"\r\n");
}

/// A string as a quoted string when its octets allow it, else a literal (RFC 9051 §4.3).
/// `utf8` allows non-ASCII UTF-8 in quoted strings (IMAP4rev2, RFC 9051 §9 `utf8-quoted`).
pub fn string(out: &mut Vec<u8>, value: &[u8], utf8: bool) {
    let quotable = value.len() <= 1024
        && value.iter().all(|&b| !matches!(b, b'\r' | b'\n' | 0))
        && (value.is_ascii() || (utf8 && std::str::from_utf8(value).is_ok()));
    if quotable {
        out.push(b'"');
        for &b in value {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(format!("{{{}}}\r\n", value.len()).as_bytes());
        out.extend_from_slice(value);
    }
}

/// The system flags of `bits`, then the keywords, then `\Recent` if asked, as a parenthesised
/// list: `(\Seen \Deleted $Junk)`.
pub fn flag_list(bits: u8, keywords: &[String], recent: bool) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for (bit, name) in SYSTEM_FLAGS {
        if bits & bit != 0 {
            parts.push(name);
        }
    }
    parts.extend(keywords.iter().map(String::as_str));
    if recent {
        parts.push("\\Recent");
    }
    format!("({})", parts.join(" "))
}

/// Bit and name of each system flag the store keeps.
pub const SYSTEM_FLAGS: [(u8, &str); 5] = [
    (FLAG_SEEN, "\\Seen"),
    (FLAG_ANSWERED, "\\Answered"),
    (FLAG_FLAGGED, "\\Flagged"),
    (FLAG_DELETED, "\\Deleted"),
    (FLAG_DRAFT, "\\Draft"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            text(|o| status(
                o,
                Some("a1"),
                Status::No,
                Some("TRYCREATE"),
                "no such mailbox"
            )),
            "a1 NO [TRYCREATE] no such mailbox\r\n"
        );
        assert_eq!(
            text(|o| status(o, None, Status::Ok, None, "")),
            "* OK done\r\n"
        );
        // A client-controlled text can never end the line early.
        assert_eq!(
            text(|o| status(o, Some("t"), Status::Bad, None, "x\r\n* OK injected")),
            "t BAD x  * OK injected\r\n"
        );
    }

    #[test]
    fn strings_are_quoted_or_literal() {
        assert_eq!(text(|o| string(o, b"INBOX", false)), "\"INBOX\"");
        assert_eq!(text(|o| string(o, br#"a"b\c"#, false)), r#""a\"b\\c""#);
        assert_eq!(
            text(|o| string(o, "Entwürfe".as_bytes(), true)),
            "\"Entwürfe\""
        );
        assert_eq!(
            text(|o| string(o, "Entwürfe".as_bytes(), false)),
            "{9}\r\nEntwürfe"
        );
        assert_eq!(text(|o| string(o, b"a\r\nb", true)), "{4}\r\na\r\nb");
    }

    #[test]
    fn flag_lists() {
        assert_eq!(flag_list(0, &[], false), "()");
        assert_eq!(
            flag_list(FLAG_SEEN | FLAG_DELETED, &["$Junk".into()], true),
            "(\\Seen \\Deleted $Junk \\Recent)"
        );
    }
}
