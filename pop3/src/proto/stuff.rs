//! The body of a RETR or TOP answer (RFC 1939 §3): lines end in CRLF, a line that starts
//! with `.` gets another `.` in front, and `.` CRLF ends it. The message comes in pieces of
//! any size (a file read in chunks), so every rule works across piece boundaries; TOP stops
//! after the header, the blank line and the asked number of body lines (RFC 1939 §7).
//!
//! A stored line ending in a bare LF is sent with CRLF, since POP3 lines are CRLF-terminated
//! and the client un-stuffs by lines.

/// Whether the encoder wants more of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Push the next piece (or [`DotStuffer::finish`] at the end of the message).
    More,
    /// TOP has all it needs; do not read further. Call [`DotStuffer::finish`].
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Header,
    /// In the body; `Some(n)`: n more lines to send (TOP), `None`: all of it (RETR).
    Body(Option<u64>),
}

/// Dot-stuffs a message piece by piece.
#[derive(Debug, Clone)]
pub struct DotStuffer {
    at_line_start: bool,
    /// Octets of the current line seen so far.
    line_len: usize,
    /// The last octet seen was CR (the current line may be ending in CRLF).
    last_cr: bool,
    part: Part,
    /// With TOP: body lines wanted.
    top: Option<u64>,
    done: bool,
}

impl DotStuffer {
    /// For RETR: the whole message.
    pub fn whole() -> Self {
        Self::new(None)
    }

    /// For TOP: the header, the blank line and `lines` lines of the body.
    pub fn top(lines: u64) -> Self {
        Self::new(Some(lines))
    }

    fn new(top: Option<u64>) -> Self {
        Self {
            at_line_start: true,
            line_len: 0,
            last_cr: false,
            part: Part::Header,
            top,
            done: false,
        }
    }

    /// Encode the next piece of the message into `out`.
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Progress {
        while !input.is_empty() {
            if self.done {
                return Progress::Done;
            }
            if self.at_line_start && input[0] == b'.' {
                // RFC 1939 §3: byte-stuff a line that begins with the termination octet.
                out.push(b'.');
            }
            match input.iter().position(|&b| b == b'\n') {
                None => {
                    out.extend_from_slice(input);
                    self.line_len += input.len();
                    self.last_cr = input.last() == Some(&b'\r');
                    self.at_line_start = false;
                    input = &[];
                }
                Some(i) => {
                    let segment = &input[..i];
                    out.extend_from_slice(segment);
                    let had_cr = match segment.last() {
                        Some(&b) => b == b'\r',
                        None => self.line_len > 0 && self.last_cr,
                    };
                    if !had_cr {
                        out.push(b'\r');
                    }
                    out.push(b'\n');
                    let content = self.line_len + i - usize::from(had_cr);
                    self.end_of_line(content == 0);
                    input = &input[i + 1..];
                }
            }
        }
        if self.done {
            Progress::Done
        } else {
            Progress::More
        }
    }

    fn end_of_line(&mut self, empty: bool) {
        self.at_line_start = true;
        self.line_len = 0;
        self.last_cr = false;
        match self.part {
            Part::Header if empty => {
                // The blank line after the header (RFC 5322 §2.1) is sent; then the body.
                self.part = Part::Body(self.top);
                self.done = self.top == Some(0);
            }
            Part::Header | Part::Body(None) => {}
            Part::Body(Some(left)) => {
                let left = left.saturating_sub(1);
                self.part = Part::Body(Some(left));
                self.done = left == 0;
            }
        }
    }

