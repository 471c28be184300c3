//! Stored text to IMAP `string` / `nstring` values.
//!
//! What it owns: choosing the wire form of a stored value so that building a response can never
//! fail or panic: a quoted string when the value allows it, a literal otherwise.
//! What it must not do: change a value beyond what IMAP cannot carry at all (NUL).
use imap_codec::imap_types::core::{IString, Literal, NString, Quoted};

/// A `string` for `text`: quoted when every octet is a TEXT-CHAR, else a literal.
///
/// RFC 9051 §4.3: a quoted string cannot hold CR, LF or 8-bit octets (without UTF8=ACCEPT),
/// a literal can hold anything but NUL (CHAR8), so NUL is the one octet dropped.
pub(super) fn istring(text: &str) -> IString<'static> {
    let text: String = text.chars().filter(|&c| c != '\0').collect();
    if Quoted::validate(&text).is_ok() {
        return IString::Quoted(Quoted::unvalidated(text));
    }
    match Literal::try_from(text.into_bytes()) {
        Ok(literal) => IString::Literal(literal),
        // Unreachable once NUL is gone; an empty string keeps the response well-formed anyway.
        Err(_) => IString::Quoted(Quoted::unvalidated("")),
    }
}

/// `NIL` for `None` (RFC 9051 §4.5), else [`istring`].
pub(super) fn nstring(text: Option<&str>) -> NString<'static> {
    NString(text.map(istring))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_literal(s: &IString<'_>) -> bool {
        matches!(s, IString::Literal(_))
    }

    #[test]
    fn plain_ascii_is_quoted() {
        for text in ["", "plain", "with \"quotes\" and \\", "tab\there"] {
            let s = istring(text);
            assert!(!is_literal(&s), "{text:?}");
            assert_eq!(s.as_ref(), text.as_bytes());
        }
    }

    #[test]
    fn what_a_quoted_string_cannot_hold_becomes_a_literal() {
        for text in ["Jörg", "line\r\nbreak", "bare\ncr\r", "\u{fffd}"] {
            let s = istring(text);
            assert!(is_literal(&s), "{text:?}");
            assert_eq!(s.as_ref(), text.as_bytes());
        }
    }

    #[test]
    fn nul_is_dropped_and_never_panics() {
        assert_eq!(istring("a\0b").as_ref(), b"ab");
        assert_eq!(istring("\0").as_ref(), b"");
        assert_eq!(istring("ä\0\r\n").as_ref(), "ä\r\n".as_bytes());
        assert_eq!(nstring(None), NString(None));
    }
}
