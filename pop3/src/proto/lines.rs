//! Splitting the client's byte stream into lines, holding at most one line's worth of an
//! unfinished line whatever the client sends (RFC 2449 §4 limits a command to 255 octets;
//! an over-long line is read to its end, dropped, and reported once).
//!
//! Whole lines already received (pipelining, RFC 2449 §6.6) wait in the buffer in order;
//! [`LineBuffer::clear`] drops them, as STLS requires (RFC 2595 §4 via RFC 3207 §4.2's rule:
//! nothing sent before the TLS handshake is acted on after it).

/// One line out of the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A line within the limit, without its CRLF (or bare LF).
    Complete(Vec<u8>),
    /// A line over the limit; its octets were dropped.
    TooLong,
}

/// Received octets not yet taken as lines.
#[derive(Debug, Default)]
pub struct LineBuffer {
    buf: Vec<u8>,
    /// Inside an over-long line: drop octets until its LF.
    discarding: bool,
}

impl LineBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add octets read from the socket. The caller takes every whole line
    /// ([`LineBuffer::next_line`] until `None`) before it pushes more, so the buffer holds at
    /// most one read plus one line's limit.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next line, if a whole one is here. `max` is the longest line allowed, line end
    /// included.
    pub fn next_line(&mut self, max: usize) -> Option<Line> {
        match self.buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let too_long = std::mem::take(&mut self.discarding) || i + 1 > max;
                let line = if too_long {
                    Line::TooLong
                } else {
                    let end = if i > 0 && self.buf[i - 1] == b'\r' {
                        i - 1
                    } else {
                        i
                    };
                    Line::Complete(self.buf[..end].to_vec())
                };
                self.buf.drain(..=i);
                Some(line)
            }
            None => {
                // Without its LF the line is already longer than the buffer: once that
                // reaches `max`, the line cannot fit any more.
                if self.buf.len() >= max {
                    self.discarding = true;
                    self.buf.clear();
                }
                None
            }
        }
    }

    /// Drop everything received and not yet taken (STLS).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.discarding = false;
    }

    /// Whether nothing is buffered (no partial command in progress).
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty() && !self.discarding
    }

    /// Octets held now (tests: the buffer stays bounded).
    pub fn held(&self) -> usize {
        self.buf.len()
    }

    /// Give back memory after a burst of pipelined input.
    pub fn shrink(&mut self, to: usize) {
        self.buf.shrink_to(to);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &[u8], chunk: usize, max: usize) -> Vec<Line> {
        let mut b = LineBuffer::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            b.push(piece);
            while let Some(line) = b.next_line(max) {
                out.push(line);
            }
            assert!(b.held() < max + chunk.max(1), "buffer grew to {}", b.held());
        }
        out
    }

    fn c(s: &str) -> Line {
        Line::Complete(s.as_bytes().to_vec())
    }

    #[test]
    fn lines_in_every_chunk_size() {
        let input = b"USER a\r\nPASS b c\r\nSTAT\nLIST 1\r\n\r\npartial";
        let want = vec![c("USER a"), c("PASS b c"), c("STAT"), c("LIST 1"), c("")];
        for chunk in [1, 2, 3, 4, 7, 16, 64, 512] {
            assert_eq!(split(input, chunk, 255), want, "chunk {chunk}");
        }
    }

    #[test]
    fn the_limit_counts_the_crlf() {
        // RFC 2449 §4: 255 octets including CRLF.
        let ok = format!("{}\r\n", "a".repeat(253));
        let long = format!("{}\r\n", "a".repeat(254));
        for chunk in [1, 5, 300] {
            assert_eq!(split(ok.as_bytes(), chunk, 255), vec![c(&"a".repeat(253))]);
            assert_eq!(split(long.as_bytes(), chunk, 255), vec![Line::TooLong]);
        }
    }

    #[test]
    fn an_endless_line_costs_at_most_the_limit_and_is_reported_once() {
        let mut b = LineBuffer::new();
        for _ in 0..10_000 {
            b.push(&[b'x'; 1000]);
            assert_eq!(b.next_line(255), None);
            assert!(b.held() <= 1000, "held {}", b.held());
        }
        b.push(b"xxx\r\nNOOP\r\n");
        assert_eq!(b.next_line(255), Some(Line::TooLong));
        assert_eq!(b.next_line(255), Some(c("NOOP")));
        assert_eq!(b.next_line(255), None);
        assert!(b.is_empty());
    }

    #[test]
    fn clear_drops_pipelined_lines() {
        let mut b = LineBuffer::new();
        b.push(b"STLS\r\nUSER evil\r\nPASS x\r\n");
        assert_eq!(b.next_line(255), Some(c("STLS")));
        b.clear();
        assert_eq!(b.next_line(255), None);
        assert!(b.is_empty());
    }
}
