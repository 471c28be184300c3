//! The SIZE parameter of MAIL (RFC 1870 §3), read here rather than by smtp-proto: smtp-proto
//! 0.2.5 wraps a number past `usize` into a small one (`SIZE=99999999999999999999999` became
//! 999), which let an oversized declaration through the check at MAIL.

use super::Rejected;
use super::reply::Reply;

/// `line` (without its CRLF) when it is a MAIL with a SIZE parameter: the line without that
/// parameter, for smtp-proto to parse the rest, and the declared size, saturated at
/// `u64::MAX` (any size past what we accept is refused at MAIL all the same).
/// `None` for other lines and for MAIL without SIZE.
///
/// ```text
/// mail      = "MAIL FROM:" reverse-path *( SP mail-parameter )   ; RFC 5321 §4.1.1.2
/// size-param = "SIZE=" size-value                                 ; RFC 1870 §3
/// size-value = 1*20DIGIT
/// ```
pub fn take_size(line: &[u8]) -> Option<Result<(Vec<u8>, u64), Rejected>> {
    let from = after_keyword(line, b"MAIL")?;
    let from = from + line[from..].iter().take_while(|&&b| b == b' ').count();
    let path = after_keyword_at(line, from, b"FROM:")?;
    let params = path + path_end(&line[path..])?;
    let mut at = params;
    // Each parameter is preceded by one or more spaces.
    while at < line.len() {
        let start = at;
        let token_start = start + line[start..].iter().take_while(|&&b| b == b' ').count();
        let token_end = line[token_start..]
            .iter()
            .position(|&b| b == b' ')
            .map_or(line.len(), |p| token_start + p);
        let token = &line[token_start..token_end];
        if token.len() >= 5 && token[..5].eq_ignore_ascii_case(b"SIZE=") {
            let value = &token[5..];
            if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                return Some(Err(Rejected(Reply::new(
                    501,
                    "5.5.4",
                    "invalid value for parameter SIZE",
                ))));
            }
            let size = value.iter().fold(0u64, |n, &d| {
                n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
            });
            let mut rest = line[..start].to_vec();
            rest.extend_from_slice(&line[token_end..]);
            return Some(Ok((rest, size)));
        }
        at = token_end;
    }
    None
}

/// The offset after `keyword` (any case) at the start of `line`.
fn after_keyword(line: &[u8], keyword: &[u8]) -> Option<usize> {
    after_keyword_at(line, 0, keyword)
}

/// The offset after `keyword` (any case) at `at` in `line`.
fn after_keyword_at(line: &[u8], at: usize, keyword: &[u8]) -> Option<usize> {
    let end = at + keyword.len();
    line.get(at..end)
        .filter(|w| w.eq_ignore_ascii_case(keyword))
        .map(|_| end)
}

/// The offset just past the `>` of the reverse-path at the start of `args` (spaces before
/// the `<` allowed), honouring quoted strings and backslash escapes of the local part;
/// `None` if there is no complete path.
fn path_end(args: &[u8]) -> Option<usize> {
    let open = args.iter().position(|&b| b != b' ')?;
    if args[open] != b'<' {
        return None;
    }
    let (mut quoted, mut escaped) = (false, false);
    for (i, &b) in args.iter().enumerate().skip(open + 1) {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => quoted = !quoted,
            b'>' if !quoted => return Some(i + 1),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(line: &str) -> Option<Result<(String, u64), u16>> {
        take_size(line.as_bytes()).map(|r| {
            r.map(|(rest, n)| (String::from_utf8_lossy(&rest).into_owned(), n))
                .map_err(|e| e.0.code)
        })
    }

    #[test]
    fn the_size_parameter_is_taken_out() {
        assert_eq!(
            take("MAIL FROM:<a@b.test> SIZE=1000 BODY=8BITMIME"),
            Some(Ok(("MAIL FROM:<a@b.test> BODY=8BITMIME".into(), 1000)))
        );
        assert_eq!(
            take("mail from:<> body=8bitmime size=12"),
            Some(Ok(("mail from:<> body=8bitmime".into(), 12)))
        );
        assert_eq!(take("MAIL FROM:<a@b.test>"), None);
        assert_eq!(take("MAIL FROM:<a@b.test> BODY=7BIT"), None);
        assert_eq!(take("RCPT TO:<a@b.test> SIZE=1"), None);
        assert_eq!(
            take("MAIL  from: <a@b.test>  SIZE=7"),
            Some(Ok(("MAIL  from: <a@b.test>".into(), 7)))
        );
        // A SIZE= inside a quoted local part is part of the address.
        assert_eq!(take("MAIL FROM:<\"x> SIZE=1\"@b.test>"), None);
        assert_eq!(take("MAIL FROM:<a\\>SIZE=1@b.test>"), None);
    }

    #[test]
    fn a_size_too_large_to_hold_saturates() {
        // RFC 1870 §6: the server must refuse it at MAIL, so it must not wrap.
        assert_eq!(
            take("MAIL FROM:<a@b.test> SIZE=99999999999999999999999"),
            Some(Ok(("MAIL FROM:<a@b.test>".into(), u64::MAX)))
        );
        assert_eq!(
            take("MAIL FROM:<a@b.test> SIZE=18446744073709551616"),
            Some(Ok(("MAIL FROM:<a@b.test>".into(), u64::MAX)))
        );
    }

    #[test]
    fn a_size_that_is_not_a_number_is_a_syntax_error() {
        for bad in ["SIZE=", "SIZE=-1", "SIZE=1k", "SIZE=0x10"] {
            assert_eq!(
                take(&format!("MAIL FROM:<a@b.test> {bad}")),
                Some(Err(501)),
                "{bad}"
            );
        }
    }
}
