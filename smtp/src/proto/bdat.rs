//! The BDAT command line (RFC 3030 §2), parsed here rather than by smtp-proto: its number
//! frames the octets that follow, so it must be read exactly, and a number too large to hold
//! must not wrap into a small one (the rest of the chunk would then be read as commands).

use super::Rejected;
use super::reply::Reply;

/// A chunk size that does not fit in a `usize`: no chunk can be that long, and the chunk's
/// end cannot be found. The session refuses it and closes.
pub const CHUNK_SIZE_OVERFLOW: usize = usize::MAX;

/// `line` without its CRLF, when its verb is BDAT: the chunk size (saturated to
/// [`CHUNK_SIZE_OVERFLOW`]) and whether it is the last chunk; `None` for other verbs.
///
/// ```text
/// bdat-cmd   ::= "BDAT" SP chunk-size [ SP end-marker ] CRLF
/// chunk-size ::= 1*DIGIT
/// end-marker ::= "LAST"
/// ```
pub fn parse_bdat(line: &[u8]) -> Option<Result<(usize, bool), Rejected>> {
    let verb = line.get(..4)?;
    if !verb.eq_ignore_ascii_case(b"BDAT") || line.get(4).is_some_and(|&b| b != b' ') {
        return None;
    }
    let syntax = || {
        Rejected(Reply::new(
            501,
            "5.5.4",
            "syntax error, expected: BDAT chunk-size [LAST]",
        ))
    };
    let args = line.get(5..).unwrap_or_default();
    let (size, marker) = match args.iter().position(|&b| b == b' ') {
        Some(sp) => (&args[..sp], Some(&args[sp + 1..])),
        None => (args, None),
    };
    if size.is_empty() || !size.iter().all(u8::is_ascii_digit) {
        return Some(Err(syntax()));
    }
    let last = match marker {
        None => false,
        Some(m) if m.eq_ignore_ascii_case(b"LAST") => true,
        Some(_) => return Some(Err(syntax())),
    };
    let size = size.iter().fold(0usize, |n, &d| {
        n.saturating_mul(10).saturating_add(usize::from(d - b'0'))
    });
    Some(Ok((size, last)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Option<Result<(usize, bool), u16>> {
        parse_bdat(line.as_bytes()).map(|r| r.map_err(|e| e.0.code))
    }

    #[test]
    fn chunk_sizes_and_the_last_marker() {
        // RFC 3030 §2.
        assert_eq!(parse("BDAT 0"), Some(Ok((0, false))));
        assert_eq!(parse("bdat 123456 last"), Some(Ok((123456, true))));
        assert_eq!(parse("BDAT 86 LAST"), Some(Ok((86, true))));
        assert_eq!(parse("BDAT"), Some(Err(501)));
        assert_eq!(parse("BDAT "), Some(Err(501)));
        assert_eq!(parse("BDAT x"), Some(Err(501)));
        assert_eq!(parse("BDAT -1"), Some(Err(501)));
        assert_eq!(parse("BDAT 1 FIRST"), Some(Err(501)));
        assert_eq!(parse("BDAT 1 LAST x"), Some(Err(501)));
        assert_eq!(parse("BDAT  1"), Some(Err(501)));
        assert_eq!(parse("BDATA"), None);
        assert_eq!(parse("DATA"), None);
    }

    #[test]
    fn a_size_too_large_to_hold_saturates_and_never_wraps() {
        // smtp-proto 0.2.5 read this as 999: the rest of the "chunk" became commands.
        assert_eq!(
            parse("BDAT 99999999999999999999999"),
            Some(Ok((CHUNK_SIZE_OVERFLOW, false)))
        );
        assert_eq!(parse("BDAT 99999999999999999999 5 LAST"), Some(Err(501)));
        assert_eq!(
            parse("BDAT 18446744073709551616 LAST"),
            Some(Ok((CHUNK_SIZE_OVERFLOW, true)))
        );
    }
}
