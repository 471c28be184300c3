//! IMAP wire texts. No I/O, no state.

/// Longest command line accepted before literals are supported, CRLF included.
pub const MAX_LINE: usize = 8192;
/// The capabilities served now.
pub const CAPABILITIES: &str = "IMAP4rev1 IMAP4rev2";

/// Untagged greeting (RFC 9051 §7.1.1).
pub fn greeting(host: &str) -> Vec<u8> {
    format!("* OK [CAPABILITY {CAPABILITIES}] {host} mailroom ready\r\n").into_bytes()
}
/// Untagged BYE with `text`.
pub fn bye(text: &str) -> Vec<u8> {
    format!("* BYE {text}\r\n").into_bytes()
}
/// A tagged status line.
pub fn tagged(tag: &str, status: &str, text: &str) -> Vec<u8> {
    format!("{tag} {status} {text}\r\n").into_bytes()
}

/// RFC 9051 §9 `tag = 1*<any ASTRING-CHAR except "+">`: split a line into a valid tag and the
/// rest, or `None` when there is no valid tag.
pub fn split_tag(line: &[u8]) -> Option<(&str, &[u8])> {
    let (tag, rest) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &line[line.len()..]),
    };
    let valid = !tag.is_empty()
        && tag.iter().all(|&b| {
            b.is_ascii_graphic()
                && !matches!(b, b'+' | b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\')
        });
    if !valid {
        return None;
    }
    std::str::from_utf8(tag).ok().map(|t| (t, rest))
}
