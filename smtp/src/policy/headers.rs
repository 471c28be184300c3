//! Removing forged `Authentication-Results:` fields (RFC 8601 §5): a field that carries our
//! own authserv-id can only have been written by someone else pretending to be us, so it is
//! dropped before the message is stored; fields of other servers are kept. Likewise a
//! message we score loses the `X-Spam-*` verdict fields it came with.

use std::borrow::Cow;

/// `data` without the header fields `Authentication-Results:` whose authserv-id is
/// `authserv_id` (ASCII case-insensitive). Only the header section is looked at.
pub fn strip_our_results<'a>(data: &'a [u8], authserv_id: &str) -> Cow<'a, [u8]> {
    strip(data, |field| is_our_result(field, authserv_id))
}

/// `data` without `X-Spam-Score:` and `X-Spam-Status:` fields. When we score a message, a
/// verdict already in it can only be the sender's own claim, and a user's filter must not
/// read it as ours.
pub fn strip_spam_fields(data: &[u8]) -> Cow<'_, [u8]> {
    strip(data, |field| {
        let name = field
            .iter()
            .position(|&b| b == b':')
            .map_or(&field[..0], |colon| field[..colon].trim_ascii_end());
        name.eq_ignore_ascii_case(b"x-spam-score") || name.eq_ignore_ascii_case(b"x-spam-status")
    })
}

/// `data` without the header fields `drop` picks.
fn strip(data: &[u8], drop: impl Fn(&[u8]) -> bool) -> Cow<'_, [u8]> {
    let fields = header_fields(data);
    if !fields.iter().any(|f| drop(&data[f.clone()])) {
        return Cow::Borrowed(data);
    }
    let mut kept = Vec::with_capacity(data.len());
    let mut at = 0;
    for f in fields {
        if drop(&data[f.clone()]) {
            kept.extend_from_slice(&data[at..f.start]);
            at = f.end;
        }
    }
    kept.extend_from_slice(&data[at..]);
    Cow::Owned(kept)
}

/// The byte ranges of the header fields, each with its folded lines and final CRLF, up to
/// the empty line (RFC 5322 §2.2.3: a line starting with WSP continues the field).
fn header_fields(data: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut fields: Vec<std::ops::Range<usize>> = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let end = data[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len(), |i| at + i + 1);
        let line = &data[at..end];
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        match (line.first(), fields.last_mut()) {
            (Some(b' ' | b'\t'), Some(last)) => last.end = end,
            _ => fields.push(at..end),
        }
        at = end;
    }
    fields
}

/// Whether `field` is `Authentication-Results:` naming `authserv_id` (RFC 8601 §2.2:
/// `authserv-id` is the first token of the value, after optional CFWS).
fn is_our_result(field: &[u8], authserv_id: &str) -> bool {
    const NAME: &[u8] = b"authentication-results";
    let Some(colon) = field.iter().position(|&b| b == b':') else {
        return false;
    };
    let name = field[..colon].trim_ascii_end();
    if !name.eq_ignore_ascii_case(NAME) {
        return false;
    }
    let value = skip_cfws(&field[colon + 1..]);
    let end = value
        .iter()
        .position(|&b| b == b';' || b == b'(' || b.is_ascii_whitespace())
        .unwrap_or(value.len());
    value[..end].eq_ignore_ascii_case(authserv_id.as_bytes())
}

/// Skip whitespace and (nested) comments (RFC 5322 §3.2.2).
fn skip_cfws(mut s: &[u8]) -> &[u8] {
    loop {
        s = s.trim_ascii_start();
        if s.first() != Some(&b'(') {
            return s;
        }
        let mut depth = 0usize;
        let mut i = 0;
        while i < s.len() {
            match s[i] {
                b'\\' => i += 1,
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        s = s.get(i + 1..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::{strip_our_results, strip_spam_fields};

    #[test]
    fn spam_verdicts_the_message_came_with_are_removed() {
        let data = b"X-Spam-Status: No, score=-100\r\n\tfolded\r\nSubject: x\r\n\
x-spam-score : -100\r\nX-Spam-Flag: kept\r\n\r\nX-Spam-Status: in the body stays\r\n";
        assert_eq!(
            &strip_spam_fields(data)[..],
            &b"Subject: x\r\nX-Spam-Flag: kept\r\n\r\nX-Spam-Status: in the body stays\r\n"[..]
        );
        let clean = b"Subject: x\r\n\r\nbody\r\n";
        assert!(matches!(
            strip_spam_fields(clean),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn only_our_authserv_id_is_removed() {
        let data = b"Authentication-Results: MX.example.test;\r\n\tspf=pass smtp.mailfrom=a@b\r\n\
Authentication-Results: other.example; dkim=pass\r\n\
Subject: x\r\n\
Authentication-Results: (forged) mx.example.test; dmarc=pass\r\n\
Authentication-Results: mx.example.test.evil; dmarc=pass\r\n\
\r\n\
Authentication-Results: mx.example.test; in the body stays\r\n";
        let out = strip_our_results(data, "mx.example.test");
        assert_eq!(
            String::from_utf8_lossy(&out),
            "Authentication-Results: other.example; dkim=pass\r\n\
Subject: x\r\n\
Authentication-Results: mx.example.test.evil; dmarc=pass\r\n\
\r\n\
Authentication-Results: mx.example.test; in the body stays\r\n"
        );
    }

    #[test]
    fn nothing_to_remove_borrows() {
        let data = b"Subject: x\r\n\r\nbody\r\n";
        assert!(matches!(
            strip_our_results(data, "mx.example.test"),
            std::borrow::Cow::Borrowed(_)
        ));
        // Garbage without a colon or an end is left alone.
        let odd = b"no colon here\r\n (unbalanced";
        assert_eq!(&*strip_our_results(odd, "x"), &odd[..]);
    }
}
