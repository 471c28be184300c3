//! SMTP replies as a client reads them (RFC 5321 §4.2): `code-text` continuation lines, then
//! `code text` (or a bare `code`). Sans-I/O: feed bytes, take whole replies. Bounded: a line
//! longer than [`MAX_LINE`] or a reply of more than [`MAX_LINES`] lines is an error, so a
//! hostile server cannot grow our memory.

/// Longest reply line we accept (RFC 5321 §4.5.3.1.5 says 512 with the CRLF; servers exceed
/// it in practice, so we allow more).
pub const MAX_LINE: usize = 4096;
/// Most lines of one reply (an EHLO reply has one per extension).
pub const MAX_LINES: usize = 128;

/// One complete reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The text of each line, without code, separator and CRLF.
    pub lines: Vec<String>,
}

impl Reply {
    /// 2yz.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 3yz (354 after DATA).
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }

    /// 5yz: a permanent refusal (RFC 5321 §4.2.1).
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// The reply as one line, `code text; text`, for logs, the queue and DSNs.
    pub fn summary(&self) -> String {
        format!("{} {}", self.code, self.lines.join("; "))
            .trim_end()
            .to_string()
    }

    /// Whether an EHLO reply names `keyword` (first word of a line after the first).
    pub fn has_extension(&self, keyword: &str) -> bool {
        self.extension(keyword).is_some()
    }

    /// The parameters of the EHLO keyword `keyword`, if it is advertised.
    pub fn extension(&self, keyword: &str) -> Option<&str> {
        self.lines.iter().skip(1).find_map(|line| {
            let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
            word.eq_ignore_ascii_case(keyword).then_some(rest)
        })
    }
}

/// A server that does not speak SMTP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// A line without a valid code or separator.
    #[error("malformed reply line `{0}`")]
    Malformed(String),
    /// Lines of one reply with different codes.
    #[error("reply lines with different codes")]
    MixedCodes,
    /// Over [`MAX_LINE`] or [`MAX_LINES`].
    #[error("reply too long")]
    TooLong,
}

/// Collects bytes into replies.
#[derive(Debug, Default)]
pub struct ReplyParser {
    buf: Vec<u8>,
    lines: Vec<String>,
    code: Option<u16>,
}

impl ReplyParser {
    /// Add bytes read from the server.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete reply, `Ok(None)` if more bytes are needed.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, ReplyError> {
        loop {
            let Some(end) = self.buf.iter().position(|&b| b == b'\n') else {
                if self.buf.len() > MAX_LINE {
                    return Err(ReplyError::TooLong);
                }
                return Ok(None);
            };
            if end > MAX_LINE {
                return Err(ReplyError::TooLong);
            }
            let raw: Vec<u8> = self.buf.drain(..=end).collect();
            let line = String::from_utf8_lossy(&raw);
            let line = line.trim_end_matches(['\r', '\n']);
            let (code, last, text) = parse_line(line)?;
            if self.code.is_some_and(|c| c != code) {
                return Err(ReplyError::MixedCodes);
            }
            self.code = Some(code);
            self.lines.push(text.to_string());
            if self.lines.len() > MAX_LINES {
                return Err(ReplyError::TooLong);
            }
            if last {
                self.code = None;
                return Ok(Some(Reply {
                    code,
                    lines: std::mem::take(&mut self.lines),
                }));
            }
        }
    }
}

/// `Reply-line = Reply-code [ SP textstring ] CRLF` or `Reply-code "-" [ textstring ] CRLF`
/// (RFC 5321 §4.2); returns (code, last line?, text).
fn parse_line(line: &str) -> Result<(u16, bool, &str), ReplyError> {
    let bad = || ReplyError::Malformed(line.chars().take(80).collect());
    let bytes = line.as_bytes();
    if bytes.len() < 3
        || !bytes[..3].iter().all(u8::is_ascii_digit)
        || !(b'2'..=b'5').contains(&bytes[0])
    {
        return Err(bad());
    }
    let code: u16 = line[..3].parse().map_err(|_| bad())?;
    match bytes.get(3) {
        None => Ok((code, true, "")),
        Some(b' ') => Ok((code, true, &line[4..])),
        Some(b'-') => Ok((code, false, &line[4..])),
        Some(_) => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], chunk: usize) -> Result<Vec<Reply>, ReplyError> {
        let mut p = ReplyParser::default();
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            p.feed(piece);
            while let Some(r) = p.next_reply()? {
                out.push(r);
            }
        }
        Ok(out)
    }

    #[test]
    fn multiline_replies_in_any_chunking() {
        // RFC 5321 §4.2.1's continuation form, and a bare code.
        let input = b"250-mx.example.org greets you\r\n250-SIZE 1000\r\n250-STARTTLS\r\n250 8BITMIME\r\n354\r\n";
        for chunk in [1, 2, 3, 7, 512] {
            let replies = all(input, chunk).expect("parse");
            assert_eq!(replies.len(), 2, "chunk {chunk}");
            assert_eq!(replies[0].code, 250);
            assert_eq!(replies[0].extension("size"), Some("1000"));
            assert!(replies[0].has_extension("STARTTLS"));
            assert!(!replies[0].has_extension("mx.example.org"));
            assert_eq!(replies[1].code, 354);
            assert!(replies[1].is_intermediate());
        }
        let r = &all(b"451 4.3.0 try later\r\n", 5).expect("parse")[0];
        assert!(!r.is_positive() && !r.is_permanent());
        assert_eq!(r.summary(), "451 4.3.0 try later");
    }

    #[test]
    fn garbage_and_floods_are_errors() {
        assert!(matches!(
            all(b"hello\r\n", 4),
            Err(ReplyError::Malformed(_))
        ));
        assert!(matches!(all(b"250x\r\n", 4), Err(ReplyError::Malformed(_))));
        assert!(matches!(
            all(b"650 no\r\n", 4),
            Err(ReplyError::Malformed(_))
        ));
        assert_eq!(all(b"250-a\r\n550 b\r\n", 4), Err(ReplyError::MixedCodes));
        assert_eq!(
            all(&vec![b'2'; MAX_LINE + 2], 1024),
            Err(ReplyError::TooLong)
        );
        let many = "250-x\r\n".repeat(MAX_LINES + 1);
        assert_eq!(all(many.as_bytes(), 64), Err(ReplyError::TooLong));
    }
}
