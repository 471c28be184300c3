//! The end of DATA: finds `<CRLF>.<CRLF>` in the octets after a 354 and removes dot-stuffing,
//! incrementally, whatever the split of the input into reads. No I/O, no allocation.
//!
//! Only `<CRLF>.<CRLF>` ends the data (RFC 5321 §4.1.1.4): a dot line closed or opened by a
//! bare CR or LF (`<LF>.<LF>`, `<CRLF>.<CR><CR><LF>`, `<CR>.<CRLF>` …) is content. Any other
//! reading lets a client hide a second message inside the first ("SMTP smuggling": the next
//! server in the chain sees one message, we would see two). Such content keeps its bare CR or
//! LF, which the session then refuses.
//!
//! The data starts at the start of a line: a `.` line right after the 354 ends an empty
//! message, and a first line starting with a dot is unstuffed.

/// Where the scanner is in the current line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line: the start of the data, or right after a CR LF.
    LineStart,
    /// A `.` at the start of a line, held back: it is either the end mark or a stuffed dot,
    /// and never content.
    Dot,
    /// `.` CR at the start of a line: the CR is held back until the next octet says whether
    /// this is the end mark.
    DotCr,
    /// Inside a line.
    Text,
    /// Inside a line, right after a CR.
    Cr,
}

/// What [`DataEnd::scan`] found in the input it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// No end mark yet: all of the input was used; give the next read.
    More,
    /// The end mark was consumed; its last octet was input octet `consumed - 1`. What follows
    /// it is not data (the next pipelined command).
    Ended {
        /// Input octets used, the end mark included.
        consumed: usize,
    },
}

/// The DATA end scanner of one message: RFC 5321 §4.1.1.4 (the end mark) and §4.5.2
/// (transparency).
///
/// ```text
/// data      = *line end-mark      ; the data starts at the start of a line
/// end-mark  = "." CRLF            ; at the start of a line, i.e. the CRLF "." CRLF sequence
/// line      = ["."] text CRLF     ; a leading "." is removed; text may contain lone CR/LF
/// ```
#[derive(Debug, Clone)]
pub struct DataEnd {
    state: State,
}

impl Default for DataEnd {
    fn default() -> Self {
        Self::new()
    }
}

impl DataEnd {
    /// A scanner at the start of the data (right after the 354 reply).
    pub fn new() -> Self {
        Self {
            state: State::LineStart,
        }
    }

    /// Scan `input`, handing the message content it carries, unstuffed, to `sink` in order
    /// (in slices; a held-back octet may come as a slice of its own). Stops right after the
    /// end mark.
    pub fn scan(&mut self, input: &[u8], sink: &mut impl FnMut(&[u8])) -> Scan {
        let mut i = 0;
        // Start of the run of content not yet handed to the sink.
        let mut run = 0;
        while i < input.len() {
            match self.state {
                State::Text => match memchr::memchr(b'\r', &input[i..]) {
                    Some(at) => {
                        i += at + 1;
                        self.state = State::Cr;
                    }
                    None => i = input.len(),
                },
                State::Cr => {
                    self.state = after_cr(input[i]);
                    i += 1;
                }
                State::LineStart => {
                    let b = input[i];
                    if b == b'.' {
                        // RFC 5321 §4.5.2: a leading dot is dropped (or is the end mark).
                        emit(sink, &input[run..i]);
                        run = i + 1;
                        self.state = State::Dot;
                    } else {
                        self.state = if b == b'\r' { State::Cr } else { State::Text };
                    }
                    i += 1;
                }
                State::Dot => {
                    // Here `run == i`: the dot was just skipped, or this read began with it.
                    if input[i] == b'\r' {
                        run = i + 1;
                        self.state = State::DotCr;
                    } else {
                        self.state = State::Text;
                    }
                    i += 1;
                }
                State::DotCr => {
                    // Here `run == i` again: the held CR is in no run.
                    if input[i] == b'\n' {
                        return Scan::Ended { consumed: i + 1 };
                    }
                    // Not the end mark: the CR was content, and this octet follows a CR.
                    emit(sink, b"\r");
                    self.state = State::Cr;
                }
            }
        }
        emit(sink, &input[run..]);
        Scan::More
    }
}

/// The state after `b` that follows a CR inside a line.
fn after_cr(b: u8) -> State {
    match b {
        b'\n' => State::LineStart,
        b'\r' => State::Cr,
        _ => State::Text,
    }
}

fn emit(sink: &mut impl FnMut(&[u8]), bytes: &[u8]) {
    if !bytes.is_empty() {
        sink(bytes);
    }
}

#[cfg(test)]
#[path = "data_end_tests.rs"]
mod tests;