    /// End the answer: close an unterminated last line, then `.` CRLF.
    pub fn finish(self, out: &mut Vec<u8>) {
        if !self.at_line_start {
            if self.last_cr {
                out.push(b'\n');
            } else {
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(b".\r\n");
    }
}

/// Undo the stuffing of a multi-line answer body (tests and fuzzing: what a client sees).
pub fn unstuff(wire: &[u8]) -> Option<Vec<u8>> {
    let body = wire.strip_suffix(b".\r\n")?;
    let mut out = Vec::with_capacity(body.len());
    for line in body.split_inclusive(|&b| b == b'\n') {
        let line = line.strip_prefix(b".").unwrap_or(line);
        out.extend_from_slice(line);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(message: &[u8], chunk: usize, top: Option<u64>) -> Vec<u8> {
        let mut e = DotStuffer::new(top);
        let mut out = Vec::new();
        for piece in message.chunks(chunk.max(1)) {
            if e.push(piece, &mut out) == Progress::Done {
                break;
            }
        }
        e.finish(&mut out);
        out
    }

    const CHUNKS: [usize; 9] = [1, 2, 3, 4, 5, 8, 16, 64, 512];

    #[test]
    fn retr_stuffs_dots_and_terminates() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b".\r\n"),
            (b"a\r\n", b"a\r\n.\r\n"),
            (b"a", b"a\r\n.\r\n"),
            (b".\r\n", b"..\r\n.\r\n"),
            (
                b"S: x\r\n\r\n.hidden\r\n..two\r\nend.\r\n",
                b"S: x\r\n\r\n..hidden\r\n...two\r\nend.\r\n.\r\n",
            ),
            (b"bare\nlf\n", b"bare\r\nlf\r\n.\r\n"),
            (b"x\r\n.", b"x\r\n..\r\n.\r\n"),
            (b"cr only\r", b"cr only\r\n.\r\n"),
            (b"mid\rcr\r\n", b"mid\rcr\r\n.\r\n"),
            (b"\n.\n", b"\r\n..\r\n.\r\n"),
        ];
        for (message, want) in cases {
            for chunk in CHUNKS {
                assert_eq!(
                    encode(message, chunk, None),
                    *want,
                    "{:?} in chunks of {chunk}",
                    String::from_utf8_lossy(message)
                );
            }
        }
    }

    #[test]
    fn top_sends_the_header_the_blank_line_and_n_body_lines() {
        let m = b"A: 1\r\nB: 2\r\n\r\none\r\n.two\r\nthree\r\n";
        let cases: &[(u64, &[u8])] = &[
            (0, b"A: 1\r\nB: 2\r\n\r\n.\r\n"),
            (1, b"A: 1\r\nB: 2\r\n\r\none\r\n.\r\n"),
            (2, b"A: 1\r\nB: 2\r\n\r\none\r\n..two\r\n.\r\n"),
            (3, b"A: 1\r\nB: 2\r\n\r\none\r\n..two\r\nthree\r\n.\r\n"),
            (99, b"A: 1\r\nB: 2\r\n\r\none\r\n..two\r\nthree\r\n.\r\n"),
        ];
        for (n, want) in cases {
            for chunk in CHUNKS {
                assert_eq!(encode(m, chunk, Some(*n)), *want, "TOP {n}, chunks {chunk}");
            }
        }
        // A message without a body is all header; a bare-LF blank line also ends the header.
        assert_eq!(
            encode(b"A: 1\r\nB: 2", 3, Some(0)),
            b"A: 1\r\nB: 2\r\n.\r\n"
        );
        assert_eq!(
            encode(b"A: 1\n\nbody\nmore\n", 2, Some(1)),
            b"A: 1\r\n\r\nbody\r\n.\r\n"
        );
        // A line that is only CR in its last chunk before LF is still an empty line.
        assert_eq!(
            encode(b"A: 1\r\n\r\nb\r\n", 1, Some(0)),
            b"A: 1\r\n\r\n.\r\n"
        );
    }

    #[test]
    fn unstuffing_gives_the_message_back() {
        let m = b"From: a\r\n\r\n.\r\n..\r\n. x\r\nlast\r\n";
        for chunk in CHUNKS {
            assert_eq!(unstuff(&encode(m, chunk, None)).as_deref(), Some(&m[..]));
        }
    }

    #[test]
    fn nothing_is_read_after_top_is_done() {
        let mut e = DotStuffer::top(0);
        let mut out = Vec::new();
        assert_eq!(e.push(b"A: 1\r\n\r\nbody", &mut out), Progress::Done);
        assert_eq!(e.push(b"more", &mut out), Progress::Done);
        assert_eq!(out, b"A: 1\r\n\r\n");
    }
}
